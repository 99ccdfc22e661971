"""Scanning folders with bad files in them, grouping, and the lazy Sequence cache."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time, TimeDelta

from fluxion.core.io.sequence import Sequence, expand_paths, group_frames, scan
from fluxion.core.runtime.pipeline import Cancelled, StepState

T0 = Time("2024-03-05T21:00:00", scale="utc")
SHAPE = (48, 64)


def _frame(
    path: Path,
    kind: str = "Light Frame",
    minute: float | None = 0.0,
    exptime: float = 60.0,
    filt: str | None = "V",
    obj: str | None = "M 67",
    data: np.ndarray | None = None,
    **extra,
) -> Path:
    h = fits.Header()
    h["IMAGETYP"] = kind
    if minute is not None:
        h["DATE-OBS"] = (T0 + TimeDelta(minute * 60.0, format="sec")).isot
    h["EXPTIME"] = exptime
    if filt:
        h["FILTER"] = filt
    if obj:
        h["OBJECT"] = obj
    h["GAIN"] = 1.5
    for k, v in extra.items():
        h[k] = v
    if data is None:
        data = np.full(SHAPE, 1000 + (minute or 0), dtype=np.uint16)
    fits.PrimaryHDU(data, h).writeto(path)
    return path


def _minutes(t: Time) -> float:
    return float((t - T0).sec / 60.0)


@pytest.fixture
def night(tmp_path: Path) -> Path:
    d = tmp_path / "night"
    d.mkdir()
    # Written out of time order on purpose; names sort differently from times.
    _frame(d / "c_light.fits", minute=20.0)
    _frame(d / "a_light.FIT", minute=10.0)
    _frame(d / "b_light_r.fts", minute=15.0, filt="R")
    _frame(d / "z_other.fits", minute=30.0, obj="NGC 188")
    for i in range(3):
        _frame(d / f"bias_{i}.fits", kind="Bias Frame", minute=60.0 + i, exptime=0.0, filt=None)
    _frame(d / "dark_60.fits", kind="Dark Frame", minute=70.0, filt=None)
    _frame(d / "dark_30.fits", kind="Dark Frame", minute=71.0, exptime=30.0, filt=None)
    _frame(d / "flat_v.fits", kind="Flat Field", minute=5.0, exptime=2.0)
    # Bad files, each must be reported on its own line.
    (d / "broken.fits").write_bytes(b"SIMPLE  = this is not really FITS" * 10)
    (d / "zero.fits").write_bytes(b"")
    good = _frame(d / "tmp_full.fits", minute=40.0)
    (d / "truncated.fits").write_bytes(good.read_bytes()[:4000])
    good.unlink()
    _frame(d / "nan.fits", minute=41.0, data=np.full(SHAPE, np.nan, dtype=np.float32))
    _frame(d / "cube.fits", minute=42.0, data=np.zeros((3, *SHAPE), dtype=np.float32))
    _frame(d / "no_time.fits", minute=None)
    fits.PrimaryHDU().writeto(d / "header_only.fits")
    # Non-FITS files are ignored inside folders.
    (d / "notes.txt").write_text("seeing 2 arcsec")
    (d / "sources.ecsv").write_text("# %ECSV 1.0\n")
    sub = d / "sub"
    sub.mkdir()
    _frame(sub / "late.fits", minute=50.0)
    return d


def test_scan_reports_each_bad_file_and_reads_the_rest(night: Path) -> None:
    frames = scan(night, recursive=False)
    by_name = {f.path.name: f for f in frames}
    assert "notes.txt" not in by_name and "sources.ecsv" not in by_name
    assert len(frames) == 17
    reasons = {
        "broken.fits": "no END card",
        "zero.fits": "empty file",
        "truncated.fits": "truncated file",
        "nan.fits": "all pixels are NaN",
        "cube.fits": "data cube",
        "header_only.fits": "no image data",
    }
    for name, reason in reasons.items():
        f = by_name[name]
        assert f.type == "unknown", name
        assert len(f.problems) >= 1 and reason in f.problems[0], (name, f.problems)
        assert all("\n" not in p for p in f.problems)
    no_time = by_name["no_time.fits"]
    assert no_time.type == "light" and no_time.time is None
    assert "no observation time in the header" in no_time.problems
    good = [f for f in frames if f.path.name not in reasons and f.path.name != "no_time.fits"]
    assert all(not f.problems for f in good), [(f.path.name, f.problems) for f in good]
    assert "late.fits" not in by_name  # sub-folders unless told not to descend
    deep = {f.path.name for f in scan(night)}
    assert deep == set(by_name) | {"late.fits"}


def test_scan_sorts_by_time_then_name(night: Path) -> None:
    frames = scan([night])
    timed = [f for f in frames if f.time is not None]
    untimed = [f for f in frames if f.time is None]
    assert frames == timed + untimed
    minutes = [_minutes(f.time) for f in timed]
    assert minutes == sorted(minutes)
    names = [f.path.name for f in untimed]
    assert names == sorted(names)
    # Mid-exposure: a 60 s light starting at minute 10 is at 10.5 min.
    a = next(f for f in frames if f.path.name == "a_light.FIT")
    assert _minutes(a.time) == pytest.approx(10.5, abs=1e-6)


def test_named_non_fits_file_is_reported(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n" * 300)
    (frame,) = scan([notes])
    assert frame.type == "unknown" and "not a FITS file" in frame.problems[0]
    assert expand_paths([tmp_path]) == []


def test_group_frames(night: Path) -> None:
    g = group_frames(scan(night, recursive=False))
    assert g.counts() == {"bias": 3, "dark": 2, "flat": 1, "light": 5, "unknown": 6}
    assert sorted(g.darks) == [30.0, 60.0]
    assert list(g.flats) == ["V"]
    assert {k: len(v) for k, v in g.lights.items()} == {
        ("M 67", "V"): 3,
        ("M 67", "R"): 1,
        ("NGC 188", "V"): 1,
    }


def test_to_json_dict(night: Path) -> None:
    f = next(f for f in scan(night) if f.path.name == "a_light.FIT")
    d = json.loads(json.dumps(f.to_json_dict()))
    assert set(d) == {
        "file", "type", "object", "filter", "exptime", "time_utc", "jd", "time_source",
        "time_precision_s", "binning", "gain", "gain_source", "ra", "dec", "pixel_scale",
        "pixel_scale_source", "shape", "bayer_pattern", "bayer_pattern_source", "problems",
    }  # fmt: skip
    assert d["time_utc"] == "2024-03-05T21:10:30.000"
    assert (d["time_source"], d["time_precision_s"]) == ("DATE-OBS + EXPTIME/2", 1e-3)
    assert d["jd"] == pytest.approx(T0.jd + 10.5 / 1440, abs=1e-9)
    assert (d["binning"], d["shape"], d["gain"], d["type"]) == ([1, 1], [48, 64], 1.5, "light")


def test_scan_with_executor_and_state(night: Path) -> None:
    seen: list[float] = []
    state = StepState(lambda f, m: seen.append(f))
    with ThreadPoolExecutor(2) as pool:
        parallel = scan(night, state=state, executor=pool)
    serial = scan(night)
    assert [f.path for f in parallel] == [f.path for f in serial]
    assert seen[-1] == pytest.approx(1.0)
    assert seen == sorted(seen)
    cancelled = StepState()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        scan(night, state=cancelled)


def test_sequence_reads_lazily_and_bounds_its_cache(night: Path) -> None:
    frames = [f for f in scan(night) if f.usable and f.time is not None]
    one = SHAPE[0] * SHAPE[1] * 4  # float32 bytes per frame
    seq = Sequence(frames, cache_bytes=int(2.5 * one))
    assert seq.cached_bytes == 0  # nothing read by construction
    peak = 0
    for i in list(range(len(seq))) * 2:
        img = seq.data(i)
        peak = max(peak, seq.cached_bytes)
        assert img.dtype == np.float32 and img.shape == SHAPE
        expected = 1000 + round(_minutes(frames[i].time) - frames[i].exptime / 120)
        assert img[0, 0] == pytest.approx(expected)
        assert seq.cached_bytes <= seq.cache_bytes
    assert peak == 2 * one
    with pytest.raises(ValueError):
        seq.data(0)[0, 0] = 5  # cached arrays are read-only
    # LRU: the most recent frame is a hit (same object), the oldest was evicted.
    last = len(seq) - 1
    assert seq.data(last) is seq.data(last)
    tiny = Sequence(frames, cache_bytes=one - 1)
    tiny.data(0)
    assert tiny.cached_bytes == 0
    assert seq.header(0)["GAIN"] == 1.5
    assert seq.wcs(0) is None


def test_sequence_cache_is_thread_safe(night: Path) -> None:
    frames = [f for f in scan(night) if f.usable]
    one = SHAPE[0] * SHAPE[1] * 4
    seq = Sequence(frames, cache_bytes=3 * one)
    over: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if seq.cached_bytes > seq.cache_bytes:
                over.append(seq.cached_bytes)

    watcher = threading.Thread(target=watch)
    watcher.start()
    rng = np.random.default_rng(1)
    order = rng.integers(0, len(seq), 200)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: float(seq.data(int(i))[1, 1]), order))
    stop.set()
    watcher.join()
    assert not over
    assert seq.cached_bytes <= 3 * one
    assert len(results) == 200


def test_prefetch(night: Path) -> None:
    frames = [f for f in scan(night) if f.usable]
    assert Sequence(frames).prefetch(0) is None  # no executor: nothing to do
    with ThreadPoolExecutor(1) as pool:
        seq = Sequence(frames, executor=pool)
        fut = seq.prefetch(1)
        assert fut is not None
        fut.result()
        assert seq.cached_bytes == SHAPE[0] * SHAPE[1] * 4
        assert seq.prefetch(1) is None  # already cached
        assert seq.prefetch(len(frames)) is None


def test_sequence_from_paths_keeps_usable_frames(night: Path) -> None:
    seq = Sequence.from_paths([night])
    assert len(seq) == 12  # sub/late.fits included
    assert len(Sequence.from_paths([night], recursive=False)) == 11
    assert all(f.usable for f in seq.frames)


def test_simulated_night_headers(tmp_path: Path) -> None:
    """Frames written by core.simulate scan with every fact from a card, none guessed."""
    from fluxion.core.simulation.simulate import NightConfig, simulate_night

    cfg = NightConfig(n_frames=2, shape=(64, 80), star_density=0.2, n_bias=1, n_dark=1, n_flat=1)
    simulate_night(tmp_path, cfg)
    truth = json.loads((tmp_path / "truth" / "night.json").read_text())
    frames = scan(tmp_path)
    assert group_frames(frames).counts() == {
        "bias": 1, "dark": 1, "flat": 1, "light": 2, "unknown": 0,
    }  # fmt: skip
    by_name = {f.path.name: f for f in frames}
    for row in truth["frames"]:
        f = by_name[row["file"]]
        assert abs(f.jd - row["jd_mid"]) * 86400 < 1e-3
        assert f.airmass == pytest.approx(row["airmass"], abs=1e-4)
        assert f.site == pytest.approx((cfg.site_lon, cfg.site_lat, cfg.site_elev))
        assert (f.gain, f.exptime, f.filter) == (cfg.gain, cfg.exptime, cfg.filter)
        assert not f.problems
        assert not [k for k in f.sources if f.is_guess(k)]
