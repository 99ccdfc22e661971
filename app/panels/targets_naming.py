"""The Targets panel's guard of a target given by coordinates, and renaming a target.

``fluxion run --ra --dec`` makes a fixed target at those coordinates, named
after them ("RA 286.04104 Dec +36.63261"). Opened in the window, a click on
the viewer must not silently add clicks to the run's target: for a fixed
target given by coordinates the panel's click mode starts off, and a click
then says why nothing was marked. Any target can be renamed (its light
curve, exclusions and report fields stay with it).
"""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog

from .target_model import Target
from .targets_state import TargetsState

__all__ = ["TargetNamingMixin", "placed_by_coordinates"]


def placed_by_coordinates(target: Target | None) -> bool:
    """Whether ``target`` is a fixed target given by RA/Dec (clicks do not place it)."""
    return target is not None and target.kind == "fixed" and target.ra is not None


class TargetNamingMixin(TargetsState):
    """Click mode by target kind, the click-mode note, and Rename (see the module docstring)."""

    def follow_selected_target(self) -> None:
        """Click mode off for a fixed target given by coordinates, on for the others."""
        self.mark_box.setChecked(not placed_by_coordinates(self.current_target))

    def click_not_marked(self) -> None:
        """Say why a click on the viewer marked nothing, when the target is placed by RA/Dec."""
        t = self.current_target
        if t is None or t.ra is None or t.dec is None or t.kind != "fixed" or not self.in_front:
            return
        where = f"RA {t.ra:.5f} Dec {t.dec:+.5f}"
        # A target named after its coordinates (as fluxion run names it) is not named twice.
        who = "The target" if t.name == where else t.name
        rename = " ('Rename...' gives it a name)" if t.name == where else ""
        self.result_label.setText(
            f"{who} is fixed at {where}{rename}: a click does not change it. Tick 'Clicks in "
            "the viewer mark the target' to add clicks (its coordinates still place it), or "
            "make a 'New fixed' target to mark another star."
        )

    def _ask_name(self) -> None:
        t = self.current_target
        if t is None:
            return
        name, ok = QInputDialog.getText(self, "Rename the target", "Name", text=t.name)
        if ok:
            self.rename_target(name)

    def rename_target(self, name: str) -> bool:
        """Give the selected target the name ``name``; False when it is empty or taken."""
        t, name = self.current_target, name.strip()
        if t is None or not name or name == t.name:
            return False
        if any(other.name == name for other in self.targets) or any(
            str(d.get("name")) == name for d in self.session.project.targets
        ):
            self.result_label.setText(f"Not renamed: a target is called {name} already.")
            return False
        # The project's entry keeps what other panels stored (light curve, exclusions):
        # renamed in place, so the saved targets find it under the new name.
        for doc in self.session.project.targets:
            if doc.get("name") == t.name:
                doc["name"] = name
        for table in (self.predictions, self.ephemerides):
            if t.name in table:
                table[name] = table.pop(t.name)
        self.targets[self.targets.index(t)] = t.replace(name=name)
        self._save_targets()
        self._refresh_lists()
        self._redraw()
        self.result_label.setText(f"{t.name} is now called {name}.")
        # The window saves the project on this signal: a rename is kept even when
        # the window is closed before the next step finishes.
        self.step_finished.emit(self.step)
        return True
