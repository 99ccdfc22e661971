"""Viewer speed on 4k x 4k frames: show, switch when prefetched, GUI stalls while workers run.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_viewer.py [--frames N]``.
Uses the offscreen Qt platform unless a display is set. Targets (issue 3):
frame switch under 30 ms for prefetched 4k x 4k frames, no GUI stall over
50 ms while a worker runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from astropy.io import fits  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from fluxion.app.main_window import MainWindow  # noqa: E402
from fluxion.app.session import prepare_display  # noqa: E402
from fluxion.app.settings import Settings  # noqa: E402
from fluxion.core.io.sequence import Sequence, scan  # noqa: E402

SIZE = 4096


def write_frames(folder: Path, n: int) -> list[Path]:
    """16-bit frames like a camera writes: sky, noise and a few hundred stars."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    paths = []
    base = rng.normal(1000.0, 12.0, (SIZE, SIZE)).astype(np.float32)
    for i in range(n):
        img = base + rng.normal(0, 3.0, (SIZE, SIZE)).astype(np.float32)
        for x, y, f in zip(
            rng.uniform(0, SIZE, 300),
            rng.uniform(0, SIZE, 300),
            rng.uniform(1e3, 5e4, 300),
            strict=True,
        ):
            x0, y0 = int(x), int(y)
            sl = (slice(max(y0 - 8, 0), y0 + 9), slice(max(x0 - 8, 0), x0 + 9))
            img[sl] += f * np.exp(-((xx[sl] - x) ** 2 + (yy[sl] - y) ** 2) / (2 * 1.5**2))
        hdr = fits.Header(
            {
                "IMAGETYP": "Light Frame",
                "EXPTIME": 60.0,
                "FILTER": "V",
                "DATE-OBS": f"2024-09-10T21:{30 + i:02d}:00",
            }
        )
        p = folder / f"light_{i + 1:04d}.fits"
        fits.PrimaryHDU(np.clip(img, 0, 65535).astype(np.uint16), hdr).writeto(p)
        paths.append(p)
    return paths


def paint(app: QApplication, window: MainWindow) -> None:
    window.image_view.graphics.viewport().repaint()
    app.processEvents()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="fluxion-bench-") as tmp:
        t = time.perf_counter()
        paths = write_frames(Path(tmp), args.frames)
        print(f"wrote {len(paths)} frames of {SIZE}x{SIZE} in {time.perf_counter() - t:.1f} s")
        seq = Sequence([f for f in scan(paths) if f.usable])

        # 1. preparing a frame (worker side): read, limits, histogram
        prep = []
        for i in range(len(seq)):
            seq.clear_cache()
            t = time.perf_counter()
            prepare_display(seq, i, "zscale")
            prep.append(time.perf_counter() - t)
        rows.append(
            (
                "prepare 4k frame in a worker (read + zscale + histogram)",
                f"{1e3 * statistics.median(prep):.0f} ms",
                "worker thread",
            )
        )

        window = MainWindow(Settings(Path(tmp) / "settings.ini"))
        window.resize(1600, 1000)
        window.show()
        app.processEvents()
        frames = [prepare_display(seq, i, "zscale") for i in range(len(seq))]

        # 2. first show of a 4k frame on the GUI thread (set_image + paint)
        t = time.perf_counter()
        window._show_frame(frames[0])
        paint(app, window)
        first = time.perf_counter() - t
        rows.append(("first show of a 4k frame (GUI thread)", f"{1e3 * first:.0f} ms", ""))

        # 3. switching between prefetched frames through the session
        window.session.set_sequence(seq)
        deadline = time.perf_counter() + 60
        while not all(window.session.is_prefetched(i) for i in range(1, 4)):
            app.processEvents()
            if time.perf_counter() > deadline:
                raise SystemExit("prefetch did not finish in 60 s")
        switch = []
        for _ in range(12):
            i = window.session.current
            nxt = (i + 1) % len(seq)
            # prefetched: the neighbours are ready and no worker competes for the CPU
            while not window.session.is_prefetched(nxt) or window.workers.running(
                include_quiet=True
            ):
                app.processEvents()
            t = time.perf_counter()
            if os.environ.get("BENCH_PROFILE") and len(switch) == 5:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
                window.session.next(wrap=True)
                paint(app, window)
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            else:
                window.session.next(wrap=True)
                paint(app, window)
            switch.append(time.perf_counter() - t)
            assert window.session.shown.index == nxt
            # give the prefetch of the next neighbours time, as a user's key repeat does
            end = time.perf_counter() + 0.25
            while time.perf_counter() < end:
                app.processEvents()
        print("switch times (ms):", " ".join(f"{1e3 * s:.0f}" for s in switch))
        ok = max(switch) < 0.030
        rows.append(
            (
                "switch to a prefetched 4k frame (median / max)",
                f"{1e3 * statistics.median(switch):.1f} / {1e3 * max(switch):.1f} ms",
                "target < 30 ms: " + ("met" if ok else "NOT met"),
            )
        )

        # 4. longest GUI event-loop stall while workers run a step on all frames
        gaps: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]

        def tick() -> None:
            now = clock.nsecsElapsed()
            gaps.append((now - last[0]) / 1e9)
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(tick)
        panel = window.panels[0]
        seq.clear_cache()  # the step reads the frames from disk again
        done = []
        panel.step_finished.connect(lambda _: done.append(True))
        timer.start()
        t = time.perf_counter()
        panel.run_all()
        while not done:
            app.processEvents()
            time.sleep(0.001)
        elapsed = time.perf_counter() - t
        timer.stop()
        stall = max(gaps) - 0.005
        rows.append((f"worker: frame statistics on {len(seq)} 4k frames", f"{elapsed:.1f} s", ""))
        rows.append(
            (
                "longest GUI stall while it ran (max / 99th pct)",
                f"{1e3 * stall:.1f} / {1e3 * (np.percentile(gaps, 99) - 0.005):.1f} ms",
                "target < 50 ms: " + ("met" if stall < 0.050 else "NOT met"),
            )
        )
        window.close()
        window.deleteLater()
        app.processEvents()

    platform = QApplication.platformName()
    print(f"\nviewer benchmark ({platform}, {os.cpu_count()} cores)")
    w = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{w}}  {value:>16}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
