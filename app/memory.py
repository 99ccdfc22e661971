"""The process's memory policy: large arrays reuse freed memory, not new pages from the kernel.

A frame's fit makes and frees hundreds of image-sized temporaries (8 MB for
a 1024^2 float64 map). glibc serves each allocation above its mmap
threshold with fresh pages from the kernel and returns them when freed, so
every temporary is faulted in (and zeroed) again; numpy also asks the
kernel for transparent huge pages on arrays of 4 MB and more, which adds
compaction on those faults. On the crowded fitter (case B of
``tests/benchmarks/bench_photometry.py``: 5000 stars in 1024^2, six frames
interleaved) the kernel's share of the thread CPU was 0.7-2.6 s of 5-6.8 s
a frame; with both settings below it is ~0.2 s, and the frame's CPU fell
from 5.82 to 4.70 s (faster on every frame).

The policy is the process's own (an application's entry point or a
benchmark's chooses it, a library never does): :func:`use_memory_policy`
sets it for this process and, through the environment, for the worker
processes it starts.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "use_memory_policy"]

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Bytes: allocations below this come from the heap and reuse its freed memory.

glibc's largest (a fixed value also stops its dynamic threshold, which
otherwise follows the largest block freed and makes the CPU of a fit
depend on the order of its temporaries).
"""
TRIM_THRESHOLD = 256 * 1024 * 1024
"""Bytes of free memory at the heap's top kept for the next temporaries, not given back."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""glibc's mallopt parameters (malloc.h)."""


def use_memory_policy() -> bool:
    """Keep freed large arrays for reuse in this process and the processes it starts.

    A setting the user made in the environment (``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_``, ``NUMPY_MADVISE_HUGEPAGE``) is left as it is.
    Does nothing outside glibc (other allocators keep their own policy).

    Returns
    -------
    bool
        Whether glibc's thresholds were set in this process.
    """
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
        # numpy reads the variable when it is imported; if it already was,
        # it is told directly (not imported here: a command's help needs none).
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            core = getattr(numpy, "_core", None) or numpy.core  # numpy 2 and 1.26
            core.multiarray._set_madvise_hugepage(False)
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The C library's symbols are the process's own (no library search).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and other C libraries
        return False
    done = True
    for name, param, value in (
        ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ):
        if name in os.environ:
            continue
        os.environ[name] = str(value)
        if mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            log.debug("mallopt(%d, %d) refused", param, value)
            done = False
    return done
