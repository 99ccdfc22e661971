"""Native thread pools kept to one thread where Fluxion runs frames in parallel itself.

astroscrappy's filters run on OpenMP and numpy's linear algebra on a BLAS
thread pool. With frames already on several workers, each library's own
threads only compete for the same cores: on two cores an OpenMP team per
worker made a 40 x 40 px cosmic-ray search 25 times slower (its threads wait
at every barrier for a core), and a whole frame's search a third slower in
CPU time than one thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_thread", "single_thread_worker_process"]

log = logging.getLogger(__name__)

_CONTROLLER = None
_LOCK = threading.Lock()
_WORKER_LIMITED = False


def _controller():
    """One ThreadpoolController for the process (finding the libraries costs milliseconds).

    None without threadpoolctl (an environment made before it was a
    dependency): the pools then keep their own sizes, which costs speed only.
    """
    global _CONTROLLER
    with _LOCK:
        if _CONTROLLER is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                log.warning("threadpoolctl is not installed: native thread pools not limited")
                _CONTROLLER = False
            else:
                _CONTROLLER = ThreadpoolController()
        return _CONTROLLER or None


@contextmanager
def single_thread(api: str = "openmp") -> Iterator[None]:
    """Run the block with the ``api`` thread pools (``'openmp'``, ``'blas'``) on one thread.

    OpenMP's thread count is the calling thread's own setting, so worker
    threads limiting themselves do not disturb each other. The libraries are
    looked up once; one loaded after that (imported later) is not limited.
    """
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api=api):
        yield


def single_thread_worker_process() -> None:
    """In a process pool's worker: every native pool on one thread, for the process's life.

    A worker process runs frames only, and its siblings already use the
    other cores: an OpenBLAS pool of one thread per core in each of them spun
    on the cores the others needed (least squares on a few thousand rows
    cost three to four times the CPU time). Nothing is changed in the main
    process, whose callers limit their own blocks (:func:`single_thread`).
    """
    global _WORKER_LIMITED
    if _WORKER_LIMITED or multiprocessing.parent_process() is None:
        return
    controller = _controller()
    if controller is not None:
        # Not restored: the limit is meant to last as long as the worker.
        controller.limit(limits=1)
    _WORKER_LIMITED = True
