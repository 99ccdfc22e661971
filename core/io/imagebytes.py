"""The bytes astropy writes for a list of plain images, made without its writer.

A calibrated light is written as a float32 image and a uint8 mask with the
raw frame's hundred-odd cards. astropy's ``HDUList.writeto`` verifies every
card again on every write (about 2 ms a frame) and goes through its file
layer; here each card's image is verified once per process (the cards a
night's frames share are the same text) and the file is the header blocks
and the big-endian data, padded, exactly as astropy lays them out
(FITS 4.0, sections 3.3 and 4.4).

Only the plainest lists take this path: a primary HDU and image extensions
built from arrays by astropy (its own structural cards in their places),
native numbers that need no scaling (no ``BZERO``, ``BSCALE``, ``BLANK``) and
no checksum cards. Anything else returns None and goes through astropy.
"""

from __future__ import annotations

import collections
import sys

import numpy as np
from astropy.io import fits

__all__ = ["image_list_chunks", "primary_chunks"]

_BLOCK = 2880
# BITPIX of the dtypes written as they are (the unsigned 16-64 and signed 8 bit
# ones need astropy's BZERO scaling, and go through it).
_BITPIX = {
    np.dtype(np.uint8): 8,
    np.dtype(np.int16): 16,
    np.dtype(np.int32): 32,
    np.dtype(np.int64): 64,
    np.dtype(np.float32): -32,
    np.dtype(np.float64): -64,
}
# Keywords astropy gives a meaning of its own when it writes (scaling,
# checksums, structure): a header carrying one elsewhere goes through astropy.
_ASTROPY_KEYWORDS = frozenset(
    ("SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "GROUPS", "BZERO",
     "BSCALE", "BLANK", "CHECKSUM", "DATASUM", "THEAP", "TFIELDS", "ZIMAGE", "END")
)  # fmt: skip
# Card texts astropy's verification passed in this process (bounded: a night's
# distinct cards are a few thousand a frame at most): read afresh from the
# text (every test of it runs), and as cards made from values (their value's
# text is astropy's own, so its test is skipped).
_TEXT_OK: set[str] = set()
_MADE_OK: set[str] = set()
_MAX_KEPT = 200_000


def _remember(kept: set[str], image: str) -> None:
    if len(kept) >= _MAX_KEPT:
        kept.clear()
    kept.add(image)


def _card_image(card: fits.Card) -> str | None:
    """The card's image as astropy writes it when its verification passes it, else None."""
    # A card read from a file and not yet parsed: astropy's writer checks its
    # text before writing (and refuses it, not fixes it, when it is wrong);
    # asking for ``card.image`` would check and *fix* it. Its text is what is
    # written, so its text is what is checked (astropy's private state: a card
    # without it goes the public way below).
    raw = None if getattr(card, "_verified", True) else getattr(card, "_image", None)
    try:
        if isinstance(raw, str) and getattr(card, "_modified", True) is False:
            if raw not in _TEXT_OK:
                fits.Card.fromstring(raw).verify("exception")
                _remember(_TEXT_OK, raw)
            return raw
        image = card.image
        if image not in _MADE_OK and image not in _TEXT_OK:
            card.verify("exception")
            _remember(_MADE_OK, image)
        return image
    except Exception:  # noqa: BLE001 - astropy says (or repairs) what is wrong
        return None


def _structure(hdu: fits.PrimaryHDU | fits.ImageHDU, data: np.ndarray, extend: bool) -> list:
    """The (keyword, value) pairs astropy puts first in the HDU's header, in order."""
    first = ("SIMPLE", True) if isinstance(hdu, fits.PrimaryHDU) else ("XTENSION", "IMAGE")
    cards = [first, ("BITPIX", _BITPIX[data.dtype.newbyteorder("=")]), ("NAXIS", data.ndim)]
    cards += [(f"NAXIS{k + 1}", n) for k, n in enumerate(reversed(data.shape))]
    if isinstance(hdu, fits.PrimaryHDU):
        return cards + ([("EXTEND", True)] if extend else [])
    return cards + [("PCOUNT", 0), ("GCOUNT", 1)]


def _plain_data(data: object) -> bool:
    """Whether astropy writes ``data`` as it is: a numpy array of a type that needs no scaling."""
    return (
        type(data) is np.ndarray
        and data.dtype.newbyteorder("=") in _BITPIX
        and data.size > 0
        and data.ndim <= 999
    )


def _chunks(cards: list[fits.Card], structure: list, data: np.ndarray) -> list | None:
    """An HDU's header bytes, its data (big-endian) and the padding; None if not plain.

    ``cards`` are the header's, ``structure`` the (keyword, value) pairs its
    first cards must be.
    """
    if len(cards) < len(structure):
        return None
    for card, (keyword, value) in zip(cards, structure, strict=False):
        if card.keyword != keyword or type(card.value) is not type(value) or card.value != value:
            return None
    images = []
    for k, card in enumerate(cards):
        keyword = card.keyword
        if k >= len(structure) and (keyword in _ASTROPY_KEYWORDS or keyword.startswith("NAXIS")):
            return None
        if keyword == "EXTNAME" and not isinstance(card.value, str):
            return None
        image = _card_image(card)
        if image is None:
            return None
        images.append(image)
    text = "".join(images) + "END" + " " * 77
    header = (text + " " * (-len(text) % _BLOCK)).encode("ascii")
    out = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(">"))
    return [header, out, b"\0" * (-out.nbytes % _BLOCK)]


def _hdu_chunks(hdu: fits.PrimaryHDU | fits.ImageHDU, extend: bool) -> list | None:
    """The HDU's header bytes, its data (big-endian) and the padding; None if not plain."""
    data = hdu.data
    if not _plain_data(data):
        return None
    return _chunks(list(hdu.header.cards), _structure(hdu, data, extend), data)


def image_list_chunks(hdulist: fits.HDUList) -> list | None:
    """What ``hdulist.writeto`` writes, as chunks (bytes, arrays), when it is plain images.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        A :class:`~astropy.io.fits.PrimaryHDU` with image data, then
        :class:`~astropy.io.fits.ImageHDU` extensions, all built from arrays.

    Returns
    -------
    list or None
        Header bytes, data arrays (big-endian, C order) and padding, to be
        written in order; None when the list is not plain images, a card
        fails astropy's verification, or anything else astropy must decide.
    """
    if type(hdulist) is not fits.HDUList:  # a subclass may write otherwise
        return None
    hdus = list(hdulist)
    if not hdus or type(hdus[0]) is not fits.PrimaryHDU:
        return None
    if any(type(h) is not fits.ImageHDU for h in hdus[1:]):
        return None
    if sys.byteorder != "little":
        return None
    # astropy's own steps before it writes: EXTEND when there are extensions,
    # each header's structural cards from its data.
    hdulist.update_extend()
    chunks: list = []
    for k, hdu in enumerate(hdus):
        hdu.update_header()
        # A primary header may say EXTEND without extensions (a raw frame's did).
        extend = k == 0 and "EXTEND" in hdu.header
        part = _hdu_chunks(hdu, extend)
        if part is None:
            return None
        chunks += part
    return chunks


# What astropy strips from a header given to a new HDU (``Header.strip``: the
# first card of each, and NAXIS1..NAXISn) before it puts its own structure first.
_STRIPPED = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "GROUPS",
             "BSCALE", "BZERO", "TFIELDS")  # fmt: skip


def primary_chunks(
    data: np.ndarray, header: fits.Header, extensions: list[fits.ImageHDU] | tuple = ()
) -> list | None:
    """What ``HDUList([PrimaryHDU(data, header), *extensions]).writeto`` writes, as chunks.

    The primary HDU's header is not built: astropy's would be a copy of
    ``header`` (every card copied twice) with its structural cards stripped
    and its own put first. When each structural keyword of ``header`` is
    there at most once (so that stripping removes exactly those cards), the
    header written is astropy's structure for ``data`` followed by the other
    cards of ``header`` in their order; otherwise None (astropy decides).

    Parameters
    ----------
    data : ndarray
        The primary image.
    header : astropy.io.fits.Header
        Its cards (a raw frame's with those of the steps), left unchanged.
    extensions : list of astropy.io.fits.ImageHDU
        Image extensions after it.

    Returns
    -------
    list or None
        As :func:`image_list_chunks`.
    """
    if not _plain_data(data) or sys.byteorder != "little":
        return None
    if any(type(e) is not fits.ImageHDU for e in extensions):
        return None
    counts = collections.Counter(card.keyword for card in header.cards)
    naxis = header.get("NAXIS", 0)
    if any(counts[k] > 1 for k in _STRIPPED) or "TFIELDS" in counts:
        return None
    if type(naxis) is not int or not 0 <= naxis <= 999:
        return None
    axes = {f"NAXIS{k + 1}" for k in range(naxis)}
    if any(
        k.startswith("NAXIS") and k != "NAXIS" and (k not in axes or n > 1)
        for k, n in counts.items()
    ):
        return None
    stripped = set(_STRIPPED) | axes
    body = [card for card in header.cards if card.keyword not in stripped]
    # astropy's own structure for this data: a primary HDU of an empty header
    # (as the stripped one starts), EXTEND as its writer adds it.
    bare = fits.HDUList([fits.PrimaryHDU(data, header=fits.Header()), *extensions])
    bare.update_extend()
    primary = bare[0]
    primary.update_header()
    structure = list(primary.header.cards)
    expected = _structure(primary, data, bool(extensions))
    if [(c.keyword, c.value) for c in structure] != expected:
        return None
    chunks = _chunks(structure + body, expected, data)
    if chunks is None:
        return None
    for hdu in bare[1:]:
        hdu.update_header()
        part = _hdu_chunks(hdu, False)
        if part is None:
            return None
        chunks += part
    return chunks
