"""Detection completeness and false detections on the default simulated night.

Frames of ``make_night(NightConfig())`` (1024 x 1024, FWHM ~3 px, sky 20
mag/arcsec^2, 1.2"/px) are calibrated with the camera truth and masked (hot,
saturated, L.A.Cosmic cosmic rays), then searched with each detection setting.
Completeness is over isolated truth stars (no neighbour within 2 FWHM brighter
than a quarter of the star) at least 4 px inside the frame, in bins of their
optimal (PSF-weighted) S/N; a detection at least 4 px inside the frame is
false when no truth source of S/N > 3 lies within 1.5 px ("det" counts those).
Bright-star positions are the RMS offset of isolated unflagged stars of S/N > 50.

Run: ``.venv/bin/python tests/benchmarks/bench_detection_completeness.py [n_frames]``
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from test_detection_night import calibrated_light, detect, score  # noqa: E402

from fluxion.core.detection.extract import DetectionParams, SourceFlags  # noqa: E402
from fluxion.core.simulation.simulate import NightConfig, make_night  # noqa: E402

BINS = [(5, 7), (7, 10), (10, 13), (13, 16), (16, 25), (25, 50), (50, math.inf)]


def settings() -> list[tuple[str, DetectionParams]]:
    base = DetectionParams()
    out = [
        (
            "old default: pyramid 3.0 / 5",
            replace(base, detection_filter="pyramid", threshold=3.0, min_area=5),
        )
    ]
    for filt in ("pyramid", "matched"):
        for threshold in (1.0, 1.25, 1.5, 2.0, 2.5, 3.0):
            if filt == "pyramid" and threshold < 1.5:
                continue
            for area in (3, 5):
                name = f"{filt} {threshold:.2f} / {area}"
                out.append(
                    (name, replace(base, detection_filter=filt, threshold=threshold, min_area=area))
                )
    out.append(("DEFAULT (" + f"{base.detection_filter} {base.threshold} / {base.min_area})", base))
    return out


def main(n_frames: int = 3) -> None:
    night = make_night(NightConfig())
    lights = [calibrated_light(night, i) for i in range(n_frames)]
    wanted = [lt.inside & lt.isolated for lt in lights]
    counts = [
        sum(
            int((w & (lt.snr >= lo) & (lt.snr < hi)).sum())
            for lt, w in zip(lights, wanted, strict=True)
        )
        for lo, hi in BINS
    ]
    print(
        f"default night, {n_frames} frames of {night.config.shape}, "
        f"FWHM {np.round(night.fwhm[:n_frames], 2)} px"
    )
    print(
        "isolated stars per optimal-S/N bin:",
        dict(zip([f"{lo}-{hi}" for lo, hi in BINS], counts, strict=True)),
    )
    head = " ".join(f"{f'{lo}-{hi}':>7}" for lo, hi in BINS)
    print(
        f"{'setting (filter thr / min_area)':<34}{head} {'>10':>6} {'det':>6} "
        f"{'false':>6} {'false%':>7} {'rms px':>7} {'ms':>6}"
    )
    for name, params in settings():
        found_bins = np.zeros(len(BINS))
        n_above = found_above = n_det = n_false = 0
        offsets: list[float] = []
        t0 = time.perf_counter()
        results = [detect(lt, params) for lt in lights]
        ms = 1000 * (time.perf_counter() - t0) / n_frames
        for lt, w, res in zip(lights, wanted, results, strict=True):
            sc = score(lt, res)
            for j, (lo, hi) in enumerate(BINS):
                found_bins[j] += (sc.found & w & (lt.snr >= lo) & (lt.snr < hi)).sum()
            above = w & (lt.snr > 10)
            n_above += int(above.sum())
            found_above += int((sc.found & above).sum())
            n_det += sc.n_detections
            n_false += int(sc.false.sum())
            bright = w & (lt.snr > 50) & sc.found & ~np.asarray(lt.truth["saturated"], bool)
            flags = np.asarray(res.sources["flags"])
            bright[bright] &= (
                flags[sc.match[bright]] & (SourceFlags.SATURATED | SourceFlags.CROWDED) == 0
            )
            offsets.extend(sc.offset[bright])
        comp = " ".join(
            f"{100 * f / max(c, 1):7.1f}" for f, c in zip(found_bins, counts, strict=True)
        )
        rms = math.sqrt(float(np.mean(np.square(offsets)))) if offsets else math.nan
        print(
            f"{name:<34}{comp} {100 * found_above / max(n_above, 1):6.1f} {n_det:6d} {n_false:6d} "
            f"{100 * n_false / max(n_det, 1):7.2f} {rms:7.3f} {ms:6.0f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
