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
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_thread"]

log = logging.getLogger(__name__)

_CONTROLLER = None
_LOCK = threading.Lock()


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
