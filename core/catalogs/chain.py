"""Ask catalogs in order, through the cache, until one answers.

Every failure (time-out, HTTP error, malformed reply, missing file, no stars)
becomes one line in :attr:`CatalogAnswer.messages` and the chain moves on: to a
cached answer of the same catalog, however old, then to the next catalog. Only
when nothing answers does :meth:`CatalogChain.query` raise, with all the reasons.

A source that could not be reached (offline, refused, no answer in time) is
named in :attr:`CatalogAnswer.unreachable`, so that whoever uses the answer of
a later source can say why it had to, and it is not asked again for
:data:`~fluxion.core.runtime.network.RETRY_AFTER_S` seconds: a night of frames
does not wait for a hanging service once per frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from astropy.table import Table

from ..runtime.network import NetworkFailure, mark_unreachable, unreachable_since
from ..runtime.pipeline import StepState
from .base import CatalogError, CatalogSource, Cone, apply_proper_motion, select_cone
from .cache import CatalogCache

__all__ = ["CatalogAnswer", "CatalogChain"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogAnswer:
    """What the chain found for a cone.

    Attributes
    ----------
    table : Table
        Stars in the catalog schema, moved to the cone's epoch.
    source : str
        Name of the catalog that answered.
    from_cache : bool
        True when the answer came from the disk cache.
    age_seconds : float
        Age of the answer (0 for a fresh fetch or a local file).
    messages : tuple of str
        What failed or was skipped on the way, for the user.
    unreachable : tuple of str
        The sources asked before this one that could not be reached (or were
        skipped offline with nothing cached), each with its cause.
    """

    table: Table
    source: str
    from_cache: bool = False
    age_seconds: float = 0.0
    messages: tuple[str, ...] = field(default_factory=tuple)
    unreachable: tuple[str, ...] = field(default_factory=tuple)


class CatalogChain:
    """Catalog sources tried in order, with a disk cache in front of the online ones.

    Parameters
    ----------
    sources : sequence of CatalogSource
        Tried first to last.
    cache : CatalogCache, optional
        Disk cache for online sources; None disables caching.
    offline : bool
        Never contact a service; cached answers are used whatever their age.
    max_age_days : float, optional
        Online, cached answers older than this are fetched again (the stale
        answer still serves when the fetch fails). None: cached answers never
        expire.
    margin : float
        Online fetches ask for a cone this many times larger, so that the next
        frames of a drifting sequence are served from the cache.
    min_stars : int
        An answer with fewer stars counts as a failure and the chain moves on.
    """

    def __init__(
        self,
        sources: Sequence[CatalogSource],
        *,
        cache: CatalogCache | None = None,
        offline: bool = False,
        max_age_days: float | None = None,
        margin: float = 1.25,
        min_stars: int = 1,
    ) -> None:
        if not sources:
            raise ValueError("a catalog chain needs at least one source")
        self.sources = list(sources)
        self.cache = cache
        self.offline = offline
        self.max_age_days = max_age_days
        self.margin = max(float(margin), 1.0)
        self.min_stars = int(min_stars)

    @property
    def name(self) -> str:
        """The sources in the order they are asked ("reference.ecsv > Gaia DR3").

        Products fingerprint their catalog by name, so a chain that asks other
        sources makes earlier solutions out of date.
        """
        return " > ".join(src.name for src in self.sources)

    def preferring(self, source: CatalogSource) -> CatalogChain:
        """This chain with ``source`` asked first (same cache, offline flag and limits).

        A project's own reference catalog (the classroom demo's, a user's
        extract) answers before any service; a field it does not cover, where it
        has fewer than ``min_stars`` stars, falls through to the chain's sources.
        """
        rest = [s for s in self.sources if s.name != source.name]
        return CatalogChain(
            [source, *rest],
            cache=self.cache,
            offline=self.offline,
            max_age_days=self.max_age_days,
            margin=self.margin,
            min_stars=self.min_stars,
        )

    def query(self, cone: Cone, state: StepState | None = None) -> CatalogAnswer:
        """Stars in ``cone`` from the first source that answers.

        Raises
        ------
        CatalogError
            When no source answered; the message lists every reason.
        """
        messages: list[str] = []
        unreachable: list[str] = []
        failure = None
        n = len(self.sources)
        for k, src in enumerate(self.sources):
            if state is not None:
                state.progress(k / n, f"catalog: {src.name}")
            answer, down = self._try(src, cone, messages)
            if down is not None:
                unreachable.append(down[0])
                failure = failure or down[1]
            if answer is not None:
                if state is not None:
                    state.progress(1.0, f"catalog: {len(answer.table)} stars from {src.name}")
                return replace(answer, unreachable=tuple(unreachable))
        if unreachable:
            # The network first: it is why nothing answered, whatever else failed.
            others = [m for m in messages if m not in unreachable]
            text = "; ".join(unreachable + others)
            raise CatalogError(f"no catalog could answer: {text}", failure=failure)
        raise CatalogError("no catalog could answer: " + "; ".join(messages))

    def _finish(
        self,
        table: Table,
        cone: Cone,
        src: CatalogSource,
        messages: list[str],
        owned: bool = False,
        **kw,
    ) -> CatalogAnswer | None:
        """``table`` as the answer; ``owned`` when nothing else holds it (not a cached table)."""
        if len(table) < self.min_stars:
            messages.append(f"{src.name}: only {len(table)} stars in the field")
            return None
        if cone.epoch is not None:
            table = apply_proper_motion(table, cone.epoch, copy=not owned)
        return CatalogAnswer(table, src.name, messages=tuple(messages), **kw)

    def _try(
        self, src: CatalogSource, cone: Cone, messages: list[str]
    ) -> tuple[CatalogAnswer | None, tuple[str, NetworkFailure | None] | None]:
        """The source's answer (or None), and (cause, failure) when it could not be reached."""
        cache = self.cache if src.online else None
        cached = cache.get(src.name, cone) if cache is not None else None
        fresh = cached is not None and (
            self.offline
            or self.max_age_days is None
            or cached.age_seconds <= self.max_age_days * 86400.0
        )
        if cached is not None and fresh:
            answer = self._finish(
                cached.table, cone, src, messages, from_cache=True, age_seconds=cached.age_seconds
            )
            return answer, None
        down: tuple[str, NetworkFailure | None] | None = None
        if src.online and self.offline:
            text = f"{src.name}: not asked (working offline, nothing cached for this field)"
            messages.append(text)
            return None, (text, NetworkFailure("offline", "not asked (working offline)"))
        recent = unreachable_since(_service_key(src)) if src.online else None
        if recent is not None:
            text = f"{recent[1]} ({recent[0]:.0f} s ago; not asked again yet)"
            messages.append(text)
            down = (text, NetworkFailure("offline", recent[1]))
            return self._from_cache(cached, cone, src, messages), down
        fetch = Cone(cone.ra, cone.dec, min(cone.radius * self.margin, 90.0), cone.mag_limit)
        t0 = time.monotonic()
        try:
            table = src.query(fetch if src.online else cone)
        except CatalogError as exc:
            messages.append(str(exc))
            log.warning("%s", exc)
            if exc.unreachable:
                mark_unreachable(_service_key(src), str(exc))
                down = (str(exc), exc.failure)
            return self._from_cache(cached, cone, src, messages), down
        log.info("%s: %d stars in %.1f s", src.name, len(table), time.monotonic() - t0)
        if cache is not None:
            try:
                cache.put(src.name, fetch, table)
            except OSError as exc:  # a read-only cache must not stop the work
                messages.append(f"cache not written: {exc}")
        if src.online:
            table = select_cone(table, cone)  # the cache keeps the whole answer
        # The source's answer (or its cone) is a new table of this query's own.
        return self._finish(table, cone, src, messages, owned=True), None

    def _from_cache(
        self, cached, cone: Cone, src: CatalogSource, messages: list[str]
    ) -> CatalogAnswer | None:
        """A stale cached answer of ``src`` when it has one (it could not answer afresh)."""
        if cached is None:
            return None
        messages.append(f"{src.name}: using the cached answer ({_age(cached.age_seconds)})")
        return self._finish(
            cached.table, cone, src, messages, from_cache=True, age_seconds=cached.age_seconds
        )


def _service_key(src: CatalogSource) -> str:
    """What is remembered as unreachable: the catalog at its server (a mirror is another)."""
    server = getattr(src, "server", None) or getattr(src, "tap_server", None) or ""
    return f"{src.name}@{server}"


def _age(seconds: float) -> str:
    """An age the way people say it: "3 h old", "12 days old"."""
    if seconds < 120:
        return f"{seconds:.0f} s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min old"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h old"
    return f"{seconds / 86400:.0f} days old"
