"""Outside services that could not answer, told as such.

A catalog query, an ephemeris or a web solve can fail because the computer is
offline, the service refused or never answered, or it answered with an error.
Those causes reach the user through several layers (a catalog chain that moves
on to the next source, a plate solver that then fails to match, a worker that
shows an error), and each layer used to describe only its own failure: a solve
whose catalog could not be reached said "only 3 stars match the catalog: wrong
field, wrong scale, or too few stars". Here a failure is classified once, where
it happens (:func:`network_failure`), carried as :class:`ServiceError`, and
said first wherever it ends a piece of work, with what still works offline
(:data:`OFFLINE_HELP`).

A service found unreachable is not asked again for a while
(:func:`mark_unreachable`, :func:`unreachable_since`): a night of 200 frames
must not wait 30 s per frame on a service that hangs.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "OFFLINE_HELP",
    "RETRY_AFTER_S",
    "SERVICE_TIMEOUT_S",
    "NetworkFailure",
    "ServiceError",
    "forget_unreachable",
    "mark_unreachable",
    "network_failure",
    "unreachable_since",
]

#: What Fluxion still does without the network, for the end of an offline message.
OFFLINE_HELP = (
    "Without the network Fluxion still solves with a local catalog file or the "
    "astrometry.net index files, uses the catalog answers and ephemerides it has "
    "cached, and measures differential light curves against comparison stars, "
    "which need no catalog."
)

#: Seconds a service found unreachable is left alone before it is asked again.
RETRY_AFTER_S = 120.0

#: Seconds a catalog service may stay silent before it is given up. A cone
#: query answers in a few seconds; a server that accepts connections and never
#: answers must not hold a night for long (the first failure also stops the
#: run asking it again, see :func:`mark_unreachable`).
SERVICE_TIMEOUT_S = 10.0

_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.ETIMEDOUT,
}


@dataclass(frozen=True)
class NetworkFailure:
    """Why a service did not answer.

    Attributes
    ----------
    kind : {"offline", "timeout", "http"}
        Not reached (no network, refused, name not resolved), reached but no
        answer within the time limit, or an error reply.
    text : str
        The cause in words, e.g. "could not be reached (connection refused;
        offline, or the service is down)".
    """

    kind: str
    text: str

    @property
    def unreachable(self) -> bool:
        """True for "offline" and "timeout": the service gave no answer at all."""
        return self.kind in ("offline", "timeout")


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (libraries wrap socket errors)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 8:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def network_failure(exc: BaseException) -> NetworkFailure | None:
    """The network cause of ``exc``, or None when it is not a network failure.

    Recognises requests', urllib's and the socket module's exceptions, also
    when wrapped by another library (astroquery, pyvo).
    """
    try:
        import requests
    except ImportError:  # pragma: no cover - requests comes with astroquery
        requests = None  # type: ignore[assignment]  # the optional module's stand-in
    for e in _chain(exc):
        if requests is not None and isinstance(e, requests.Timeout):
            return NetworkFailure("timeout", "did not answer in time (time-out)")
        if isinstance(e, (socket.timeout, TimeoutError)):
            return NetworkFailure("timeout", "did not answer in time (time-out)")
    for e in _chain(exc):
        if requests is not None and isinstance(e, requests.HTTPError):
            status = getattr(getattr(e, "response", None), "status_code", None)
            return NetworkFailure("http", f"answered with an error (HTTP {status or e})")
        http_code = getattr(e, "code", None)
        if type(e).__name__ == "HTTPError" and isinstance(http_code, int):
            return NetworkFailure("http", f"answered with an error (HTTP {http_code})")
    for e in _chain(exc):
        why = None
        if isinstance(e, socket.gaierror):
            why = "its name could not be looked up"
        elif isinstance(e, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(e, ConnectionError):
            why = "connection failed"
        elif isinstance(e, OSError) and e.errno in _UNREACHABLE_ERRNOS:
            why = e.strerror or "network unreachable"
        elif requests is not None and isinstance(e, requests.ConnectionError):
            why = "connection failed"
        elif type(e).__name__ == "URLError":
            why = str(getattr(e, "reason", "")) or "connection failed"
        if why is not None:
            return NetworkFailure(
                "offline", f"could not be reached ({why}; offline, or the service is down)"
            )
    return None


class ServiceError(Exception):
    """An outside service (catalog, ephemeris, web solver) could not answer.

    The message is meant for the user as it is. ``failure`` is the network
    cause when there is one (:func:`network_failure`), ``service`` the name of
    what was asked.
    """

    def __init__(
        self, message: str, *, service: str = "", failure: NetworkFailure | None = None
    ) -> None:
        super().__init__(message)
        self.service = service
        self.failure = failure

    @property
    def unreachable(self) -> bool:
        """True when the service gave no answer at all (offline, refused, time-out)."""
        return self.failure is not None and self.failure.unreachable


_lock = threading.Lock()
_down: dict[str, tuple[float, str]] = {}


def mark_unreachable(service: str, message: str) -> None:
    """Remember that ``service`` could not be reached (``message`` says how)."""
    with _lock:
        _down[service] = (time.monotonic(), message)


def unreachable_since(service: str) -> tuple[float, str] | None:
    """(seconds ago, message) when ``service`` was found unreachable recently, else None."""
    with _lock:
        entry = _down.get(service)
        if entry is None:
            return None
        age = time.monotonic() - entry[0]
        if age > RETRY_AFTER_S:
            del _down[service]
            return None
        return age, entry[1]


def forget_unreachable(service: str | None = None) -> None:
    """Ask ``service`` (every service when None) again at the next query."""
    with _lock:
        if service is None:
            _down.clear()
        else:
            _down.pop(service, None)
