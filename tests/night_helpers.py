"""A copy of a simulated night with some header cards changed, as another camera writes them.

The app tests of what a run does with a header's facts (no site, a filter
slot's name for its band) compare a night with its copy whose headers differ
in those cards only: the same pixels, so the same numbers wherever the facts
agree.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from astropy.io import fits

#: A camera without a site writes no airmass either (it has nothing to compute it from).
SITE_CARDS = ("SITELAT", "SITELONG", "SITEELEV", "AIRMASS")


def edited_copy(
    night: Path, dest: Path, edit: Callable[[fits.Header], bool], pattern: str = "**/*.fits"
) -> int:
    """Copy ``night`` to ``dest`` and apply ``edit`` to the primary header of each FITS file.

    Parameters
    ----------
    night : Path
        The simulated night's folder (left as it is).
    dest : Path
        The copy's folder (must not exist).
    edit : callable
        Changes a header in place; returns whether it changed it.
    pattern : str
        Which files of the copy to edit (a glob under ``dest``).

    Returns
    -------
    int
        How many files ``edit`` changed.
    """
    shutil.copytree(night, dest)
    changed = 0
    for path in sorted(dest.glob(pattern)):
        with fits.open(path, mode="update") as hdul:
            changed += bool(edit(hdul[0].header))
    return changed


def slot_named(header: fits.Header) -> bool:
    """Name the filter 'Filter 2' (a wheel's slot, no band); whether FILTER was there."""
    if "FILTER" not in header:
        return False
    header["FILTER"] = "Filter 2"
    return True


def filter2_night(root: Path, config) -> Path:
    """A simulated night (``config``) with its filter slot named 'Filter 2', in ``root``/night.

    The simulated frames stay in ``root``/named; the copy's FILTER is the
    wheel's slot name, as a camera without named filters writes it.
    """
    from fluxion.core.simulation.simulate import simulate_night

    simulate_night(root / "named", config)
    edited_copy(root / "named", root / "night", slot_named)
    return root / "night"


def without_site(header: fits.Header) -> bool:
    """Remove the site's cards (and the airmass computed from them); whether any was there."""
    present = [card for card in SITE_CARDS if card in header]
    for card in present:
        del header[card]
    return bool(present)


def run_args(night: Path, project: Path, *extra: str) -> list[str]:
    """``fluxion run``'s arguments for a small simulated night: its eclipsing star the target.

    The night's own reference catalog, one worker, a fixed 5 px aperture and no
    cosmic-ray search keep the run short; ``extra`` is appended.
    """
    from astropy.table import Table

    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    return [
        "run", str(night), "--project", str(project),
        "--ra", repr(float(star["ra"])), "--dec", repr(float(star["dec"])),
        "--catalog", str(night / "truth/reference_catalog.ecsv"),
        "--workers", "1", "--aperture", "5", "--no-cosmic-rays", "--no-report", *extra,
    ]  # fmt: skip


def step_counts(printed: str) -> dict[str, tuple[int, int]]:
    """Step -> (done, current), from the summary lines ``fluxion run`` prints.

    ("zeropoint    4 done,    0 current": 4 frames computed, 0 kept as they were.)
    """
    out = {}
    for line in printed.splitlines():
        words = line.split()
        if len(words) == 5 and words[2] == "done," and words[4] == "current":
            out[words[0]] = (int(words[1]), int(words[3]))
    return out
