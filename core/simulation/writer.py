"""Writing a simulated night to disk as a capture program would, truth alongside."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..io.folders import mark_output_folder
from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState

if TYPE_CHECKING:
    from .night import Night

__all__ = [
    "CATALOG_FILE",
    "LAYOUTS",
    "NIGHT_FILE",
    "TRUTH_FOLDER",
    "NightTruth",
    "frame_paths",
    "write_night",
]

#: How a night's frames are filed (see :func:`frame_paths`).
LAYOUTS = ("flat", "nina", "observatory")
# The folder names of the sub-folder layouts, per frame type.
_NINA_FOLDERS = {"light": "LIGHT", "bias": "BIAS", "dark": "DARK", "flat": "FLAT"}
_OBSERVATORY_FOLDERS = {"bias": "zero", "dark": "dark", "flat": "flat"}

#: The folder of a written night that holds its truth, and the files in it that
#: say "this is a simulated night" and "these are the stars it was made from".
TRUTH_FOLDER = "truth"
NIGHT_FILE = "night.json"
CATALOG_FILE = "reference_catalog.ecsv"


@dataclass(frozen=True)
class NightTruth:
    """What :func:`fluxion.core.simulation.simulate.simulate_night` wrote.

    Attributes
    ----------
    outdir : Path
        The folder.
    lights, biases, darks, flats : tuple of Path
        Raw frames, sorted by time within each type.
    truth_tables, wcs_files : tuple of Path
        ``truth/light_NNNN.ecsv`` and ``truth/light_NNNN.wcs.fits``, one per light.
    catalog : Path
        ``truth/reference_catalog.ecsv``.
    night_json : Path
        ``truth/night.json``.
    n_stars : int
        Stars in the reference catalog.
    """

    outdir: Path
    lights: tuple[Path, ...]
    biases: tuple[Path, ...]
    darks: tuple[Path, ...]
    flats: tuple[Path, ...]
    truth_tables: tuple[Path, ...]
    wcs_files: tuple[Path, ...]
    catalog: Path
    night_json: Path
    n_stars: int
    shape: tuple[int, int]
    filter: str
    """The lights' filter, or ``'colour RGGB'`` for a one-shot-colour camera."""

    def summary(self) -> str:
        """One line: what was written."""
        ny, nx = self.shape
        return (
            f"{len(self.lights)} lights ({nx}x{ny}, {self.filter}), {len(self.biases)} bias, "
            f"{len(self.darks)} darks, {len(self.flats)} flats, {self.n_stars} catalog stars"
        )


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_fits(path: Path, data: np.ndarray | None, header: fits.Header) -> None:
    # uint16 data is stored as BITPIX=16 with BZERO=32768, as cameras write it.
    hdu = fits.PrimaryHDU(data=data, header=header)
    _atomic(path, lambda tmp: hdu.writeto(tmp, overwrite=True, output_verify="exception"))


def _write_table(path: Path, table: Table) -> None:
    _atomic(path, lambda tmp: table.write(tmp, format="ascii.ecsv", overwrite=True))


def _write_json(path: Path, obj: dict) -> None:
    _atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8"))


def _start(night: Night, kind: str, j: int):
    return night.start_times[j] if kind == "light" else night.calibration_start(kind, j)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "target"


def frame_paths(night: Night, outdir: Path) -> dict[str, tuple[Path, ...]]:
    """Where each raw frame of ``night`` is written, by kind, in the config's layout.

    * ``flat``: ``light_0001.fits``, ``bias_0001.fits``, ``dark_0001.fits``,
      ``flat_V_0001.fits`` in ``outdir``;
    * ``nina``: N.I.N.A.'s default pattern, ``<night date>/<TYPE>/<date>_<time>_
      <filter>_<sensor temperature>_<exposure>s_<number>.fits`` with the date of
      the evening (``$$DATEMINUS12$$``) and TYPE one of LIGHT, DARK, FLAT, BIAS;
    * ``observatory``: ``zero/``, ``dark/``, ``flat/`` and one folder per
      target, files numbered ``n0001.fits``... in the order they were taken.

    Returns
    -------
    dict
        ``light``, ``bias``, ``dark``, ``flat`` to the paths of frames 0, 1, ...
    """
    c = night.config
    counts = {"light": c.n_frames, "bias": c.n_bias, "dark": c.n_dark, "flat": c.n_flat}
    # A colour camera's flats have no filter in front: its channels are the filters.
    filt = night.filter_card or "NoFilter"
    if c.layout == "flat":
        flat = "flat" if night.filter_card is None else f"flat_{night.filter_card}"
        stems = {"light": "light", "bias": "bias", "dark": "dark", "flat": flat}
        return {
            kind: tuple(outdir / f"{stems[kind]}_{j + 1:04d}.fits" for j in range(n))
            for kind, n in counts.items()
        }
    if c.layout == "nina":
        evening = (night.start_times[0] - 12 * u.hour).utc.datetime.strftime("%Y-%m-%d")
        exptimes = {"light": c.exptime, "bias": 0.0, "dark": c.exptime, "flat": c.flat_exptime}
        out = {}
        for kind, n in counts.items():
            folder = outdir / evening / _NINA_FOLDERS[kind]
            names = []
            for j in range(n):
                when = _start(night, kind, j).utc.datetime.strftime("%Y-%m-%d_%H-%M-%S")
                f = filt if kind in ("light", "flat") else "NoFilter"
                names.append(
                    folder / f"{when}_{f}_{c.ccd_temp:.2f}_{exptimes[kind]:.2f}s_{j:04d}.fits"
                )
            out[kind] = tuple(names)
        return out
    # observatory: one running number in the order the frames were taken
    taken = sorted(
        ((_start(night, kind, j).jd, kind, j) for kind, n in counts.items() for j in range(n))
    )
    folders = {**_OBSERVATORY_FOLDERS, "light": _safe(c.object_name)}
    paths: dict[str, dict[int, Path]] = {kind: {} for kind in counts}
    for k, (_, kind, j) in enumerate(taken, start=1):
        paths[kind][j] = outdir / folders[kind] / f"n{k:04d}.fits"
    return {kind: tuple(paths[kind][j] for j in range(n)) for kind, n in counts.items()}


def _night_record(night: Night, lights: tuple[Path, ...], outdir: Path) -> dict:
    c = night.config
    frames = []
    for i in range(c.n_frames):
        rec = {
            "file": lights[i].relative_to(outdir).as_posix(),
            "date_obs": night.start_times[i].isot,
            "jd_mid": float(night.times[i].jd),
            "airmass": float(night.airmass[i]),
            "fwhm": float(night.fwhm[i]),
            "cloud_loss": float(night.cloud_loss[i]),
            "sky_factor": night.sky_factor(i),
        }
        if c.asteroid:
            pos = night.asteroid_position(night.times[i].jd)
            x, y = night.wcs(i).all_world2pix(pos.ra.deg, pos.dec.deg, 0, tolerance=1e-9)
            rec["asteroid"] = {
                "ra": float(pos.ra.deg),
                "dec": float(pos.dec.deg),
                "x": float(x),
                "y": float(y),
            }
        frames.append(rec)
    return {
        "config": params_to_dict(c),
        "camera": {k: v[0] for k, v in night.camera_facts().items()},
        "events": {
            "eclipsing_id": night.eclipsing_id,
            "eclipse_min_jd": night.eclipse_min,
            "transit_id": night.transit_id,
            "transit_mid_jd": night.transit_mid,
            "asteroid_rotation_t0_jd": night.asteroid_t0,
            **_transient_events(night),
        },
        "frames": frames,
    }


def _transient_events(night: Night) -> dict:
    """The nova's place and the outburst's star and time, for night.json."""
    c = night.config
    out: dict = {}
    if night.outburst_id is not None:
        out["outburst_id"] = night.outburst_id
        out["outburst_start_jd"] = night.outburst_start_jd
        out["outburst_amplitude"] = c.outburst_amplitude
    if night.nova_sky is not None:
        out["nova"] = {
            "ra": float(night.nova_sky.ra.deg),
            "dec": float(night.nova_sky.dec.deg),
            "mag_start": c.nova_mag_start,
            "mag_end": c.nova_mag_end,
        }
    if night.supernova_sky is not None:
        out["supernova"] = {
            "ra": float(night.supernova_sky.ra.deg),
            "dec": float(night.supernova_sky.dec.deg),
            "mag": c.supernova_mag,
        }
    return out


def write_night(
    night: Night,
    outdir: Path,
    state: StepState | None = None,
    executor: Executor | None = None,
) -> NightTruth:
    """Write every frame and truth product of ``night`` into ``outdir``.

    See :func:`fluxion.core.simulation.simulate.simulate_night` for the layout.
    """
    c = night.config
    state = state or StepState()
    try:
        (outdir / TRUTH_FOLDER).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the output folder {outdir}: {exc.strerror}") from exc
    truth_dir = outdir / TRUTH_FOLDER
    # The truth is the simulator's product, not frames: a scan of the night skips it.
    mark_output_folder(truth_dir)

    paths = frame_paths(night, outdir)
    lights, biases, darks, flats = (paths[k] for k in ("light", "bias", "dark", "flat"))
    for folder in {p.parent for group in paths.values() for p in group}:
        folder.mkdir(parents=True, exist_ok=True)
    tables = tuple(truth_dir / f"light_{i + 1:04d}.ecsv" for i in range(c.n_frames))
    wcs_files = tuple(truth_dir / f"light_{i + 1:04d}.wcs.fits" for i in range(c.n_frames))

    def raw_header(header: fits.Header) -> fits.Header:
        if c.layout == "observatory":
            # Typed by the folder it is filed in, as such programs leave it.
            header.remove("IMAGETYP", ignore_missing=True)
        return header

    def do_light(i: int) -> None:
        state.check()
        data, header, truth = night.light(i)
        _write_fits(lights[i], data, raw_header(header))
        _write_table(tables[i], truth)
        wcs_header = night.wcs(i).to_header(relax=True)
        wcs_header["IMAGEW"] = (c.shape[1], "image width (px)")
        wcs_header["IMAGEH"] = (c.shape[0], "image height (px)")
        _write_fits(wcs_files[i], None, wcs_header)

    def do_calibration(kind: str, j: int) -> None:
        state.check()
        data, header = getattr(night, kind)(j)
        _write_fits(paths[kind][j], data, raw_header(header))

    jobs: list[Callable[[], None]] = [partial(do_light, i) for i in range(c.n_frames)]
    for kind, n in (("bias", c.n_bias), ("dark", c.n_dark), ("flat", c.n_flat)):
        jobs += [partial(do_calibration, kind, j) for j in range(n)]
    tick = state.counter(len(jobs) + 1, "frames")

    def run(job: Callable[[], None]) -> None:
        job()
        tick()

    own = executor is None
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2) if executor is None else executor
    try:
        futures = [pool.submit(run, job) for job in jobs]
        for f in futures:
            f.result()  # re-raises the first failure (or Cancelled)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)

    _write_table(truth_dir / CATALOG_FILE, night.catalog)
    _write_json(truth_dir / NIGHT_FILE, _night_record(night, lights, outdir))
    tick()
    return NightTruth(
        outdir=outdir,
        lights=lights,
        biases=biases,
        darks=darks,
        flats=flats,
        truth_tables=tables,
        wcs_files=wcs_files,
        catalog=truth_dir / CATALOG_FILE,
        night_json=truth_dir / NIGHT_FILE,
        n_stars=len(night.catalog),
        shape=c.shape,
        filter=night.filter_card or f"colour {c.bayer_pattern}",
    )
