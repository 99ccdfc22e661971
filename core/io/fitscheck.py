"""What is wrong with a FITS file, said in one line before or while it is read.

The reader (:mod:`.fitsio`) asks these checks and raises their messages as
:class:`~.fitsio.FitsReadError`; every check returns a message or None and
reads no pixels:

* :func:`file_problem` -- the path is not a readable regular file (a FIFO, a
  device, a broken link, an empty file), checked before opening it;
* :func:`open_problem` -- why astropy could not open a file: a damaged or cut
  compressed stream, a missing ``SIMPLE`` or ``END`` card, nonsense BITPIX or
  NAXISn read from the raw cards;
* :func:`scaling_problem` -- BITPIX, BZERO or BSCALE that cannot give pixels;
* :func:`short_file_problem` -- an uncompressed file shorter than its header
  promises (truncation);
* :func:`size_problem` -- an image larger than the computer could hold, as
  its header claims, before a byte is allocated.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from astropy.io import fits

__all__ = [
    "file_problem",
    "open_problem",
    "physical_memory",
    "scaling_problem",
    "short_file_problem",
    "size_problem",
]

# A FITS file is made of 2880-byte blocks; a header is read 36 blocks at most.
_BLOCK = 2880


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be opened as a file, in one line, or None when it can.

    Checked before opening: a FIFO would block the open forever, /dev/zero
    would be read without end, and a symbolic link loop or a broken link must
    not be called a missing file.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (the link points back to itself)"
        if p.is_symlink():
            return f"a broken symbolic link (to {os.readlink(p)}, which does not exist)"
        if exc.errno == errno.ENOENT:
            return f"no such file: {p}"
        if exc.errno == errno.ENAMETOOLONG:
            return "the file name is too long for this system"
        return f"cannot read the file ({exc.strerror or exc})"
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return f"{p} is a folder, not a FITS file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    if not os.access(p, os.R_OK):
        return "permission denied: the file cannot be read"
    return None


# Pixel types the FITS standard allows.
_BITPIX = (8, 16, 32, 64, -32, -64)


# astropy's advice to programmers, not to users.
_ASTROPY_HINT = re.compile(r"\s*If this is really a FITS file.*$", re.S)


def _bitpix_problem(bitpix: object) -> str:
    """The message for a BITPIX (raw card text or parsed value) that is no pixel type."""
    return f"BITPIX = {bitpix} is not a FITS pixel type (8, 16, 32, 64, -32 or -64)"


def _raw_cards(head: bytes) -> dict[str, str] | None:
    """Keyword -> value text of the first header in ``head``, or None without an END card."""
    cards: dict[str, str] = {}
    for i in range(0, len(head) - 79, 80):
        c = head[i : i + 80].decode("latin-1")
        key = c[:8].strip()
        if key == "END" and not c[8:].strip():
            return cards
        if c[8:10] == "= ":
            cards.setdefault(key, c[10:].split("/", 1)[0].strip())
    return None


def _structure_problem(cards: dict[str, str]) -> str | None:
    """What is wrong with BITPIX and NAXISn of a header's raw cards, or None."""
    bitpix = cards.get("BITPIX")
    if bitpix is None:
        return "the header has no BITPIX card"
    try:
        if int(bitpix) not in _BITPIX:
            raise ValueError
    except ValueError:
        return _bitpix_problem(bitpix)
    text = cards.get("NAXIS")
    try:
        naxis = int(text or "")
        if not 0 <= naxis <= 999:
            raise ValueError
    except ValueError:
        return f"NAXIS = {text} is not a number of axes" if text else "the header has no NAXIS"
    for i in range(1, naxis + 1):
        value = cards.get(f"NAXIS{i}")
        if value is None:
            return f"NAXIS = {naxis} but the header has no NAXIS{i}"
        try:
            if int(value) < 0:
                raise ValueError
        except ValueError:
            return f"NAXIS{i} = {value} is not a size in pixels"
    return None


def open_problem(path: Path, exc: BaseException) -> str:
    """The user's reason why astropy could not open ``path``."""
    name = path.name.lower()
    if name.endswith((".gz", ".bz2")):
        import bz2
        import gzip

        opener = gzip.open if name.endswith(".gz") else bz2.open
        try:
            with opener(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except EOFError:
            return "the compressed file is cut short (truncated download or copy?)"
        except (OSError, ValueError) as err:
            return f"the compressed file is damaged ({err})"
    else:
        try:
            with open(path, "rb") as fh:
                head = fh.read(_BLOCK * 36)
        except OSError as err:
            return f"cannot read the file ({err.strerror or err})"
        if not head.startswith(b"SIMPLE  ="):
            return "not a FITS file (it does not begin with SIMPLE = T)"
        cards = _raw_cards(head)
        if cards is None:
            return "the header has no END card (the file is cut short or not FITS)"
        problem = _structure_problem(cards)
        if problem is not None:
            return problem
    text = _ASTROPY_HINT.sub("", str(exc)).strip() or type(exc).__name__
    return f"not a readable FITS file ({text})"


def scaling_problem(h: fits.Header) -> str | None:
    """Why BITPIX, BZERO or BSCALE of a parsed header cannot give pixel values, or None."""
    bitpix = h.get("BITPIX")
    if isinstance(bitpix, bool) or bitpix not in _BITPIX:
        return _bitpix_problem(bitpix)
    for key in ("BZERO", "BSCALE"):
        value = h.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"{key} = {value!r} is not a number"
    if h.get("BSCALE") == 0:
        return "BSCALE = 0 would make every pixel the same value"
    return None


def short_file_problem(p: Path, hdul: fits.HDUList, index: int) -> str | None:
    """The truncation message when an uncompressed file is shorter than its header says."""
    if p.name.lower().endswith((".gz", ".bz2", ".zip")):
        return None
    hdu = hdul[index]
    # hdul.fileinfo would format the whole header again, which raises on a card
    # astropy cannot parse; the data's offset and size are all that is needed.
    offset = getattr(hdu, "_data_offset", None)
    if offset is None or isinstance(hdu, fits.CompImageHDU):
        return None
    expected = int(offset) + int(hdu.size)
    actual = p.stat().st_size
    if actual < expected:
        return f"truncated file: {actual} bytes, the header needs {expected}"
    return None


def physical_memory() -> int:
    """This computer's memory in bytes (16 GiB where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def size_problem(header: fits.Header, memory: int) -> str | None:
    """A message when the image the header claims could not be held in memory.

    A compressed file's header may claim any size; it is compared with the
    computer's memory (in float64, as photometry reads it) before a byte is
    allocated.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The image HDU's header.
    memory : int
        The computer's memory in bytes (:func:`physical_memory`); an image
        needing more than half of it is refused.

    Returns
    -------
    str or None
        The message, or None when the image fits.
    """
    dims = [int(header.get(f"NAXIS{i}", 0) or 0) for i in (1, 2)]
    claimed = dims[0] * dims[1] * 8
    if claimed > memory // 2:
        gib = claimed / (1 << 30)
        return (
            f"the header claims a {dims[0]} x {dims[1]} image ({gib:.1f} GiB as numbers), "
            "more than this computer can hold"
        )
    return None
