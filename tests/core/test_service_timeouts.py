"""A catalog service that accepts connections and never answers holds a run about 10 s."""

from __future__ import annotations

from fluxion.core.catalogs import GaiaArchiveCatalog, VizierCatalog
from fluxion.core.runtime.network import SERVICE_TIMEOUT_S
from fluxion.core.variability.vsx import vsx_variables


def test_online_catalogs_give_up_on_a_silent_server_within_the_bound() -> None:
    import inspect

    assert SERVICE_TIMEOUT_S <= 10.0
    assert VizierCatalog("APASS DR9").timeout == SERVICE_TIMEOUT_S
    assert GaiaArchiveCatalog().timeout == SERVICE_TIMEOUT_S
    assert inspect.signature(vsx_variables).parameters["timeout"].default == SERVICE_TIMEOUT_S
