"""An error that knows the user's next step says it, not the generic advice."""

from __future__ import annotations

import requests

from fluxion.app.workers import describe_error


def test_an_exception_s_own_hint_is_the_next_step():
    problem = ValueError("the AAVSO report needs 'Object name'")
    problem.hint = "Choose Export > AAVSO again and fill in what the message names."
    info = describe_error("Writing report.txt", problem)
    assert info.hint == problem.hint
    assert "Check the input and this step's parameters" not in info.text()
    # Without one, a ValueError keeps the general advice.
    assert "parameters" in describe_error("Step", ValueError("bad")).hint
    # A lost network still comes first.
    lost = requests.ConnectionError("Max retries exceeded")
    lost.hint = "not this"
    assert "network" in describe_error("Catalog", lost).hint
