"""Fallback solvers: a local astrometry.net (solve-field) and nova.astrometry.net.

Both are blind or loosely hinted solvers that succeed where the hinted solve
cannot (no pointing in the header, wrong scale, a field far from its hint).
Both take the detected sources rather than the image: no pixels leave the
computer, and solve-field skips its own source extraction.

Each fallback is a callable ``fallback(sources, image_shape, hint)`` returning a
:class:`~fluxion.core.astrometry.solve.SolveResult` whose ``method`` names it;
one whose ``cancellable`` is True also takes ``state=`` and stops when it is
cancelled (solve-field's process group is killed, not waited for).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning

from ..runtime.pipeline import Cancelled, StepState
from ..runtime.quiet import quiet
from .solve import SolveHint, SolveResult, not_solved

__all__ = ["SolveField", "NovaAstrometryNet", "solve_field_available"]

log = logging.getLogger(__name__)


def solve_field_available() -> bool:
    """True when astrometry.net's ``solve-field`` is on the PATH."""
    return shutil.which("solve-field") is not None


def _brightest_xy(sources: Table, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(sources["x"], float)
    y = np.asarray(sources["y"], float)
    flux = np.asarray(sources["flux"], float) if "flux" in sources.colnames else np.ones(len(x))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, flux = x[ok], y[ok], np.where(np.isfinite(flux[ok]), flux[ok], 0.0)
    order = np.argsort(-flux, kind="stable")[:n]
    return x[order], y[order], flux[order]


def _wcs_from_header(header: fits.Header, shape: tuple[int, int]) -> WCS:
    # astrometry.net writes header-only files (NAXIS = 0) that astropy remarks on;
    # quiet() because fallbacks run in worker threads (see fluxion.core.runtime.quiet).
    with quiet(FITSFixedWarning):
        w = WCS(header, naxis=2, relax=True)
    w.pixel_shape = (shape[1], shape[0])
    return w


def _scale(w: WCS) -> float:
    return math.sqrt(abs(float(np.linalg.det(w.pixel_scale_matrix)))) * 3600.0


class SolveField:
    """Local astrometry.net: ``solve-field`` on the source list, with the hint.

    Parameters
    ----------
    timeout : float
        Seconds before solve-field is stopped (its ``--cpulimit`` too).
    config : path, optional
        astrometry.net backend config naming the index folders; the system's
        (/etc/astrometry.cfg) when None.
    n_sources : int
        Brightest sources passed.
    use_hint : bool
        Pass the pointing and scale hint (much faster); False solves blind.
    executable : str
        Name or path of solve-field.
    """

    name = "solve-field"
    cancellable = True
    #: Seconds solve-field gets beyond its --cpulimit to stop by itself before it is killed.
    grace = 15.0

    def __init__(
        self,
        *,
        timeout: float = 60.0,
        config: str | Path | None = None,
        n_sources: int = 200,
        use_hint: bool = True,
        executable: str = "solve-field",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.timeout = float(timeout)
        self.config = config
        self.n_sources = int(n_sources)
        self.use_hint = use_hint
        self.executable = executable
        self.extra_args = tuple(extra_args)

    def command(self, xylist: Path, outdir: Path, shape, hint: SolveHint | None) -> list[str]:
        """The solve-field command line for a source list."""
        ny, nx = shape
        cmd = [
            self.executable,
            str(xylist),
            "--dir", str(outdir),
            "--out", "field",
            "--width", str(nx),
            "--height", str(ny),
            "--x-column", "X",
            "--y-column", "Y",
            "--sort-column", "FLUX",
            "--no-plots",
            "--overwrite",
            "--no-verify",
            "--crpix-center",
            "--tweak-order", "2",
            "--cpulimit", str(max(int(self.timeout), 1)),
            "--new-fits", "none",
            "--solved", "none",
            "--match", "none",
            "--rdls", "none",
            "--index-xyls", "none",
            "--temp-dir", str(outdir),
        ]  # fmt: skip
        if self.config:
            cmd += ["--config", str(self.config)]
        if self.use_hint and hint is not None:
            if hint.scale is not None:
                cmd += [
                    "--scale-units", "arcsecperpix",
                    "--scale-low", f"{hint.scale.low * 0.98:.5f}",
                    "--scale-high", f"{hint.scale.high * 1.02:.5f}",
                ]  # fmt: skip
            if hint.ra is not None and hint.dec is not None:
                radius = hint.search_radius if hint.search_radius is not None else 1.0
                cmd += ["--ra", f"{hint.ra:.6f}", "--dec", f"{hint.dec:.6f}"]
                cmd += ["--radius", f"{max(radius, 0.1) + 0.5:.4f}"]
        return cmd + list(self.extra_args)

    def __call__(
        self,
        sources: Table,
        image_shape: tuple[int, int],
        hint: SolveHint,
        *,
        state: StepState | None = None,
    ) -> SolveResult:
        """Solve with solve-field; a refusal with the reason when it cannot.

        Raises
        ------
        Cancelled
            ``state`` was cancelled: solve-field and its children were killed.
        """
        t0 = time.monotonic()
        if shutil.which(self.executable) is None:
            return not_solved(
                self.name, "solve-field is not installed (Debian: astrometry.net)", t0
            )
        x, y, flux = _brightest_xy(sources, self.n_sources)
        if len(x) < 4:
            return not_solved(self.name, f"only {len(x)} sources to give solve-field", t0)
        with tempfile.TemporaryDirectory(prefix="fluxion-solve-") as tmp:
            tmpdir = Path(tmp)
            xylist = tmpdir / "sources.xyls"
            # astrometry.net lists use FITS pixel coordinates (1-based).
            Table({"X": x + 1.0, "Y": y + 1.0, "FLUX": flux}).write(xylist, format="fits")
            cmd = self.command(xylist, tmpdir, image_shape, hint)
            log.info("running %s", " ".join(cmd))
            try:
                code, output = _run(cmd, tmpdir, self.timeout + self.grace, state)
            except subprocess.TimeoutExpired:
                return not_solved(self.name, f"no solution within {self.timeout:.0f} s", t0)
            except OSError as exc:
                return not_solved(self.name, f"cannot run solve-field: {exc}", t0)
            wcs_path = tmpdir / "field.wcs"
            if not wcs_path.exists():
                tail = output.strip().splitlines()[-1:]
                why = f" ({tail[0]})" if tail and code else ""
                return not_solved(self.name, f"solve-field found no solution{why}", t0)
            wcs = _wcs_from_header(fits.getheader(wcs_path), image_shape)
            n_match, rms_px = _corr_stats(tmpdir / "field.corr")
        scale = _scale(wcs)
        return SolveResult(
            True,
            self.name,
            wcs,
            n_matched=n_match,
            rms_px=rms_px,
            rms_arcsec=rms_px * scale,
            pixel_scale=scale,
            verdict="good",
            seconds=time.monotonic() - t0,
            catalog="astrometry.net index files",
        )


def _run(cmd: list[str], tmpdir: Path, timeout: float, state: StepState | None) -> tuple[int, str]:
    """Run ``cmd`` in its own process group; its return code and output.

    solve-field is a shell of processes (astrometry-engine, its children):
    on a cancel or a timeout the whole group is killed, so Cancel does not
    wait for the search to finish.

    Raises
    ------
    subprocess.TimeoutExpired, Cancelled
    """
    log_path = tmpdir / "solve-field.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env={**os.environ, "TMPDIR": str(tmpdir)},
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if state is not None and state.cancelled:
                        raise Cancelled("cancelled by the user") from None
                    if time.monotonic() > deadline:
                        raise
        except BaseException:
            _kill_group(proc)
            raise
    return code, log_path.read_text(errors="replace")


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a process and its children: TERM, then KILL after a second."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=1.0)
            return
        except subprocess.TimeoutExpired:
            continue


def _corr_stats(path: Path) -> tuple[int, float]:
    """Matched stars and their RMS (px) from solve-field's ``.corr`` table."""
    if not path.exists():
        return 0, math.nan
    try:
        # Read as a plain FITS table: its unit strings ("none") are not FITS units.
        t = fits.getdata(path, ext=1)
        dx = np.asarray(t["field_x"], float) - np.asarray(t["index_x"], float)
        dy = np.asarray(t["field_y"], float) - np.asarray(t["index_y"], float)
        return len(t), float(np.sqrt(np.mean(dx**2 + dy**2))) if len(t) else math.nan
    except (OSError, KeyError, ValueError):
        return 0, math.nan


class NovaAstrometryNet:
    """nova.astrometry.net through ``astroquery.astrometry_net``, source list only.

    Parameters
    ----------
    api_key : str
        The user's nova.astrometry.net API key.
    server : str
        Base URL (tests point it at a local replay server).
    solve_timeout : float
        Seconds to wait for the web service's solution.
    n_sources : int
        Brightest sources sent.
    """

    name = "nova.astrometry.net"

    def __init__(
        self,
        api_key: str,
        *,
        server: str = "https://nova.astrometry.net",
        solve_timeout: float = 300.0,
        n_sources: int = 200,
    ) -> None:
        if not api_key:
            raise ValueError("nova.astrometry.net needs an API key (free account on the site)")
        self.api_key = api_key
        self.server = server.rstrip("/")
        self.solve_timeout = float(solve_timeout)
        self.n_sources = int(n_sources)

    def _client(self):
        from astroquery.astrometry_net import AstrometryNetClass
        from astroquery.utils import url_helpers

        client = AstrometryNetClass()
        client.URL = self.server
        client.API_URL = url_helpers.join(self.server, "api")
        client.TIMEOUT = self.solve_timeout
        return client

    def settings(self, hint: SolveHint | None) -> dict:
        """The solve settings sent with the source list."""
        # The user's frames stay private unless they choose otherwise on the site.
        s: dict = {"crpix_center": True, "tweak_order": 2, "publicly_visible": "n"}
        if hint is not None and hint.scale is not None:
            s.update(
                scale_units="arcsecperpix",
                scale_type="ul",
                scale_lower=hint.scale.low * 0.98,
                scale_upper=hint.scale.high * 1.02,
            )
        if hint is not None and hint.ra is not None and hint.dec is not None:
            radius = hint.search_radius if hint.search_radius is not None else 1.0
            s.update(center_ra=hint.ra, center_dec=hint.dec, radius=max(radius, 0.1) + 0.5)
        return s

    def __call__(
        self, sources: Table, image_shape: tuple[int, int], hint: SolveHint
    ) -> SolveResult:
        """Solve on nova.astrometry.net; a refusal with the reason when it cannot."""
        t0 = time.monotonic()
        x, y, _ = _brightest_xy(sources, self.n_sources)
        if len(x) < 4:
            return not_solved(self.name, f"only {len(x)} sources to send", t0)
        from astroquery.astrometry_net import conf

        ny, nx = image_shape
        try:
            # The key is set for this call only, never saved in astroquery's config.
            with conf.set_temp("api_key", self.api_key):
                header = self._client().solve_from_source_list(
                    x + 1.0,  # astrometry.net's pixel coordinates are 1-based
                    y + 1.0,
                    nx,
                    ny,
                    solve_timeout=self.solve_timeout,
                    verbose=False,
                    **self.settings(hint),
                )
        except TimeoutError:
            return not_solved(self.name, f"no answer within {self.solve_timeout:.0f} s", t0)
        except Exception as exc:  # network, HTTP and service errors alike
            return not_solved(self.name, f"{type(exc).__name__}: {exc}", t0)
        if not header:
            return not_solved(self.name, "the service found no solution", t0)
        wcs = _wcs_from_header(header, image_shape)
        return SolveResult(
            True,
            self.name,
            wcs,
            pixel_scale=_scale(wcs),
            verdict="good",
            seconds=time.monotonic() - t0,
            catalog="nova.astrometry.net",
        )
