"""quiet() silences a warning in its own thread only, and threads run their blocks at once."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from astropy.utils.exceptions import AstropyUserWarning

from fluxion.core.runtime.quiet import quiet

FIT_WARNING = "One or more fit(s) may not have converged"


def test_quiet_ignores_the_category_and_message_it_names_and_nothing_else():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with quiet(AstropyUserWarning, "One or more fit"):
            warnings.warn(FIT_WARNING, AstropyUserWarning, stacklevel=1)
            with pytest.raises(AstropyUserWarning):
                warnings.warn("another text", AstropyUserWarning, stacklevel=1)
            with pytest.raises(RuntimeWarning):
                warnings.warn("One or more fit", RuntimeWarning, stacklevel=1)
            with quiet():  # nested: everything
                warnings.warn("anything", RuntimeWarning, stacklevel=1)
            with pytest.raises(RuntimeWarning):  # the inner block is over
                warnings.warn("anything", RuntimeWarning, stacklevel=1)
        with pytest.raises(AstropyUserWarning):  # the block is over
            warnings.warn(FIT_WARNING, AstropyUserWarning, stacklevel=1)


def test_a_filter_added_after_a_block_does_not_hide_the_next_block():
    with warnings.catch_warnings():
        with quiet(UserWarning):
            pass
        warnings.simplefilter("error")  # in front of the list now
        with quiet(UserWarning):
            warnings.warn("silenced", UserWarning, stacklevel=1)
        with pytest.raises(UserWarning):
            warnings.warn("not silenced", UserWarning, stacklevel=1)


def test_threads_are_inside_their_blocks_at_once_and_silence_only_their_own():
    inside = threading.Barrier(2, timeout=10)
    outcome: dict[str, str] = {}

    def silenced() -> None:
        with quiet(UserWarning, "mine"):
            inside.wait()  # both threads inside a block: no lock between them
            warnings.warn("mine", UserWarning, stacklevel=1)
            inside.wait()
        outcome["silenced"] = "ok"

    def loud() -> None:
        with quiet(RuntimeWarning):
            inside.wait()
            try:
                # The other thread is silencing "mine" right now, but not here.
                warnings.warn("mine", UserWarning, stacklevel=1)
            except UserWarning:
                outcome["loud"] = "raised"
            inside.wait()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ThreadPoolExecutor(2) as pool:
            for fut in [pool.submit(silenced), pool.submit(loud)]:
                fut.result()
    assert outcome == {"silenced": "ok", "loud": "raised"}


def test_the_filter_list_is_as_it_was_after_the_last_block():
    before = list(warnings.filters)
    with quiet(UserWarning, "x"), quiet(RuntimeWarning):
        assert len(warnings.filters) == len(before) + 2
    assert warnings.filters == before
