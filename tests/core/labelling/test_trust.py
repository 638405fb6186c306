"""Labels not to trust are said so: scenes far from the training ground resolution, a demo model on real
imagery; and the log names the output files really written (one per scene)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from scl_desktop import cli
from scl_desktop.core.data.demo import DATASET_FOLDER, DEMO_CLASSES, demo_data_of
from scl_desktop.core.data.gsd import dataset_gsd, item_gsd, pixel_size_m
from scl_desktop.core.data.importer import ImportConfig, import_dataset
from scl_desktop.core.data.manifest import DatasetManifest
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import Log, drive
from scl_desktop.core.labelling.export import Outputs, export_outputs
from scl_desktop.core.labelling.label import LabelConfig, label_with_model
from scl_desktop.core.labelling.tiling import TilingConfig
from scl_desktop.core.labelling.trust import MAX_SCALE_WARNINGS
from tests.core.labelling.test_label import colour_model
from tests.core.raster_fixtures import NOT_GEOREFERENCED_OK, class_tree, rgb, write_geotiff, write_image

pytestmark = NOT_GEOREFERENCED_OK


def scene(path: Path, pixel: float = 1.0, size: int = 64, crs: str | None = "EPSG:32633", **kw) -> Path:
    return write_geotiff(path, np.full((3, size, size), 120, np.uint8), crs=crs, pixel=pixel, **kw)


def warnings_of(model, paths, outputs: Outputs | None = None, **tiling) -> list[str]:
    events: list = []
    config = LabelConfig(tiling=TilingConfig(**tiling), batch_size=8, device="cpu")
    drive(label_with_model(model, paths, config, outputs=outputs), events.append)
    return [e.message for e in events if isinstance(e, Log) and e.level == "warning"]


def gsd_model(training_gsd: float | None, tile: int = 32, demo_data: Path | None = None):
    from dataclasses import replace

    return replace(colour_model(tile=tile), training_gsd=training_gsd, demo_data=demo_data)


# --- ground resolution ---------------------------------------------------------------------------


def test_pixel_size_in_metres_for_projected_and_geographic_crs():
    assert pixel_size_m("EPSG:32633", 2.0, 2.0) == pytest.approx(2.0)
    assert pixel_size_m("EPSG:2263", 1.0, 1.0) == pytest.approx(0.3048, rel=1e-4)  # US survey feet
    # degrees at the scene centre: 1e-5 deg is ~1.11 m north-south, half that east-west at 60 deg
    north = 1e-5 * math.pi / 180 * 6_371_008.8
    assert pixel_size_m("EPSG:4326", 1e-5, 1e-5, 60.0) == pytest.approx((north * 0.5 + north) / 2)
    assert 1.10 < pixel_size_m("EPSG:4326", 1e-5, 1e-5, 0.0) < 1.12
    assert pixel_size_m(None, 1.0, 1.0) is None and pixel_size_m("EPSG:32633", 0.0, 1.0) is None


def test_import_records_the_median_ground_resolution_of_georeferenced_tiles(tmp_path):
    for n, pixel in enumerate((2.0, 2.0, 3.0, 8.0)):
        scene(tmp_path / "ds" / ("a" if n % 2 else "b") / f"t{n}.tif", pixel, size=16)
    events: list = []
    manifest = drive(import_dataset(ImportConfig(tmp_path / "ds")), events.append)
    assert manifest.gsd == pytest.approx(2.5)
    assert any("2.5 m per pixel (median of 4 georeferenced images)" in e.message for e in events if isinstance(e, Log))
    assert DatasetManifest.from_json(manifest.to_json()).gsd == pytest.approx(2.5)
    # a manifest written before the field existed: measured from its items' CRS and bounds
    old = manifest.to_json()
    del old["gsd"]
    loaded = DatasetManifest.from_json(old)
    assert loaded.gsd is None and dataset_gsd(loaded) == pytest.approx(2.5)
    assert [item_gsd(i) for i in loaded.items] == pytest.approx([2.0, 8.0, 2.0, 3.0])
    # a stated resolution wins, and a far one is said to be far from what the tiles measure
    events.clear()
    stated = drive(import_dataset(ImportConfig(tmp_path / "ds", gsd=0.5)), events.append)
    assert stated.gsd == 0.5
    assert any("far from the 2.5 m" in e.message for e in events if isinstance(e, Log) and e.level == "warning")


def test_plain_images_have_no_ground_resolution_unless_stated(tmp_path, capsys):
    root = class_tree(tmp_path / "plain", {"a": 2, "b": 2})
    assert drive(import_dataset(ImportConfig(root))).gsd is None
    assert dataset_gsd(drive(import_dataset(ImportConfig(root)))) is None
    assert drive(import_dataset(ImportConfig(root, gsd=0.3))).gsd == 0.3
    with pytest.raises(ConfigError, match="positive number of metres"):
        drive(import_dataset(ImportConfig(root, gsd=-1.0)))
    out = tmp_path / "m.json"
    assert cli.main(["import", str(root), "--gsd", "0.3", "--no-cache", "--out", str(out)]) == 0
    assert "Ground resolution: 0.3 m per pixel" in capsys.readouterr().out
    assert DatasetManifest.load(out).gsd == 0.3


def test_a_scene_far_from_the_training_resolution_is_warned_about(tmp_path):
    coarse = scene(tmp_path / "coarse.tif", pixel=2.0)  # 4x the training 0.5 m: windows of 32 px cover 64 m, not 16 m
    (warning,) = warnings_of(gsd_model(0.5), [coarse])
    assert "coarse.tif has 2 m per pixel, the training images 0.5 m:" in warning
    assert "its windows of 32 px cover 64 m where a training image covers 16 m" in warning
    assert "objects 4 times smaller" in warning
    assert "Resample the image to about 0.5 m per pixel" in warning and "--tile-m 16" in warning
    fine = scene(tmp_path / "fine.tif", pixel=0.1)
    (warning,) = warnings_of(gsd_model(0.5), [fine])
    assert "0.1 m per pixel" in warning and "objects 5 times larger" in warning
    # within a factor 2, unknown training resolution, no georeference: nothing is said
    assert warnings_of(gsd_model(0.5), [scene(tmp_path / "near.tif", pixel=0.9)]) == []
    assert warnings_of(gsd_model(None), [coarse]) == []
    assert warnings_of(gsd_model(0.5), [scene(tmp_path / "plain.tif", crs=None)]) == []
    # windows in metres that cover a training image's ground label it at the right scale: no warning
    assert warnings_of(gsd_model(0.5), [coarse], tile_m=16.0) == []
    # the warning follows the ground a window covers: 8 px windows at 2 m are the training 16 m
    assert warnings_of(gsd_model(0.5), [coarse], tile=8) == []


def test_whole_images_geographic_scenes_and_many_scenes(tmp_path):
    tile = scene(tmp_path / "tile.tif", pixel=4.0, size=32)  # labelled whole: 128 m against 16 m
    (warning,) = warnings_of(gsd_model(0.5), [tile])
    assert "labelled whole, its 32 x 32 px cover 128 m" in warning and "cut it (--grid" in warning
    degrees = scene(tmp_path / "wgs84.tif", pixel=2e-5, crs="EPSG:4326", origin=(16.0, 48.0))
    (warning,) = warnings_of(gsd_model(0.5), [degrees])
    assert "wgs84.tif has 1.86 m per pixel" in warning  # (1.49 m east-west + 2.22 m north-south) / 2 at 48 N
    assert "--tile 9 px" in warning and "--tile-m" not in warning  # metres cannot be used in degrees
    many = [scene(tmp_path / f"s{n}.tif", pixel=2.0) for n in range(MAX_SCALE_WARNINGS + 2)]
    found = warnings_of(gsd_model(0.5), many)
    assert len(found) == MAX_SCALE_WARNINGS + 1 and found[-1].startswith("2 more input(s) differ")


# --- the demo model -------------------------------------------------------------------------------


def test_the_demo_dataset_is_recognised_by_its_source(tmp_path):
    demo = tmp_path / "demo" / "v1"
    assert demo_data_of(DatasetManifest(str(demo / DATASET_FOLDER), DEMO_CLASSES, ())) == demo
    assert demo_data_of(DatasetManifest(str(demo / DATASET_FOLDER), DEMO_CLASSES[:3], ())) == demo  # a class order
    assert demo_data_of(DatasetManifest(str(tmp_path / "ucmerced"), DEMO_CLASSES, ())) is None
    assert demo_data_of(DatasetManifest(str(demo / DATASET_FOLDER), ("harbour", "forest"), ())) is None


def test_a_demo_model_labelling_real_imagery_warns_once_per_job(tmp_path):
    demo = tmp_path / "demo_data"
    own = write_image(demo / "scene" / "patch.png", rgb(1, 40))
    model = gsd_model(None, demo_data=demo)
    assert warnings_of(model, [own]) == []  # the demo's own images
    real = [write_image(tmp_path / "mine" / f"{n}.png", rgb(n, 40)) for n in range(3)]
    (warning,) = warnings_of(model, [own, *real])
    assert "trained on the built-in demo data, which is synthetic" in warning and "mean nothing" in warning
    assert "0.png and 2 other input(s)" in warning and "Train on your own data first" in warning
    assert warnings_of(gsd_model(None), real) == []  # not a demo model


# --- output files in the log ------------------------------------------------------------------------


def test_the_log_names_the_per_scene_files_really_written(tmp_path):
    scenes = [scene(tmp_path / "in" / f"{name}.tif", size=64) for name in ("north", "south")]
    outputs = Outputs(tmp_path / "out" / "labels.csv", None, tmp_path / "out" / "labels_classes.tif",
                      tmp_path / "out" / "labels_confidence.tif")
    events: list = []
    config = LabelConfig(tiling=TilingConfig(tile=16), batch_size=8, device="cpu")
    result = drive(label_with_model(colour_model(tile=16), scenes, config, outputs=outputs), events.append)
    (message,) = [e.message for e in events if isinstance(e, Log) and e.message.startswith("Outputs")]
    (tmp_path / "out").mkdir()
    written = export_outputs(result, outputs.csv, None, outputs.raster, outputs.confidence).written
    rasters = [p for p in written if p.suffix == ".tif"]
    assert sorted(p.name for p in rasters) == ["labels_classes_north.tif", "labels_classes_south.tif",
                                               "labels_confidence_north.tif", "labels_confidence_south.tif"]
    for path in rasters + [outputs.csv]:
        assert str(path) in message
    assert "labels_classes.tif," not in message and "2 classification rasters, one per scene" in message
    # one scene: its own name; many: "N ... named like X"
    one = Outputs(raster=tmp_path / "c.tif").describe([result.inputs[0]])
    assert one == f"classification raster {tmp_path / 'c.tif'} (with .aux.xml and .qml beside it)"
    many = Outputs(raster=tmp_path / "c.tif").describe([result.inputs[0]] * 2 + [result.inputs[1]] * 3)
    assert many.startswith(f"5 classification rasters, one per scene, named like {tmp_path / 'c_north.tif'}")


def test_scl_label_prints_the_warnings(tmp_path, monkeypatch, capsys):
    from scl_desktop.core.labelling import label as core_label

    model = gsd_model(0.5, demo_data=tmp_path / "demo")
    monkeypatch.setattr(core_label, "load_label_model", lambda *_a, **_k: model)  # no run to train
    coarse = scene(tmp_path / "coarse.tif", pixel=2.0)
    assert cli.main(["label", "demo-run", str(coarse), "--raster", str(tmp_path / "c.tif"), "--device", "cpu"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: " in err and "coarse.tif has 2 m per pixel, the training images 0.5 m" in err
    assert "trained on the built-in demo data" in err
    assert f"Outputs, written when labelling ends: classification raster {tmp_path / 'c.tif'}" in err
