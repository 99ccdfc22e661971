"""``fluxion lightcurve --site``: the lights without a site in their headers take the one given.

Against the truth of the same night with its site cards: the same airmass and
BJD_TDB (the same site, so the same numbers); without any site the airmass is
NaN and the BJD the geocentre's.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from night_helpers import edited_copy, without_site

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(shape=(256, 256), n_frames=4, n_bias=0, n_dark=0, n_flat=0, write_wcs=True)
SITE = f"{CONFIG.site_lon!r},{CONFIG.site_lat!r},{CONFIG.site_elev!r}"


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    sited = tmp_path_factory.mktemp("sited")
    simulate_night(sited, CONFIG)
    bare = tmp_path_factory.mktemp("bare") / "night"
    assert edited_copy(sited, bare, without_site, "light_*.fits") == CONFIG.n_frames
    star = Table.read(sited / "truth/light_0001.ecsv")
    return sited, bare, star[star["id"] == 25][0]


def _curve(folder, star, out, *extra) -> int:
    return main(["lightcurve", str(folder), "--radec", str(star["ra"]), str(star["dec"]),
                 "-o", str(out), *extra])  # fmt: skip


def test_the_site_given_gives_the_cards_times(nights, tmp_path):
    sited, bare, star = nights
    assert _curve(sited, star, tmp_path / "cards.ecsv") == 0
    assert _curve(bare, star, tmp_path / "given.ecsv", "--site", SITE) == 0
    assert _curve(bare, star, tmp_path / "none.ecsv") == 0
    cards, given, none = (Table.read(tmp_path / f"{k}.ecsv") for k in ("cards", "given", "none"))
    assert np.all(np.isfinite(cards["airmass"])) and np.all(np.asarray(cards["airmass"]) >= 1)
    np.testing.assert_allclose(given["airmass"], cards["airmass"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(given["bjd_tdb"], cards["bjd_tdb"], rtol=0, atol=1e-9)
    assert np.all(np.isnan(np.asarray(none["airmass"], float)))
    dt = np.abs(np.asarray(none["bjd_tdb"]) - np.asarray(given["bjd_tdb"])) * 86400.0
    assert np.all((dt > 1e-4) & (dt < 0.0213))


def test_a_bad_site_is_a_one_line_error(nights, tmp_path, capsys):
    _, bare, star = nights
    assert _curve(bare, star, tmp_path / "x.ecsv", "--site", "47,8,-900") == 2
    err = capsys.readouterr().err
    assert "--site" in err and "-500..9000 m" in err
    assert _curve(bare, star, tmp_path / "x.ecsv", "--site-name", "Home") == 2
    assert "--site-name needs --site" in capsys.readouterr().err
