"""The content digest the scan takes through its own open is the product store's digest.

A frame's fingerprint hashes a sample of its file's bytes
(:func:`fluxion.core.io.digest.content_digest`); the scan takes it through the
open it reads the header with, and a run (in any process) uses that one while
the file is unchanged, instead of opening the file again.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.chain.calibrate import raw_fingerprint
from fluxion.core.io import digest
from fluxion.core.io.frames import frame_info


def _light(path: Path, shape: tuple[int, int], seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    header = fits.Header()
    header["IMAGETYP"] = "Light Frame"
    header["EXPTIME"] = 30.0
    header["DATE-OBS"] = "2024-03-01T22:00:00"
    fits.writeto(path, rng.normal(1000, 10, shape).astype(np.float32), header)
    return path


def _forget() -> None:
    with digest._digests_lock:
        digest._digests.clear()


@pytest.mark.parametrize("shape", [(64, 64), (700, 700)])  # read whole; sampled (> 1 MiB)
def test_the_scan_takes_the_store_digest_in_its_open(tmp_path, shape) -> None:
    path = _light(tmp_path / "light.fits", shape)
    _forget()
    expected = digest.content_digest(path)
    _forget()
    info = frame_info(path)
    assert info.usable and info.digest is not None
    key, taken = info.digest
    assert taken == expected
    assert key[0] == os.fspath(path)
    # The digest is not a fact of the frame: two scans of one file compare equal
    # with or without it.
    assert info == frame_info(path)


def test_a_digest_through_an_open_file_keeps_its_position(tmp_path) -> None:
    path = _light(tmp_path / "light.fits", (700, 700))
    _forget()
    with open(path, "rb") as fh:
        fh.seek(2880)
        key, taken = digest.digest_through(path, fh)
        assert fh.tell() == 2880
    _forget()
    assert taken == digest.content_digest(path)


def test_a_worker_uses_the_scans_digest_without_reading_the_file(tmp_path, monkeypatch) -> None:
    path = _light(tmp_path / "light.fits", (64, 64))
    info = frame_info(path)
    expected = raw_fingerprint(info)
    _forget()  # a process that did not scan
    opened = []
    real_open = open

    def counting(file, *args, **kwargs):
        opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting)
    assert raw_fingerprint(info) == expected
    assert opened == []


def test_a_changed_file_is_read_again(tmp_path) -> None:
    path = _light(tmp_path / "light.fits", (64, 64), seed=1)
    info = frame_info(path)
    stat = path.stat()
    replacement = _light(tmp_path / "other.fits", (64, 64), seed=2)
    shutil.copyfile(replacement, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time
    _forget()
    digest.remember_digest(info.digest)  # the scan's digest, now stale
    assert digest.content_digest(path) != info.digest[1]


def test_a_compressed_file_gets_no_digest_from_the_scan(tmp_path) -> None:
    plain = _light(tmp_path / "light.fits", (64, 64))
    packed = tmp_path / "light.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    info = frame_info(packed)
    assert info.usable
    assert info.digest is None  # the scan read decompressed bytes, not the file's
