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
