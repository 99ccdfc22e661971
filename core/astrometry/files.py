"""Solve FITS files and write the solutions: one ``<frame>.wcs`` header per frame, ``solve.ecsv``.

This is what ``fluxion solve`` runs. Input files are only read; the solutions
go into the output folder (header-only FITS files named after the frames, the
form astrometry.net's ``.wcs`` files have) and into the project's calibrated
frames by :func:`write_solution_into`, never into the inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import Executor
from functools import partial
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..io.cfa import cfa_pattern
from ..io.fitsio import atomic_write_ecsv, read_header, read_image
from ..io.folders import prepare_output_folder
from ..io.headers import HeaderFacts, normalise_header
from ..io.names import FrameNames
from ..runtime.failures import per_file
from ..runtime.pipeline import StepState
from .centroids import centroids_for_solving
from .cfa_sources import green_sources
from .scale import ScaleGuess, guess_scale
from .sequence import FrameToSolve, solve_sequence
from .solve import PlateSolver, SolveHint, SolveResult

__all__ = [
    "hint_for_file",
    "solve_files",
    "results_table",
    "write_wcs_file",
    "write_solution_into",
    "strip_wcs",
]

log = logging.getLogger(__name__)

# Keywords that carry no value (blank, COMMENT, HISTORY).
_COMMENTARY = ("", "COMMENT", "HISTORY")

_WCS_PREFIXES = (
    "CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT", "CD1_", "CD2_", "PC1_", "PC2_", "CROTA",
    "A_", "B_", "AP_", "BP_", "PV1_", "PV2_", "LONPOLE", "LATPOLE", "WCSAXES", "RADESYS",
    "EQUINOX", "FLX", "IMAGEW", "IMAGEH",
)  # fmt: skip


def _is_wcs_key(key: str) -> bool:
    return key.startswith(_WCS_PREFIXES) and key != "EQUINOX"


def strip_wcs(header: fits.Header) -> fits.Header:
    """A copy of ``header`` without any WCS card (an old solution must not linger)."""
    out = header.copy()
    for key in list(out.keys()):
        if _is_wcs_key(key):
            del out[key]
    return out


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".fits.gz", ".fit.gz", ".fts.gz", ".fits.bz2", ".fit.bz2", ".fits", ".fit", ".fts"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def write_wcs_file(path: str | Path, result: SolveResult) -> Path:
    """Write a solved frame's WCS as a header-only FITS file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(header=result.wcs_header())
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        hdu.writeto(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_solution_into(header: fits.Header, result: SolveResult) -> fits.Header:
    """``header`` (of a calibrated frame the project owns) with the solution in it.

    The cards of ``strip_wcs(header).update(result.wcs_header())``, put in
    one list and made a header once: astropy's ``update`` re-indexes the
    header for every card it adds (a SIP solution has about 70).
    """
    solution = result.wcs_header()
    kept = [card for card in header.cards if not _is_wcs_key(card.keyword)]
    new = list(solution.cards)
    plain = all(
        c.keyword not in _COMMENTARY and c.field_specifier is None and len(c.keyword) <= 8
        for c in new
    )
    if not plain or (kept and kept[-1].is_blank):
        # Blank cards update() would use up, commentary or record-valued cards:
        # astropy's own way.
        out = strip_wcs(header)
        out.update(solution)
        return out
    kept = [copy.copy(card) for card in kept]  # as Header.copy does
    first: dict[str, fits.Card] = {}
    for card in kept:
        first.setdefault(card.keyword, card)
    added = []
    for card in new:
        existing = first.get(card.keyword)
        if existing is None:
            first[card.keyword] = card
            added.append(card)
        else:  # a card the header keeps (DATE-OBS, MJD-OBS...): updated where it stands
            existing.value = card.value
            existing.comment = card.comment
    # update() appends after the last card that is not commentary (HISTORY
    # and COMMENT cards stay at the end).
    at = len(kept)
    while at > 0 and kept[at - 1].keyword in _COMMENTARY:
        at -= 1
    return fits.Header(kept[:at] + added + kept[at:])


def hint_for_file(
    header: fits.Header,
    *,
    ra: float | None = None,
    dec: float | None = None,
    scale: float | None = None,
    scale_tolerance: float = 0.05,
    file_name: str | None = None,
    facts: HeaderFacts | None = None,
) -> SolveHint:
    """The hint for a frame: typed values first, then the header's facts.

    ``facts`` are the header's, when the caller has them already.
    """
    if facts is None:
        facts = normalise_header(header, file_name=file_name)
    guess: ScaleGuess | None = guess_scale(
        user_scale=scale, user_tolerance=scale_tolerance, hint=facts.pixel_scale
    )
    return SolveHint(
        ra if ra is not None else facts.ra,
        dec if dec is not None else facts.dec,
        guess,
        epoch=float(facts.time.jyear) if facts.time is not None else None,
    )


def results_table(
    paths: Sequence[Path], results: Sequence[SolveResult], names: FrameNames | None = None
) -> Table:
    """Per-frame results: file, solved, method, n_matched, rms_arcsec, seconds, and more.

    ``file`` is the frame's unique name (``names``, by default of ``paths``:
    its file name, or its folders too where two frames share a name).

    ``centroids`` says which star positions the hinted solve used ("prf":
    pixel-integrated Gaussian fits of undersampled stars, "detected");
    ``center_err`` is the 1-sigma uncertainty (arcsec per axis) of the centre;
    ``search`` what the solve had to search beyond the header's hint ("scale",
    "pointing") and ``scale_factor`` the solved over the header's pixel scale;
    ``service_problem`` the outside service that could not be reached ("" when none).
    """
    names = names if names is not None else FrameNames.of(paths)
    rows = []
    for p, r in zip(paths, results, strict=True):
        centre = r.centre or (np.nan, np.nan)
        rows.append(
            {
                "file": names.file(p),
                "solved": bool(r.solved),
                "method": r.method,
                "n_matched": int(r.n_matched),
                "rms_arcsec": float(r.rms_arcsec),
                "seconds": round(float(r.seconds), 3),
                "verdict": r.verdict,
                "pixel_scale": float(r.pixel_scale),
                "ra_center": float(centre[0]),
                "dec_center": float(centre[1]),
                "center_err": float(r.centre_sigma),
                "flipped": bool(r.flipped),
                "catalog": r.catalog,
                "reason": r.reason,
                "centroids": r.centroids,
                "search": r.search,
                "scale_factor": float(r.scale_factor),
                "service_problem": r.service_problem,
            }
        )
    columns = (
        "file", "solved", "method", "n_matched", "rms_arcsec", "seconds", "verdict",
        "pixel_scale", "ra_center", "dec_center", "center_err", "flipped", "catalog", "reason",
        "centroids", "search", "scale_factor", "service_problem",
    )  # fmt: skip
    if not rows:
        kinds = (
            "U1", bool, "U1", int, float, float, "U1", float, float, float, float, bool, "U1",
            "U1", "U1", "U1", float, "U1",
        )  # fmt: skip
        return Table(names=columns, dtype=kinds)
    t = Table(rows=rows, names=columns)
    t["rms_arcsec"].unit = "arcsec"
    t["seconds"].unit = "s"
    t["pixel_scale"].unit = "arcsec / pix"
    t["ra_center"].unit = t["dec_center"].unit = "deg"
    t["center_err"].unit = "arcsec"
    return t


def solve_files(
    paths: Sequence[str | Path],
    solver: PlateSolver,
    out_dir: str | Path,
    *,
    ra: float | None = None,
    dec: float | None = None,
    scale: float | None = None,
    scale_tolerance: float = 0.05,
    detect=None,
    state: StepState | None = None,
    executor: Executor | None = None,
) -> Table:
    """Solve FITS files as a sequence and write ``<frame>.wcs`` files and ``solve.ecsv``.

    Parameters
    ----------
    paths : sequence of path
        FITS images, in time order.
    solver : PlateSolver
        Configured solver.
    out_dir : path
        Output folder (created).
    ra, dec, scale : float, optional
        Typed pointing (deg) and pixel scale (arcsec/px), overriding headers.
    scale_tolerance : float
        Fractional uncertainty of a typed scale.
    detect : callable, optional
        ``detect(image) -> Table`` of sources; Fluxion's Detection step by default.
        Their centroids are refined as ``solver.params.centroids`` says
        (:func:`~fluxion.core.astrometry.centroids.centroids_for_solving`),
        the fit's noise map using the header's gain when it states one.
    state, executor : optional
        Progress/cancellation and parallel source extraction.
    """
    from ..detection.extract import Detection

    state = state if state is not None else StepState()
    out = prepare_output_folder(out_dir)
    detector = detect if detect is not None else (lambda img: Detection()(img).sources)
    choice, n_max = solver.params.centroids, solver.params.max_sources

    def sources_of(path: Path, hdu: int | None, gain: float | None, cfa: str | None) -> Table:
        image = read_image(path, hdu)
        if cfa:
            # Colour-filter-array frame: stars measured on its green pixels.
            return green_sources(
                image, cfa, lambda img, _mask: detector(img), choice, max_sources=n_max, gain=gain
            )
        return centroids_for_solving(image, detector(image), choice, max_sources=n_max, gain=gain)

    frames: list[FrameToSolve] = []
    files = [Path(p) for p in paths]

    def prepare(p: Path) -> FrameToSolve:
        header, hdu = read_header(p)
        shape = (int(header.get("NAXIS2", 0)), int(header.get("NAXIS1", 0)))
        facts = normalise_header(header, file_name=p.name)
        hint = hint_for_file(
            header, ra=ra, dec=dec, scale=scale, scale_tolerance=scale_tolerance, facts=facts
        )
        gain = facts.gain  # header card or instrument profile
        cfa = cfa_pattern(header)
        return FrameToSolve(
            p.name,
            partial(sources_of, p, hdu, gain, cfa),
            shape,
            hint,
            header,
        )

    for p in files:
        # An unreadable file or header is one failed frame, not the end of the sequence.
        done = per_file(p, partial(prepare, p))
        frames.append(done.value or _broken(p, done.cause))
    results = solve_sequence(frames, solver, state=state, executor=executor)
    results = list(results)
    # Frames of the same name in different folders: their solutions in sub-folders.
    names = FrameNames.of(files)
    for i, (p, r) in enumerate(zip(files, results, strict=True)):
        if r.solved and r.wcs is not None:
            where = out / names.folder(p) / f"{_stem(p)}.wcs"
            written = per_file(p, partial(write_wcs_file, where, r))
            if not written.ok:
                why = f"solved, but the solution was not written: {written.cause}"
                results[i] = dataclasses.replace(r, reason=why)
    table = results_table(files, results, names)
    atomic_write_ecsv(out / "solve.ecsv", table)
    return table


def _broken(path: Path, reason: str) -> FrameToSolve:
    def fail() -> Table:
        raise ValueError(reason)

    return FrameToSolve(path.name, fail, (0, 0), SolveHint(None, None, None))
