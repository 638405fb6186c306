"""Built-in demo data: deterministic, fast, imbalanced as designed, a georeferenced scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scl_desktop.cli import main as cli_main
from scl_desktop.core.data import demo as demo_data
from scl_desktop.core.data.demo import (
    DEMO_CLASSES,
    DEMO_COUNTS,
    DEMO_MAJORITY,
    DEMO_MINORITY,
    demo_split_config,
    ensure_demo_dataset,
    render_demo_image,
)
from scl_desktop.core.data.manifest import MAJORITY, MINORITY, DatasetManifest, ImageItem
from scl_desktop.core.data.split import build_split


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, None]:
    return ensure_demo_dataset(tmp_path_factory.mktemp("demo")), None


def test_rendering_is_deterministic_per_seed_and_varied():
    for name in DEMO_CLASSES:
        a = render_demo_image(name, 3)
        assert a.shape == (64, 64, 3) and a.dtype == np.uint8
        assert np.array_equal(a, render_demo_image(name, 3))
        assert not np.array_equal(a, render_demo_image(name, 4))
        assert not np.array_equal(a, render_demo_image(name, 3, seed=1))
        assert a.std() > 5  # not a flat colour


def test_generated_dataset_is_imbalanced_as_designed(generated):
    folder, _ = generated
    counts = {p.name: len(list(p.glob("*.png"))) for p in folder.iterdir() if p.is_dir()}
    assert counts == DEMO_COUNTS
    assert set(DEMO_CLASSES) == set(DEMO_MAJORITY) | set(DEMO_MINORITY) and 8 <= len(DEMO_CLASSES) <= 10
    assert min(counts[c] for c in DEMO_MAJORITY) > 1.5 * max(counts[c] for c in DEMO_MINORITY)
    readme = (folder.parent / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme


def test_files_hold_the_rendered_pixels_byte_for_byte(generated):
    from PIL import Image

    folder, _ = generated
    for name in ("orchard", "water"):
        path = folder / name / f"{name}_005.png"
        assert path.read_bytes() == demo_data._png_bytes(render_demo_image(name, 5))
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), render_demo_image(name, 5))


def test_ensure_reuses_complete_data_and_repairs_missing_files(generated, monkeypatch):
    folder, _ = generated
    keep = folder / "forest" / "forest_000.png"
    before = keep.stat().st_mtime_ns
    drawn: list[tuple] = []
    original = demo_data.render_demo_image
    monkeypatch.setattr(demo_data, "render_demo_image", lambda *a, **k: drawn.append(a) or original(*a, **k))
    assert ensure_demo_dataset(folder.parent) == folder
    assert drawn == [] and keep.stat().st_mtime_ns == before, "complete demo data must be reused, not redrawn"
    lost = folder / "runway" / "runway_002.png"
    good = lost.read_bytes()
    lost.unlink()
    ensure_demo_dataset(folder.parent)
    assert lost.read_bytes() == good and keep.stat().st_mtime_ns == before
    assert [a[:2] for a in drawn] == [("runway", 2)], "only the missing file is drawn again"


def test_demo_split_config_gives_the_paper_style_imbalance(generated):
    folder, _ = generated
    items = tuple(ImageItem(path=str(f), label=c, size_bytes=0, mtime_ns=0, sha256="", width=64, height=64,
                            bands=3, dtype="uint8")
                  for c in DEMO_CLASSES for f in sorted((folder / c).glob("*.png")))
    split = build_split(DatasetManifest(source=str(folder), classes=DEMO_CLASSES, items=items), demo_split_config())
    assert split.roles == demo_data.demo_roles()
    for c in DEMO_CLASSES:
        assert split.counts("train")[c] == (40 if split.roles[c] == MAJORITY else 8)
        assert split.counts("test")[c] == 30
    assert set(split.minority_classes()) == set(DEMO_MINORITY) and split.roles["orchard"] == MINORITY


def test_scene_is_a_georeferenced_mosaic(generated):
    rasterio = pytest.importorskip("rasterio")
    folder, _ = generated
    tif = demo_data.ensure_demo_scene(folder.parent)
    with rasterio.open(tif) as src:
        assert src.crs.to_epsg() == 32633
        assert (src.count, src.height, src.width) == (3, 1024, 1024) and src.dtypes == ("uint8",) * 3
        assert src.res == (1.0, 1.0)
        pixels = src.read()
    labels = json.loads((tif.parent / "demo_scene_labels.json").read_text(encoding="utf-8"))
    assert len(labels["cells"]) == 1024 // labels["cell_size"]
    assert {c for row in labels["cells"] for c in row} == set(DEMO_CLASSES)
    # each cell is a demo patch of its class: the top-left one is reproducible from its seed
    size = labels["cell_size"]
    rng = np.random.default_rng([demo_data.DEMO_SEED, 7919, 0, 0])
    cell = demo_data._finish(rng, demo_data.RENDERERS[labels["cells"][0][0]](rng, size))
    assert np.array_equal(np.moveaxis(pixels[:, :size, :size], 0, -1), cell)
    mtime = tif.stat().st_mtime_ns
    assert demo_data.ensure_demo_scene(folder.parent) == tif and tif.stat().st_mtime_ns == mtime


def test_cli_demo_data_json(generated, capsys):
    folder, _ = generated
    assert cli_main(["demo-data", "--out", str(folder.parent), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["synthetic"] is True and info["dataset"] == str(folder)
    assert {c["name"]: c["count"] for c in info["classes"]} == DEMO_COUNTS
    assert {c["name"] for c in info["classes"] if c["role"] == "minority"} == set(DEMO_MINORITY)
    assert info["split_config"]["s"] == 8
