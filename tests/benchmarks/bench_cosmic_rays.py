"""Cosmic-ray masks: cost and quality of astroscrappy's settings, whole frame and near cores.

Simulated lights (the simulator knows each pixel's noiseless value), less
their bias level, are searched by L.A.Cosmic
(astroscrappy) on the whole frame and on cut-outs around possible cores
(Fluxion's default), for one and two passes. For each it prints the CPU time a
frame, the hits recovered (pixels 10 sigma or more above the truth that are
not saturated), the pixels flagged that sit less than 5 sigma above
the truth (false flags: on star cores, and all of them) and how the mask
differs from the whole-frame search with the same passes.

    .venv/bin/python tests/benchmarks/bench_cosmic_rays.py --size 1024 --frames 4
    .venv/bin/python tests/benchmarks/bench_cosmic_rays.py --size 4096 --frames 1

Prints a table; run by hand, not by pytest.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    from fluxion.core.calibration.masks import cosmic_rays, saturation_mask
    from fluxion.core.simulation.simulate import NightConfig, make_night

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--rate", type=float, default=60.0, help="hits per Mpx and minute")
    args = ap.parse_args()
    config = NightConfig(
        n_frames=args.frames, shape=(args.size, args.size), n_bias=0, n_dark=0, n_flat=0,
        cosmic_ray_rate=args.rate,
    )  # fmt: skip
    night = make_night(config)
    ways = [("whole frame", True, 2), ("whole frame", True, 1), ("near cores", False, 2),
            ("near cores", False, 1)]  # fmt: skip
    rows = {w: {"cpu": 0.0, "strong": 0, "caught": 0, "false": 0, "false_core": 0, "flagged": 0,
                "differ": 0} for w in ways}  # fmt: skip
    load = os.getloadavg()
    for i in range(args.frames):
        data, header, truth = night.light(i)
        # The raw light less its bias level against what its pixels collected
        # (flat and dark current included): the simulator's own truth.
        image = data.astype(np.float32) - np.float32(config.bias_level)
        expected = night.light_expected_electrons(i, raw=True)
        sigma = (image * night.gain - expected) / np.sqrt(expected + night.read_noise**2)
        ignore = saturation_mask(data, config.saturation)
        strong = (sigma > 10) & ~ignore
        yy, xx = np.mgrid[: args.size, : args.size]
        cores = np.zeros(image.shape, bool)
        for x, y in zip(truth["x"], truth["y"], strict=True):
            if -2 < x < args.size + 1 and -2 < y < args.size + 1:
                y0, x0 = int(max(y - 2, 0)), int(max(x - 2, 0))
                win = (slice(y0, int(y + 3)), slice(x0, int(x + 3)))
                cores[win] |= np.hypot(xx[win] - x, yy[win] - y) < 1.5
        masks = {}
        for way in ways:
            _, whole, passes = way
            t0 = time.process_time()
            hits = cosmic_rays(
                image, gain=night.gain, read_noise=night.read_noise,
                saturation=config.saturation * night.gain, iterations=passes, ignore=ignore,
                whole_frame=whole,
            )  # fmt: skip
            r = rows[way]
            r["cpu"] += time.process_time() - t0
            masks[way] = hits
            r["strong"] += int(strong.sum())
            r["caught"] += int((hits & strong).sum())
            r["false"] += int((hits & (sigma < 5)).sum())
            r["false_core"] += int((hits & cores & (sigma < 5)).sum())
            r["flagged"] += int(hits.sum())
        for way in ways:
            reference = masks[("whole frame", True, way[2])]
            rows[way]["differ"] += int((masks[way] ^ reference).sum())
    print(f"{args.frames} simulated lights of {args.size}^2, {args.rate:g} hits/(Mpx min); load "
          f"average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    print(f"{'search':<12} {'passes':>6} {'CPU s/frame':>11} {'recovered':>9} {'flagged':>7} "
          f"{'false':>5} {'on cores':>8} {'differ':>6}")  # fmt: skip
    base = rows[("whole frame", True, 2)]["cpu"]
    for way, r in rows.items():
        print(
            f"{way[0]:<12} {way[2]:6d} {r['cpu'] / args.frames:11.3f} "
            f"{r['caught'] / max(r['strong'], 1):9.3f} {r['flagged']:7d} {r['false']:5d} "
            f"{r['false_core']:8d} {r['differ']:6d}   x{base / max(r['cpu'], 1e-9):.1f}"
        )


if __name__ == "__main__":
    main()
