"""Observation times: UTC offsets, the precision each card is written to, and the best card."""

from __future__ import annotations

import pytest
from astropy.io import fits
from astropy.time import Time

from fluxion.core.io.frames import frame_info
from fluxion.core.io.headers import normalise_header
from fluxion.core.io.obstime import format_precision

EXPTIME = 60.0


def _header(**cards) -> fits.Header:
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"] = 64
    h["NAXIS2"] = 64
    h["EXPTIME"] = EXPTIME
    h["IMAGETYP"] = "Light Frame"
    for key, value in cards.items():
        h[key.replace("_", "-")] = value
    return h


def _seconds(a: Time, b: Time) -> float:
    return float((a - b).sec)


@pytest.mark.parametrize(
    "date_obs, utc_start",
    [
        ("2017-12-19T18:33:43.317-0700", "2017-12-20T01:33:43.317"),
        ("2017-12-19T18:33:43.317-07:00", "2017-12-20T01:33:43.317"),
        ("2017-12-20T07:03:43.317+05:30", "2017-12-20T01:33:43.317"),
        ("2017-12-20T01:33:43.317Z", "2017-12-20T01:33:43.317"),
        ("2017-12-20T01:33:43.317+00", "2017-12-20T01:33:43.317"),
    ],
)
def test_iso_times_with_a_utc_offset_are_the_right_instant(date_obs, utc_start) -> None:
    # The coarse MJD-OBS the same writer adds (3 decimals: 86.4 s steps) agrees
    # within its precision but must not be used.
    mjd = round(Time(utc_start, scale="utc").mjd, 3)
    facts = normalise_header(_header(DATE_OBS=date_obs, MJD_OBS=mjd))
    assert facts.time is not None, facts.problems
    start = Time(utc_start, scale="utc")
    assert abs(_seconds(facts.time, start) - EXPTIME / 2) < 1e-6
    assert facts.sources["time"].startswith("DATE-OBS")
    assert facts.time_precision == pytest.approx(1e-3)
    assert facts.problems == ()


def test_offset_date_is_not_replaced_by_the_coarse_mjd() -> None:
    """The header of the issue: before, DATE-OBS was 'not a date' and MJD-OBS (86 s) was used."""
    mjd = 58107.065  # 2017-12-20T01:33:36 UTC, 7.3 s before the true start
    facts = normalise_header(_header(DATE_OBS="2017-12-19T18:33:43.317-0700", MJD_OBS=mjd))
    true_mid = Time("2017-12-20T01:34:13.317", scale="utc")
    assert abs(_seconds(facts.time, true_mid)) < 1e-6
    assert "UTC-0700 removed" in facts.sources["time"]


def test_precision_is_the_last_written_digit() -> None:
    cases = {
        "2024-03-05T21:10:00.250": 1e-3,
        "2024-03-05T21:10:00.25": 1e-2,
        "2024-03-05T21:10:00": 1.0,
        "2024-03-05T21:10": 60.0,
        "2024-03-05T21:10:00.123456": 1e-6,
    }
    for text, precision in cases.items():
        facts = normalise_header(_header(DATE_OBS=text))
        assert facts.time_precision == pytest.approx(precision), text
    mjd3 = normalise_header(_header(MJD_OBS=60374.882))
    assert mjd3.time_precision == pytest.approx(86.4)
    # ESO MIDAS pads with zeros: 4.892162787000E+04 is five decimals of a day.
    h = fits.Header.fromstring(
        "MJD-OBS =   4.892162787000E+04 / MIDAS desc.: O_TIME(4)".ljust(80)
        + "EXPTIME =               1200.0".ljust(80),
        sep="",
    )
    assert normalise_header(h).time_precision == pytest.approx(0.864)
    # A double cannot hold a JD near 2.46e6 more finely than ~40 us.
    long_jd = fits.Header.fromstring(
        "JD      =   2456095.5643518521123".ljust(80) + "EXPTIME =                 60.0".ljust(80),
        sep="",
    )
    assert 3e-5 < normalise_header(long_jd).time_precision < 6e-5
    assert format_precision(86.4) == "86 s" and format_precision(1e-3) == "1 ms"


def test_most_precise_consistent_card_is_used() -> None:
    start = Time("2024-03-05T21:10:00.2504", scale="utc")
    h = _header(
        DATE_OBS="2024-03-05T21:10:00",  # 1 s, truncated
        MJD_OBS=round(start.mjd, 3),  # 86 s
        JD=start.jd,  # ~40 us (double)
    )
    facts = normalise_header(h)
    assert facts.sources["time"] == "JD + EXPTIME/2"
    assert facts.time_precision < 1e-4
    assert abs(_seconds(facts.time, start) - EXPTIME / 2) < 1e-4
    assert facts.problems == ()


def test_card_computed_from_a_coarser_one_gets_its_precision() -> None:
    # MaxIm DL: JD = the DATE-OBS second converted, 9 decimals that say nothing more.
    start = Time("2012-06-17T01:32:40", scale="utc")
    facts = normalise_header(_header(DATE_OBS="2012-06-17T01:32:40", JD=start.jd))
    assert facts.time_precision == pytest.approx(1.0)
    assert facts.sources["time"] == "DATE-OBS + EXPTIME/2"


def test_disagreeing_cards_are_reported_and_the_majority_wins() -> None:
    start = Time("2024-03-05T21:10:00.250", scale="utc")
    # DATE-OBS written in local time without an offset (7 h off); MJD-OBS and JD agree.
    h = _header(DATE_OBS="2024-03-05T14:10:00.250", MJD_OBS=round(start.mjd, 6), JD=start.jd)
    facts = normalise_header(h)
    assert facts.sources["time"].startswith("JD")
    assert abs(_seconds(facts.time, start) - EXPTIME / 2) < 1e-3
    bad = [p for p in facts.problems if p.startswith("DATE-OBS and JD disagree")]
    assert len(bad) == 1 and "25200.0 s (7.00 h)" in bad[0]
    # Within its precision a coarse card is consistent and silent.
    ok = normalise_header(_header(DATE_OBS="2024-03-05T21:10:00.250", MJD_OBS=60374.882))
    assert ok.problems == ()
    # Beyond it (86.4 s + 1 ms), it is reported.
    off = normalise_header(_header(DATE_OBS="2024-03-05T21:10:00.250", MJD_OBS=60374.884))
    assert any("MJD-OBS and DATE-OBS disagree by 177.3 s" in p for p in off.problems)


def test_unreadable_fine_card_is_reported_with_the_card_used() -> None:
    facts = normalise_header(_header(DATE_OBS="2024-03-05 at 21h10", MJD_OBS=60374.882))
    assert facts.sources["time"] == "MJD-OBS + EXPTIME/2"
    assert any(
        p.startswith("DATE-OBS='2024-03-05 at 21h10' is not a date; time from MJD-OBS")
        and "86 s" in p
        for p in facts.problems
    )


def test_clock_card_refines_and_is_checked() -> None:
    # LCO: DATE-OBS to the second, UTSTART to the millisecond.
    facts = normalise_header(_header(DATE_OBS="2016-02-11T02:30:55", UTSTART="02:30:55.663"))
    assert facts.sources["time"] == "DATE-OBS+UTSTART + EXPTIME/2"
    assert facts.time_precision == pytest.approx(1e-3)
    # A UT card one hour off is a disagreement, not a refinement.
    off = normalise_header(_header(DATE_OBS="2016-02-11T02:30:55.663", UT="03:30:55"))
    assert any(p.startswith("DATE-OBS+UT and DATE-OBS disagree") for p in off.problems)
    # Just before midnight UTC, a clock card rounded up belongs to the next day.
    late = normalise_header(_header(DATE_OBS="2016-02-10T23:59:59.960", UT="00:00:00.0"))
    assert late.problems == ()


def test_frame_json_and_table_text_name_the_card(tmp_path) -> None:
    path = tmp_path / "f.fits"
    h = _header(DATE_OBS="2017-12-19T18:33:43.317-0700", MJD_OBS=58107.065)
    fits.PrimaryHDU(data=__import__("numpy").zeros((8, 8), "uint16"), header=h).writeto(path)
    info = frame_info(path)
    row = info.to_json_dict()
    assert row["time_source"].startswith("DATE-OBS (UTC-0700 removed)")
    assert row["time_precision_s"] == pytest.approx(1e-3)
    assert row["time_utc"] == "2017-12-20T01:34:13.317"
    assert info.time_origin.endswith(", 1 ms")


@pytest.mark.parametrize(
    "cards",
    [
        {"DATE_OBS": "2017-12-20T01:33:43.317"},
        {"DATE_OBS": "2017-12-19T18:33:43.317-0700"},
        {"DATE_OBS": "2017-12-20T23:59:59"},
        {"DATE_OBS": "2017-12-20", "TIME_OBS": "01:33:43.5"},
        {"MJD_OBS": 58107.0650893},
        {"JD": 2458107.5650893},
        {"DATE_OBS": "2017-12-20T01:33:43.317", "MJD_OBS": 58107.06509},
    ],
)
def test_a_lone_time_card_is_chosen_as_the_comparison_of_all_would(cards) -> None:
    """The single-card shortcut answers what comparing every card's start with every other does."""
    from fluxion.core.io import obstime
    from fluxion.core.io.profiles import match_profile
    from fluxion.core.io.timecards import TimeCard, cards_of_source

    h = _header(**cards)
    profile = match_profile(h)
    found = [
        c
        for order, spec in enumerate(profile.cards.get("time", ()))
        for c in cards_of_source(h, spec, "utc", order)
        if isinstance(c, TimeCard)
    ]
    assert any(c.has_clock for c in found)
    for card in (c for c in found if c.has_clock):  # as the night chooses: a clock is needed
        best, agreeing, prec, starts = obstime._choose([card], EXPTIME)
        assert starts == []  # the shortcut was taken: no start computed
        assert (best, agreeing, prec) == obstime._choose_among([card], EXPTIME)[:3]
    if len(found) > 1:  # two or more cards are compared as before
        chosen = obstime._choose(found, EXPTIME)
        assert chosen[:3] == obstime._choose_among(found, EXPTIME)[:3]
        assert len(chosen[3]) == len(found)


def test_real_headers_times_are_those_of_comparing_every_card(shared_data, monkeypatch) -> None:
    """Every header in ../shared/data: the same mid-exposure time, source and problems as when
    each card's start is compared with every other's (no shortcut for a lone card)."""
    from fluxion.core.io import obstime
    from fluxion.core.io.fitsio import FitsReadError, is_fits_name, read_header
    from fluxion.core.io.profiles import match_profile
    from fluxion.core.io.timecards import TimeCard, cards_of_source

    files = [p for p in sorted(shared_data.rglob("*")) if p.is_file() and is_fits_name(p.name)]
    if not files:
        pytest.skip(f"no FITS file in {shared_data}")
    lone = 0
    for path in files:
        try:
            header, _ = read_header(path)
        except FitsReadError:
            continue
        sources = match_profile(header).cards.get("time", ())
        args = (header, sources, EXPTIME, "EXPTIME", "auto")
        fast = obstime.mid_exposure_time(*args)
        with monkeypatch.context() as m:
            m.setattr(obstime, "_choose", obstime._choose_among)
            full = obstime.mid_exposure_time(*args)
        assert (fast.source, fast.problems, fast.precision_s, fast.agreeing) == (
            full.source,
            full.problems,
            full.precision_s,
            full.agreeing,
        ), path
        if full.time is None:
            assert fast.time is None
            continue
        assert (fast.time.jd1, fast.time.jd2, fast.time.scale) == (
            full.time.jd1,
            full.time.jd2,
            full.time.scale,
        ), path
        with obstime.quiet_erfa():  # as mid_exposure_time reads them (dubious years)
            found = [
                c
                for order, spec in enumerate(sources)
                for c in cards_of_source(header, spec, "utc", order)
                if isinstance(c, TimeCard)
            ]
        lone += len(found) == 1
    assert lone > 0  # the shortcut was taken on real headers
