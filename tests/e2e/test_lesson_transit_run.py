"""A transit lesson followed headless, as a student would: the night, the run, the fit, the check.

``fluxion demo --kind transit`` makes a student's night; ``fluxion run`` on the
host's coordinates makes the project and its calibrated light curve;
``fluxion transit`` fits it; its mid-time and depth, with their errors, are
the student's answers; ``fluxion check --json`` then finds every quantity
within the error the night allows.
"""

from __future__ import annotations

import json

from fluxion.app.cli import main
from fluxion.core.classroom.answers import Answer, write_answers


def test_a_followed_transit_lesson_checks_good(tmp_path, capsys):
    night, project, fit = tmp_path / "night", tmp_path / "project", tmp_path / "fit"
    assert main(["demo", str(night), "--kind", "transit", "--size", "512", "512",
                 "--seed", "21"]) == 0  # fmt: skip
    lesson = json.loads((night / "truth" / "lesson.json").read_text())
    host = lesson["targets"][0]
    assert host["kind"] == "transit"
    assert main(["run", str(night), "--project", str(project), "--ra", str(host["ra"]),
                 "--dec", str(host["dec"]), "--no-report"]) == 0  # fmt: skip
    assert main(["transit", str(project / "lightcurve.ecsv"), "--out", str(fit),
                 "--period", "3.0", "--t0", f"{host['mid_jd']:.4f}", "--filter", "V",
                 "--mcmc-steps", "2500", "--burn", "800", "--no-png",
                 "--name", "Lesson b"]) == 0  # fmt: skip
    result = json.loads((fit / "transit.json").read_text())
    write_answers(project, {
        "transit_mid_bjd": Answer(result["tmid_bjd_tdb"], result["tmid_err"]),
        "transit_depth": Answer(result["depth"], result["depth_err"]),
    })  # fmt: skip
    capsys.readouterr()
    assert main(["check", str(project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    verdicts = {q["name"]: q["verdict"] for q in report["quantities"]}
    assert {"transit_mid_bjd", "transit_depth", "transit_lightcurve_chi2", "zero_point",
            "transit_magnitude"} <= set(verdicts)  # fmt: skip
    assert set(verdicts.values()) == {"good"}, report["quantities"]
    mid = next(q for q in report["quantities"] if q["name"] == "transit_mid_bjd")
    # The student's own error is honest: within three of it.
    assert abs(mid["measured"] - mid["true"]) < 3 * mid["error"]
