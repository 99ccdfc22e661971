"""Outside services that cannot be reached are said to be, first, with what works offline.

The services are a closed port on 127.0.0.1 (refused at once) and a port that
accepts connections and never answers (a hanging service: the time-out).
Nothing here reaches the internet.
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time

from fluxion.core.astrometry import PlateSolver, SolveParams
from fluxion.core.astrometry.solve import SolveHint
from fluxion.core.astrometry.summary import solve_summary
from fluxion.core.catalogs import CatalogChain, CatalogError, Cone, LocalCatalog, VizierCatalog
from fluxion.core.runtime.network import OFFLINE_HELP, network_failure
from fluxion.core.simulation.simulate import NightConfig, make_night
from fluxion.core.targets.ephemerides import EphemerisError, horizons_ephemeris


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on: connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def hanging_port():
    """A port on 127.0.0.1 that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


def test_refused_and_hanging_connections_are_told_apart():
    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    except requests.RequestException as exc:
        refused = network_failure(exc)
    assert refused.kind == "offline" and refused.unreachable
    assert "could not be reached" in refused.text
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        try:
            requests.get(f"http://127.0.0.1:{s.getsockname()[1]}/", timeout=0.3)
        except requests.RequestException as exc:
            hung = network_failure(exc)
    assert hung.kind == "timeout" and "time-out" in hung.text
    assert network_failure(ValueError("not a network problem")) is None
    assert network_failure(FileNotFoundError(2, "No such file")) is None


CONE = Cone(310.0, 40.0, 0.1)


def test_vizier_refused_or_hanging_is_unreachable(closed_port, hanging_port):
    with pytest.raises(CatalogError, match="APASS DR9: VizieR could not be reached") as refused:
        VizierCatalog("APASS DR9", server=f"127.0.0.1:{closed_port}").query(CONE)
    assert refused.value.unreachable
    with pytest.raises(CatalogError, match="did not answer in time") as hung:
        VizierCatalog("APASS DR9", server=f"127.0.0.1:{hanging_port}", timeout=0.3).query(CONE)
    assert hung.value.unreachable


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """A simulated frame's stars as detected sources, and a local file of five bright stars."""
    night = make_night(NightConfig(shape=(400, 400), n_frames=1))
    truth = night.truth(0)
    inside = (truth["x"] > 5) & (truth["x"] < 394) & (truth["y"] > 5) & (truth["y"] < 394)
    stars = truth[inside & (truth["kind"] != "asteroid")]
    sources = Table({"x": stars["x"], "y": stars["y"], "flux": stars["flux"]})
    sources["flags"] = np.zeros(len(sources), int)
    few = night.catalog[np.argsort(np.asarray(night.catalog["V"]))[:5]]
    path = tmp_path_factory.mktemp("catalog") / "five_stars.ecsv"
    few.write(path)
    centre = night.wcs(0).pixel_to_world(199.5, 199.5)
    hint = SolveHint(centre.ra.deg, centre.dec.deg, None)
    return night, sources, path, hint


def _solve(field, chain):
    from fluxion.core.astrometry.scale import ScaleGuess

    night, sources, _, hint = field
    hint = SolveHint(hint.ra, hint.dec, ScaleGuess(night.config.pixel_scale, 0.05, "user"))
    params = SolveParams(search=False, use_solve_field=False, use_nova=False)
    return PlateSolver(params, chain)(sources, (400, 400), hint)


def test_a_solve_without_its_catalog_says_so_first(field, closed_port):
    """The report: VizieR unreachable, and the solve said "only 3 stars match the catalog"."""
    vizier = VizierCatalog("APASS DR9", server=f"127.0.0.1:{closed_port}")
    # Nothing else to ask.
    alone = _solve(field, CatalogChain([vizier], cache=None))
    assert not alone.solved
    assert alone.reason.startswith("no catalog could answer: APASS DR9: VizieR could not be")
    # A few bright stars from a local file answer instead, too few to match:
    # the reason still starts with the catalog that could not be reached.
    chain = CatalogChain([vizier, LocalCatalog(field[2])], cache=None)
    fallback = _solve(field, chain)
    assert not fallback.solved
    assert fallback.reason.startswith(
        "the chosen catalog did not answer (APASS DR9: VizieR could not be reached"
    ), fallback.reason
    assert "only five_stars.ecsv did, with" in fallback.reason
    assert "Then: " in fallback.reason  # and what failed after it
    lines = solve_summary(
        [False, False, True], [alone.service_problem, fallback.service_problem, ""]
    )
    assert lines[0] == "1 of 3 frames solved"
    assert lines[1].startswith("2 not solved because no catalog could answer: APASS DR9")
    assert lines[-1] == OFFLINE_HELP


def test_a_hanging_catalog_is_waited_for_once(field, hanging_port):
    vizier = VizierCatalog("APASS DR9", server=f"127.0.0.1:{hanging_port}", timeout=0.5)
    chain = CatalogChain([vizier, LocalCatalog(field[2])], cache=None)
    t0 = time.monotonic()
    first = chain.query(CONE)
    waited = time.monotonic() - t0
    assert first.source == "five_stars.ecsv"
    assert "did not answer in time" in first.unreachable[0]
    # The next frame does not wait for it again: it is not asked for a while.
    t0 = time.monotonic()
    second = chain.query(CONE)
    assert time.monotonic() - t0 < waited
    assert "not asked again yet" in second.unreachable[0]
    result = _solve(field, chain)
    assert result.reason.startswith("the chosen catalog did not answer (APASS DR9: VizieR did not")


@pytest.mark.parametrize("hang", [False, True])
def test_horizons_offline_is_said_to_be(closed_port, hanging_port, monkeypatch, hang):
    from astroquery.jplhorizons import HorizonsClass, conf

    port = hanging_port if hang else closed_port
    # List-valued config items whose validation refuses other values: the
    # class attributes are replaced for the test (as test_ephemerides does).
    monkeypatch.setattr(type(conf), "horizons_server", f"http://127.0.0.1:{port}/api/horizons.api")
    monkeypatch.setattr(HorizonsClass, "TIMEOUT", 0.5)
    times = Time(["2024-09-10T23:00:00", "2024-09-11T01:00:00"], scale="utc")
    with pytest.raises(EphemerisError) as err:
        horizons_ephemeris("Ceres", times)
    assert err.value.unreachable
    text = str(err.value)
    assert text.startswith("JPL Horizons did not answer in time" if hang else "JPL Horizons could")
    assert "Track the target by clicking it instead" in text
