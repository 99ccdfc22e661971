"""Header cards astropy cannot parse or write, repaired once where headers are read.

Capture programs write cards that break the FITS rules: control characters in
OBJECT, ``EXPTIME = 12.0.0``, an unterminated quote, ``NaN`` and ``INF`` as
numbers, a CONTINUE that continues nothing, lower-case, accented or spaced
keywords. astropy reads such a card lazily and raises ``VerifyError`` when its
value is first asked for, which is deep inside whatever step touches it, and
again when a product copies the header and is written.

:func:`clean_header` goes through the cards once: a card that parses and
verifies is kept as it is; a value that does not is salvaged from the card's
own text (a number when it reads as a finite one, else the text, which the
header normaliser then reports as "not a number"); a card whose keyword cannot
be written is dropped. Every repair is one line in the returned header's
:attr:`CleanHeader.repairs`, which :func:`fluxion.core.io.headers.normalise_header`
adds to the frame's problems, so the user sees what was read differently.
"""

from __future__ import annotations

import math
import re
import warnings

from astropy.io import fits

__all__ = ["CleanHeader", "clean_header", "fits_text", "repair_in_place", "writable_header"]

# The printable ASCII a FITS card may hold.
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_KEYWORD = re.compile(r"^[A-Z0-9_-]{1,8}$")
# Keywords that carry no value; their text is kept as written (minus control characters).
_COMMENTARY = ("COMMENT", "HISTORY", "")


class CleanHeader(fits.Header):
    """A header whose every card can be read and written; ``repairs`` says what was changed."""

    repairs: tuple[str, ...] = ()


# A plain value as FITS writes it: a quoted string (quotes doubled inside), T
# or F, an integer or a real; then an optional comment.
_PLAIN_VALUE = re.compile(
    r"(?:'(?:[ -&(-~]|'')*'|[TF]|[+-]?(?:\d+\.?\d*|\.\d+)(?:[EDed][+-]?\d+)?) *(?:/[ -~]*)?"
)


def _plainly_valid(card: fits.Card) -> bool:
    """True for a card read from a file whose 80 characters are plainly valid FITS.

    Most cards are; telling them by their text costs a regular expression,
    where astropy's parse and verification cost a thousand times more (most
    of reading a header). Anything else (a card made or changed in memory,
    CONTINUE, HIERARCH, complex values) is left to astropy.
    """
    image = getattr(card, "_image", None)
    if not isinstance(image, str) or getattr(card, "_modified", True) or len(image) != 80:
        return False
    if _UNPRINTABLE.search(image):
        return False
    key = image[:8].rstrip()
    if key in ("COMMENT", "HISTORY"):
        return True
    if not _KEYWORD.match(key) or image[8:10] != "= ":
        return False
    return _PLAIN_VALUE.fullmatch(image[10:].strip()) is not None


def _card_ok(card: fits.Card) -> bool:
    if _plainly_valid(card):
        return True
    try:
        card.value  # noqa: B018 - parsing is the check
        card.comment  # noqa: B018
        card.verify("exception")
    except Exception:  # noqa: BLE001 - astropy raises VerifyError, ValueError, ...
        return False
    return True


def _raw_image(card: fits.Card) -> str:
    """The card's 80 characters as read from the file (never re-verified)."""
    image = getattr(card, "_image", None)
    if image is None:  # a card made in memory: its parts are all we have
        image = f"{card.keyword:8s}= {card._value!s}"  # noqa: SLF001
    return _UNPRINTABLE.sub("", image)


def _salvage(text: str) -> str | float | int | bool:
    """A value from a card's value text: a quoted string, a finite number, T/F, else the text."""
    text = text.strip()
    if text.startswith("'"):
        inner = text[1:]
        end = inner.find("'")
        # An unterminated quote: the rest of the card is the string.
        return (inner if end < 0 else inner[:end]).strip()
    value = text.split("/", 1)[0].strip()
    if value in ("T", "F"):
        return value == "T"
    try:
        number = float(value.replace("D", "E").replace("d", "e"))
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if re.fullmatch(r"[+-]?\d+", value) else number


def _repairs(header: fits.Header) -> list[tuple[int, fits.Card | None, str]]:
    """(index, replacement card or None to drop, what was done) for each bad card."""
    out: list[tuple[int, fits.Card | None, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, card in enumerate(header.cards):
            if _card_ok(card):
                continue
            raw = _raw_image(card)
            key = raw[:8].strip().upper()
            if key in _COMMENTARY:
                note = f"{key or 'blank'} card with unprintable characters; cleaned"
                out.append((i, fits.Card(key, raw[8:].strip()), note))
                continue
            if not _KEYWORD.match(key):
                out.append((i, None, f"card {key!r} has a keyword FITS does not allow; ignored"))
                continue
            text = raw[10:] if raw[8:10] == "= " else raw[8:]
            value = _salvage(text)
            try:
                new = fits.Card(key, value)
                new.verify("exception")
            except Exception:  # noqa: BLE001 - a value even this cannot hold
                out.append((i, None, f"card {key} cannot be read; ignored"))
                continue
            shown = text.split("/", 1)[0].strip()[:30]
            written = raw[:8].strip()
            what = f"card {key}" if written == key else f"card {written!r} (read as {key})"
            out.append((i, new, f"{what} = {shown} is not valid FITS; read as {value!r}"))
    return out


def clean_header(header: fits.Header) -> CleanHeader:
    """A copy of ``header`` in which every card can be read and written.

    Parameters
    ----------
    header : astropy.io.fits.Header
        A header as read from a file.

    Returns
    -------
    CleanHeader
        The same cards, repaired or dropped where needed; its ``repairs`` holds
        one line per change (empty for a clean header). Calling it again on
        the result changes nothing.
    """
    if isinstance(header, CleanHeader):
        return header
    fixes = {i: (card, note) for i, card, note in _repairs(header)}
    kept = []
    for i, card in enumerate(header.cards):
        if i in fixes:
            card = fixes[i][0]
        if card is not None:
            kept.append(card)
    out = CleanHeader(kept)
    out.repairs = tuple(note for _, note in fixes.values())
    return out


def repair_in_place(header: fits.Header) -> list[str]:
    """Repair or drop ``header``'s bad cards where they stand; the repairs made.

    For a header that belongs to an HDU about to be written (its structural
    cards must stay first).
    """
    fixes = _repairs(header)
    for i, card, _ in reversed(fixes):
        del header[i]
        if card is not None:
            header.insert(i, card)
    return [note for _, _, note in fixes]


def fits_text(text: str) -> str:
    """``text`` as a FITS card may hold it: characters outside printable ASCII escaped.

    For file names written into product headers (a name may hold accents, a
    newline or bytes that are not UTF-8).
    """
    out = []
    for ch in text:
        code = ord(ch)
        if 0x20 <= code < 0x7F:
            out.append(ch)
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of the file name
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}")
    return "".join(out)


def writable_header(header: fits.Header | None) -> fits.Header | None:
    """``header`` itself when every card can be written, else its cleaned copy."""
    if header is None:
        return header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if all(_card_ok(c) for c in header.cards):
            return header
    return clean_header(header)
