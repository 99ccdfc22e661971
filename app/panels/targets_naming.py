"""The Targets panel's guard of a target given by coordinates, and renaming a target.

``fluxion run --ra --dec`` makes a fixed target at those coordinates, named
after them ("RA 286.04104 Dec +36.63261"). Opened in the window, a click on
the viewer must not silently add clicks to the run's target: for a fixed
target given by coordinates the panel's click mode starts off, and a click
then says why nothing was marked. Any target can be renamed (its light
curve, exclusions and report fields stay with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from astropy.table import Table
from PySide6.QtWidgets import QInputDialog

from fluxion.core.lightcurve.run import write_light_curve

from .lightcurve_backup import RUN_CURVE_KEY
from .target_model import Target
from .targets_state import TargetsState

__all__ = ["TargetNamingMixin", "placed_by_coordinates", "rename_in_curves"]


def rename_in_curves(folder: str | Path, files: Sequence[str], old: str, new: str) -> list[Path]:
    """Name the target ``new`` in the meta of its curves ``files`` in ``folder`` that call it
    ``old`` (Qt-free, for a worker); the files rewritten.

    A curve's ``target`` is what its exports and the viewer's label carry: after a
    rename it must not keep the old name. Each file is replaced atomically.
    """
    done = []
    for name in files:
        path = Path(folder) / name
        if not path.is_file():
            continue
        table = Table.read(path, format="ascii.ecsv")
        if str(table.meta.get("target", "")) != old:
            continue
        table.meta["target"] = new
        done.append(write_light_curve(table, path))
    return done


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
        curves = []
        for doc in self.session.project.targets:
            if doc.get("name") == t.name:
                doc["name"] = name
                curves += [str(doc[k]) for k in ("light_curve", RUN_CURVE_KEY) if doc.get(k)]
        for table in (self.predictions, self.ephemerides):
            if t.name in table:
                table[name] = table.pop(t.name)
        self.targets[self.targets.index(t)] = t.replace(name=name)
        self._save_targets()  # saves the project at once
        self._refresh_lists()
        self._redraw()
        self.result_label.setText(f"{t.name} is now called {name}.")
        folder = self.session.project.folder
        if curves and folder is not None:
            # The curves' files name the target too (their exports, the viewer's label).
            self.session.workers.submit(
                rename_in_curves, folder, curves, t.name, name, name=f"Renaming {t.name}",
                key="targets:rename", pass_state=False, quiet=True,
            )  # fmt: skip
        return True
