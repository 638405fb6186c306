"""Batch labelling: windows and whole images, training raster settings, nodata, cancel, equality with evaluation."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from scl_desktop import cli
from scl_desktop.core.data.cache import build_store
from scl_desktop.core.data.imaging import apply_raster_settings
from scl_desktop.core.data.manifest import RasterSettings
from scl_desktop.core.errors import Cancelled, ConfigError, DatasetError
from scl_desktop.core.events import CancelToken, Log, Progress, drive
from scl_desktop.core.labelling.label import (
    LabelBatch,
    LabelConfig,
    LabelModel,
    best_method,
    label_inputs,
    label_with_model,
    load_label_model,
)
from scl_desktop.core.labelling.tiling import TilingConfig
from scl_desktop.core.model.predictor import load_predictor
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.encoder import train_encoder
from tests.core.raster_fixtures import NOT_GEOREFERENCED_OK, rgb, write_geotiff, write_image
from tests.core.training.test_classifier import tiny_classifier_config
from tests.core.training.test_encoder import restore_threads, tiny_encoder_config, tiny_split  # noqa: F401

pytestmark = NOT_GEOREFERENCED_OK
CLASSES = ("red", "green", "blue")


class ColourModel(nn.Module):
    """Stand-in model: the class is the channel with the largest mean; records what it was fed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.dtype == torch.uint8 and images.shape[1] == 3
        self.seen.append(images.clone())
        return torch.softmax(images.float().mean((2, 3)) / 10.0, dim=1)


def colour_model(size: int = 16, tile: int = 32, raster: RasterSettings | None = None) -> LabelModel:
    return LabelModel(ColourModel(), CLASSES, size, raster or RasterSettings(), tile, "test-run", "Colour")


def label(model: LabelModel, paths, events: list | None = None, cancel=None, **tiling) -> object:
    config = LabelConfig(tiling=TilingConfig(**tiling), batch_size=8, device="cpu")
    return drive(label_with_model(model, paths, config, cancel), events.append if events is not None else None)


def halves_scene(path: Path, **kw) -> Path:
    """100 x 130 px: red left of column 64, green right of it."""
    data = np.zeros((3, 100, 130), np.uint8)
    data[0, :, :64] = 200
    data[1, :, 64:] = 200
    return write_geotiff(path, data, **kw)


def test_scene_windows_are_labelled_in_place(tmp_path):
    scene = halves_scene(tmp_path / "scene.tif", crs="EPSG:32618", origin=(500000.0, 4000000.0), pixel=2.0)
    events: list = []
    result = label(colour_model(), [scene], events, tile=32)
    assert result.total == result.done == len(result.rows) == 20
    assert [(r.cell_row, r.cell_col) for r in result.rows] == [(r, c) for r in range(4) for c in range(5)]
    for row in result.rows:
        assert row.predicted == ("red" if row.col_off + row.width <= 64 else "green")
        assert row.top[0] == (row.predicted, row.confidence) and len(row.top) == 3
        assert row.crs == "EPSG:32618" and row.minx == 500000.0 + 2 * row.col_off
    assert result.rows[4].col_off == 98  # the last column was shifted back inside the scene
    (smap,) = result.scenes
    assert smap.classes.tolist() == [[0, 0, 1, 1, 1]] * 4
    assert np.isfinite(smap.confidence).all()
    batches = [e for e in events if isinstance(e, LabelBatch)]
    assert sum(len(b.rows) for b in batches) == 20
    progress = [e for e in events if isinstance(e, Progress) and e.task == "Labelling"]
    assert progress[-1].done == progress[-1].total == 20 and progress[-1].unit == "tiles" and progress[-1].rate
    assert result.counts() == {"red": 8, "green": 12, "blue": 0}


def test_mostly_nodata_windows_are_skipped_and_counted(tmp_path):
    data = np.full((3, 64, 96), 150, np.uint8)
    data[:, :32, :48] = 0  # the top-left 32 x 48 block is nodata
    scene = write_geotiff(tmp_path / "nd.tif", data, nodata=0)
    result = label(colour_model(), [scene], tile=32, mode="grid")
    # windows (0, 0) fully and (0, 1) half nodata (cols 32..64, 16 of 32 columns invalid): 0.5 is kept
    assert result.skipped_nodata == 1 and len(result.rows) == 5 and result.done == result.total == 6
    assert result.scenes[0].classes[0, 0] == 255 and np.isnan(result.scenes[0].confidence[0, 0])
    half = next(r for r in result.rows if (r.cell_row, r.cell_col) == (0, 1))
    assert half.valid_fraction == pytest.approx(0.5)
    strict = label(colour_model(), [scene], tile=32, mode="grid", min_valid=0.9)
    assert strict.skipped_nodata == 2


def test_training_stretch_and_band_mapping_are_reapplied(tmp_path):
    data = np.zeros((4, 32, 64), np.uint16)
    data[2, :, :32] = 1000  # band 3 (the mapping's red): two levels, constant within each window
    data[2, :, 32:] = 3000
    data[0] = 2000  # band 1 (the mapping's blue)
    scene = write_geotiff(tmp_path / "u16.tif", data)
    raster = RasterSettings(bands=(3, 2, 1), stats=((0.0, 4000.0), (0.0, 4000.0), (0.0, 4000.0)))
    model = colour_model(size=32, raster=raster)
    result = label(model, [scene], tile=32, mode="grid")
    fed = torch.cat(model.predictor.seen)
    assert fed.shape == (2, 3, 32, 32)
    # the dataset's statistics, not each window's own percentiles (which would give 0 or 255)
    expected = [apply_raster_settings(data[:, :, x:x + 32], raster) for x in (0, 32)]
    assert [int(v) for v in fed[:, 0, 0, 0]] == [64, 191] == [int(e[0, 0, 0]) for e in expected]
    assert (fed[:, 2] == 128).all()
    assert [r.predicted for r in result.rows] == ["blue", "red"]


def test_whole_images_and_geotiff_tiles(tmp_path):
    write_image(tmp_path / "in" / "a.png", np.full((20, 20, 3), (10, 200, 10), np.uint8))
    write_image(tmp_path / "in" / "sub" / "b.jpg", np.full((24, 30, 3), (10, 10, 220), np.uint8), quality=95)
    tile = np.zeros((3, 40, 40), np.uint8)
    tile[0] = 180
    write_geotiff(tmp_path / "in" / "t.tif", tile, crs="EPSG:28992", origin=(127000.0, 428000.0), pixel=0.25)
    model = colour_model(size=16, tile=32)
    result = label(model, [tmp_path / "in"])
    assert [Path(r.path).name for r in result.rows] == ["a.png", "t.tif", "b.jpg"]
    assert [r.predicted for r in result.rows] == ["green", "red", "blue"]
    assert not result.scenes
    a, t, b = result.rows
    assert (a.col_off, a.row_off, a.width, a.height, a.cell_row) == (0, 0, 20, 20, None)
    assert a.crs is None and a.centroid_lon is None and b.width == 30
    assert t.crs == "EPSG:28992" and (t.minx, t.maxy, t.maxx) == (127000.0, 428000.0, 127010.0)
    assert 4 < t.centroid_lon < 6 and 51 < t.centroid_lat < 53  # the Netherlands
    assert result.thumbnail(t, 8).shape == (8, 8, 3)


def test_unreadable_inputs_are_skipped_not_fatal(tmp_path):
    write_image(tmp_path / "ok.png", rgb(0, 20))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (tmp_path / "bad2.tif").write_bytes(b"II*\x00garbage")
    events: list = []
    result = label(colour_model(), [tmp_path, tmp_path / "missing.tif"], events)
    assert [Path(r.path).name for r in result.rows] == ["ok.png"]
    assert sorted(Path(s.path).name for s in result.skipped_files) == ["bad.png", "bad2.tif", "missing.tif"]
    warnings = [e for e in events if isinstance(e, Log) and e.level == "warning"]
    assert len(warnings) == 3
    with pytest.raises(DatasetError, match="no image to label"):
        label(colour_model(), [tmp_path / "bad2.tif"])


def test_cancel_stops_at_the_next_batch_and_keeps_the_rows(tmp_path):
    scene = halves_scene(tmp_path / "scene.tif")
    token = CancelToken()
    seen: list = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, LabelBatch):
            token.cancel()

    config = LabelConfig(tiling=TilingConfig(tile=8), batch_size=4, device="cpu", readers=2)
    with pytest.raises(Cancelled) as err:
        drive(label_with_model(colour_model(size=8), [scene], config, token), on_event)
    result = err.value.kept
    assert f"after {result.done} of {result.total} tiles" in err.value.what
    assert 0 < len(result.rows) < result.total and not hasattr(result, "cancelled")
    assert len(result.rows) == sum(len(e.rows) for e in seen if isinstance(e, LabelBatch))
    assert not [t for t in threading.enumerate() if t.name.startswith("scl-label-reader")]


def tiny_run(root: Path) -> tuple[object, Path]:
    """A tiny real run (stage 1 + SCL-CB and SCL-CE classifiers) and its image folder."""
    split = tiny_split(root)
    threads = torch.get_num_threads()
    try:
        run = drive(train_encoder(split, tiny_encoder_config()))
        for balance in ("cb", "none"):
            drive(fit_classifier(run, tiny_classifier_config(balance=balance)))
    finally:
        torch.set_num_threads(threads)
    return run, root / "images"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    return tiny_run(tmp_path_factory.mktemp("label-run"))


def evaluate_paths(run, method: str, paths: list[str]) -> list[int]:
    """Predictions as evaluation makes them: decoded store -> Predictor."""
    store = drive(build_store(run.split.dataset, run.config.get("store_size")))
    index = {item.path: i for i, item in enumerate(run.split.dataset.items)}
    with torch.no_grad():
        probs = load_predictor(run, method)(store.batch([index[p] for p in paths]))
    return probs.argmax(1).tolist()


def test_labelling_a_folder_equals_evaluating_the_model(trained):
    run, folder = trained
    events: list = []
    result = drive(label_inputs(run.id, [folder], LabelConfig(device="cpu", method="SCL-CB")), events.append)
    assert len(result.rows) == len(run.split.dataset.items) == 48
    assert result.method == "SCL-CB" and result.run_id == run.id and result.classes == run.split.classes
    assert [r.class_index for r in result.rows] == evaluate_paths(run, "SCL-CB", [r.path for r in result.rows])
    assert any(isinstance(e, Log) and "SCL-CB" in e.message for e in events)


def test_default_method_is_the_best_stored_one(trained):
    run, _ = trained
    best = best_method(run)
    overall = {m: run.evaluation(m).overall for m in run.methods()}
    assert best in ("SCL-CB", "SCL-CE") and overall[best] == max(overall.values())
    model = load_label_model(run.id)
    assert model.method == best and model.size == run.split.dataset.size and model.default_tile == 24


def test_scene_windows_equal_the_same_pixels_labelled_as_images(trained, tmp_path):
    """A window of a scene is prepared exactly like an image file of the same pixels."""
    run, folder = trained
    images = [np.asarray(Image.open(p).convert("RGB"))
              for p in sorted((folder / "class0").glob("*.png"))[:2] + sorted((folder / "class2").glob("*.png"))[:2]]
    mosaic = np.concatenate([np.concatenate(images[:2], 1), np.concatenate(images[2:], 1)], 0)  # 48 x 48
    write_geotiff(tmp_path / "mosaic.tif", mosaic.transpose(2, 0, 1).copy())
    for i, img in enumerate(images):
        write_image(tmp_path / "tiles" / f"{i}.png", img)
    config = LabelConfig(device="cpu", method="SCL-CB", tiling=TilingConfig(tile=24))
    scene = drive(label_inputs(run, [tmp_path / "mosaic.tif"], config))
    tiles = drive(label_inputs(run, [tmp_path / "tiles"], config))
    assert len(scene.rows) == len(tiles.rows) == 4
    for a, b in zip(scene.rows, tiles.rows, strict=True):
        assert a.class_index == b.class_index and a.confidence == pytest.approx(b.confidence, abs=1e-6)


@pytest.mark.slow
def test_a_thousand_images_give_a_thousand_rows_equal_to_evaluation(trained, tmp_path):
    from scl_desktop.core.data.importer import ImportConfig, import_dataset
    from scl_desktop.core.data.manifest import SplitManifest

    run, _ = trained
    rng = np.random.default_rng(1)
    for i in range(1000):
        colour = np.array([(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)][i % 4])
        pixels = np.clip(rng.normal(colour, 50, size=(24, 24, 3)), 0, 255).astype(np.uint8)
        write_image(tmp_path / "new" / f"class{i % 4}" / f"{i:04d}.png", pixels)
    result = drive(label_inputs(run, [tmp_path / "new"], LabelConfig(device="cpu", method="SCL-CB")))
    assert len(result.rows) == 1000
    # evaluation of the same model on the same images: import them, decode into a store, run the predictor
    dataset = drive(import_dataset(ImportConfig(tmp_path / "new", size=run.split.dataset.size)))
    split = SplitManifest(dataset, "stratified", 0, {}, {}, (), (), tuple(range(len(dataset.items))))
    store = drive(build_store(split.dataset, run.config.get("store_size")))
    index = {item.path: i for i, item in enumerate(dataset.items)}
    with torch.no_grad():
        expected = load_predictor(run, "SCL-CB")(store.batch([index[r.path] for r in result.rows])).argmax(1)
    assert [r.class_index for r in result.rows] == expected.tolist()


def test_cli_label_folder_and_scene(trained, tmp_path, capsys):
    run, folder = trained
    code = cli.main(["label", run.id, str(folder), "--out", str(tmp_path / "r.csv"), "--device", "cpu", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 48 and summary["outputs"]["written"] == [str(tmp_path / "r.csv")]
    assert len((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()) == 49
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # for spreadsheets

    scene = halves_scene(tmp_path / "scene.tif", crs="EPSG:32618")
    args = ["label", run.id, str(scene), "--out", str(tmp_path / "s.csv"), "--geojson", str(tmp_path / "s.geojson"),
            "--raster", str(tmp_path / "s.tif"), "--confidence", str(tmp_path / "p.tif"), "--tile", "32",
            "--edge", "pad", "--batch-size", "4", "--readers", "1", "--csv-no-bom"]
    assert cli.main(args) == 0
    assert all((tmp_path / name).is_file() for name in ("s.csv", "s.geojson", "s.tif", "s.tif.aux.xml", "s.qml", "p.tif"))
    assert (tmp_path / "s.csv").read_bytes().startswith(b"path,")  # --csv-no-bom: plain UTF-8
    assert "written:" in capsys.readouterr().err


def test_cli_label_reports_outputs_it_cannot_make(trained, tmp_path, capsys):
    run, folder = trained
    code = cli.main(["label", run.id, str(folder / "class0"), "--out", str(tmp_path / "r.csv"),
                     "--geojson", str(tmp_path / "r.geojson"), "--device", "cpu"])
    assert code == 2 and (tmp_path / "r.csv").is_file() and not (tmp_path / "r.geojson").exists()
    assert "none of the labelled inputs is georeferenced" in capsys.readouterr().err
    assert cli.main(["label", run.id, str(folder)]) == 2
    assert "No output was asked for" in capsys.readouterr().err


def test_cli_first_ctrl_c_stops_cleanly_and_writes_nothing(trained, tmp_path, monkeypatch, capsys):
    from scl_desktop import terminal

    run, folder = trained

    class InterruptingPrinter(terminal.EventPrinter):
        """Presses Ctrl-C once, when the first batch is done."""

        pressed = False

        def __call__(self, event):
            super().__call__(event)
            if isinstance(event, LabelBatch) and not InterruptingPrinter.pressed:
                InterruptingPrinter.pressed = True
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(terminal, "EventPrinter", InterruptingPrinter)
    code = cli.main(["label", run.id, str(folder), "--out", str(tmp_path / "r.csv"), "--batch-size", "4",
                     "--readers", "1", "--device", "cpu"])
    assert code == 130 and not list(tmp_path.iterdir())
    assert "no output files were written" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_thumbnails_and_scene_preview_for_the_results_view(tmp_path):
    scene = halves_scene(tmp_path / "scene.tif", nodata=0)
    result = label(colour_model(), [scene], tile=32)
    thumbs = list(result.thumbnails(result.rows[:3], size=12))
    assert [t.shape for t in thumbs] == [(12, 12, 3)] * 3
    assert tuple(thumbs[0][6, 6]) == (200, 0, 0) and tuple(thumbs[2][6, 6]) == (0, 200, 0)
    preview = result.preview(result.scenes[0], max_side=65)
    assert preview.shape == (50, 65, 3) and preview.dtype == np.uint8
    assert tuple(preview[25, 10]) == (200, 0, 0) and tuple(preview[25, 60]) == (0, 200, 0)


def test_inputs_the_band_mapping_does_not_fit_are_skipped_at_planning(tmp_path):
    write_geotiff(tmp_path / "two_bands.tif", np.zeros((2, 80, 80), np.uint8))
    write_geotiff(tmp_path / "four_bands.tif", np.zeros((4, 80, 80), np.uint8), photometric="minisblack")
    model = colour_model(raster=RasterSettings(bands=(4, 3, 2)))
    result = label(model, [tmp_path], tile=32)
    assert {Path(r.path).name for r in result.rows} == {"four_bands.tif"}
    (skipped,) = result.skipped_files
    assert skipped.path.endswith("two_bands.tif") and "band" in skipped.reason


# ---------------------------------------------------------------------------------------------
# scenes without WGS84, odd file names, odd tile sizes, clean reasons


LOCAL_CS = 'LOCAL_CS["site grid",UNIT["metre",1]]'


@pytest.mark.parametrize("crs", [LOCAL_CS, "IAU_2015:49900"], ids=["engineering", "mars"])
def test_a_scene_without_a_way_to_wgs84_keeps_native_coordinates_and_the_rest_goes_on(tmp_path, crs):
    from rasterio.crs import CRS

    from scl_desktop.core.labelling.export import export_outputs

    odd = halves_scene(tmp_path / "in" / "odd.tif", crs=CRS.from_user_input(crs))
    utm = halves_scene(tmp_path / "in" / "utm.tif", crs="EPSG:32618")
    events: list = []
    result = label(colour_model(), [odd, utm], events, tile=32)
    assert len(result.rows) == 40
    odd_rows = [r for r in result.rows if r.path == str(odd)]
    assert odd_rows and all(r.centroid_lon is None and r.centroid_lat is None and r.minx is not None for r in odd_rows)
    assert all(r.centroid_lat is not None for r in result.rows if r.path == str(utm))
    warnings = [e.message for e in events if isinstance(e, Log) and e.level == "warning"]
    assert any("odd.tif" in w and "cannot be transformed to WGS84" in w and "GeoJSON leaves it out" in w
               for w in warnings), warnings
    report = export_outputs(result, tmp_path / "r.csv", tmp_path / "r.geojson", tmp_path / "c.tif")
    assert "left out of the GeoJSON: " + str(odd) in report.describe()
    features = json.loads((tmp_path / "r.geojson").read_text())["features"]
    assert len(features) == 20 and {f["properties"]["path"] for f in features} == {str(utm)}
    assert len((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()) == 41


def test_a_broken_proj_database_does_not_stop_labelling(tmp_path, monkeypatch):
    from rasterio.errors import CRSError

    from scl_desktop.core.labelling import geometry

    def broken(*args):
        raise CRSError("The EPSG code is unknown. PROJ: internal_proj_create_from_database: Cannot find proj.db")

    monkeypatch.setattr(geometry, "to_wgs84", broken)
    events: list = []
    result = label(colour_model(), [halves_scene(tmp_path / "s.tif")], events, tile=32)
    assert len(result.rows) == 20 and all(r.centroid_lon is None and r.minx is not None for r in result.rows)
    assert any("Cannot find proj.db" in e.message for e in events if isinstance(e, Log))


def test_an_invalid_geotransform_giving_latitudes_beyond_90_is_not_transformable(tmp_path):
    from scl_desktop.core.labelling import export

    scene = halves_scene(tmp_path / "s.tif", crs="EPSG:4326", origin=(10.0, 1000.0), pixel=0.001)
    result = label(colour_model(), [scene], tile=32)
    assert "latitude 1000" in result.inputs[0].wgs84_problem
    assert all(r.centroid_lat is None for r in result.rows)
    with pytest.raises(ConfigError, match="WGS84"):
        export.export_outputs(result, geojson=tmp_path / "r.geojson")


def test_file_names_that_are_not_utf8_are_labelled_and_written_readably(tmp_path):
    from scl_desktop.core.labelling.export import export_outputs

    folder = tmp_path / "in"
    scene = halves_scene(folder / "scene.tif")
    image = write_image(folder / "image.png", np.full((20, 20, 3), 200, np.uint8))
    odd_scene = os.fsdecode(os.fsencode(folder) + b"/sc\xe8ne.tif")
    odd_image = os.fsdecode(os.fsencode(folder) + b"/\xff.png")
    os.rename(scene, odd_scene)
    os.rename(image, odd_image)
    result = label(colour_model(), [folder], tile=32)
    assert {r.path for r in result.rows} == {odd_scene, odd_image} and len(result.rows) == 21
    export_outputs(result, tmp_path / "r.csv", tmp_path / "r.geojson", tmp_path / "c.tif")
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")  # valid UTF-8
    assert f"{folder}/sc\\xe8ne.tif" in text and f"{folder}/\\xff.png" in text
    paths = {f["properties"]["path"] for f in json.loads((tmp_path / "r.geojson").read_text("utf-8"))["features"]}
    assert paths == {f"{folder}/sc\\xe8ne.tif"}


def test_tile_in_metres_on_an_image_without_georeference_warns_what_to_do(tmp_path):
    plain = write_geotiff(tmp_path / "plain.tif", np.zeros((3, 100, 130), np.uint8), crs=None)
    events: list = []
    result = label(colour_model(), [plain], events, tile_m=32.0)
    assert len(result.rows) == 1 and result.rows[0].cell_row is None  # labelled whole
    (warning,) = [e.message for e in events if isinstance(e, Log) and "no georeference" in e.message]
    assert "plain.tif" in warning and "labelled whole" in warning and "--tile" in warning


def test_windows_below_the_pixel_minimum_are_refused_before_any_work(tmp_path):
    scene = halves_scene(tmp_path / "s.tif")
    model = colour_model()
    events: list = []
    with pytest.raises(DatasetError, match="no image to label"):
        label(model, [scene], events, tile_m=0.001)
    assert model.predictor.seen == []
    (skipped,) = [e.message for e in events if isinstance(e, Log) and e.level == "warning"]
    assert "0.001 m" in skipped and "minimum of 8 pixels" in skipped and "--tile-m" in skipped


def test_reasons_name_the_file_not_memory_paths_or_objects(tmp_path, monkeypatch):
    from rasterio.errors import RasterioIOError

    from scl_desktop.core.data.imaging import UnreadableImage
    from scl_desktop.core.labelling import tiling

    halves_scene(tmp_path / "scene.tif")
    write_image(tmp_path / "photo.png", np.zeros((20, 20, 3), np.uint8))

    def bad_window(self, inp, win):  # rasterio's wrapper that only points to the GDAL error behind it
        try:
            raise RasterioIOError("/vsimem/6f1c2a-77/scene.tif, band 1: IReadBlock failed at X offset 0")
        except RasterioIOError as gdal_error:
            raise RasterioIOError("Read failed. See previous exception for details.") from gdal_error

    def bad_image(path, **kwargs):
        raise UnreadableImage(path, "cannot identify image file <_io.BytesIO object at 0x7f3a2c1d9e40>")

    monkeypatch.setattr(tiling.WindowReader, "read", bad_window)
    monkeypatch.setattr(tiling, "read_raw", bad_image)
    result = drive(label_with_model(colour_model(), [tmp_path], LabelConfig(
        tiling=TilingConfig(tile=32), batch_size=8, device="cpu")))
    reasons = [s.reason for s in result.skipped_files]
    assert len(reasons) == 21
    assert not [r for r in reasons if "vsimem" in r or "0x" in r or "object at" in r], reasons
    assert reasons.count("cannot be read (scene.tif, band 1: IReadBlock failed at X offset 0)") == 20
    assert "cannot identify image file photo.png" in reasons


def test_cli_refuses_an_output_that_is_the_input_before_labelling(trained, tmp_path, capsys):
    run, _ = trained
    scene = halves_scene(tmp_path / "s.tif", crs="EPSG:32618")
    before = scene.read_bytes()
    code = cli.main(["label", run.id, str(scene), "--raster", str(scene), "--tile", "32", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "is an input being labelled" in err and "Labelling" not in err
    assert scene.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]
    code = cli.main(["label", run.id, str(scene), "--out", str(tmp_path / "x"), "--geojson", str(tmp_path / "x"),
                     "--tile", "32", "--device", "cpu"])
    assert code == 2 and "would both be written to" in capsys.readouterr().err
