"""The Run tab: what ``fluxion run`` said about the night, kept in the project.

``fluxion run`` ends with notes a user must read to trust its products: why
the light curve is against comparison stars and at which aperture, which
lights have zero points too weak to count, which filter names no band, where
the site came from. The run keeps them in the project (its ``run`` result's
``notes``); this tab shows them when the project is opened, each under the
part of the run it is about, so they are not only in a terminal that was
closed.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTextBrowser, QWidget

from .panels.lightcurve_backup import replaced_run_curves

__all__ = ["RunNotes", "replaced_note", "run_notes"]

#: Said when the project keeps no notes of a run.
NO_NOTES = (
    "This project keeps no notes of <code>fluxion run</code>: it was made in the window, "
    "or by a run before the notes were kept (run it again: nothing finished is redone)."
)
#: Said of a night just opened (no project yet to speak of; true also once steps ran here).
NOT_RUN = (
    "No notes of <code>fluxion run</code> on this night. <b>Run &gt; Every step on all "
    "lights</b> runs every step here, in the window; <code>fluxion run FOLDER</code> in a "
    "terminal does the same and keeps notes on what it found, shown here when its project "
    "is opened."
)
#: Said before a night is open.
NO_NIGHT = "No night open yet: File &gt; Open folder... or File &gt; Classroom demo."


def run_notes(project: Any) -> tuple[list[str], str] | None:
    """The notes of the project's last ``fluxion run`` and when it finished, or None."""
    result = getattr(project, "results", {}).get("run")
    if result is None:
        return None
    notes = result.summary.get("notes")
    if not isinstance(notes, list):
        return None
    return [str(n) for n in notes], str(result.finished or "")


def replaced_note(targets: Any) -> str:
    """A paragraph saying which targets' curves are no longer the run's ('' if none)."""
    said = [
        f"<p><b>The light curve of {html.escape(name)} shown is no longer the run's</b>: it "
        f"was measured again in the window ({html.escape(curve)}), so the run's notes on the "
        f"light curve below are about another curve. The run's curve is kept in "
        f'{html.escape(backup)} (Light curve panel: "Restore the run\'s curve").</p>'
        for name, curve, backup in replaced_run_curves(targets)
    ]
    return "".join(said)


def _item(note: str) -> str:
    """A note as a list item, the part of the run it is about ("light curve: ...") in bold."""
    part, sep, rest = note.partition(": ")
    if not sep or len(part.split()) > 3:
        part, rest = "", note
    head = f"<b>{html.escape(part)}</b>: " if part else ""
    return f"<li>{head}{html.escape(rest)}</li>"


class RunNotes(QTextBrowser):
    """The notes of the project's last ``fluxion run`` (see the module docstring).

    ``shown`` is emitted when a project with notes is opened, so the window can
    bring the tab forward.
    """

    shown = Signal()

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setReadOnly(True)
        self.setOpenLinks(False)
        self._folder: object = None
        session.project_changed.connect(self.refresh)
        # A curve measured in the window in place of the run's: said at once.
        targets_changed = getattr(session, "targets_changed", None)
        if targets_changed is not None:
            targets_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Show the open project's run notes (from the project in memory: nothing is read)."""
        project = self.session.project
        kept = run_notes(project)
        if kept is None:
            empty = not getattr(project, "results", None)
            said = NO_NOTES if not empty else NO_NIGHT if self.session.sequence is None else NOT_RUN
            self.setHtml(f"<p>{said}</p>")
            self._folder = None
            return
        notes, finished = kept
        when = f" (finished {html.escape(finished[:19].replace('T', ' '))} UTC)" if finished else ""
        items = "".join(_item(n) for n in notes) or "<li>The run said nothing more.</li>"
        self.setHtml(
            replaced_note(project.targets)
            + f"<p><b>What <code>fluxion run</code> said about this night</b>{when}:</p>"
            f"<ul>{items}</ul>"
            "<p>Each light's own state is in the Frames tab (its status column).</p>"
        )
        # Brought forward once a project, not every time the project changes.
        if project.folder != self._folder:
            self._folder = project.folder
            self.shown.emit()
