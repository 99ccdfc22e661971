"""One frame as it flows through the chain: read once, each step adding to it.

A :class:`FrameRecord` carries what the steps know of a frame: the pixels the
later steps use (read when a step first needs them, never twice), their
fingerprint, the sources and their FWHM, the solution and WCS, the
photometry and the zero point, and the fingerprint of each step's product.
The chain's step functions (:func:`~fluxion.core.chain.detect_frame`,
:func:`~fluxion.core.chain.solve_frame`, ...) take a record when the caller
has one: a step reads its upstream results from it instead of from the
project's files, and adds its own. Without a record they read what they
need from the project, as the window's panels call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astropy.table import Table
    from astropy.wcs import WCS

    from ..astrometry.solve import SolveResult
    from ..calibration.apply import CalibratedFrame
    from ..detection.extract import DetectionResult
    from ..io.frames import FrameInfo
    from ..project.products import ProductStore
    from ..zeropoint import ZeroPointResult
    from .calibrate import FrameImage

__all__ = ["FrameRecord"]


@dataclass
class FrameRecord:
    """What the chain knows of one frame so far.

    Attributes
    ----------
    frame : FrameInfo
    image_fingerprint : str or None
        Fingerprint of the pixels the steps after calibration use (the
        calibrated product's, else the raw file's); None until known.
    calibrated : CalibratedFrame or None
        The frame calibrated in this pass and not yet written (the solution
        goes into its header first, so that it is written once).
    sources : DetectionResult or None
    solution : SolveResult or None
    photometry : Table or None
    zeropoint : ZeroPointResult or None
    fingerprints : dict of str to str
        Step name -> fingerprint of the product it made or found current.
    """

    frame: FrameInfo
    image_fingerprint: str | None = None
    calibrated: CalibratedFrame | None = None
    sources: DetectionResult | None = None
    solution: SolveResult | None = None
    photometry: Table | None = None
    zeropoint: ZeroPointResult | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    _image: FrameImage | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def image(self, store: ProductStore) -> FrameImage:
        """The frame's pixels, mask and header: read from the project on first use only."""
        if self._image is None:
            from .calibrate import frame_image

            self.set_image(frame_image(store, self.frame))
        assert self._image is not None
        return self._image

    def set_image(self, image: FrameImage) -> None:
        """Keep ``image`` as the frame's pixels (and its fingerprint)."""
        self._image = image
        self.image_fingerprint = image.fingerprint

    @property
    def has_image(self) -> bool:
        """Whether the pixels are in memory (no read needed)."""
        return self._image is not None

    def drop_image(self) -> None:
        """Let the pixels go once no step needs them (a frame's memory, not the night's)."""
        self._image = None

    @property
    def wcs(self) -> WCS | None:
        """The solution's celestial WCS, when solved."""
        s = self.solution
        return s.wcs if s is not None and s.solved else None
