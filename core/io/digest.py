"""A file's content digest: a sample of its bytes, kept while the file is unchanged.

The product store fingerprints an input file by its content
(:func:`fluxion.core.project.products.fingerprint`), and the folder scan takes
the same digest through the open it reads the header with
(:func:`fluxion.core.io.frames.frame_info`), so a run reads a frame's file
once for its facts and once for its pixels, never a third time for its
fingerprint.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Protocol

__all__ = ["DigestTaken", "content_digest", "digest_through", "remember_digest"]

# Bytes read to fingerprint a file's content: all of a small file; of a large
# one its start (the header), its end and evenly spaced blocks between.
_WHOLE = 1 << 20
_EDGE = 1 << 16
_BLOCK = 1 << 12
_SAMPLES = 32
_digests: dict[tuple, str] = {}
_digests_lock = threading.Lock()

#: A digest with the file facts it holds for: (key, digest), see :func:`digest_through`.
DigestTaken = tuple[tuple, str]


class _Readable(Protocol):
    def read(self, size: int = ...) -> bytes: ...
    def seek(self, offset: int, whence: int = ...) -> object: ...
    def tell(self) -> int: ...


def _key(p: Path, st: os.stat_result) -> tuple:
    # The inode and the change time too, which no copy can preserve: ``cp -p``,
    # ``rsync -t`` and unzip keep the modification time and the size.
    return (os.fspath(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _cached(key: tuple) -> str | None:
    with _digests_lock:
        return _digests.get(key)


def _sampled(fh: _Readable, size: int) -> str:
    h = hashlib.blake2b(digest_size=12)
    fh.seek(0)
    if size <= _WHOLE:
        h.update(fh.read(size))
    else:
        h.update(fh.read(_EDGE))
        for k in range(1, _SAMPLES):
            fh.seek(size * k // _SAMPLES)
            h.update(fh.read(_BLOCK))
        fh.seek(size - _EDGE)
        h.update(fh.read(_EDGE))
    return h.hexdigest()


def remember_digest(taken: DigestTaken | None) -> None:
    """Keep a digest taken elsewhere (by the scan, maybe in another process) for this process."""
    if taken is None:
        return
    key, digest = taken
    with _digests_lock:
        _digests[key] = digest


def content_digest(path: str | os.PathLike[str]) -> str:
    """A digest of a file's content (a sample of it when large), cached while the file is unchanged.

    Name, size and modification time do not tell a replaced file: ``cp -p``,
    ``rsync -t`` and unzip keep the time, and frames of one camera have one
    size. The header (the first block) differs between any two frames; the
    samples catch pixels changed in place. The cache is keyed by the inode and
    the change time too, which no copy can preserve, so a file is read again
    only when it may have changed.
    """
    p = Path(path)
    st = p.stat()
    key = _key(p, st)
    hit = _cached(key)
    if hit is not None:
        return hit
    with open(p, "rb") as fh:
        digest = _sampled(fh, st.st_size)
    remember_digest((key, digest))
    return digest


def digest_through(path: str | os.PathLike[str], fh: _Readable) -> DigestTaken:
    """:func:`content_digest` of ``path`` read through ``fh``, a file already open on its bytes.

    ``fh`` must give the file's own bytes (not a decompressed stream); its
    position is kept. Returns the digest with the file facts it holds for, to
    hand to :func:`remember_digest` in a process that did not take it.
    """
    p = Path(path)
    st = p.stat()
    key = _key(p, st)
    hit = _cached(key)
    if hit is None:
        where = fh.tell()
        try:
            hit = _sampled(fh, st.st_size)
        finally:
            fh.seek(where)
        remember_digest((key, hit))
    return key, hit
