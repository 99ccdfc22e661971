"""Nights for lessons: one kind of target, a difficulty, a seed per student.

A lesson night is a :class:`~.simulate.NightConfig` chosen for what a class
should measure:

* ``mixed``: the classroom demo (an asteroid, a transit, an eclipsing binary);
* ``asteroid``: a rotating asteroid over three hours (track, rate, period);
* ``transit``: a planet's transit with baseline on both sides (mid-time, depth);
* ``variable``: a short-period eclipsing binary over six hours, both eclipses
  in the night (eclipse times, period);
* ``supernova``: galaxies, one with a supernova (where, how bright).

The difficulty sets the conditions: ``easy`` (sharp seeing, a sparse field, a
bright target), ``normal`` (the demo's conditions) and ``hard`` (poor and
changing seeing, passing clouds, a crowded field, a faint target, dawn
brightening the sky at the end, and no flat frames).

The target's own numbers (period, mid-time, depth, rate ...) are drawn from
the night's seed, so each student's night differs but is as hard as the
others'. :func:`write_lesson_truth` writes ``truth/lesson.json``: the kind,
difficulty, the conditions as the frames have them and every target's facts
with the signal-to-noise ratio the data allow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..runtime.pipeline import StepState
from .night import ASTEROID_ID
from .simulate import NightConfig, make_night
from .writer import TRUTH_FOLDER, NightTruth, _write_json, write_night

if TYPE_CHECKING:
    from .night import Night

__all__ = [
    "DIFFICULTIES",
    "KINDS",
    "LESSON_FILE",
    "lesson_config",
    "lesson_truth",
    "simulate_lesson",
    "write_lesson_truth",
]

LESSON_FILE = "lesson.json"
DIFFICULTIES = ("easy", "normal", "hard")
KINDS = ("mixed", "asteroid", "transit", "variable", "supernova")

# The random stream of a lesson's target facts, apart from the night's own.
_S_LESSON = 41

# Conditions by difficulty; "normal" is the demo night's.
_CONDITIONS: dict[str, dict[str, Any]] = {
    "easy": {
        "fwhm": 2.4,
        "fwhm_variation": 0.04,
        "star_density": 0.6,
        "cosmic_ray_rate": 3.0,
    },
    "normal": {},
    "hard": {
        "fwhm": 4.2,
        "fwhm_variation": 0.15,
        "clouds": 0.3,
        "star_density": 3.0,
        "twilight": 3.0,
        "twilight_duration": 30.0,
        "n_flat": 0,
        "vignetting": 0.25,
        "n_dust": 6,
        "cosmic_ray_rate": 12.0,
    },
}
# How much fainter (mag) the target is than on a normal night.
_FAINTER = {"easy": -0.75, "normal": 0.0, "hard": 1.5}
# Each kind's target magnitude parameter(s).
_TARGET_MAGS = {
    "mixed": ("asteroid_mag", "transit_mag", "eclipsing_mag"),
    "asteroid": ("asteroid_mag",),
    "transit": ("transit_mag",),
    "variable": ("eclipsing_mag",),
    "supernova": ("supernova_mag",),
}
# Which truth sources each kind is about, first the lesson's target.
_TARGET_KINDS = {
    "mixed": ("asteroid", "transit", "eclipsing"),
    "asteroid": ("asteroid", "transit", "eclipsing"),
    "transit": ("transit", "eclipsing"),
    "variable": ("eclipsing", "transit"),
    "supernova": ("supernova", "transit", "eclipsing"),
}


# Each kind's night layout (fixed) and the target's own numbers, each drawn
# uniformly from its range with the night's seed (in this order).
_LAYOUT: dict[str, dict[str, Any]] = {
    # Three hours at six-minute cadence: more than one rotation of a fast rotator.
    "asteroid": {"interval": 360.0},
    # Two hours: the transit and baseline before and after it.
    "transit": {"asteroid": False, "interval": 240.0},
    # Six hours from early evening: a W UMa-like binary's primary and secondary.
    "variable": {"asteroid": False, "interval": 720.0, "start": "2024-09-10T20:00:00"},
    "supernova": {
        "asteroid": False,
        "n_galaxies": 6,
        "supernova": True,
        "nova": False,
        "outburst": False,
    },
}
_DRAWN: dict[str, dict[str, tuple[float, float]]] = {
    "asteroid": {
        "asteroid_rate": (0.8, 1.5),
        "asteroid_pa": (0.0, 360.0),
        "asteroid_period": (1.6, 2.6),
        "asteroid_amplitude": (0.2, 0.4),
    },
    "transit": {
        "transit_phase": (0.42, 0.58),
        "transit_depth": (0.008, 0.015),
        "transit_duration": (45.0, 60.0),
    },
    "variable": {
        "eclipsing_period": (0.2, 0.3),
        "eclipse_phase": (0.62, 0.75),
        "eclipsing_depth": (0.4, 0.6),
        "eclipsing_secondary": (0.1, 0.25),
    },
    "supernova": {"supernova_mag": (15.5, 16.5)},
}


def _kind_facts(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    """The night layout and the target's own numbers for ``kind``, drawn from ``rng``."""
    facts = dict(_LAYOUT.get(kind, {}))
    for name, (low, high) in _DRAWN.get(kind, {}).items():
        facts[name] = float(rng.uniform(low, high))
    return facts


def lesson_config(
    kind: str = "mixed", difficulty: str = "normal", seed: int | None = None, **overrides: Any
) -> NightConfig:
    """The configuration of a lesson night.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    difficulty : str
        One of :data:`DIFFICULTIES`.
    seed : int, optional
        The student's seed: it draws the stars and the target's numbers. None
        keeps the demo's seed.
    **overrides
        Further :class:`NightConfig` fields (frame size, number of lights ...),
        applied last.

    Returns
    -------
    NightConfig
        ``lesson_config()`` is the demo night, ``NightConfig()``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown night kind {kind!r}; choose one of {', '.join(KINDS)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(
            f"unknown difficulty {difficulty!r}; choose one of {', '.join(DIFFICULTIES)}"
        )
    base = NightConfig() if seed is None else NightConfig(seed=seed)
    values: dict[str, Any] = {"seed": base.seed}
    values.update(_kind_facts(kind, np.random.default_rng([base.seed, _S_LESSON])))
    values.update(_CONDITIONS[difficulty])
    for name in _TARGET_MAGS[kind]:
        values[name] = values.get(name, getattr(base, name)) + _FAINTER[difficulty]
    values.update(overrides)
    return dataclasses.replace(base, **values)


def _enclosed(radius: float, fwhm: float, psf: str, beta: float) -> float:
    """Fraction of a star's light within ``radius`` px (circular Moffat or Gaussian)."""
    if psf == "gaussian":
        sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        return float(1.0 - np.exp(-(radius**2) / (2.0 * sigma**2)))
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    return float(1.0 - (1.0 + (radius / alpha) ** 2) ** (1.0 - beta))


def target_snr(night: Night, kind: str) -> np.ndarray:
    """Signal-to-noise ratio of a source of ``kind`` in each light (NaN where absent).

    The CCD equation for an aperture of radius one FWHM: the source's
    electrons in it against its own shot noise and the sky, dark current and
    read noise of the aperture's pixels (no flat-field or comparison-star
    noise). It is what the data allow a careful measurement to reach.
    """
    c = night.config
    ny, nx = c.shape
    out = np.full(c.n_frames, np.nan)
    for i in range(c.n_frames):
        truth = night.truth(i)
        rows = np.flatnonzero(np.asarray(truth["kind"]) == kind)
        if len(rows) == 0:
            continue
        r = rows[0]
        x, y = float(truth["x"][r]), float(truth["y"][r])
        if not (0 <= x < nx and 0 <= y < ny):
            continue
        fwhm = float(truth["fwhm"][r])
        radius = fwhm
        npix = np.pi * radius**2
        signal = float(truth["flux"][r]) * _enclosed(radius, fwhm, c.psf, c.moffat_beta)
        sky = float(night.sky_electrons(i)[int(y), int(x)])
        per_px = sky + c.dark_current * c.exptime + c.read_noise**2
        out[i] = signal / np.sqrt(signal + npix * per_px)
    return out


def _median(values: np.ndarray) -> float | None:
    finite = np.asarray(values, float)[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else None


# The facts of each kind of target that are the configuration's: record key -> field.
_CONFIG_FACTS: dict[str, dict[str, str]] = {
    "asteroid": {
        "mag_V": "asteroid_mag",
        "rate_arcsec_per_min": "asteroid_rate",
        "pa_deg": "asteroid_pa",
        "period_h": "asteroid_period",
        "amplitude_mag": "asteroid_amplitude",
    },
    "transit": {
        "mag_V": "transit_mag",
        "depth": "transit_depth",
        "duration_min": "transit_duration",
        "period_d": "transit_period",
    },
    "eclipsing": {
        "mag_V": "eclipsing_mag",
        "period_d": "eclipsing_period",
        "depth": "eclipsing_depth",
        "secondary_depth": "eclipsing_secondary",
        "duration_min": "eclipsing_duration",
    },
}


def _target_record(night: Night, kind: str) -> dict[str, Any]:
    c = night.config
    snr = target_snr(night, kind)
    rec: dict[str, Any] = {
        "kind": kind,
        "snr_median": _median(snr),
        "snr": [None if not np.isfinite(v) else float(v) for v in snr],
    }
    if kind == "asteroid":
        rec.update(id=ASTEROID_ID, rotation_t0_jd=night.asteroid_t0)
    elif kind in ("transit", "eclipsing"):
        star_id = night.transit_id if kind == "transit" else night.eclipsing_id
        row = night.catalog[np.asarray(night.catalog["id"]) == star_id][0]
        rec.update(id=star_id, ra=float(row["ra"]), dec=float(row["dec"]))
        if kind == "transit":
            rec["mid_jd"] = night.transit_mid
        else:
            rec["min_jd"] = night.eclipse_min
    if kind in _CONFIG_FACTS:
        rec.update({key: getattr(c, name) for key, name in _CONFIG_FACTS[kind].items()})
        return rec
    # A supernova: where it is, how bright, and its host galaxy.
    sky = night.supernova_sky
    if sky is not None:
        galaxies = night.galaxies
        if galaxies is None:
            raise ValueError("the supernova night has no galaxies")
        g = galaxies[int(np.argmin(galaxies["mag_V"]))]
        rec.update(
            ra=float(sky.ra.deg),
            dec=float(sky.dec.deg),
            mag_V=c.supernova_mag,
            host_ra=float(g["ra"]),
            host_dec=float(g["dec"]),
            host_mag_V=float(g["mag_V"]),
        )
    return rec


def lesson_truth(night: Night, kind: str, difficulty: str) -> dict[str, Any]:
    """What ``truth/lesson.json`` holds for ``night`` made as a ``kind`` lesson."""
    c = night.config
    kinds = [k for k in _TARGET_KINDS[kind] if k != "asteroid" or c.asteroid]
    return {
        "kind": kind,
        "difficulty": difficulty,
        "seed": c.seed,
        "target": kinds[0],
        "conditions": {
            "seeing_fwhm_px": float(np.median(night.fwhm)),
            "seeing_arcsec": float(np.median(night.fwhm) * c.pixel_scale),
            "cloud_loss_max_mag": float(np.max(night.cloud_loss)),
            "cloudy_lights": int(np.sum(night.cloud_loss > 0.05)),
            "sky_factor_last": night.sky_factor(c.n_frames - 1),
            "flats": c.n_flat,
            "star_density_per_arcmin2": c.star_density,
            "catalog_stars": len(night.catalog),
            "pixel_scale_arcsec": c.pixel_scale,
        },
        "targets": [_target_record(night, k) for k in kinds],
    }


def write_lesson_truth(night: Night, outdir: str | Path, kind: str, difficulty: str) -> Path:
    """Write ``truth/lesson.json`` for a night already written into ``outdir``."""
    path = Path(outdir) / TRUTH_FOLDER / LESSON_FILE
    _write_json(path, lesson_truth(night, kind, difficulty))
    return path


def simulate_lesson(
    outdir: str | Path,
    kind: str = "mixed",
    difficulty: str = "normal",
    seed: int | None = None,
    state: StepState | None = None,
    **overrides: Any,
) -> NightTruth:
    """Simulate a lesson night into ``outdir``: frames, truth and ``truth/lesson.json``.

    See :func:`lesson_config` for the parameters.
    """
    state = state or StepState()
    config = lesson_config(kind, difficulty, seed, **overrides)
    state.progress(0.0, "building the night")
    night = make_night(config)
    written = write_night(night, Path(outdir), state=state.sub(0.02, 0.95))
    state.progress(0.95, "the lesson's truth")
    write_lesson_truth(night, outdir, kind, difficulty)
    state.progress(1.0, "done")
    return written
