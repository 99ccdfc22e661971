"""Shared test configuration: offscreen Qt, the real-data folder, the demo night."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

# Qt must never try to reach a display in tests; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The real-data folder: $FLUXION_TEST_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("FLUXION_TEST_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session", autouse=True)
def _unsaved_projects_folder(tmp_path_factory):
    """Unsaved projects' products go to a temporary folder, not the user's home."""
    old = os.environ.get("FLUXION_PROJECTS")
    os.environ["FLUXION_PROJECTS"] = str(tmp_path_factory.mktemp("fluxion_projects"))
    yield
    if old is None:
        os.environ.pop("FLUXION_PROJECTS", None)
    else:
        os.environ["FLUXION_PROJECTS"] = old


@pytest.fixture(autouse=True)
def _own_unsaved_projects_folder(tmp_path_factory, monkeypatch):
    """Each test its own projects folder: a night opened again finds its earlier
    unsaved project there (``fluxion.core.project.earlier``), so one test's project
    must not become the next one's."""
    monkeypatch.setenv("FLUXION_PROJECTS", str(tmp_path_factory.mktemp("projects")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when the folder is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("real test data not found: set FLUXION_TEST_DATA or place ../shared/data")
    return d


@pytest.fixture(autouse=True)
def _services_reachable_again():
    """Each test starts with no service remembered as unreachable by an earlier one."""
    from fluxion.core.runtime.network import forget_unreachable

    forget_unreachable()
    yield
    forget_unreachable()


@pytest.fixture(autouse=True)
def _collect_on_the_main_thread():
    """Garbage from a test is collected here, on the main thread, when it ends.

    Closed windows and widgets can sit in reference cycles; left to the
    automatic collector they may be destroyed on whichever thread happens to
    trigger it, a worker of a later test included, and Qt objects must be
    destroyed on the thread that owns them (a crash in a later test's event
    loop otherwise).
    """
    yield
    gc.collect()
