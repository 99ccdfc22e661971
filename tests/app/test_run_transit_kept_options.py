"""A re-run fits the transit as the last run did; a changed option redoes only what it changes.

``fluxion run --transit --period ... --a-rs ... --filter V --teff ...`` keeps
the ephemeris, the geometry, the star and the fit options in the project. A
plain ``fluxion run`` of the project afterwards finds the night's products and
the fit current (the product store's fingerprints and transit.json as they
were, the same result in its notes); one with a new ``--mcmc-steps`` redoes
the fit only, with the kept star and filter (the same limb-darkening priors)
and the night's products untouched.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from night_helpers import step_counts
from transit_helpers import written_transit

from fluxion.app.cli import main
from fluxion.core.project.document import Project


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, list[str], str]:
    root = tmp_path_factory.mktemp("kept-transit")
    night, project = root / "night", root / "project"
    assert main(["demo", str(night), "--kind", "transit", "--size", "384", "384",
                 "--seed", "21"]) == 0  # fmt: skip
    tr = written_transit(night)
    config, host, _, a_rs, b = tr.config, tr.host, tr.k, tr.a_rs, tr.b
    base = ["run", str(night), "--project", str(project), "--ra", str(host["ra"]),
            "--dec", str(host["dec"]), "--no-report", "--workers", "1"]  # fmt: skip
    said = _run([*base, "--transit", "--period", str(config["transit_period"]),
                 "--t0", f"{host['mid_jd']:.5f}", "--a-rs", f"{a_rs:.4f}", "--impact",
                 f"{b:.4f}", "--filter", "V", "--teff", "4900", "--logg", "4.6",
                 "--mcmc-steps", "0", "--name", "Lesson b"])  # fmt: skip
    assert any(x.startswith("transit: Rp/Rs") for x in said.splitlines())
    return project, base, said


def _run(args: list[str]) -> str:
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        assert main(args) == 0
    return said.getvalue()


def _fingerprints(project: Path) -> dict[str, str]:
    """Every step's index of product fingerprints."""
    return {p.parent.name: p.read_text() for p in sorted(project.glob("*/index.jsonl"))}


def _transit_lines(said: str) -> list[str]:
    return [x for x in said.splitlines() if x.startswith("transit: ")]


def test_a_plain_rerun_keeps_the_fit_and_a_changed_option_redoes_only_the_fit(first_run):
    project, base, said = first_run
    fit_file = project / "transit" / "transit.json"
    fit = json.loads(fit_file.read_text())
    kept = Project.load(project).results["run"].summary["transit"]
    assert kept["options"]["filter"] == "V" and kept["options"]["teff"] == 4900
    assert kept["options"]["mcmc_steps"] == 0 and kept["geometry"] == "fixed"
    stores, stamp = _fingerprints(project), fit_file.stat().st_mtime_ns

    # Nothing given: every product and the fit are current.
    again = _run(base)
    assert all(done == 0 for done, _ in step_counts(again).values()), again
    assert _fingerprints(project) == stores
    assert fit_file.stat().st_mtime_ns == stamp
    assert _transit_lines(again) == _transit_lines(said)

    # A new fit option: the fit only, with the kept star, filter and geometry.
    mcmc = _run([*base, "--mcmc-steps", "300", "--burn", "100"])
    assert all(done == 0 for done, _ in step_counts(mcmc).values()), mcmc
    assert _fingerprints(project) == stores
    assert fit_file.stat().st_mtime_ns != stamp
    refit = json.loads(fit_file.read_text())
    assert refit["sampler"] != fit["sampler"] or refit["method"] != fit["method"]
    assert refit["planet"] == "Lesson b" and "a_rs" not in refit["free_parameters"]
    for key in ("limb_darkening", "a_rs"):
        assert refit[key] == fit[key], key
    options = Project.load(project).results["run"].summary["transit"]["options"]
    assert options["mcmc_steps"] == 300 and options["burn"] == 100
    assert options["teff"] == 4900 and options["filter"] == "V"
