"""The light-curve panel's work, Qt-free: measure, choose comparisons, fold, periodogram.

:func:`run_light_curve` is what the panel runs in a worker: the target's
predicted position in every light (:mod:`.target_model`), comparison
candidates (clicked, or the first light's bright isolated stars) followed
into every light through the WCS or the registration, forced aperture
photometry (:func:`fluxion.core.lightcurve.run.measure_frames`), the
comparison and check stars (:func:`fluxion.core.lightcurve.comparison.choose_comparison_stars`)
and the light-curve table (:func:`fluxion.core.lightcurve.run.assemble_light_curve`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from fluxion.core.chain import load_sources, load_zeropoint
from fluxion.core.chain.night import LIGHT_CURVE_FILE
from fluxion.core.lightcurve.catalogue import (
    CatalogueComparison,
    catalogue_comparison,
    comparison_records,
    star_name,
)
from fluxion.core.lightcurve.comparison import (
    ComparisonChoice,
    ComparisonError,
    choose_comparison_stars,
)
from fluxion.core.lightcurve.extended import extended_sources, source_sizes
from fluxion.core.lightcurve.run import (
    LightCurveParams,
    Measurement,
    assemble_light_curve,
    measure_frames,
)
from fluxion.core.lightcurve.scintillation import lights_scintillation
from fluxion.core.photometry.flags import PhotometryFlag
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.project.cache import ProductCache
from fluxion.core.runtime.failures import failure_message
from fluxion.core.runtime.pipeline import StepState
from fluxion.core.targets.inputs import TargetFrames
from fluxion.core.variability.periods import periodogram as lomb_scargle

from .lightcurve_kept_stars import add_star_columns, kept_stars
from .target_model import Target, predict_positions

__all__ = [
    "LightCurveRun",
    "run_light_curve",
    "calibration_stars",
    "field_sources",
    "field_stars",
    "periodogram",
    "period_verdict",
    "fold",
    "noisy_points",
    "blended_points",
    "stored_run",
    "stored_light_curves",
    "light_curve_file",
    "table_to_keep",
]

log = logging.getLogger("fluxion.app.lightcurve")

#: Columns a stored light curve needs to be drawn (``fluxion run`` writes more).
STORED_COLUMNS = ("file", "jd_utc", "mag", "mag_err", "x", "y")


@dataclass(frozen=True)
class LightCurveRun:
    """A measured light curve and how it was made.

    Attributes
    ----------
    table : Table
        One row per light (see :func:`~fluxion.core.lightcurve.run.assemble_light_curve`).
    positions : Table
        The target's predicted positions (for MPC/ADES reports).
    stars_xy : ndarray, shape (n_lights, n_stars, 2)
        Comparison candidates in every light.
    choice : ComparisonChoice
    calibrated : bool
        Magnitudes on the catalogue scale (clicked stars with magnitudes).
    stored : bool
        Read from the project (``fluxion run``'s light curve, or one measured
        here earlier), not measured now.
    """

    table: Table
    positions: Table
    stars_xy: np.ndarray
    choice: ComparisonChoice
    calibrated: bool
    stored: bool = False


def _candidates_in_every_light(frames: TargetFrames, ref_xy: np.ndarray) -> np.ndarray:
    """Stars given in the first light's pixels, followed into every light."""
    return frames.in_every_light(ref_xy)


def to_first_light(frames: TargetFrames, light: int, x: float, y: float) -> tuple[float, float]:
    """A position clicked in light ``light`` in the first light's pixels."""
    fx, fy = frames.to_first_light(light, np.array([x, y]))[0]
    return float(fx), float(fy)


def calibration_stars(
    store, frames: TargetFrames, isolation_radius: float = 0.0, cache: ProductCache | None = None
) -> CatalogueComparison | None:
    """The catalogue stars of the first light the zero-point step calibrated.

    Read from the project's zero-point products (``store``; through ``cache``
    when given: the Zero point panel read them already), in the first light's
    pixels; None when no light was calibrated (or nothing is stored). Runs in a
    worker (reads files).
    """
    if store is None:
        return None
    for i, k in enumerate(frames.indices):
        frame = frames.sequence[k]
        try:
            if cache is None:
                zp = load_zeropoint(store, frame)
            else:
                zp = cache.get(store, "zeropoint", frame, load_zeropoint)
        except (OSError, ValueError) as exc:
            log.warning("the zero point of %s cannot be read: %s", frame.path.name, exc)
            continue
        if zp is None or not zp.calibrated or len(zp.stars) == 0:
            continue
        cat = catalogue_comparison(
            zp.stars, zp.sources, band=zp.band, isolation_radius=isolation_radius,
            source=frame.path.name,
        )  # fmt: skip
        if len(cat) == 0:
            continue
        xy = cat.xy if i == 0 else frames.to_first_light(i, cat.xy)
        return replace(cat, xy=np.asarray(xy, float).reshape(-1, 2))
    return None


def field_sources(store, frame, cache: ProductCache | None = None) -> np.ndarray | None:
    """The detected sources of ``frame`` (x, y), or None when it has none stored."""
    stars = field_stars(store, frame, cache)
    return None if stars is None else stars[0]


def field_stars(
    store, frame, cache: ProductCache | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The detected sources of ``frame``: (x, y) and their fluxes, or None without any.

    Read through ``cache`` when given (the Detection panel read them already).
    """
    if store is None:
        return None
    try:
        if cache is None:
            found = load_sources(store, frame)
        else:
            found = cache.get(store, "detection", frame, load_sources)
    except (OSError, ValueError) as exc:
        log.warning("the sources of %s cannot be read: %s", frame.path.name, exc)
        return None
    if found is None or not len(found.sources):
        return None
    src = found.sources
    xy = np.column_stack([np.asarray(src["x"], float), np.asarray(src["y"], float)])
    flux = np.asarray(src["flux"], float) if "flux" in src.colnames else np.full(len(xy), np.nan)
    return xy, flux


def _match_clicks(
    xy: np.ndarray, mag: np.ndarray | None, catalogue: CatalogueComparison | None,
    frames: TargetFrames, radius: float,
) -> CatalogueComparison:  # fmt: skip
    """Clicked comparison stars with names, positions and magnitudes.

    A typed magnitude wins; a star without one takes the catalogue's when a
    calibration star lies within ``radius`` px of the click.
    """
    n = len(xy)
    mags = np.full(n, np.nan) if mag is None else np.asarray(mag, float).copy()
    errs = np.full(n, np.nan)
    names = [""] * n
    if frames.wcs is not None:
        sky = frames.wcs[0].pixel_to_world(xy[:, 0], xy[:, 1])
        ra, dec = np.atleast_1d(sky.ra.deg).astype(float), np.atleast_1d(sky.dec.deg).astype(float)
    else:
        ra = dec = np.full(n, np.nan)
    if catalogue is not None and len(catalogue):
        for j in range(n):
            d = np.hypot(*(catalogue.xy - xy[j]).T)
            k = int(np.argmin(d))
            if d[k] > radius:
                continue
            names[j] = catalogue.names[k]
            ra[j], dec[j] = catalogue.ra[k], catalogue.dec[k]
            if not np.isfinite(mags[j]):
                mags[j], errs[j] = catalogue.mag[k], catalogue.mag_err[k]
    names = [nm or star_name(r, d) for nm, r, d in zip(names, ra, dec, strict=True)]
    band = catalogue.band if catalogue is not None else ""
    return CatalogueComparison(xy, mags, errs, ra, dec, names, band, "clicked")


def run_light_curve(
    frames: TargetFrames,
    target: Target,
    params: LightCurveParams,
    load_image: Callable[[int], np.ndarray],
    *,
    comparison_xy: np.ndarray | None = None,
    comparison_mag: np.ndarray | None = None,
    catalogue: CatalogueComparison | None = None,
    field_xy: np.ndarray | None = None,
    field_flux: np.ndarray | None = None,
    read_noise: float = 0.0,
    executor: Executor | None = None,
    state: StepState | None = None,
    measure: Callable[..., Measurement] = measure_frames,
) -> LightCurveRun:
    """Measure the target's light curve (see the module docstring).

    Parameters
    ----------
    load_image : callable
        ``load_image(i)``: light ``i`` in electrons.
    comparison_xy : ndarray (n, 2), optional
        Clicked comparison stars in the first light's pixels; the last is the
        check star when three or more are given. None: chosen automatically.
    comparison_mag : ndarray (n,), optional
        Their catalogue magnitudes (NaN where not typed).
    catalogue : CatalogueComparison, optional
        Stars of known catalogue magnitude in the first light's pixels
        (:func:`calibration_stars`). With two or more, the automatic choice
        takes its comparison and check stars among them and the curve is on
        the catalogue's scale; clicked stars without a typed magnitude take
        theirs.
    field_xy : ndarray (n, 2), optional
        The field's sources in the first light's pixels (its detections): a
        moving target that passes one of them in a light is flagged
        ``CONTAMINATED`` there (the star's light is in its aperture).
    field_flux : ndarray (n,), optional
        Their fluxes: an automatic comparison star is refused when a brighter
        star's aperture reaches into its aperture or sky annulus.
    measure : callable, optional
        The forced photometry, called as :func:`~fluxion.core.lightcurve.run.measure_frames`
        (a colour camera's channels: :class:`.lightcurve_channels.ChannelPhotometry`).
    """
    positions, _ = predict_positions(target, frames)
    target_xy = np.column_stack([positions["x"], positions["y"]]).astype(float)
    manual = comparison_xy is not None and len(comparison_xy) > 0
    known: CatalogueComparison | None = None  # the candidates' names and magnitudes
    if manual:
        ref_xy = np.asarray(comparison_xy, dtype=float).reshape(-1, 2)
        known = _match_clicks(ref_xy, comparison_mag, catalogue, frames,
                              radius=max(params.aperture_radius, 3.0))  # fmt: skip
    else:
        bright = np.asarray(frames.stars, dtype=float).reshape(-1, 2)
        if catalogue is not None and len(catalogue):
            # Catalogue stars first, then the bright stars that are not among them.
            d = np.hypot(*(bright[:, None, :] - catalogue.xy[None, :, :]).transpose(2, 0, 1))
            extra = bright[d.min(axis=1) > 3.0] if len(catalogue.xy) else bright
            known = _extend(catalogue, extra, frames)
        else:
            known = None
        ref_xy = known.xy if known is not None else bright
        # The target itself (or a star it passes) is no comparison candidate.
        far = np.hypot(*(ref_xy - target_xy[0]).T) > 2 * params.annulus_outer
        ref_xy = ref_xy[far]
        known = _subset(known, far) if known is not None else None
    if len(ref_xy) == 0:
        raise ValueError("no comparison star: click some, or use frames with more stars")
    star_xy = _candidates_in_every_light(frames, ref_xy)
    neighbours = None
    # Only a moving target meets stars: a fixed one's neighbour is there in every light
    # and cancels in its differential curve. A fixed target's pixels move with the
    # field (a mount's drift) and its neighbours with it: its kind decides, not its pixels.
    shift = np.nanmax(np.hypot(*(target_xy - target_xy[0]).T))
    moves = target.kind != "fixed" and shift > params.aperture_radius
    if field_xy is not None and len(field_xy) and np.all(np.isfinite(target_xy[0])) and moves:
        fixed = np.asarray(field_xy, float).reshape(-1, 2)
        # Not the target itself where it was in the first light.
        fixed = fixed[np.hypot(*(fixed - target_xy[0]).T) > params.aperture_radius]
        neighbours = list(frames.in_every_light(fixed))
    sub = None if state is None else state.sub(0.0, 0.9)
    ra0, dec0 = float(positions["ra"][0]), float(positions["dec"][0])
    where = SkyCoord(ra0 * u.deg, dec0 * u.deg) if np.isfinite(ra0) and np.isfinite(dec0) else None
    # Each star's twinkling in its error, when the headers give the telescope's aperture.
    scint = lights_scintillation(frames, where)
    m = measure(load_image, target_xy, star_xy, params,
                noise=NoiseModel(read_noise=read_noise), state=sub, executor=executor,
                neighbours_xy=neighbours, scintillation=scint.sigma)  # fmt: skip
    if manual:
        k = len(ref_xy)
        ens = tuple(range(k - 1)) if k >= 3 else tuple(range(k))
        choice = ComparisonChoice(ens, k - 1 if k >= 3 else None, {}, np.full(k, np.nan))
    else:
        # Stars only: no galaxy core (sizes over four apertures, about six
        # FWHM, on the first light) and, for a moving target, none it passes.
        wide = extended_sources(source_sizes(load_image(0), ref_xy, 4 * params.aperture_radius))
        path = None
        if moves:
            path = np.array([to_first_light(frames, i, x, y) if np.isfinite(x + y) else (x, y)
                             for i, (x, y) in enumerate(target_xy)])  # fmt: skip
        choose = partial(
            choose_comparison_stars, m.star_flux, m.star_err, ref_xy, flags=m.star_flags,
            extended=wide, target_path=path,
            target_flux=float(np.nanmedian(m.target_flux)), n_comparison=params.n_comparison,
            isolation_radius=params.isolation_radius, max_delta_mag=params.max_delta_mag,
            max_chi2=params.max_chi2, aperture_radius=params.aperture_radius,
            annulus_outer=params.annulus_outer, field_xy=field_xy, field_flux=field_flux,
        )  # fmt: skip
        picked: ComparisonChoice | None = None
        unknown = np.flatnonzero(~np.isfinite(known.mag)) if known is not None else np.zeros(0, int)
        if known is not None and len(unknown) < len(known) - 1:
            # Stars of known magnitude only: the curve is then on the catalogue's scale.
            try:
                picked = choose(exclude=[int(i) for i in unknown])
            except ComparisonError as exc:
                log.warning("no comparison ensemble among the catalogue stars (%s): "
                            "the curve is differential", exc)  # fmt: skip
            if picked is not None and len(picked.comparison) < 2:
                picked = None  # one catalogue star is a worse ensemble than five field stars
        choice = picked if picked is not None else choose()
    ra, dec = np.asarray(positions["ra"], float), np.asarray(positions["dec"], float)
    sky = SkyCoord(ra * u.deg, dec * u.deg) if np.all(np.isfinite(ra)) else None
    used = list(choice.comparison)
    on_scale = known if known is not None and np.all(np.isfinite(known.mag[used])) else None
    calibrated = on_scale is not None
    table = assemble_light_curve(
        m, choice, frames.times, files=frames.files, target=sky, location=frames.location,
        comparison_mag=on_scale.mag if on_scale is not None else None,
        comparison_mag_err=np.nan_to_num(on_scale.mag_err) if on_scale is not None else None,
        pointing=frames.pointing(),
    )  # fmt: skip
    table.meta.update(scint.meta())
    if known is not None:
        table.meta["comparison_records"] = comparison_records(known, used, choice.check)
        table.meta["band"] = known.band
        table.meta["comparison_source"] = known.source
    if state is not None:
        state.progress(1.0, "light curve ready")
    return LightCurveRun(table, positions, star_xy, choice, calibrated)


def _extend(cat: CatalogueComparison, xy: np.ndarray, frames: TargetFrames) -> CatalogueComparison:
    """``cat`` followed by stars at ``xy`` (first-light pixels) of unknown magnitude."""
    n = len(xy)
    if frames.wcs is not None and n:
        sky = frames.wcs[0].pixel_to_world(xy[:, 0], xy[:, 1])
        ra, dec = np.atleast_1d(sky.ra.deg).astype(float), np.atleast_1d(sky.dec.deg).astype(float)
    else:
        ra = dec = np.full(n, np.nan)
    return replace(
        cat, xy=np.vstack([cat.xy, xy]).reshape(-1, 2), mag=np.r_[cat.mag, np.full(n, np.nan)],
        mag_err=np.r_[cat.mag_err, np.full(n, np.nan)], ra=np.r_[cat.ra, ra],
        dec=np.r_[cat.dec, dec],
        names=[*cat.names, *(star_name(r, d) for r, d in zip(ra, dec, strict=True))],
    )  # fmt: skip


def _subset(cat: CatalogueComparison, keep: np.ndarray) -> CatalogueComparison:
    rows = np.flatnonzero(keep)
    return replace(
        cat, xy=cat.xy[rows], mag=cat.mag[rows], mag_err=cat.mag_err[rows], ra=cat.ra[rows],
        dec=cat.dec[rows], names=[cat.names[k] for k in rows],
    )  # fmt: skip


def periodogram(
    jd: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, *, max_period_h: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Lomb-Scargle power against period (hours) and the best period (hours).

    :func:`fluxion.core.variability.periods.periodogram` (astropy), periods
    from twice the median sampling interval to the time span: a longer one is
    not something the night shows. :func:`period_verdict` says whether the
    best period is constrained at all.
    """
    ok = np.isfinite(jd) & np.isfinite(mag) & np.isfinite(mag_err) & (mag_err > 0)
    if ok.sum() < 5:
        raise ValueError("a periodogram needs at least five measured points")
    jd, mag, mag_err = jd[ok], mag[ok], mag_err[ok]
    pg = lomb_scargle(jd, mag, mag_err,
                      max_period=None if max_period_h is None else max_period_h / 24.0)  # fmt: skip
    if not len(pg.period):
        raise ValueError("the points span too short a time for a periodogram")
    return pg.period * 24.0, pg.power, float(pg.best_period * 24.0)


def period_verdict(
    jd: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, best_h: float, *,
    min_cycles: float = 1.5, max_false_alarm: float = 0.01,
) -> tuple[bool, str]:  # fmt: skip
    """Whether the data constrain the best period, and a sentence for the user.

    A period is only claimed when the points cover ``min_cycles`` of it and
    its peak is unlikely from noise alone (Baluev's false-alarm probability
    below ``max_false_alarm``); one eclipse in 1.45 h of data gives a highest
    peak but no period.
    """
    ok = np.isfinite(jd) & np.isfinite(mag) & np.isfinite(mag_err) & (mag_err > 0)
    span_h = float(np.ptp(jd[ok])) * 24.0 if ok.sum() > 1 else 0.0
    cycles = span_h / best_h if best_h > 0 else 0.0
    fap = lomb_scargle(jd[ok], mag[ok], mag_err[ok]).false_alarm if ok.sum() >= 5 else 1.0
    if cycles < min_cycles:
        return False, (
            f"No period can be given: the highest peak ({best_h:.4f} h) is {cycles:.1f} cycles "
            f"of the {span_h:.2f} h observed; a period needs at least {min_cycles:g} cycles. "
            "Observe longer (or add nights) to measure it."
        )
    if fap > max_false_alarm:
        return False, (
            f"No significant period: the highest peak ({best_h:.4f} h) has a false-alarm "
            f"probability of {fap:.2g}; noise alone gives peaks this high."
        )
    return True, (
        f"Best period {best_h:.4f} h (Lomb-Scargle; {cycles:.1f} cycles observed, "
        f"false-alarm probability {fap:.1g})."
    )


#: A point is noisy when its error exceeds this many times the curve's median error...
NOISY_FACTOR = 3.0
#: ...and this many magnitudes (a curve of 0.005 mag points keeps its 0.02 mag ones).
NOISY_FLOOR = 0.05


def blended_points(flags: np.ndarray) -> np.ndarray:
    """Points where another star's light biases the target (``CONTAMINATED``)."""
    return (np.asarray(flags, np.int64) & int(PhotometryFlag.CONTAMINATED)) != 0


def noisy_points(mag_err: np.ndarray) -> np.ndarray:
    """Points whose error is far above the curve's own (twilight, cloud, a blend).

    Such points carry almost no weight in a fit but dominate a plot and, in a
    report, tell the reader about the sky rather than the target; they are
    left out by default (the user can bring each back). Also the points
    without a measurement.
    """
    err = np.asarray(mag_err, float)
    good = np.isfinite(err) & (err > 0)
    if not good.any():
        return ~good
    limit = max(NOISY_FACTOR * float(np.median(err[good])), NOISY_FLOOR)
    return ~good | (err > limit)


def fold(jd: np.ndarray, period_h: float, epoch: float | None = None) -> np.ndarray:
    """Phase (0..1) of each time for ``period_h`` hours, from ``epoch`` (default: the first)."""
    t0 = float(np.nanmin(jd)) if epoch is None else epoch
    return np.mod((np.asarray(jd, float) - t0) * 24.0 / period_h, 1.0)


def stored_run(table: Table) -> LightCurveRun:
    """A light curve read from the project as the panel shows a measured one.

    ``fluxion run`` measures the target in each frame's calibrated magnitudes
    table, not against chosen comparison stars, so the run has none here (the
    panel finds its ensemble's stars later, :mod:`.lightcurve_run_stars`); a
    curve measured in the window keeps its stars in its own columns
    (:func:`.lightcurve_kept_stars.kept_stars`). The target's positions are
    the table's own (nothing clicked).
    """
    n = len(table)
    positions = Table()
    positions["frame"] = np.arange(n)
    positions["file"] = [str(f) for f in table["file"]]
    positions["jd"] = np.asarray(table["jd_utc"], float)
    for c in ("ra", "dec", "x", "y"):
        positions[c] = np.asarray(table[c], float) if c in table.colnames else np.full(n, np.nan)
    positions["sigma_px"] = np.full(n, np.nan)
    positions["clicked"] = np.zeros(n, bool)
    # A curve against comparison stars is differential whatever its lights' zero points
    # (the run's ``calibrated`` column says which lights had one): never standard magnitudes.
    differential = str(table.meta.get("magnitude_scale", "")).startswith("differential")
    calibrated = (
        "calibrated" in table.colnames and bool(np.all(table["calibrated"])) and not differential
    )
    stars_xy, choice = kept_stars(table)
    return LightCurveRun(table, positions, stars_xy, choice, calibrated, stored=True)


def stored_light_curves(
    folder: str | Path,
    targets: Sequence[dict],
    frame_files: Sequence[str],
    state: StepState | None = None,
    problems: dict[str, str] | None = None,
) -> dict[str, tuple[LightCurveRun, np.ndarray]]:
    """The light curves a project keeps for its targets (runs in a worker).

    ``fluxion run`` writes the target's curve into the project folder and
    names the file in the target's ``light_curve`` entry. Each curve comes
    with the index in ``frame_files`` (the open frames' file names) of each
    of its rows, -1 for a frame that is not open. A missing or damaged file
    is skipped with a warning: measuring again makes a new curve. What is
    wrong with it goes into ``problems`` (by target name) when given.
    """
    index = {name: i for i, name in enumerate(frame_files)}
    out = {}
    for doc in targets:
        name, file = str(doc.get("name", "")), doc.get("light_curve")
        if not file:
            continue
        path = Path(folder) / str(file)
        try:
            table = Table.read(path, format="ascii.ecsv")
        # A damaged ECSV header fails in astropy with TypeError, KeyError or a YAML
        # error as well as ValueError: whatever it is, the file is named with its cause.
        except Exception as exc:  # noqa: BLE001
            log.warning("the light curve of %s cannot be read from %s: %s", name, path, exc)
            if problems is not None:
                problems[name] = f"{path} cannot be read ({failure_message(exc)})"
            continue
        missing = [c for c in STORED_COLUMNS if c not in table.colnames]
        if missing:
            log.warning("%s has no %s column: not a light curve", path.name, ", ".join(missing))
            if problems is not None:
                problems[name] = f"{path} has no {', '.join(missing)} column: not a light curve"
            continue
        rows = np.array([index.get(str(f), -1) for f in table["file"]], dtype=int)
        out[name] = (stored_run(table), rows)
    return out


def light_curve_file(targets: Sequence[dict], doc: dict) -> str:
    """The file (in the project folder) that keeps the light curve of target ``doc``.

    ``fluxion run`` keeps its one target's curve in ``lightcurve.ecsv``; a
    project's only target keeps that name, and with several targets each has
    its own ``lightcurve_<name>.ecsv``. A target keeps the file it already
    has unless another target names the same one, so measuring again
    replaces its own curve and never another target's.
    """
    others = {str(t.get("light_curve")) for t in targets if t is not doc and t.get("light_curve")}
    own = doc.get("light_curve")
    if own and str(own) not in others:
        return str(own)
    if len(targets) <= 1 and LIGHT_CURVE_FILE not in others:
        return LIGHT_CURVE_FILE
    # Letters, digits, '.', '-' and '_' only, so the name is a file name everywhere.
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(doc.get("name", ""))).strip("._") or "target"
    name, n = f"lightcurve_{slug}.ecsv", 2
    while name in others:
        name, n = f"lightcurve_{slug}_{n}.ecsv", n + 1
    return name


def table_to_keep(run: LightCurveRun, target_name: str, aperture_radius: float) -> Table:
    """The measured curve as the project keeps it: every light, excluded ones too.

    Exclusions live in the target's project entry, by file, so the table keeps
    all rows; ``calibrated`` (as ``fluxion run`` writes it) says whether the
    magnitudes are on the catalogue scale, so the curve reads back the same.
    The comparison and check stars in every light and the aperture radius
    (px) go with it (:func:`.lightcurve_kept_stars.add_star_columns`), so the
    reopened project draws them.
    """
    table = run.table.copy(copy_data=True)
    table["calibrated"] = np.full(len(table), run.calibrated, dtype=bool)
    add_star_columns(table, run.stars_xy, run.choice, aperture_radius)
    table.meta["target"] = target_name
    return table
