"""Two nights filed with the same file names, opened together: every light keeps its own products.

Capture programs write every night with the same names (N.I.N.A.'s date
folder, LIGHT/, numbered files). Two simulated nights of different seeds
(different stars, different pointing) are written the same way into two
folders of one parent; every command and the window open the parent. Each
light's products are present, distinct, and made from that light: their
stars are the stars of its own night's truth, not the other night's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table, vstack
from scipy.spatial import cKDTree

from fluxion.app.cli import main
from fluxion.core.project.products import ProductStore

N = 2
SHAPE = (256, 256)
SEEDS = {"n1": 11, "n2": 12}
STEPS = ("calibration", "detection", "astrometry", "photometry", "zeropoint")


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Path:
    parent = tmp_path_factory.mktemp("same_names") / "nights"
    for sub, seed in SEEDS.items():
        assert main(["demo", str(parent / sub), "--layout", "nina", "--frames", str(N),
                     "--size", "256", "256", "--seed", str(seed), "--write-wcs"]) == 0  # fmt: skip
    return parent


def _lights(parent: Path) -> dict[Path, Table]:
    """Each light of both nights -> the truth of its stars (x, y)."""
    out = {}
    for sub in SEEDS:
        record = json.loads((parent / sub / "truth" / "night.json").read_text())
        for k, r in enumerate(record["frames"], start=1):
            out[parent / sub / r["file"]] = Table.read(
                parent / sub / "truth" / f"light_{k:04d}.ecsv"
            )
    return out


def _relative(parent: Path, light: Path) -> str:
    return light.relative_to(parent).as_posix()


def _bright(truth: Table, shape: tuple[int, int], n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (x, y) of the ``n`` brightest stars of ``truth`` inside the frame."""
    ny, nx = shape
    x, y = np.asarray(truth["x"], float), np.asarray(truth["y"], float)
    inside = (x > 3) & (x < nx - 4) & (y > 3) & (y < ny - 4) & (truth["kind"] == "star")
    order = np.argsort(-np.asarray(truth["flux"], float)[inside])[:n]
    return x[inside][order], y[inside][order]


def _found(table: Table, truth: Table) -> float:
    """Fraction of the brightest stars of ``truth`` the table has within 1.5 px."""
    xy = np.column_stack([np.asarray(table["x"], float), np.asarray(table["y"], float)])
    d, _ = cKDTree(xy).query(np.column_stack(_bright(truth, SHAPE)))
    return float(np.mean(d < 1.5))


def _at_stars(image: np.ndarray, truth: Table) -> float:
    """Median over the brightest stars of ``truth`` of the image above its sky there."""
    x, y = _bright(truth, image.shape)
    return float(
        np.median(image[np.rint(y).astype(int), np.rint(x).astype(int)]) - np.median(image)
    )


def _other(parent: Path, light: Path) -> Path:
    """The light of the same name in the other night."""
    sub = light.relative_to(parent).parts[0]
    return parent / next(s for s in SEEDS if s != sub) / light.relative_to(parent / sub)


def _own_stars(table: Table, light: Path, lights: dict[Path, Table], parent: Path) -> None:
    """The table was measured on ``light``: its stars are that night's, not the namesake's."""
    assert table.meta["file"] == os.path.abspath(light)
    assert len(table) > 10
    assert _found(table, lights[light]) >= 0.8
    assert _found(table, lights[_other(parent, light)]) <= 0.2


def test_the_nights_have_the_same_file_names(nights) -> None:
    lights = _lights(nights)
    assert len(lights) == 2 * N
    assert len({p.name for p in lights}) == N  # every name twice


def test_calibrate_files_each_light_in_its_own_sub_folder(nights, tmp_path, capsys) -> None:
    out = tmp_path / "cal"
    assert main(["calibrate", str(nights), "--out", str(out), "--no-cosmic-rays"]) == 0
    text = capsys.readouterr().out
    assert f"{2 * N} of {2 * N} lights calibrated" in text
    lights = _lights(nights)
    for light in lights:
        name = _relative(nights, light)
        assert f"light    {name}:" in text
        with fits.open(out / name) as hdul:
            data = hdul[0].data.astype(float)
            history = "".join(hdul[0].header["HISTORY"])  # long lines span several cards
            assert f"calibration of {name}:" in history
        # the pixels are this light's: its bright stars stand out of the sky, the namesake's not
        noise = 1.4826 * np.median(np.abs(data - np.median(data)))
        assert _at_stars(data, lights[light]) > 5 * noise
        assert abs(_at_stars(data, lights[_other(nights, light)])) < noise
    assert not list(out.glob("*.fits"))  # nothing under the bare names


def test_detect_and_photometry_write_one_table_per_light(nights, tmp_path) -> None:
    lights = _lights(nights)
    assert main(["detect", str(nights), "--out", str(tmp_path / "det"), "--workers", "2"]) == 0
    assert main(["photometry", str(nights), "--out", str(tmp_path / "phot")]) == 0
    for folder in ("det", "phot"):
        tables = sorted((tmp_path / folder).rglob("*.ecsv"))
        assert len(tables) == 2 * N
        for light in lights:
            key = _relative(nights, light).removesuffix(".fits")
            _own_stars(Table.read(tmp_path / folder / f"{key}.ecsv"), light, lights, nights)
    # the zero point of tables of the same name, each into its own sub-folder
    tables = sorted((tmp_path / "phot").rglob("*.ecsv"))
    catalog = _both_catalogs(nights, tmp_path)
    assert main(["zeropoint", *map(str, tables), "--catalog", str(catalog), "--offline",
                 "--out", str(tmp_path / "zp")]) == 0  # fmt: skip
    points = Table.read(tmp_path / "zp" / "zeropoints.ecsv")
    assert len(points) == 2 * N and len(set(points[points.colnames[0]])) == 2 * N
    for table in tables:
        name = table.relative_to(tmp_path / "phot")
        calibrated = Table.read(tmp_path / "zp" / name)
        light = nights / name.with_suffix(".fits")
        _own_stars(calibrated, light, lights, nights)
        assert np.isfinite(np.asarray(calibrated["mag"], float)).sum() > 5


def test_solve_writes_one_solution_per_light(nights, tmp_path, capsys) -> None:
    lights = sorted(_lights(nights))
    catalog = _both_catalogs(nights, tmp_path)
    assert main(["solve", *map(str, lights), "--out", str(tmp_path / "wcs"), "--offline",
                 "--catalog", str(catalog), "--keep-header-wcs"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert all(text.count(f"{s}/2024-09-10/LIGHT/") == N for s in SEEDS)  # told apart
    results = Table.read(tmp_path / "wcs" / "solve.ecsv")
    assert sorted(results["file"]) == sorted(_relative(nights, p) for p in lights)
    for light in lights:
        name = _relative(nights, light)
        solution = fits.getheader(tmp_path / "wcs" / name.replace(".fits", ".wcs"))
        own, other = fits.getheader(light), fits.getheader(_other(nights, light))
        # each solution is its own light's (the nights' pointings differ by arcseconds)
        assert solution["CRVAL1"] == pytest.approx(own["CRVAL1"], abs=1e-9)
        assert solution["CRVAL2"] == pytest.approx(own["CRVAL2"], abs=1e-9)
        assert (
            abs(solution["CRVAL2"] - other["CRVAL2"]) + abs(solution["CRVAL1"] - other["CRVAL1"])
            > 1e-4
        )


def _done(text: str, step: str) -> int:
    line = next(s for s in text.splitlines() if s.startswith(step))
    return int(line.split()[1])


def _both_catalogs(nights: Path, folder: Path) -> Path:
    """Both nights' stars in one catalogue: the parent folder carries none of its own."""
    catalog = folder / "both_nights.ecsv"
    if not catalog.exists():
        both = vstack([Table.read(nights / s / "truth" / "reference_catalog.ecsv") for s in SEEDS])
        both["id"] = np.arange(1, len(both) + 1)
        both.write(catalog)
    return catalog


def _run(nights: Path, project: Path) -> int:
    catalog = _both_catalogs(nights, project.parent)
    return main(["run", str(nights), "--project", str(project), "--workers", "2", "--offline",
                 "--catalog", str(catalog), "--no-cosmic-rays", "--no-report"])  # fmt: skip


@pytest.fixture(scope="module")
def project(nights, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("same_names_project") / "project"
    # A light that is not solved makes the run say so (1); its other products are there.
    assert _run(nights, project) in (0, 1)
    return project


def test_run_keeps_every_light_apart_and_a_rerun_redoes_nothing(
    nights, project, capsys, no_network
) -> None:
    folder = project
    lights = _lights(nights)
    frames = Table.read(folder / "frames.ecsv")
    assert sorted(frames["file"]) == sorted(_relative(nights, p) for p in lights)
    solved = {str(r["file"]) for r in frames if r["wcs_ok"]}
    assert solved  # at least one night is solved and calibrated photometrically
    for light in lights:
        key = _relative(nights, light).removesuffix(".fits")
        for step, suffix in (("sources", ".ecsv"), ("photometry", ".ecsv"),
                             ("calibrated", ".fits"), ("wcs", ".wcs.fits")):  # fmt: skip
            assert (folder / step / f"{key}{suffix}").is_file(), (step, key)
        if _relative(nights, light) in solved:
            magnitudes = Table.read(folder / "magnitudes" / f"{key}.ecsv")
            _own_stars(magnitudes, light, lights, nights)
        _own_stars(Table.read(folder / "sources" / f"{key}.ecsv"), light, lights, nights)
        _own_stars(Table.read(folder / "photometry" / f"{key}.ecsv"), light, lights, nights)
        assert key in ProductStore(folder).frames_done("detection")
    assert not list((folder / "sources").glob("*.ecsv"))  # nothing under the bare names
    capsys.readouterr()
    assert _run(nights, folder) in (0, 1)
    text = capsys.readouterr().out
    assert f"{len(solved)} of {2 * N} lights fully processed" in text
    assert [_done(text, step) for step in STEPS] == [0] * len(STEPS), text


def test_the_window_finds_the_run_s_products_and_redoes_nothing(
    window, qtbot, nights, project
) -> None:
    from fluxion.app.panels.detection import DetectionPanel
    from fluxion.widgets.frame_table import COLUMNS

    folder = project
    lights = _lights(nights)
    with qtbot.waitSignal(window.session.frame_ready, timeout=30_000):
        window.open_project(folder / "project.json")
    seq = window.session.sequence
    open_lights = [f for f in seq.frames if f.type == "light"]
    assert sorted(f.path for f in open_lights) == sorted(lights)
    # the frame list tells the lights of the same name apart by their folders
    model = window.frame_table.frame_model
    col = next(k for k, c in enumerate(COLUMNS) if c[1] == "path")
    shown = [model.data(model.index(i, col)) for i, f in enumerate(seq.frames) if f.type == "light"]
    assert sorted(shown) == sorted(_relative(nights, p) for p in lights)
    store = window.session.product_store()
    paths = {store.path("detection", f.path, ".ecsv") for f in open_lights}
    assert len(paths) == 2 * N and all(p.is_file() for p in paths)
    for f in open_lights:
        _own_stars(store.read_table("detection", f.path), f.path, lights, nights)
    stamps = {p: p.stat().st_mtime_ns for p in (folder / "sources").rglob("*.ecsv")}
    panel = next(p for p in window.panels if isinstance(p, DetectionPanel))
    with qtbot.waitSignal(panel.step_finished, timeout=60_000):
        panel.run_all()
    qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=30_000)
    indices = [i for i, f in enumerate(seq.frames) if f.type == "light"]
    assert sorted(panel.results) == indices
    for i in indices:
        n = len(store.read_table("detection", seq.frames[i].path))
        assert panel.results[i].n_sources == n  # each light shows its own stars
    assert {p: p.stat().st_mtime_ns for p in (folder / "sources").rglob("*.ecsv")} == stamps


def test_the_window_opening_the_parent_folder_keeps_every_light_apart(
    window, qtbot, open_and_wait, nights, tmp_path
) -> None:
    from fluxion.app.panels.detection import DetectionPanel

    lights = _lights(nights)
    open_and_wait(window, nights)
    folder = tmp_path / "project"
    window.save_project_as(folder)
    panel = next(p for p in window.panels if isinstance(p, DetectionPanel))

    def run_all() -> None:
        with qtbot.waitSignal(panel.step_finished, timeout=120_000):
            panel.run_all()
        qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=30_000)

    run_all()
    seq = window.session.sequence
    for i, f in enumerate(seq.frames):
        if f.type != "light":
            continue
        key = _relative(nights, f.path).removesuffix(".fits")
        table = Table.read(folder / "sources" / f"{key}.ecsv")
        _own_stars(table, f.path, lights, nights)
        assert panel.results[i].n_sources == len(table)
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*.*") if p.is_file()}
    assert sum(p.suffix == ".ecsv" for p in stamps) >= 2 * N
    run_all()  # again: every product is current, nothing is written
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.*") if p.is_file()} == stamps


def test_a_light_curve_over_both_nights_has_one_row_per_light(nights, tmp_path) -> None:
    lights = _lights(nights)
    # a star of the night that solves (n2); n1's lights share its lights' names
    first = next(p for p in sorted(lights) if p.relative_to(nights).parts[0] == "n2")
    truth = lights[first]
    stars = truth[(truth["kind"] == "star") & ~truth["saturated"]]
    stars = stars[(stars["x"] > 20) & (stars["x"] < 236) & (stars["y"] > 20) & (stars["y"] < 236)]
    star = stars[np.argmax(stars["flux"])]
    catalog = _both_catalogs(nights, tmp_path)
    project = tmp_path / "project"
    main(["run", str(nights), "--project", str(project), "--workers", "2", "--offline",
          "--catalog", str(catalog), "--no-cosmic-rays", "--no-report",
          "--ra", f"{star['ra']:.7f}", "--dec", f"{star['dec']:.7f}"])  # fmt: skip
    curve = Table.read(project / "lightcurve.ecsv")
    assert sorted(curve["file"]) == sorted(_relative(nights, p) for p in lights)
    mine = curve[[str(f).startswith("n2/") for f in curve["file"]]]
    assert len(mine) == N
    for row in mine:  # the star measured in its own night's lights, not in their namesakes
        assert 0.6 * star["flux"] < float(row["flux"]) < 1.2 * star["flux"], row
