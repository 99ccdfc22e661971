"""``fluxion field`` on a project made by ``fluxion run`` from a simulated night.

Every star of the star list has a point in every light (the catalogue's
faint ones too, measured where they are), the fluxes agree with the
simulator's truth within their errors, the two tables have the columns the
command promises, and the eclipsing binary comes out first without being
named.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.catalogs.base import angular_separation_deg
from fluxion.core.field.data import FIELD_COLUMNS
from fluxion.core.variability.search import VARIABILITY_COLUMNS


def test_field_command_writes_every_star_in_every_light(field_project, tmp_path, capsys):
    night, folder, config = field_project
    out = tmp_path / "field"
    assert main(["field", str(folder), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "candidate" in printed and "written" in printed
    lc = Table.read(out / "field_lightcurves.ecsv")
    var = Table.read(out / "variability.ecsv")
    assert set(FIELD_COLUMNS) | {"mag_detrended"} <= set(lc.colnames)
    assert tuple(var.colnames[: len(VARIABILITY_COLUMNS)]) == VARIABILITY_COLUMNS
    n_stars = len(np.unique(lc["star_id"]))
    assert len(lc) == n_stars * config.n_frames and len(var) == n_stars
    # Stars from the catalogue that were not detected are measured too.
    detected = np.asarray(lc.meta["stars"]["detected"], bool)
    assert (~detected).sum() > 10 and detected.sum() > 30

    # Fluxes against the truth: every light's truth table, matched by position.
    truth = [Table.read(night / f"truth/light_{k + 1:04d}.ecsv") for k in range(config.n_frames)]
    pulls, placed = [], 0
    for k, t in enumerate(truth):
        rows = lc[lc["frame"] == k]
        stars = t[t["kind"] == "star"]
        d = np.hypot(rows["x"][:, None] - stars["x"][None, :], rows["y"][:, None] - stars["y"])
        nearest = np.argmin(d, axis=1)
        close = d[np.arange(len(rows)), nearest] < 0.7
        placed += int(close.sum())
        clean = close & (np.asarray(rows["flags"]) == 0)
        # The truth's flux is the whole star; the aperture holds the part the
        # night's seeing puts inside it, which the magnitude fit calibrates:
        # the check is on the ratio's scatter against the errors.
        ratio = np.asarray(rows["flux"])[clean] / np.asarray(stars["flux"])[nearest[clean]]
        err = np.asarray(rows["flux_err"])[clean] / np.asarray(stars["flux"])[nearest[clean]]
        bright = np.asarray(stars["mag_V"])[nearest[clean]] < 16.5
        scale = np.median(ratio[bright])
        pulls.extend(((ratio - scale) / err)[bright])
    # Every star placed within 0.7 px of its true place in most lights.
    assert placed > 0.9 * n_stars * config.n_frames
    width = np.std(np.clip(pulls, -10, 10))
    assert 0.7 < width < 1.4, width

    # The eclipsing binary and the dwarf nova in outburst are among the three
    # most variable stars (with the nova when the first light saw it), found
    # unprompted.
    first = Table.read(night / "truth/light_0001.ecsv")
    for kind in ("eclipsing", "outburst"):
        star = first[first["kind"] == kind][0]
        sep = angular_separation_deg(var["ra"], var["dec"], star["ra"], star["dec"]) * 3600
        rank = int(np.argmin(sep))
        assert sep[rank] < 2.0 and rank < 3 and var["candidate"][rank], (kind, rank)


def test_field_command_says_what_is_wrong(tmp_path, capsys):
    assert main(["field", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "not a project folder" in capsys.readouterr().err
