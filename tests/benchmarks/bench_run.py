"""Benchmark of ``fluxion run``'s chain against the floor: frames/s on 1 and 2 workers, memory.

Simulates a night and, in the same run and each in its own interpreter:

- the *floor*: every raw light read, its sep background subtracted, its
  sources extracted and fixed apertures summed (sep, one core) -- what any
  photometry of the night must at least do;
- the whole chain (calibration with masters and cosmic rays, detection,
  astrometry, registration, photometry, zero points, light curve) on 1 and
  2 thread workers (and 2 processes with ``--processes``), into fresh projects;
- the chain again on a quarter of the night, so that peak memory can be
  compared with the number of frames (flat when frames stay on disk);
- where the time goes: each step's thread CPU a frame (bench_run_steps.py), then the
  one-worker chain under cProfile (which overcharges Python calls), by step.

    .venv/bin/python tests/benchmarks/bench_run.py --frames 16 --size 1024
    .venv/bin/python tests/benchmarks/bench_run.py --frames 6 --size 4096

``--keep DIR`` / ``--compare DIR``: the one-worker products kept / compared (bench_run_compare.py).

The floor and the chain run under ``fluxion run``'s memory policy
(:mod:`fluxion.app.memory`, through the environment: bench_run_usage.py), so
their ratio is the user's; ``--no-memory-policy`` runs both under glibc's and
numpy's defaults instead (an A/B: the policy changes no arithmetic). The
kernel column is each run's kernel CPU a frame (page faults, zeroing, I/O).

The ``--memory-scan`` mode (bench_run_memory.py) asks the memory question at scale with cheap steps:
one night of the largest length (default 120 frames of 2048^2, no calibration
frames, no cosmic rays) is simulated once into a scratch folder, and
detection plus aperture photometry (the chain's ``detect_frame`` and
``photometry_frame``, products written into a fresh project) run on its first
20, 60 and 120 lights with 1 and 2 workers, each in its own interpreter.

    .venv/bin/python tests/benchmarks/bench_run.py --memory-scan 20 60 120 --size 2048

Prints tables of wall clock and CPU, with the load average (a shared machine's
wall clock says little); run by hand, not by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_run_compare import agreement, keep_products, print_agreement
from bench_run_memory import _cheap, memory_scan  # noqa: F401 (_cheap: a child's)
from bench_run_steps import _stepped, print_steps  # noqa: F401 (_stepped: a child's)
from bench_run_usage import apply_policy, usage

# (label, file suffix, function name): the chain's steps, as cProfile names them.
# Rows are cumulative and may nest (the cosmic rays are part of calibration).
STEPS = (
    ("masters", "core/chain/calibrate.py", "_masters"),
    ("calibration (lights)", "core/chain/calibrate.py", "calibrate_light"),
    ("  cosmic rays", "core/calibration/masks.py", "cosmic_rays"),
    ("detection", "core/detection/extract.py", "__call__"),
    ("astrometry (solver)", "core/astrometry/solve.py", "__call__"),
    ("astrometry (hinted)", "core/astrometry/solve.py", "solve_hinted"),
    ("registration", "core/chain/register.py", "register_lights"),
    ("photometry", "core/photometry/step.py", "run"),
    ("  FWHM", "core/photometry/detect.py", "measure_fwhm"),
    ("  star finding", "core/photometry/detect.py", "find_stars"),
    ("  curve of growth", "core/photometry/growth.py", "curve_of_growth"),
    ("  apertures", "core/photometry/aperture.py", "measure_apertures"),
    ("zero point", "core/zeropoint/step.py", "__call__"),
    ("light curve", "core/chain/lightcurve.py", "light_curve_from_magnitudes"),
    ("FITS opened", "astropy/io/fits/hdu/hdulist.py", "fromfile"),
    ("FITS written", "core/io/fitsio.py", "atomic_write_hdulist"),
    ("tables read (astropy)", "astropy/io/ascii/ui.py", "read"),
    ("tables written (astropy)", "astropy/io/ascii/ui.py", "write"),
    ("ECSV read", "core/io/ecsv_read.py", "read_ecsv"),
    ("ECSV written", "core/io/ecsv.py", "ecsv_text"),
    ("imports", "<frozen importlib._bootstrap>", "_find_and_load"),
)


def _floor(night: Path) -> dict:
    """Read, sep background, extraction and fixed apertures of every raw light, one core."""
    import numpy as np
    import sep
    from astropy.io import fits

    lights = sorted(night.glob("light_*.fits"))
    t0 = time.perf_counter()
    _, user0, kernel0 = usage()
    n_sources = 0
    for path in lights:
        data = fits.getdata(path).astype(np.float32)
        bkg = sep.Background(data)
        data -= bkg.back()
        objects = sep.extract(data, 1.5, err=bkg.globalrms, minarea=5)
        sep.sum_circle(data, objects["x"], objects["y"], 5.0, err=bkg.globalrms)
        n_sources += len(objects)
    seconds = time.perf_counter() - t0
    _, user, kernel = usage()
    return {"frames": len(lights), "seconds": seconds, "cpu": user + kernel - user0 - kernel0,
            "kernel": kernel - kernel0, "sources": n_sources / max(len(lights), 1)}  # fmt: skip


def _run(
    night: Path,
    project: Path,
    workers: int,
    n_frames: int | None,
    kind: str = "threads",
    accuracy: bool = True,
) -> dict:
    pool = None
    if workers > 1 and kind == "processes":
        from fluxion.core.chain import WORKER_PRELOAD
        from fluxion.core.runtime.processes import WorkerPool

        # As `fluxion run` does: the forkserver imports the chain beside this process.
        pool = WorkerPool(workers, preload=WORKER_PRELOAD)
    else:
        # The frames' steps run here: imported with the rest (the "imports" column),
        # so the frames' CPU is their work, not the first one's imports.
        import fluxion.core.chain.steps  # noqa: F401
    from concurrent.futures import ThreadPoolExecutor

    from astropy.table import Table

    from fluxion.core.astrometry import SolveParams
    from fluxion.core.chain.night import NightParams, run_night
    from fluxion.core.chain.targets import fixed_target
    from fluxion.core.io.sequence import scan
    from fluxion.core.project.document import Project

    c_imported = time.process_time()
    frames = scan(night)
    if n_frames is not None:
        lights = [f for f in frames if f.type == "light"][:n_frames]
        frames = [f for f in frames if f.type != "light"] + lights
    catalog_file = night / "truth/reference_catalog.ecsv"
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    params = NightParams(
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file))
    )
    folder = project
    project = Project.from_inputs([night])
    project.save(folder)
    catalog = Table.read(catalog_file)
    if kind == "processes" and pool is not None:
        pool.wait_started()  # as the one worker's steps: the workers' imports before the clock
    _, user0, kernel0 = usage()
    cpu0 = user0 + kernel0
    t0 = time.perf_counter()
    if workers > 1 and kind == "threads":
        pool = ThreadPoolExecutor(workers)
    children = {"workers": 0.0, "workers_kernel": 0.0, "forkserver": 0.0, "peak_mb": 0.0}
    try:
        result = run_night(
            project, frames, params, catalog=catalog,
            target=fixed_target(star["ra"], star["dec"]), executor=pool,
        )  # fmt: skip
    finally:
        if pool is not None:
            if kind == "processes":
                children = _pool_cpu(pool)
            pool.shutdown()
    seconds = time.perf_counter() - t0
    peak, user, kernel = usage()
    cpu = user + kernel + children["workers"] + children["forkserver"]
    n = len(result.frames)
    split = result.cpu.summary()
    # Before run_night: the interpreter, the imports, the scan, the catalog.
    split = {"imports": c_imported, "scan": cpu0 - c_imported, **split}
    return {
        "frames": n,
        "workers": workers,
        "kind": kind,
        "seconds": seconds,
        "cpu": cpu - cpu0,
        # The kernel's share (page faults, zeroing, I/O), the worker processes' included.
        "kernel": kernel - kernel0 + children["workers_kernel"],
        "ok": int(sum(s == "ok" for s in result.frames["status"])),
        "peak_rss_mb": peak,
        "accuracy": _accuracy(night, folder) if accuracy else {},
        "split": split,
        # Worker processes' CPU beyond their frames (start-up, pickling); none for threads.
        "overhead": max(children["workers"] - split["workers"], 0.0)
        if children["workers"]
        else 0.0,
        # The forkserver's: the chain imported once, beside this process's start.
        "forkserver": children["forkserver"],
        "worker_peak_mb": children["peak_mb"],
    }


def _pool_cpu(pool) -> dict:
    """CPU s of a WorkerPool's live workers (and their kernel's) and forkserver, peak MB (/proc).

    The workers are the forkserver's children: their time never reaches
    ``RUSAGE_CHILDREN``, so it is read before they exit.
    """
    from multiprocessing import forkserver

    ticks = os.sysconf("SC_CLK_TCK")

    def cpu(pid: int, user: bool = True) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) * user + int(fields[12])) / ticks  # utime, stime

    def peak(pid: int) -> float:
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            return 0.0
        kb = [float(x.split()[1]) for x in status if x.startswith("VmHWM:")]
        return kb[0] / 1024 if kb else 0.0

    workers = list(getattr(pool._pool, "_processes", None) or {})
    server = getattr(forkserver._forkserver, "_forkserver_pid", None)
    return {
        "workers": sum(cpu(p) for p in workers),
        "workers_kernel": sum(cpu(p, user=False) for p in workers),
        "forkserver": cpu(server) if server else 0.0,
        "peak_mb": max((peak(p) for p in workers), default=0.0),
    }


def _accuracy(night: Path, project: Path) -> dict:
    """How a run's products compare with the simulator's truth, over all lights.

    Stars are matched to the truth within 1 px (clean, unsaturated, with no
    other true star within 8 px). ``flux_pull`` is (flux - true flux) /
    flux_err; ``mag_pull`` the same for calibrated magnitudes after the
    night's median offset; widths are 1.4826 MAD. The light curve's
    residual is the target's magnitude against its true one, less the median.
    """
    import numpy as np
    from astropy.io import fits
    from astropy.table import Table
    from scipy.spatial import cKDTree

    from fluxion.core.project.products import solution_wcs

    def width(v):
        v = np.asarray(v, float)
        v = v[np.isfinite(v)]
        return float(1.4826 * np.median(np.abs(v - np.median(v)))) if v.size else float("nan")

    flux_pull, mag_off, mag_err, wcs_err, n_src, n_true = [], [], [], [], [], []
    for truth_file in sorted((night / "truth").glob("light_*.ecsv")):
        stem = truth_file.stem
        truth = Table.read(truth_file)
        truth = truth[truth["kind"] == "star"]
        sources = project / "sources" / f"{stem}.ecsv"
        mags = project / "magnitudes" / f"{stem}.ecsv"
        if not (sources.exists() and mags.exists()):
            continue
        n_src.append(len(Table.read(sources)))
        t = Table.read(mags)
        txy = np.c_[truth["x"], truth["y"]]
        d, k = cKDTree(txy).query(np.c_[t["x"], t["y"]], k=1)
        crowd, _ = cKDTree(txy).query(txy, k=2)
        lonely = crowd[:, 1] > 8
        ok = (d < 1) & (np.asarray(t["flags"]) == 0)
        ok &= lonely[k] & ~np.asarray(truth["saturated"])[k]
        n_true.append(int(ok.sum()))
        flux_pull += list((np.asarray(t["flux"]) - np.asarray(truth["flux"])[k])[ok]
                          / np.asarray(t["flux_err"])[ok])  # fmt: skip
        if "mag" in t.colnames:
            mag_off += list((np.asarray(t["mag"]) - np.asarray(truth["mag_V"])[k])[ok])
            mag_err += list(np.asarray(t["mag_err"])[ok])
        solution = project / "wcs" / f"{stem}.wcs.fits"
        if solution.exists():
            wcs = solution_wcs(fits.getheader(solution))
            if wcs is not None:
                ra, dec = wcs.all_pix2world(truth["x"], truth["y"], 0)
                cos = np.cos(np.radians(np.asarray(truth["dec"])))
                sep = np.hypot((ra - truth["ra"]) * cos, dec - truth["dec"]) * 3600
                wcs_err.append(float(np.median(sep)))
    off = np.asarray(mag_off)
    pulls = (off - np.median(off)) / np.asarray(mag_err) if off.size else off
    out = {
        "sources": float(np.mean(n_src)) if n_src else float("nan"),
        "matched": float(np.mean(n_true)) if n_true else float("nan"),
        "flux_pull_median": float(np.median(flux_pull)) if flux_pull else float("nan"),
        "flux_pull_width": width(flux_pull),
        "mag_offset": float(np.median(off)) if off.size else float("nan"),
        "mag_pull_width": width(pulls),
        "wcs_error_arcsec": float(np.median(wcs_err)) if wcs_err else float("nan"),
    }
    lc = project / "lightcurve.ecsv"
    if lc.exists():
        curve = Table.read(lc)
        true_mag = []
        for row in curve:
            truth = Table.read(night / "truth" / row["file"].replace(".fits", ".ecsv"))
            star = truth[truth["kind"] == "eclipsing"][0]
            true_mag.append(float(star["mag_V"]))
        res = np.asarray(curve["mag"], float) - np.asarray(true_mag)
        res -= np.nanmedian(res)
        out["lc_rms_mmag"] = 1000 * float(np.sqrt(np.nanmean(res**2)))
        out["lc_chi2"] = float(np.nanmean((res / np.asarray(curve["mag_err"], float)) ** 2))
    return out


def _profiled(
    night: Path, project: Path, workers: int, n_frames: int | None, dump: str = ""
) -> dict:
    """The one-worker chain under cProfile (CPU time): seconds per step; stats to ``dump``."""
    import cProfile
    import pstats

    profile = cProfile.Profile(time.process_time)
    profile.enable()
    run = _run(night, project, 1, n_frames, accuracy=False)
    profile.disable()
    if dump:
        profile.dump_stats(dump)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    where: dict[str, float] = {}
    for label, suffix, name in STEPS:
        total = 0.0
        for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
            if function == name and filename.replace(os.sep, "/").endswith(suffix):
                total += cumulative
        where[label] = total
    return {"run": run, "where": where}


def _child(what: str, *args) -> dict:
    """``what(*args)`` in a fresh interpreter, so that its peak memory and CPU time are its own.

    Paths go as strings and come back as Paths (the first two arguments).
    """
    here = str(Path(__file__).parent)
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import bench_run; "
        "bench_run._entry(sys.argv[1], json.loads(sys.argv[2]))"
    )
    argv = json.dumps([str(a) if isinstance(a, Path) else a for a in args])
    out = subprocess.run([sys.executable, "-c", code, what, argv], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entry(what: str, args: list) -> None:
    """The child's side of :func:`_child`: prints the result as one line of JSON."""
    paths = [Path(a) for a in args[:2] if isinstance(a, str) and a]
    result = globals()[what](*paths, *args[len(paths) :])
    print(json.dumps(result))


def main() -> None:
    from fluxion.core.simulation.simulate import NightConfig, simulate_night

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--processes", action="store_true", help="also 2 process workers")
    ap.add_argument("--no-profile", action="store_true", help="skip where the time goes")
    ap.add_argument("--profile-out", default="", help="write the profile's stats here")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep the one-worker products here")
    ap.add_argument(
        "--compare", type=Path, metavar="DIR", help="compare the products with those kept in DIR"
    )
    ap.add_argument(
        "--no-memory-policy", action="store_true",
        help="glibc's and numpy's memory defaults, not fluxion run's (A/B; chain and floor alike)",
    )  # fmt: skip
    ap.add_argument(
        "--memory-scan", type=int, nargs="+", metavar="N",
        help="peak memory of detection + aperture photometry on N frames (e.g. 20 60 120)",
    )  # fmt: skip
    args = ap.parse_args()
    # As `fluxion run` (fluxion.app.cli) does, before any child starts: the floor, the
    # chain and its worker processes inherit it through the environment.
    policy = apply_policy(not args.no_memory_policy)
    if args.memory_scan:
        memory_scan(sorted(args.memory_scan), args.size, args.folder, _child)
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        night = Path(tmp) / "night"
        t0 = time.perf_counter()
        config = NightConfig(n_frames=args.frames, shape=(args.size, args.size), n_bias=5,
                             n_dark=5, n_flat=5)  # fmt: skip
        simulate_night(night, config)
        print(f"simulated {args.frames} frames of {args.size}^2 in "
              f"{time.perf_counter() - t0:.0f} s; load average {_load()}; memory policy: "
              f"{policy}")  # fmt: skip
        floor = _child("_floor", night)
        runs = [_child("_run", night, Path(tmp) / f"p{w}", w, None) for w in (1, 2)]
        if args.processes:
            runs.append(_child("_run", night, Path(tmp) / "pp2", 2, None, "processes"))
        short = max(2, args.frames // 4)
        runs.append(_child("_run", night, Path(tmp) / "short", 1, short))
        print(f"load average after the runs {_load()}")
        _print_speed(floor, runs)
        one = Path(tmp) / "p1"
        if args.compare:
            print_agreement(agreement(args.compare, one), args.compare)
        if args.keep:
            keep_products(one, args.keep)
        if not args.no_profile:
            print_steps(_child("_stepped", night, Path(tmp) / "steps"))
            prof = _child("_profiled", night, Path(tmp) / "prof", 1, None, args.profile_out)
            _print_where(prof)


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _print_speed(floor: dict, runs: list[dict]) -> None:
    nf = floor["frames"]
    f_wall, f_cpu = nf / floor["seconds"], nf / floor["cpu"]
    print(f"\nfloor (read, sep background, extraction, r=5 px apertures; "
          f"{floor['sources']:.0f} sources a frame): {f_wall:.2f} frames/s wall, "
          f"{f_cpu:.2f} frames per CPU second; kernel {floor['kernel'] / nf:.3f} s "
          "a frame")  # fmt: skip
    print(f"{'frames':>6} {'workers':>9} {'seconds':>8} {'frames/s':>9} {'x floor':>8} "
          f"{'CPU s/frame':>11} {'x floor':>8} {'kernel':>7} {'ok':>4} {'peak MB':>8}")  # fmt: skip
    one = next(r for r in runs if r["workers"] == 1)
    for r in runs:
        fps = r["frames"] / r["seconds"]
        cpu = r["cpu"] / r["frames"]
        who = f"{r['workers']} {r['kind'][:4]}"
        print(
            f"{r['frames']:6d} {who:>9} {r['seconds']:8.1f} {fps:9.3f} {f_wall / fps:8.1f} "
            f"{cpu:11.3f} {cpu * f_cpu:8.1f} {r['kernel'] / r['frames']:7.3f} {r['ok']:4d} "
            f"{r['peak_rss_mb']:8.0f}"
        )
    print("\nproducts against the simulator's truth (flux and magnitude pulls: width 1 is honest)")
    for r in runs:
        acc = r.get("accuracy", {})
        print(f"  {r['frames']:3d} frames, {r['workers']} {r['kind'][:4]}: "
              + ", ".join(f"{k} {v:.3g}" for k, v in acc.items()))  # fmt: skip
    print("\nchain / floor (the floor on one core; wall: frames/s, CPU: CPU seconds a frame)")
    for r in runs:
        if r["frames"] == one["frames"]:
            fps, cpu = r["frames"] / r["seconds"], r["cpu"] / r["frames"]
            who = f"{r['workers']} {r['kind']}"
            print(f"  {who:<11}: wall {f_wall / fps:6.1f}x, CPU {cpu * f_cpu:6.1f}x")
    two = [r for r in runs if r["workers"] == 2]
    for r in two:
        speedup = (r["frames"] / r["seconds"]) / (one["frames"] / one["seconds"])
        cpu_ratio = (r["cpu"] / r["frames"]) / (one["cpu"] / one["frames"])
        own = r["split"]["workers"] / one["split"]["workers"]  # no forkserver, no start-up
        print(f"2 {r['kind']} / 1 worker: {speedup:.2f}x (CPU a frame: {cpu_ratio:.2f}x one's; "
              f"the frames' own CPU: {own:.2f}x)")  # fmt: skip
    _print_split([r for r in runs if r["frames"] == one["frames"]])


def _print_split(runs: list[dict]) -> None:
    """Serial and parallel CPU seconds of each run, its serial fraction and Amdahl's bound.

    Serial: this process's own CPU outside the workers' frames (the
    interpreter and imports, the scan, the masters, recording what comes
    back, the registration, the target, the light curve). Parallel: the
    workers' frames. Overhead: what worker processes spend beyond their
    frames (start-up, the forkserver's imports, pickling). On ``n`` idle
    cores a run takes at least ``S + (P + O) / n`` against ``S + P`` on one.
    """
    phases = list(dict.fromkeys(k for r in runs for k in r["split"] if k != "workers"))
    print("\nCPU seconds: serial (this process, one core) by phase | parallel (the workers' "
          "frames) | overhead (worker processes beyond their frames) | forkserver")  # fmt: skip
    head = "".join(f"{k.replace('registration', 'reg.')[:12]:>13}" for k in phases)
    print(f"  {'run':<11}{head}{'serial':>9}{'parallel':>10}{'overhead':>10}{'forksrv':>9}"
          f"{'serial %':>10}{'Amdahl':>8}{'overlap':>9}")  # fmt: skip
    one = next(r for r in runs if r["workers"] == 1)
    total_one = sum(one["split"].values())
    for r in runs:
        split = r["split"]
        serial = sum(v for k, v in split.items() if k != "workers")
        parallel, overhead, server = split["workers"], r["overhead"], r.get("forkserver", 0.0)
        # Against the one-worker run's CPU (all of it on one core).
        bound = total_one / (serial + (parallel + overhead + server) / 2)
        # The same with what overlaps: the forkserver's imports beside this
        # process's start (imports, scan, masters), this process's recording
        # beside the workers' frames.
        start = sum(split.get(k, 0.0) for k in ("imports", "scan", "start", "masters"))
        during = sum(v for k, v in split.items() if k.startswith("frames"))
        after = serial - start - during
        model = total_one / (max(start, server) + (parallel + overhead + during) / 2 + after)
        row = "".join(f"{split.get(k, 0):13.2f}" for k in phases)
        print(f"  {r['workers']} {r['kind']:<9}{row}{serial:9.2f}{parallel:10.2f}{overhead:10.2f}"
              f"{server:9.2f}{100 * serial / (serial + parallel):9.1f}%{bound:7.2f}x"
              f"{model:8.2f}x")  # fmt: skip
    print(
        "  (speed-up over the one-worker run that 2 idle cores allow, from CPU seconds: "
        "Amdahl's bound with every serial second on one core, and with the overlaps)"
    )
    for r in runs:
        if r.get("worker_peak_mb"):
            print(
                f"  {r['workers']} {r['kind']}: each worker process's peak memory "
                f"{r['worker_peak_mb']:.0f} MB (this process {r['peak_rss_mb']:.0f} MB)"
            )


def _print_where(prof: dict) -> None:
    run, where = prof["run"], prof["where"]
    n = run["frames"]
    print(f"\nwhere the time goes (one worker under cProfile, CPU {run['cpu'] / n:.3f} s a frame; "
          "rows nest and overlap)")  # fmt: skip
    for label, seconds in where.items():
        if seconds > 0:
            print(f"  {label:<24} {seconds / n:8.3f} s/frame {100 * seconds / run['cpu']:5.1f} %")


if __name__ == "__main__":
    main()
