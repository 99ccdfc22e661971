"""The methods' one-time set-up, run before bench_photometry times anything.

Each method's first call loads its modules (crowdsource's, photutils', the
crowded fitter's scipy.stats ...) and fills its caches: ~0.3 CPU s that the
first timed frame would otherwise pay, for some methods and not others.
Every method fits one small field of the case's kind first, untimed, so no
method is charged its imports. A 256^2 field at the case's star density
takes the same code paths as the full frame (a full 1024^2 case B frame
after it loads no further module).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

from fluxion.core.photometry.synthetic import StarField, star_field
from fluxion.core.simulation.psf import FieldPSF

WARM_SHAPE = (256, 256)


def warm_up(
    methods: Iterable[Callable[[StarField], object]], n_stars: int, like: StarField
) -> None:
    """Run every method once, untimed, on a small field like the case's.

    Parameters
    ----------
    methods : iterable of callables
        The benchmark's methods (field -> result); failures are left to the timed run.
    n_stars : int
        The case's star count (the small field keeps its density).
    like : StarField
        One of the case's frames: its shape, sky, noise, gain and PSF kind.
    """
    shape = like.image.shape
    n = max(1, round(n_stars * WARM_SHAPE[0] * WARM_SHAPE[1] / (shape[0] * shape[1])))
    psf = FieldPSF(WARM_SHAPE) if like.field_psf is not None else None
    field = star_field(
        WARM_SHAPE,
        n,
        sky=like.sky,
        read_noise=like.read_noise,
        gain=like.gain,
        seed=0,
        border=0,
        field_psf=psf,
    )
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                method(field)
            except Exception:  # noqa: BLE001, S112 - the timed run reports a method's failure
                continue
