"""CPU time to generate every lesson night (each kind x difficulty).

The classroom promise is that any night a teacher asks for writes offline in
under 30 s at the default size (1024 x 1024, 30 lights). This script writes
each kind at each difficulty into a temporary folder and prints the CPU time
(``time.process_time``: the machine may be shared, wall time would measure the
other users) of making the night and of writing it.

Usage::

    python tests/benchmarks/bench_lesson_nights.py [--kind K] [--difficulty D]
        [--seed N] [--profile OUT.prof]

``--profile`` runs the selected nights under cProfile and saves the stats.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.simulation.lessons import DIFFICULTIES, KINDS, lesson_config  # noqa: E402
from core.simulation.simulate import make_night  # noqa: E402
from core.simulation.writer import write_night  # noqa: E402

LIMIT_S = 30.0


def _one(kind: str, difficulty: str, seed: int) -> tuple[float, float]:
    """CPU seconds to make and to write one night."""
    config = lesson_config(kind, difficulty, seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        night = make_night(config)
        t1 = time.process_time()
        write_night(night, Path(tmp))
        t2 = time.process_time()
    return t1 - t0, t2 - t1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=KINDS, action="append")
    ap.add_argument("--difficulty", choices=DIFFICULTIES, action="append")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args(argv)
    kinds = args.kind or list(KINDS)
    levels = args.difficulty or list(DIFFICULTIES)
    prof = cProfile.Profile() if args.profile else None
    print(f"{'kind':<10} {'difficulty':<10} {'make s':>8} {'write s':>8} {'total s':>8}")
    worst = 0.0
    for kind in kinds:
        for level in levels:
            if prof:
                prof.enable()
            make_s, write_s = _one(kind, level, args.seed)
            if prof:
                prof.disable()
            total = make_s + write_s
            worst = max(worst, total)
            flag = "" if total < LIMIT_S else "  over the limit"
            print(f"{kind:<10} {level:<10} {make_s:8.1f} {write_s:8.1f} {total:8.1f}{flag}")
            sys.stdout.flush()
    print(f"slowest night: {worst:.1f} CPU s (limit {LIMIT_S:.0f} s)")
    if prof:
        prof.dump_stats(str(args.profile))
    return 0 if worst < LIMIT_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
