"""The process memory policy: set here, passed to worker processes, a user's own setting kept."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from fluxion.app import memory
from fluxion.app.memory import use_memory_policy

_set_hugepage = (getattr(np, "_core", None) or np.core).multiarray._set_madvise_hugepage
VARS = ("NUMPY_MADVISE_HUGEPAGE", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_CHILD = (
    "import os, numpy as np; "
    "core = getattr(np, '_core', None) or np.core; "
    "print(int(core.multiarray._set_madvise_hugepage(True)), "
    "os.environ.get('MALLOC_MMAP_THRESHOLD_'), os.environ.get('MALLOC_TRIM_THRESHOLD_'))"
)


@pytest.fixture
def clean_env(monkeypatch):
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    before = _set_hugepage(True)
    yield monkeypatch
    _set_hugepage(before)


def test_the_policy_holds_here_and_in_the_processes_started_after_it(clean_env):
    applied = use_memory_policy()
    # numpy no longer asks for huge pages in this process.
    assert _set_hugepage(False) is False
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert applied
    # A worker process (spawned, or a forkserver started after the policy)
    # reads it from the environment when it starts.
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0", str(memory.MMAP_THRESHOLD), str(memory.TRIM_THRESHOLD)]


def test_a_users_own_setting_is_kept(clean_env):
    clean_env.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    clean_env.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    use_memory_policy()
    assert _set_hugepage(True) is True
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == "1048576"
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(memory.TRIM_THRESHOLD)
