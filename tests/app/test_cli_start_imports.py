"""A subcommand's start-up imports only the engine modules that command needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fluxion.app import commands


def _modules_after(argv: list[str]) -> set[str]:
    """The modules loaded once ``fluxion ARGV`` has parsed its arguments, in a fresh interpreter."""
    code = (
        "import sys\n"
        "from fluxion.app.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stderr.split())


def test_top_level_help_loads_no_engine():
    loaded = _modules_after(["--help"])
    assert not {m for m in loaded if m.startswith("fluxion.core.")}
    assert "astropy" not in loaded


def test_a_command_loads_no_other_commands_engine_modules():
    # `run` shows the catalog columns in its help; the simulator (demo's choices)
    # and the detection step (detect's defaults) are not its start-up.
    loaded = _modules_after(["run", "--help"])
    assert "fluxion.core.catalogs.base" in loaded
    assert "fluxion.core.simulation.lessons" not in loaded
    assert "fluxion.core.detection.extract" not in loaded
    assert "fluxion.core.simulation.lessons" in _modules_after(["demo", "--help"])


@pytest.mark.parametrize("name", commands.names())
def test_every_command_parses_its_own_help(name, capsys):
    from fluxion.app.cli import main

    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert f"usage: fluxion {name}" in capsys.readouterr().out


# Packages a night's chain never calls: the PSF models and fields (photutils,
# scipy.interpolate), the transit fit, reports, the network catalogues' client,
# plotting and Qt. Each costs the start-up of `fluxion run` and of every worker.
_NOT_FOR_A_RUN = (
    "photutils", "scipy.interpolate", "astropy.modeling", "astroquery", "emcee", "batman",
    "matplotlib", "PySide6", "pyqtgraph", "fluxion.widgets", "fluxion.app.report",
    "fluxion.core.reports", "fluxion.core.transit.fit", "fluxion.core.photometry.epsf",
    "fluxion.core.photometry.gridpsf.field", "fluxion.core.photometry.psf",
    "fluxion.core.photometry.scene.records", "fluxion.core.simulation",
)  # fmt: skip


def test_run_and_its_frames_steps_load_no_package_a_run_does_not_call():
    # What `fluxion run` imports: its command, the night, and the frames' steps
    # (in this process with one worker, in the forkserver with processes).
    code = (
        "import importlib, sys\n"
        "from fluxion.app.cli import build_parser\n"
        "build_parser('run')\n"
        "from fluxion.core.chain import WORKER_PRELOAD\n"
        "for name in (*WORKER_PRELOAD, 'fluxion.core.chain.night'):\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    # The steps themselves are there (so that the check below can fail)...
    assert {
        "fluxion.core.chain.steps",
        "fluxion.core.photometry.aperture",
        "scipy.ndimage",
    } <= loaded
    assert "fluxion.core.photometry.gridpsf.moffat" in loaded  # the sampling error's stamps
    # ...and none of what a run never calls.
    heavy = {m for m in loaded for h in _NOT_FOR_A_RUN if m == h or m.startswith(h + ".")}
    assert not heavy


def test_the_psf_field_names_still_resolve_from_their_package():
    from fluxion.core.photometry import gridpsf
    from fluxion.core.photometry.gridpsf.field import PSFField

    assert gridpsf.PSFField is PSFField
    assert callable(gridpsf.choose_psf) and callable(gridpsf.psf_shape)
    assert {"PSFField", "choose_psf", "refit_shape"} <= set(dir(gridpsf))
