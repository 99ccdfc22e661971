"""What a project knows of its lights that their headers may not say: site and telescope aperture.

``fluxion run --site`` and ``--telescope-aperture`` keep their values in the
project, so a later run (from the command line or the window) without them
measures the same: the same airmass and BJD, the same scintillation in every
star's error, and so finds its products current. A header's own value wins:
it describes its frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..io.frames import FrameInfo, with_telescope_aperture
from ..io.site import with_site

if TYPE_CHECKING:
    from ..project.document import Project

__all__ = ["with_project_facts"]


def with_project_facts(frames: Sequence[FrameInfo], project: Project) -> list[FrameInfo]:
    """``frames`` with the project's site and telescope aperture where their headers give none.

    Parameters
    ----------
    frames : sequence of FrameInfo
        The frames as scanned.
    project : Project
        Its ``site`` and ``telescope_aperture_mm`` (either may be None: nothing
        filled in).

    Returns
    -------
    list of FrameInfo
        The frames, with the same objects where nothing changed.
    """
    site = getattr(project, "site", None)
    aperture = getattr(project, "telescope_aperture_mm", None)
    return [with_telescope_aperture(with_site(f, site), aperture) for f in frames]
