"""Fixtures for window tests: a small simulated night, settings in a temp file, the window."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

simulate = pytest.importorskip("fluxion.core.simulation.simulate")


@pytest.fixture(scope="session")
def demo_night(tmp_path_factory) -> Path:
    """A 5-light 256x256 demo night with the exact WCS written into the lights."""
    out = tmp_path_factory.mktemp("demo_night")
    config = simulate.NightConfig(
        n_frames=5, shape=(256, 256), write_wcs=True, n_bias=1, n_dark=1, n_flat=1
    )
    simulate.simulate_night(out, config)
    return out


#: The night of the field tests: small, the variables and the asteroid in it.
FIELD_NIGHT = dict(
    n_frames=16, shape=(400, 400), n_bias=3, n_dark=3, n_flat=3, asteroid=True,
    eclipsing_duration=30.0, star_density=2.0,
)  # fmt: skip


@pytest.fixture(scope="session")
def field_project(tmp_path_factory) -> tuple[Path, Path, object]:
    """A simulated night, the project ``fluxion run`` made of it, and its NightConfig."""
    from fluxion.app.cli import main

    config = simulate.NightConfig(**FIELD_NIGHT)
    night = tmp_path_factory.mktemp("field_night")
    simulate.simulate_night(night, config)
    folder = tmp_path_factory.mktemp("field_project") / "project"
    args = ["run", str(night), "--project", str(folder), "--workers", "2",
            "--no-cosmic-rays", "--no-report"]  # fmt: skip
    assert main(args) == 0
    return night, folder, config


@pytest.fixture(scope="module")
def run_project(tmp_path_factory, request) -> tuple[Path, Path, object, object]:
    """A simulated night, the project ``fluxion run`` made of it with a star as target,
    the star (its truth row) and the night's NightConfig.

    The target is the brightest catalogued star well inside every light: one
    the calibration would use, were it not the target. Each test module gets
    its own (its panels may change the products).
    """
    import numpy as np
    from astropy.table import Table

    from fluxion.app.cli import main

    config = simulate.NightConfig(n_frames=3, shape=(256, 256), n_bias=2, n_dark=2, n_flat=2)
    tag = request.module.__name__.rsplit(".", 1)[-1]
    night = tmp_path_factory.mktemp(f"{tag}_night")
    simulate.simulate_night(night, config)
    first = Table.read(night / "truth/light_0001.ecsv")
    catalog = Table.read(night / "truth/reference_catalog.ecsv")
    # A bright star well inside every light: a calibration star unless excluded.
    inside = (first["x"] > 40) & (first["x"] < 216) & (first["y"] > 40) & (first["y"] < 216)
    stars = first[inside & (first["kind"] == "star")]
    stars = stars[np.isin(stars["id"], catalog["id"])] if "id" in catalog.colnames else stars
    star = stars[np.argmin(stars["mag_V"])]
    folder = tmp_path_factory.mktemp(f"{tag}_project") / "project"
    args = [
        "run", str(night), "--project", str(folder),
        "--ra", repr(float(star["ra"])), "--dec", repr(float(star["dec"])),
        "--catalog", str(night / "truth/reference_catalog.ecsv"),
        "--workers", "2", "--no-cosmic-rays", "--no-report",
    ]  # fmt: skip
    assert main(args) == 0
    return night, folder, star, config


#: A star of the Seestar M94 field 5.7' from the galaxy's nucleus, the run's target.
SEESTAR_TARGET = (192.59624, 41.12333)


@pytest.fixture(scope="session")
def seestar_offline_run(shared_data, tmp_path_factory) -> tuple[Path, str]:
    """The Seestar M94 night run offline with nothing cached, a star as target and
    comparison stars: the project folder and what the run printed.

    One run (about 100 s) for every test of it: each asks a different question of
    the same products (the comparison ensemble, each light's catalog reason).
    """
    import contextlib
    import io

    from fluxion.app.cli import main

    root = tmp_path_factory.mktemp("seestar_offline")
    project = root / "p"
    args = [
        "run", str(shared_data / "seestar-osc"), "--project", str(project), "--offline",
        "--no-report", "--ra", repr(SEESTAR_TARGET[0]), "--dec", repr(SEESTAR_TARGET[1]),
        "--comparison", "on",
    ]  # fmt: skip
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("FLUXION_CACHE_DIR", str(root / "cache"))  # nothing cached
        # Not 0: offline, no light has a zero point ("0 of 8 lights fully processed").
        main(args)
    return project, out.getvalue()


@pytest.fixture
def window(qtbot, tmp_path) -> Iterator:
    from fluxion.app.main_window import MainWindow
    from fluxion.app.settings import Settings

    w = MainWindow(Settings(tmp_path / "settings.ini"))
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
    w.deleteLater()
    qtbot.wait(1)


@pytest.fixture
def open_and_wait(qtbot):
    """``open_and_wait(window, path)``: open and wait until the first frame is shown."""

    def _open(window, path) -> None:
        with qtbot.waitSignal(window.session.frame_ready, timeout=20_000):
            window.open_path(path)

    return _open


#: Cards a mount and optics write: removed, the lights give no pointing and no scale.
POINTING_CARDS = ("RA", "DEC", "OBJCTRA", "OBJCTDEC", "FOCALLEN")


@pytest.fixture(scope="module")
def unpointed_night(tmp_path_factory) -> Path:
    """Two 256x256 lights without a pointing or a scale (as MaxIm DL writes without a mount).

    One a test module: a panel's run may keep its products beside the lights.
    """
    from astropy.io import fits

    config = simulate.NightConfig(
        shape=(256, 256), n_frames=2, n_bias=0, n_dark=0, n_flat=0, star_density=3.0,
        cosmic_ray_rate=0.0, seed=5,
    )  # fmt: skip
    raw = tmp_path_factory.mktemp("unpointed_night")
    simulate.simulate_night(raw, config)
    for path in sorted(raw.glob("light_*.fits")):
        with fits.open(path, mode="update") as hdul:
            for key in POINTING_CARDS:
                hdul[0].header.remove(key, ignore_missing=True)
    return raw


@pytest.fixture
def open_panel(qtbot):
    """``open_panel(PanelClass, folder, show=False, project=None)``: a step panel beside a viewer.

    The panel's session holds ``folder``'s frames (the first one shown), with
    the saved project in ``project`` when given; the worker pool is shut down
    and the widgets are closed after the test.
    """
    import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
    from fluxion.app.session import Session
    from fluxion.app.workers import WorkerPool
    from fluxion.core.io.sequence import Sequence
    from fluxion.core.project.document import Project
    from fluxion.widgets.image_view import ImageView

    pools, widgets = [], []

    def _open(panel_cls, folder: Path, show: bool = False, project: Path | None = None):
        workers = WorkerPool()
        pools.append(workers)
        session = Session(workers)
        view = ImageView()
        panel = panel_cls(session, view)
        session.frame_ready.connect(lambda f: view.set_image(f.data, limits=f.limits, wcs=f.wcs))
        widgets.extend((panel, view))
        if show:
            view.show()
            panel.show()
        saved = None if project is None else Project.load(project)
        with qtbot.waitSignal(session.frame_ready, timeout=60_000):
            session.set_sequence(Sequence.from_paths([folder]), saved)
        return panel

    yield _open
    for workers in pools:
        workers.shutdown(wait=True)
    for widget in widgets:
        widget.close()
        widget.deleteLater()
    qtbot.wait(1)


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Every attempt to open a connection fails, and is recorded."""
    attempts: list = []
    local = {"connect": socket.socket.connect, "connect_ex": socket.socket.connect_ex}

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args else kwargs)
        raise OSError("network forbidden in this test")

    def refuse_remote(name):
        # A Unix socket (the worker processes' forkserver) is not the network.
        def connect(sock, *args, **kwargs):
            if sock.family == getattr(socket, "AF_UNIX", None):
                return local[name](sock, *args, **kwargs)
            return refuse(sock, *args, **kwargs)

        return connect

    monkeypatch.setattr(socket.socket, "connect", refuse_remote("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_remote("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts
