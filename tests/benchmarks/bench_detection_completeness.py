"""Detection completeness and false detections on simulated nights.

Frames of ``make_night(NightConfig(fwhm=...))`` (1024 x 1024, FWHM 3 px by
default, sky 20 mag/arcsec^2, 1.2"/px) are calibrated with the camera truth and
masked (hot, saturated, L.A.Cosmic cosmic rays), then searched with each
detection setting. Completeness is over isolated truth stars (no neighbour
within 2 FWHM brighter than a quarter of the star) at least 4 px inside the
frame, in bins of their optimal (PSF-weighted) S/N; a detection at least 4 px
inside the frame is false when no truth source of S/N > 3 lies within the
match radius, 1.5 px or half the FWHM if larger ("det" counts those; at FWHM 5
most "false" ones are unresolved pairs of stars). Bright-star positions are the
RMS offset of isolated unflagged stars of S/N > 50. Thresholds are S/N of the
filtered image (SExtractor's default, 1.5 pixel sigma through its pyramid, is 4).

"FWHM %" is the mean error of the frames' FWHM against the simulated one, "CPU ms" the
detection's CPU time a frame.

Run: ``.venv/bin/python tests/benchmarks/bench_detection_completeness.py [n_frames] [--fwhm 2,3,5]``
(``--default-only``: SExtractor's default and Fluxion's only)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

import test_detection_night  # noqa: E402
from test_detection_night import calibrated_light, detect, score  # noqa: E402

from fluxion.core.detection.extract import DetectionParams, SourceFlags  # noqa: E402
from fluxion.core.simulation.simulate import NightConfig, make_night  # noqa: E402

BINS = [(5, 7), (7, 10), (10, 13), (13, 16), (16, 25), (25, 50), (50, math.inf)]


def settings(default_only: bool = False) -> list[tuple[str, DetectionParams]]:
    base = DetectionParams()
    out = [
        (
            "SExtractor default: pyramid, 1.5 px sigma / 3",
            replace(
                base,
                detection_filter="pyramid",
                snr_threshold=math.inf,
                pixel_threshold=1.5,
                min_area=3,
            ),
        )
    ]
    if default_only:
        return [
            *out,
            (f"DEFAULT ({base.detection_filter} {base.snr_threshold:g} / {base.min_area})", base),
        ]
    # The sweep is of the filtered S/N alone (the pixel threshold off), so each
    # row shows that threshold's depth; the default row has both.
    for filt in ("pyramid", "matched"):
        for threshold in (3.5, 4.0, 4.5, 5.0, 6.0, 8.0):
            for area in (3, 5):
                name = f"{filt} {threshold:.1f} / {area}"
                p = replace(
                    base,
                    detection_filter=filt,
                    snr_threshold=threshold,
                    pixel_threshold=math.inf,
                    min_area=area,
                )
                out.append((name, p))
    name = f"DEFAULT ({base.detection_filter} {base.snr_threshold:g} / {base.min_area})"
    out.append((name, base))
    return out


def main(n_frames: int = 3, fwhm: float = 3.0, default_only: bool = False) -> None:
    night = make_night(NightConfig(fwhm=fwhm))
    # A faint star's centroid scatters by about FWHM / S/N: wider stars need a wider match.
    test_detection_night.MATCH_RADIUS = max(1.5, 0.5 * fwhm)
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
        f"night of FWHM {fwhm:g} px, {n_frames} frames of {night.config.shape}, "
        f"FWHM {np.round(night.fwhm[:n_frames], 2)} px, "
        f"match radius {test_detection_night.MATCH_RADIUS:g} px"
    )
    print(
        "isolated stars per optimal-S/N bin:",
        dict(zip([f"{lo}-{hi}" for lo, hi in BINS], counts, strict=True)),
    )
    head = " ".join(f"{f'{lo}-{hi}':>7}" for lo, hi in BINS)
    print(
        f"{'setting (filter thr / min_area)':<34}{head} {'>10':>6} {'det':>6} "
        f"{'false':>6} {'false%':>7} {'rms px':>7} {'FWHM %':>7} {'CPU ms':>6}"
    )
    for name, params in settings(default_only):
        found_bins = np.zeros(len(BINS))
        n_above = found_above = n_det = n_false = 0
        offsets: list[float] = []
        t0 = time.process_time()
        results = [detect(lt, params) for lt in lights]
        ms = 1000 * (time.process_time() - t0) / n_frames
        fwhm_err = 100 * float(
            np.mean(
                [
                    abs(r.fwhm / float(lt.truth.meta["fwhm"]) - 1)
                    for lt, r in zip(lights, results, strict=True)
                ]
            )
        )
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
            f"{100 * n_false / max(n_det, 1):7.2f} {rms:7.3f} {fwhm_err:7.2f} {ms:6.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_frames", type=int, nargs="?", default=3)
    parser.add_argument("--fwhm", default="3", help="comma-separated seeing FWHMs (px)")
    parser.add_argument("--default-only", action="store_true", help="only the default settings")
    args = parser.parse_args()
    for value in args.fwhm.split(","):
        main(args.n_frames, float(value), args.default_only)
        print()
