"""Checks of the numbers a student reports: period, mid-time, depth, which star varies.

The error "the data allow" for each comes from the night itself: the
Fisher-matrix bound of a fit to the night's lights (:mod:`.expected`).
"""

from __future__ import annotations

import math

from ..photometry.noise import MAG_PER_LN
from .answers import ANSWERS, Answer
from .expected import expected_errors
from .findings import Finding, fmt, verdict
from .truth import NightTruth

__all__ = ["check_answers"]


_TRUE_VALUES = {
    "asteroid_period_h": ("asteroid", "period_h"),
    "asteroid_amplitude_mag": ("asteroid", "amplitude_mag"),
    "transit_mid_bjd": ("transit", "mid_jd"),
    "transit_depth": ("transit", "depth"),
    "eclipse_min_bjd": ("eclipsing", "min_jd"),
    "eclipsing_period_d": ("eclipsing", "period_d"),
}


def _expected(truth: NightTruth, name: str) -> tuple[float, float] | None:
    """(true value, error the data allow) of answer ``name``, None when the night lacks it."""
    if name not in _TRUE_VALUES:
        return None
    kind, key = _TRUE_VALUES[name]
    t = truth.target(kind)
    if t is None:
        return None
    errors = expected_errors(truth, kind)
    if name not in errors:
        return None
    true = float(t[key])
    if name.endswith("_bjd"):
        # Light curves time their points in BJD_TDB, so the answers are in it too.
        true = truth.bjd_tdb(true, kind)
    return true, errors[name]


def _variable_identity(truth: NightTruth, answers: dict[str, Answer]) -> list[Finding]:
    if "variable_ra" not in answers or "variable_dec" not in answers:
        return []
    ra, dec = answers["variable_ra"].value, answers["variable_dec"].value
    sources = truth.variable_sources()
    wanted = "eclipsing" if truth.lesson.get("target") != "transit" else "transit"
    seps = {
        k: 3600.0 * math.hypot((ra - r) * math.cos(math.radians(dec)), dec - d)
        for k, (r, d) in sources.items()
    }
    scale = truth.config.pixel_scale
    expected = scale  # a star's position is known to a pixel by clicking it
    sep = seps[wanted]
    v = verdict(sep, expected, None)
    text = [f"The variable star of this night is at RA {sources[wanted][0]:.5f}, "
            f"Dec {sources[wanted][1]:.5f}."]  # fmt: skip
    if v != "good":
        other = min((k for k in seps if k != wanted), key=lambda k: seps[k], default=None)
        if other is not None and seps[other] < 3 * scale:
            text.append(
                f"Your star is the {other.replace('eclipsing', 'eclipsing binary')} "
                "star: it varies too, but it is not the one the lesson asks for."
            )
        else:
            text.append(
                f"Your position is {sep:.0f} arcsec away from it: that star is constant. "
                "Compare each candidate's light curve with its neighbours' of the same brightness."
            )
    return [Finding("variable_identity", "Which star varies (distance from it)", "arcsec",
                    sep, 0.0, None, expected, v, text)]  # fmt: skip


def _arcsec(ra: float, dec: float, ra0: float, dec0: float) -> float:
    return 3600.0 * math.hypot((ra - ra0) * math.cos(math.radians(dec0)), dec - dec0)


def _supernova(truth: NightTruth, answers: dict[str, Answer]) -> list[Finding]:
    t = truth.target("supernova")
    if t is None or "ra" not in t:
        return []
    out = []
    scale = truth.config.pixel_scale
    if "supernova_ra" in answers and "supernova_dec" in answers:
        sep = _arcsec(answers["supernova_ra"].value, answers["supernova_dec"].value,
                      t["ra"], t["dec"])  # fmt: skip
        # The noise-limited centroid (FWHM / S/N, 0.1 px floor): the supernova sits
        # a few arcsec from its galaxy's nucleus, so a pixel's slack would not tell them apart.
        fwhm = truth.lesson["conditions"]["seeing_fwhm_px"]
        expected = math.hypot(fwhm / t["snr_median"], 0.1) * scale
        v = verdict(sep, expected, None)
        text = [f"The supernova is at RA {t['ra']:.5f}, Dec {t['dec']:.5f}; its centroid "
                f"places it to about {expected:.2f} arcsec."]  # fmt: skip
        if v != "good":
            to_host = _arcsec(answers["supernova_ra"].value, answers["supernova_dec"].value,
                              t["host_ra"], t["host_dec"])  # fmt: skip
            text.append(
                "That is the galaxy's nucleus: the supernova sits off it, in the disc. Compare "
                "with an image taken before (difference imaging) to see what is new."
                if to_host < 3 * scale
                else "Nothing new is there: compare the field with the catalogue or a template "
                "image; a new star is one the catalogue does not list."
            )
        out.append(Finding("supernova_position", "Where the supernova is (distance from it)",
                           "arcsec", sep, 0.0, None, expected, v, text))  # fmt: skip
    if "supernova_mag" in answers:
        a = answers["supernova_mag"]
        n = truth.config.n_frames
        # The mean of the night's lights, on a catalogue zero point good to ~0.01 mag.
        expected = math.hypot(MAG_PER_LN / t["snr_median"] / math.sqrt(n), 0.01)
        dev = a.value - t["mag_V"]
        v = verdict(dev, expected, a.error)
        text = [f"The supernova's V is {t['mag_V']:.2f}; the night allows about "
                f"+/- {expected:.2f} mag."]  # fmt: skip
        if v == "off" and dev < 0:
            text.append(
                "Too bright: the galaxy's light under the supernova is in your aperture. "
                "Subtract a template image of the galaxy (or fit the galaxy) before measuring."
            )
        elif v == "off":
            text.append(
                "Too faint: an aperture too small for the seeing, or a sky annulus on the "
                "galaxy (its light taken as sky) removes some of the supernova's."
            )
        out.append(Finding("supernova_mag", "Supernova V", "mag", a.value, t["mag_V"], a.error,
                           expected, v, text))  # fmt: skip
    return out


def check_answers(truth: NightTruth, answers: dict[str, Answer]) -> list[Finding]:
    """Every reported number the night can check, against the truth."""
    out = []
    for name, answer in answers.items():
        spec = ANSWERS.get(name)
        facts = _expected(truth, name)
        if spec is None or facts is None:
            continue
        true, expected = facts
        dev = answer.value - true
        v = verdict(dev, expected, answer.error)
        text = [
            f"The truth is {fmt(true)} {spec.unit}; this night's data allow about "
            f"+/- {expected:.2g} {spec.unit}."
        ]
        if answer.error is not None and answer.error > 0:
            z = dev / answer.error
            text.append(f"You are {abs(z):.1f} of your own errors off.")
            if abs(z) > 3 and v != "good":
                text.append("Your error bar is too small for how far off you are.")
            elif answer.error > 5 * expected:
                text.append(
                    "Your error bar is much larger than the data need: a model fitted to all "
                    "the points (not read by eye) gives a tighter answer."
                )
        if v == "off" and name == "eclipsing_period_d":
            ratio = answer.value / true
            if abs(ratio - 2.0) < 0.1 or abs(ratio - 0.5) < 0.05:
                text.append(
                    "Off by a factor of two: the secondary eclipse was taken for the primary "
                    "(or the other way round). The primary is the deeper one; the period runs "
                    "from one primary to the next, twice primary-to-secondary."
                )
        if v == "off" and name == "asteroid_period_h" and abs(answer.value / true - 0.5) < 0.05:
            text.append(
                "Half the period: an asteroid shows two maxima and two minima per rotation."
            )
        if v == "off" and name in ("transit_mid_bjd", "eclipse_min_bjd"):
            kind = "transit" if name.startswith("transit") else "eclipsing"
            # The same instant as JD (UTC): BJD - UTC hardly changes over a night.
            utc = 2.0 * true - truth.bjd_tdb(true, kind)
            if abs(answer.value - utc) < 3 * expected:
                text.append(
                    f"That is the time as JD (UTC); the answer is in BJD_TDB, the time at the "
                    f"Sun's barycentre ({(true - utc) * 1440:+.1f} min here)."
                )
            elif abs(dev) * 1440 > 1:
                text.append(
                    f"Off by {dev * 1440:+.0f} min: check the times are mid-exposure, and that "
                    "the model follows ingress and egress, not the single lowest point."
                )
        out.append(
            Finding(name, spec.label, spec.unit, answer.value, true, answer.error, expected,
                    v, text)
        )  # fmt: skip
    out += _variable_identity(truth, answers)
    out += _supernova(truth, answers)
    return out
