"""A seeded corpus of malformed and unusual inputs, written beside a good night.

:func:`write_corpus` takes one good light of a night as a template and writes
variants of it that real nights contain or that a damaged disk makes: truncated
files, impossible BITPIX and NAXIS, a corrupt tile-compressed ``.fz``, header
cards that astropy cannot parse (control characters, ``12.0.0``, unterminated
quotes, NaN tokens, broken CONTINUE), absurd values (EXPTIME 1e30), a header
claiming a 65536 x 65536 image, lower-case and non-ASCII keywords, NaN grids,
file names that are long, not UTF-8 or carry newlines and right-to-left marks,
and things that are not files at all (FIFOs, symlink loops, folders named
``x.fits``, a link to /dev/zero).

Every entry is a :class:`Bad` naming the file and what is wrong with it. The
``cores`` keyword limits the corpus to one variant per kind (the fast set run
by the test suite); without it the generator also draws random variants
(seeded) to reach a few hundred files.
"""

from __future__ import annotations

import bz2
import gzip
import os
import random
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Bad", "write_corpus", "split_fits", "card"]

BLOCK = 2880


@dataclass(frozen=True)
class Bad:
    """One malformed input: its path (as bytes when the name is not UTF-8) and kind."""

    path: Path
    kind: str
    #: True when the file is still a usable light (an odd name, a tolerable card):
    #: the commands must process it like a good frame.
    usable: bool = False


def card(key: str, value: str = "", comment: str = "") -> bytes:
    """One 80-byte header card written verbatim (nothing is checked)."""
    if value == "" and key in ("END", "COMMENT", "HISTORY", ""):
        text = key
    else:
        text = f"{key:8.8s}= {value:>20s}"
        if comment:
            text += f" / {comment}"
    raw = text.encode("latin-1")[:80]
    return raw.ljust(80, b" ")


def split_fits(data: bytes) -> tuple[list[bytes], bytes]:
    """The cards of the first header (END excluded) and the bytes after it."""
    cards = []
    i = 0
    while i + 80 <= len(data):
        c = data[i : i + 80]
        i += 80
        if c.startswith(b"END") and c[3:].strip() == b"":
            break
        cards.append(c)
    header_end = ((i + BLOCK - 1) // BLOCK) * BLOCK
    return cards, data[header_end:]


def join_fits(cards: list[bytes], rest: bytes) -> bytes:
    """A header of ``cards`` (END added, padded) followed by ``rest``."""
    head = b"".join(cards) + card("END")
    head = head.ljust(((len(head) + BLOCK - 1) // BLOCK) * BLOCK, b" ")
    return head + rest


def _replace(cards: list[bytes], key: str, new: bytes | None) -> list[bytes]:
    out = []
    done = False
    for c in cards:
        if c[:8].decode("latin-1").strip() == key and not done:
            done = True
            if new is not None:
                out.append(new)
            continue
        out.append(c)
    if not done and new is not None:
        out.append(new)
    return out


def _set(cards: list[bytes], key: str, value: str) -> list[bytes]:
    return _replace(cards, key, card(key, value))


def _header_variants(cards: list[bytes], data: bytes) -> list[tuple[str, bytes, bool]]:
    """(kind, bytes, usable) of the header-level variants of one good light."""
    v: list[tuple[str, bytes, bool]] = []

    def add(kind: str, new_cards: list[bytes], usable: bool, rest: bytes = data) -> None:
        v.append((kind, join_fits(new_cards, rest), usable))

    # Impossible structure: the file has its END card, its header is wrong.
    add("bitpix-16", _set(cards, "BITPIX", "-16"), False)
    add("bitpix-7", _set(cards, "BITPIX", "7"), False)
    add("bitpix-text", _set(cards, "BITPIX", "'sixteen'"), False)
    add("naxis-negative", _set(cards, "NAXIS1", "-256"), False)
    add("naxis-missing", _replace(cards, "NAXIS2", None), False)
    add("naxis-huge", _set(_set(cards, "NAXIS1", "65536"), "NAXIS2", "65536"), False)
    add("naxis-huge-nx", _set(cards, "NAXIS1", "2000000000"), False)
    # Cards astropy cannot parse, in facts the engine reads; the frame stays usable.
    add("object-control-chars", _set(cards, "OBJECT", "'Cyg\x01\x07\x1bnus'"), True)
    add("exptime-12.0.0", _set(_set(cards, "EXPTIME", "12.0.0"), "EXPOSURE", "12.0.0"), True)
    add("exptime-unterminated", _set(cards, "EXPTIME", "'120.0"), True)
    add("exptime-nan", _set(_set(cards, "EXPTIME", "NaN"), "EXPOSURE", "NaN"), True)
    add("gain-inf", _set(cards, "GAIN", "INF"), True)
    add("airmass-minus-inf", _set(cards, "AIRMASS", "-Infinity"), True)
    bad_continue = cards + [
        card("HISTORY", ""),
        b"LONGSTR = 'first part&'".ljust(80),
        b"CONTINUE  12345 no quotes".ljust(80),
    ]
    add("continue-broken", bad_continue, True)
    add("filter-unterminated", _set(cards, "FILTER", "'V"), True)
    add("date-obs-garbage", _set(cards, "DATE-OBS", "'2024-13-45T99:99:99'"), True)
    add("date-obs-number", _set(cards, "DATE-OBS", "12345"), True)
    add("exptime-1e30", _set(_set(cards, "EXPTIME", "1E30"), "EXPOSURE", "1E30"), True)
    add("exptime-negative", _set(_set(cards, "EXPTIME", "-5.0"), "EXPOSURE", "-5.0"), True)
    add("exptime-zero", _set(_set(cards, "EXPTIME", "0.0"), "EXPOSURE", "0.0"), True)
    add("gain-zero", _set(cards, "GAIN", "0.0"), True)
    add("gain-negative", _set(cards, "GAIN", "-1.5"), True)
    add("saturate-text", _set(cards, "SATURATE", "'lots'"), True)
    add("ra-out-of-range", _set(_set(cards, "RA", "9999.0"), "OBJCTRA", "'99 99 99'"), True)
    add("dec-out-of-range", _set(_set(cards, "DEC", "-999.0"), "OBJCTDEC", "'+99 00 00'"), True)
    add("lower-case-keyword", cards + [b"exptime =                 30.0".ljust(80)], True)
    add(
        "non-ascii-keyword",
        cards + ["TEMPÉRAT=                  3.0".encode("latin-1").ljust(80)],
        True,
    )
    add("non-ascii-value", cards + ["OBSERVER= 'Jürgen Müller'".encode("latin-1").ljust(80)], True)
    add("keyword-with-space", cards + [b"MY KEY  =                    1".ljust(80)], True)
    add("no-equals", cards + [b"EXPTIMEX 120".ljust(80)], True)
    add("binning-zero", _set(cards, "XBINNING", "0"), True)
    add("binning-huge", _set(cards, "XBINNING", "100000"), True)
    add("pixsize-nan", _set(cards, "XPIXSZ", "NAN"), True)
    add("focallen-zero", _set(cards, "FOCALLEN", "0.0"), True)
    add("site-nonsense", _set(cards, "SITELAT", "'north'"), True)
    add("bzero-text", _set(cards, "BZERO", "'x'"), False)
    add("bscale-zero", _set(cards, "BSCALE", "0"), False)
    # Missing END card, header cut short.
    v.append(("no-end-card", b"".join(cards).ljust(BLOCK * 2, b" ") + data, False))
    return v


def _data_variants(cards: list[bytes], data: bytes) -> list[tuple[str, bytes, bool]]:
    head = join_fits(cards, b"")
    v: list[tuple[str, bytes, bool]] = [
        ("truncated-header", head[:1000], False),
        ("truncated-data-half", head + data[: len(data) // 2], False),
        ("truncated-one-block", head + data[:BLOCK], False),
        ("header-only", head, False),
        ("zero-bytes", b"", False),
        ("not-fits-text", b"this is not a FITS file\n" * 200, False),
        ("not-fits-zeros", bytes(BLOCK * 4), False),
        ("png-named-fits", b"\x89PNG\r\n\x1a\n" + bytes(4000), False),
        ("gzip-garbage", b"\x1f\x8b\x08\x00" + os.urandom(64), False),
    ]
    return v


def _float_image(template: bytes, fill: str) -> bytes:
    """A float32 copy of the template light with NaN in part or all of its pixels."""
    import io

    from astropy.io import fits

    with fits.open(io.BytesIO(template)) as hdul:
        h = hdul[0].header.copy()
        img = hdul[0].data.astype(np.float32)
    if fill == "all-nan":
        img[:] = np.nan
    elif fill == "nan-quarter-grid":
        img[::2, ::2] = np.nan
    elif fill == "inf-pixels":
        img[10:20, 10:20] = np.inf
    for k in ("BZERO", "BSCALE"):
        h.remove(k, ignore_missing=True)
    buf = io.BytesIO()
    fits.PrimaryHDU(img, h).writeto(buf)
    return buf.getvalue()


def _corrupt_fz(template: bytes, rng: random.Random) -> bytes:
    """A tile-compressed copy of the light with its compressed bytes scrambled."""
    import io

    from astropy.io import fits

    with fits.open(io.BytesIO(template)) as hdul:
        h = hdul[0].header.copy()
        img = hdul[0].data.astype(np.float32)
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(img, h, compression_type="RICE_1")]).writeto(
        buf
    )
    raw = bytearray(buf.getvalue())
    # The heap sits at the end: scramble most of it, leave the headers intact.
    start = len(raw) - len(raw) // 3
    for i in range(start, len(raw) - 200):
        raw[i] = rng.randrange(256)
    return bytes(raw)


def write_corpus(folder: Path, light: Path, seed: int = 1, cores: bool = False) -> list[Bad]:
    """Write malformed inputs made from ``light`` into ``folder``; return what was written.

    Parameters
    ----------
    folder : pathlib.Path
        Where to write (created); the good night may be the same folder.
    light : pathlib.Path
        A good light frame (uncompressed, BITPIX 16 with BZERO) used as template.
    seed : int
        Seed of the random variants.
    cores : bool
        Only one file per kind (about 60), for the suite that runs every time.
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    template = light.read_bytes()
    cards, data = split_fits(template)
    out: list[Bad] = []

    def put(name: str | bytes, content: bytes, kind: str, usable: bool = False) -> None:
        raw = name if isinstance(name, bytes) else name.encode()
        path_b = os.fsencode(folder) + b"/" + raw
        with open(path_b, "wb") as fh:
            fh.write(content)
        out.append(Bad(Path(os.fsdecode(path_b)), kind, usable))

    variants = _header_variants(cards, data) + _data_variants(cards, data)
    for kind, content, usable in variants:
        put(f"bad_{kind}.fits", content, kind, usable)
    for fill, usable in (("all-nan", False), ("nan-quarter-grid", True), ("inf-pixels", True)):
        put(f"bad_{fill}.fits", _float_image(template, fill), fill, usable)
    put("bad_corrupt.fits.fz", _corrupt_fz(template, rng), "corrupt-fz")
    put("bad_gz_truncated.fits.gz", gzip.compress(template)[:5000], "truncated-gz")
    put("bad_bz2_truncated.fits.bz2", bz2.compress(template)[:5000], "truncated-bz2")
    # Odd names of good frames: they must be processed like any other.
    put("odd_" + "n" * 240 + ".fits", template, "long-name", True)
    put(b"odd_latin1_\xe9t\xe9.fits", template, "non-utf8-name", True)
    put("odd_new\nline.fits", template, "newline-name", True)
    put("odd_rtl_\u202eevil.fits", template, "rtl-name", True)
    put("odd space & 'quote'.fits", template, "shell-chars-name", True)
    put("odd_same.fits", template, "same-stem", True)
    put("odd_same.fts", template, "same-stem", True)
    # Things that are not regular files.
    fifo = folder / "bad_fifo.fits"
    os.mkfifo(fifo)
    out.append(Bad(fifo, "fifo"))
    loop_a, loop_b = folder / "bad_loop_a.fits", folder / "bad_loop_b.fits"
    os.symlink(loop_b.name, loop_a)
    os.symlink(loop_a.name, loop_b)
    out += [Bad(loop_a, "symlink-loop"), Bad(loop_b, "symlink-loop")]
    dangling = folder / "bad_dangling.fits"
    os.symlink("does-not-exist.fits", dangling)
    out.append(Bad(dangling, "dangling-link"))
    devzero = folder / "bad_devzero.fits"
    os.symlink("/dev/zero", devzero)
    out.append(Bad(devzero, "device"))
    (folder / "bad_folder.fits").mkdir()
    out.append(Bad(folder / "bad_folder.fits", "folder-named-fits"))
    unreadable = folder / "bad_unreadable.fits"
    unreadable.write_bytes(template)
    unreadable.chmod(0)
    out.append(Bad(unreadable, "unreadable"))
    if not cores:
        out += _random_variants(folder, cards, data, rng, 200)
    return out


def _random_variants(
    folder: Path, cards: list[bytes], data: bytes, rng: random.Random, n: int
) -> list[Bad]:
    """``n`` seeded variants: random cards damaged, bytes flipped, files cut."""
    out = []
    keys = [c[:8].decode("latin-1").strip() for c in cards]
    junk = ["12.0.0", "'abc", "NaN", "INF", "1E999", "-0", "''", "T", "F", "(1,2)", "'\x00'", "1D3"]
    for i in range(n):
        kind = rng.choice(("card", "card", "flip", "cut"))
        if kind == "card":
            new = list(cards)
            for _ in range(rng.randint(1, 3)):
                j = rng.randrange(5, len(new))  # keep SIMPLE..NAXIS2 mostly sane
                new[j] = card(keys[j], rng.choice(junk))
            content = join_fits(new, data)
        elif kind == "flip":
            raw = bytearray(join_fits(cards, data))
            for _ in range(rng.randint(1, 20)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            content = bytes(raw)
        else:
            full = join_fits(cards, data)
            content = full[: rng.randrange(1, len(full))]
        path = folder / f"rnd_{i:03d}_{kind}.fits"
        path.write_bytes(content)
        out.append(Bad(path, f"random-{kind}", usable=False))
    return out


def restore_permissions(folder: Path) -> None:
    """Make the corpus removable again (pytest's tmp cleanup)."""
    for p in folder.iterdir():
        if p.is_symlink() or p.is_dir():
            continue
        try:
            mode = p.stat().st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and not mode & stat.S_IRUSR:
            p.chmod(0o644)
