"""Writing a simulated night to disk as a capture program would, truth alongside."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState

if TYPE_CHECKING:
    from .night import Night

__all__ = ["CATALOG_FILE", "NIGHT_FILE", "TRUTH_FOLDER", "NightTruth", "write_night"]

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

    def summary(self) -> str:
        """One line: what was written."""
        ny, nx = self.shape
        return (
            f"{len(self.lights)} lights ({nx}x{ny}, {self.filter}), {len(self.biases)} bias, "
            f"{len(self.darks)} darks, {len(self.flats)} flats, {self.n_stars} catalog stars"
        )


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
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


def _night_record(night: Night) -> dict:
    c = night.config
    frames = []
    for i in range(c.n_frames):
        rec = {
            "file": f"light_{i + 1:04d}.fits",
            "date_obs": night.start_times[i].isot,
            "jd_mid": float(night.times[i].jd),
            "airmass": float(night.airmass[i]),
            "fwhm": float(night.fwhm[i]),
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
        },
        "frames": frames,
    }


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

    lights = tuple(outdir / f"light_{i + 1:04d}.fits" for i in range(c.n_frames))
    tables = tuple(truth_dir / f"light_{i + 1:04d}.ecsv" for i in range(c.n_frames))
    wcs_files = tuple(truth_dir / f"light_{i + 1:04d}.wcs.fits" for i in range(c.n_frames))
    biases = tuple(outdir / f"bias_{j + 1:04d}.fits" for j in range(c.n_bias))
    darks = tuple(outdir / f"dark_{j + 1:04d}.fits" for j in range(c.n_dark))
    flats = tuple(outdir / f"flat_{c.filter}_{j + 1:04d}.fits" for j in range(c.n_flat))

    def do_light(i: int) -> None:
        state.check()
        data, header, truth = night.light(i)
        _write_fits(lights[i], data, header)
        _write_table(tables[i], truth)
        wcs_header = night.wcs(i).to_header(relax=True)
        wcs_header["IMAGEW"] = (c.shape[1], "image width (px)")
        wcs_header["IMAGEH"] = (c.shape[0], "image height (px)")
        _write_fits(wcs_files[i], None, wcs_header)

    def do_calibration(kind: str, j: int) -> None:
        state.check()
        data, header = getattr(night, kind)(j)
        path = {"bias": biases, "dark": darks, "flat": flats}[kind][j]
        _write_fits(path, data, header)

    jobs: list[Callable[[], None]] = [lambda i=i: do_light(i) for i in range(c.n_frames)]
    for kind, n in (("bias", c.n_bias), ("dark", c.n_dark), ("flat", c.n_flat)):
        jobs += [lambda kind=kind, j=j: do_calibration(kind, j) for j in range(n)]
    tick = state.counter(len(jobs) + 1, "frames")

    def run(job: Callable[[], None]) -> None:
        job()
        tick()

    own = executor is None
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2) if own else executor
    try:
        futures = [pool.submit(run, job) for job in jobs]
        for f in futures:
            f.result()  # re-raises the first failure (or Cancelled)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)

    _write_table(truth_dir / CATALOG_FILE, night.catalog)
    _write_json(truth_dir / NIGHT_FILE, _night_record(night))
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
        filter=c.filter,
    )
