"""CSV, GeoJSON (RFC 7946) and classification GeoTIFF exports: right place, right CRS, class names GDAL reads."""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import errno
import glob
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from torch import nn

from scl_desktop.core.data.manifest import RasterSettings
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.labelling import export as geo_export
from scl_desktop.core.labelling.export import NODATA_CLASS, PALETTE, export_outputs
from scl_desktop.core.labelling.geometry import footprints_wgs84
from scl_desktop.core.labelling.label import LabelModel
from scl_desktop.core.labelling.types import CSV_FIELDS
from tests.conftest import shared_data
from tests.core.labelling.test_label import CLASSES, colour_model, halves_scene, label
from tests.core.raster_fixtures import NOT_GEOREFERENCED_OK, write_geotiff, write_image

# rasterio's own window bounds still use the affine `*` operator
pytestmark = [NOT_GEOREFERENCED_OK, pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")]

#: (CRS, origin of the generated scene in that CRS, pixel size)
CRSS = [("EPSG:32618", (500000.0, 4649776.0), 2.0), ("EPSG:28992", (127375.0, 428250.0), 0.25),
        ("EPSG:3395", (13467532.0, 1632019.875), 0.1)]


def gdal_category_names(path: Path) -> list[str] | None:
    """Category names of band 1 as GDAL reports them (like gdalinfo), via GDAL's C API; None without the library."""
    candidates = glob.glob(os.path.join(os.path.dirname(rasterio.__file__), "..", "rasterio.libs", "libgdal*"))
    name = candidates[0] if candidates else ctypes.util.find_library("gdal")
    if not name:
        return None
    gdal = ctypes.CDLL(name)
    gdal.GDALAllRegister()
    gdal.GDALOpen.restype, gdal.GDALOpen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    gdal.GDALGetRasterBand.restype, gdal.GDALGetRasterBand.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int]
    gdal.GDALGetMetadata.restype, gdal.GDALGetMetadata.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]
    gdal.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    gdal.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    gdal.GDALClose.argtypes = [ctypes.c_void_p]
    handle = gdal.GDALOpen(str(path).encode(), 0)
    assert handle, f"GDAL cannot open {path}"
    try:
        band = gdal.GDALGetRasterBand(handle, 1)
        gdal.GDALGetMetadata(band, None)  # as gdalinfo does; the GTiff driver loads the .aux.xml lazily
        names = gdal.GDALGetRasterCategoryNames(band)
        out: list[str] = []
        while names and names[len(out)] is not None:
            out.append(names[len(out)].decode())
        return out
    finally:
        gdal.GDALClose(handle)


def expected_window_geo(path: str, row) -> tuple[tuple[float, ...], float, float]:
    """Bounds and WGS84 centre of a CSV row's window, computed with rasterio's own functions."""
    with rasterio.open(path) as ds:
        b = window_bounds(Window(row.col_off, row.row_off, row.width, row.height), ds.transform)
        lon, lat = warp_transform(ds.crs, "EPSG:4326", [(b[0] + b[2]) / 2], [(b[1] + b[3]) / 2])
    return b, lon[0], lat[0]


def ring_area(ring: list[list[float]]) -> float:
    x, y = np.array(ring).T
    return 0.5 * float((x[:-1] * y[1:] - x[1:] * y[:-1]).sum())


@pytest.mark.parametrize("crs,origin,pixel", CRSS)
def test_outputs_are_in_the_right_place(tmp_path, crs, origin, pixel):
    scene = halves_scene(tmp_path / "scene.tif", crs=crs, origin=origin, pixel=pixel)
    result = label(colour_model(), [scene], tile=32)
    report = export_outputs(result, tmp_path / "r.csv", tmp_path / "r.geojson", tmp_path / "c.tif", tmp_path / "p.tif")
    assert {p.name for p in report.written} == {"r.csv", "r.geojson", "c.tif", "c.tif.aux.xml", "c.qml", "p.tif"}
    assert not report.not_written

    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8-sig")))
    assert tuple(rows[0]) == CSV_FIELDS and len(rows) == len(result.rows) == 20
    for row, text in zip(result.rows, rows, strict=True):
        b, lon, lat = expected_window_geo(str(scene), row)
        assert (row.minx, row.miny, row.maxx, row.maxy) == pytest.approx(b)
        assert (row.centroid_lon, row.centroid_lat) == pytest.approx((lon, lat), abs=1e-9)
        assert float(text["centroid_lon"]) == pytest.approx(lon, abs=1e-9) and text["crs"] == crs
        assert text["predicted"] == row.predicted and float(text["top2_prob"]) == row.top[1][1]

    doc = json.loads((tmp_path / "r.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc and len(doc["features"]) == 20
    for feature, row in zip(doc["features"], result.rows, strict=True):
        (ring,) = feature["geometry"]["coordinates"]
        assert feature["geometry"]["type"] == "Polygon" and len(ring) == 5 and ring[0] == ring[-1]
        assert ring_area(ring) > 0  # exterior ring counter-clockwise
        lons, lats = np.array(ring)[:-1].T
        assert lons.min() < row.centroid_lon < lons.max() and lats.min() < row.centroid_lat < lats.max()
        assert feature["properties"] == json.loads(json.dumps(row.as_dict()))

    with rasterio.open(tmp_path / "c.tif") as ds:
        assert ds.crs == rasterio.crs.CRS.from_user_input(crs) and ds.dtypes == ("uint8",)
        assert ds.nodata == NODATA_CLASS and (ds.width, ds.height) == (5, 4)
        assert ds.read(1).tolist() == result.scenes[0].classes.tolist() == [[0, 0, 1, 1, 1]] * 4
        colours = ds.colormap(1)
        assert [colours[i][:3] for i in range(3)] == list(PALETTE[:3]) and colours[NODATA_CLASS][3] == 0
        assert ds.descriptions == ("class",)
        # the raster covers exactly the scene (130 x 100 px in 5 x 4 cells of 26 x 25 px)
        with rasterio.open(scene) as src:
            assert tuple(ds.bounds) == pytest.approx(tuple(src.bounds))
    with rasterio.open(tmp_path / "p.tif") as ds:
        assert ds.dtypes == ("float32",) and ds.nodata == -1.0 and ds.read(1).min() > 0.9
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_class_names_reach_gdal_and_qgis(tmp_path):
    result = label(colour_model(), [halves_scene(tmp_path / "s.tif")], tile=32)
    export_outputs(result, raster=tmp_path / "classes.tif")
    aux = ET.parse(tmp_path / "classes.tif.aux.xml").getroot()
    assert [c.text for c in aux.iter("Category")] == list(CLASSES)
    names = gdal_category_names(tmp_path / "classes.tif")
    if names is not None:
        assert names == list(CLASSES)
    qml = ET.parse(tmp_path / "classes.qml").getroot()
    renderer = qml.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = [(e.get("value"), e.get("label"), e.get("color")) for e in renderer.iter("paletteEntry")]
    assert entries == [(str(i), c, "#{:02x}{:02x}{:02x}".format(*PALETTE[i])) for i, c in enumerate(CLASSES)]


def test_class_names_with_markup_characters_are_escaped(tmp_path):
    result = label(colour_model(), [halves_scene(tmp_path / "s.tif")], tile=32)
    result.classes = ("a<b", 'quote"d', "r&d")
    export_outputs(result, raster=tmp_path / "c.tif")
    assert [c.text for c in ET.parse(tmp_path / "c.tif.aux.xml").getroot().iter("Category")] == list(result.classes)
    labels = [e.get("label") for e in ET.parse(tmp_path / "c.qml").getroot().iter("paletteEntry")]
    assert labels == list(result.classes)


def test_several_scenes_get_one_raster_each(tmp_path):
    a = halves_scene(tmp_path / "in" / "north.tif")
    b = halves_scene(tmp_path / "in" / "south.tif", crs="EPSG:32618")
    result = label(colour_model(), [a, b], tile=32)
    report = export_outputs(result, raster=tmp_path / "out" / "classes.tif")
    tifs = sorted(p.name for p in report.written if p.suffix == ".tif")
    assert tifs == ["classes_north.tif", "classes_south.tif"]
    with rasterio.open(tmp_path / "out" / "classes_south.tif") as ds:
        assert ds.crs.to_epsg() == 32618


def test_interrupted_export_writes_nothing_and_says_so(tmp_path, monkeypatch):
    result = label(colour_model(), [halves_scene(tmp_path / "s.tif")], tile=32)
    (tmp_path / "r.geojson").write_text("previous")

    def interrupted(result, path):
        path.write_text("half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(geo_export, "_write_geojson_file", interrupted)
    with pytest.raises(Cancelled) as err:
        export_outputs(result, tmp_path / "r.csv", tmp_path / "r.geojson", tmp_path / "c.tif")
    message = str(err.value)
    assert "written: none" in message and f"not written: {tmp_path / 'r.csv'}, {tmp_path / 'r.geojson'}" in message
    assert "c.tif" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.geojson", "s.tif"]  # no partial or temporary file
    assert (tmp_path / "r.geojson").read_text() == "previous"


def test_refusals_happen_before_anything_is_written(tmp_path):
    write_image(tmp_path / "in" / "plain.png", np.zeros((20, 20, 3), np.uint8))
    result = label(colour_model(tile=32), [tmp_path / "in"])
    with pytest.raises(ConfigError, match="georeferenced"):
        export_outputs(result, tmp_path / "r.csv", geojson=tmp_path / "r.geojson")
    with pytest.raises(ConfigError, match="scenes"):
        export_outputs(result, tmp_path / "r.csv", raster=tmp_path / "c.tif")
    with pytest.raises(ConfigError, match="confidence"):
        export_outputs(result, tmp_path / "r.csv", confidence=tmp_path / "p.tif")
    assert not (tmp_path / "r.csv").exists()
    assert export_outputs(result, csv_path=tmp_path / "r.csv").written[0].exists()
    with pytest.raises(ConfigError):
        export_outputs(result, geojson=tmp_path / "r.geojson")
    assert not (tmp_path / "r.geojson").exists()


class WhereModel(nn.Module):
    """Stand-in model whose class says where its window was read: the scene's red band is the pixel
    column and green the pixel row, so a window's means give its offset; class ``x{col}y{row}``. The
    own class gets a probability that grows with the class index (the rest shared evenly), so where
    windows overlap their average has one clear winner: the covering window with the highest
    confidence."""

    def __init__(self, xs: list[int], ys: list[int], tile: int) -> None:
        super().__init__()
        self.offsets = [(x, y) for y in ys for x in xs]
        self.tile = tile

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(f"x{x}y{y}" for x, y in self.offsets)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        means = images.float().mean((2, 3))
        read = [(round(float(r) - (self.tile - 1) / 2), round(float(g) - (self.tile - 1) / 2)) for r, g, _ in means]
        index = torch.tensor([self.offsets.index(o) for o in read])  # an unexpected window fails here
        n = len(self.offsets)
        own = 0.5 + 0.4 * index.float() / n
        probs = ((1 - own) / (n - 1))[:, None].repeat(1, n)
        probs[torch.arange(len(index)), index] = own
        return probs


def where_scene(path: Path, width: int = 100, height: int = 70) -> Path:
    """A scene whose red band is the pixel column and green band the pixel row (UTM, 2 m pixels)."""
    data = np.zeros((3, height, width), np.uint8)
    data[0] = np.arange(width)[None, :]
    data[1] = np.arange(height)[:, None]
    return write_geotiff(path, data, crs="EPSG:32631", origin=(431000.0, 5411000.0), pixel=2.0)


# stride, window offsets along x (100 px) and y (70 px) with 32 px windows: the last ones shifted back to 68 and 38
GRIDS = [(32, [0, 32, 64, 68], [0, 32, 38]), (16, [0, 16, 32, 48, 64, 68], [0, 16, 32, 38])]


@pytest.mark.parametrize("stride,xs,ys", GRIDS)
def test_raster_covers_exactly_the_scene_and_cells_take_the_windows_over_them(tmp_path, stride, xs, ys):
    scene = where_scene(tmp_path / "where.tif")
    predictor = WhereModel(xs, ys, 32)
    model = LabelModel(predictor, predictor.classes, 32, RasterSettings(), 32, "test-run", "Where")
    result = label(model, [scene], tile=32, stride=stride, mode="grid")
    assert len(result.rows) == len(xs) * len(ys)
    export_outputs(result, geojson=tmp_path / "w.geojson", raster=tmp_path / "c.tif", confidence=tmp_path / "p.tif")

    # CSV geometry and GeoJSON footprints are the windows really read (the class says where), edge ones included
    features = json.loads((tmp_path / "w.geojson").read_text(encoding="utf-8"))["features"]
    assert len(features) == len(result.rows)
    with rasterio.open(scene) as src:
        for row, feature in zip(result.rows, features, strict=True):
            x, y = (int(v) for v in row.predicted[1:].split("y"))
            assert (row.col_off, row.row_off, row.width, row.height) == (x, y, 32, 32)
            corners = [src.transform * (x + dx, y + dy) for dx, dy in ((0, 32), (32, 32), (32, 0), (0, 0))]
            lon, lat = warp_transform(src.crs, "EPSG:4326", *zip(*corners, strict=True))
            ring = feature["geometry"]["coordinates"][0]
            assert np.array(ring[:4]) == pytest.approx(np.stack([lon, lat], axis=1), abs=1e-7)
            assert feature["properties"]["col_off"] == x and feature["properties"]["row_off"] == y
        assert {(r.col_off, r.row_off) for r in result.rows} >= {(68, 38)}  # the corner window was shifted back

        with rasterio.open(tmp_path / "c.tif") as ds, rasterio.open(tmp_path / "p.tif") as conf:
            # exactly the scene: same bounds and CRS, ceil(scene / stride) cells
            assert ds.crs == src.crs and tuple(ds.bounds) == pytest.approx(tuple(src.bounds), abs=1e-6)
            assert (ds.width, ds.height) == (-(-100 // stride), -(-70 // stride))
            assert tuple(conf.bounds) == pytest.approx(tuple(src.bounds), abs=1e-6)
            classes, confidence = ds.read(1), conf.read(1)
            n = len(model.classes)
            for r in range(ds.height):
                for c in range(ds.width):
                    # the scene pixel under the cell's centre and the windows covering it
                    px, py = ~src.transform * ds.xy(r, c)
                    over = [w for w in result.rows
                            if w.col_off <= px < w.col_off + w.width and w.row_off <= py < w.row_off + w.height]
                    assert over, f"cell ({r}, {c}) is not over any window"
                    best = max(over, key=lambda w: w.confidence)
                    assert classes[r, c] == best.class_index, f"cell ({r}, {c})"
                    # the confidence band: the mean probability of that class over the covering windows
                    mean = np.mean([w.confidence if w is best else (1 - w.confidence) / (n - 1) for w in over])
                    assert confidence[r, c] == pytest.approx(mean, abs=1e-5)
            # the last column and row of cells hold the shifted-back edge windows
            assert all(model.classes[v].startswith("x68") for v in classes[:, -1])
            assert all(model.classes[v].endswith("y38") for v in classes[-1])


def test_south_up_rasters_still_get_counter_clockwise_rings():
    # a south-up transform (positive y pixel size) flips the corner order in lon/lat
    rings = footprints_wgs84("EPSG:32631", (1.0, 0, 500000.0, 0, 1.0, 5700000.0),
                                        np.array([[0, 0, 10, 10]], float))
    assert ring_area(rings[0].tolist()) > 0


REAL_SCENES = [("geotiff", "deepforest_github", "test_tiled.tif"),
               ("geotiff", "deepforest_github", "5b90f92da0d7280005fab355_4310.tif"),
               ("geotiff", "deepforest_github", "5dded5bc0140b80006d2e565_23.tif")]


def test_real_scenes_outputs_are_in_the_right_place(tmp_path):
    scenes = [shared_data(*parts) for parts in REAL_SCENES]
    result = label(colour_model(size=32, tile=256), scenes)
    assert [s.input.crs for s in result.scenes] == ["EPSG:28992", "EPSG:3395", "EPSG:3395"]
    assert len(result.rows) == result.total == 16 + 64 + 64
    report = export_outputs(result, tmp_path / "r.csv", tmp_path / "r.geojson", tmp_path / "classes.tif")
    rows = {(Path(r["path"]).name, int(r["cell_row"]), int(r["cell_col"])): r
            for r in csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8-sig"))}
    features = json.loads((tmp_path / "r.geojson").read_text(encoding="utf-8"))["features"]
    assert len(rows) == len(features) == 144
    for row, feature in zip(result.rows, features, strict=True):
        b, lon, lat = expected_window_geo(row.path, row)
        text = rows[(Path(row.path).name, row.cell_row, row.cell_col)]
        assert (float(text["centroid_lon"]), float(text["centroid_lat"])) == pytest.approx((lon, lat), abs=1e-9)
        assert (float(text["minx"]), float(text["maxy"])) == pytest.approx((b[0], b[3]))
        lons, lats = np.array(feature["geometry"]["coordinates"][0]).T
        assert lons.min() <= lon <= lons.max() and lats.min() <= lat <= lats.max()
    # test_tiled.tif lies in the Netherlands (EPSG:28992)
    first = result.rows[0]
    assert 4.5 < first.centroid_lon < 5.5 and 51.5 < first.centroid_lat < 52.5
    written = {p.name for p in report.written}
    for scene in scenes:
        tif = tmp_path / f"classes_{scene.stem}.tif"
        assert tif.name in written
        with rasterio.open(tif) as ds, rasterio.open(scene) as src:
            assert ds.crs == src.crs and ds.nodata == NODATA_CLASS and ds.colormap(1)[0][:3] == PALETTE[0]
            # the class raster covers exactly the scene: ceil(side / 256) cells (test_tiled.tif: 1000 px, 4 cells
            # of 250 px), never overhanging it
            assert tuple(ds.bounds) == pytest.approx(tuple(src.bounds))
            assert (ds.width, ds.height) == (-(-src.width // 256), -(-src.height // 256))
        names = gdal_category_names(tif)
        assert names is None or names == list(CLASSES)


# ---------------------------------------------------------------------------------------------
# output paths, all-or-nothing exports, CSV injection


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> content), temporaries included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("outputs,message", [
    ({"raster": "in/s.tif"}, "is an input"),
    ({"csv_path": "in/s.tif"}, "is an input"),
    ({"csv_path": "x", "geojson": "x"}, "would both be written to"),
    ({"raster": "r.tif", "confidence": "r.tif"}, "would both be written to"),
    ({"raster": "c.tif", "geojson": "c.qml"}, "would both be written to"),
    ({"raster": "c.tif", "csv_path": "c.tif.aux.xml"}, "would both be written to"),
    ({"raster": "c.tif", "csv_path": "c_north.tif"}, "would both be written to"),  # a per-scene raster name
    ({"raster": "c.tif", "confidence": "c.qml"}, "would both be written to"),
])
def test_outputs_that_overwrite_an_input_or_each_other_are_refused(tmp_path, monkeypatch, outputs, message):
    monkeypatch.chdir(tmp_path)
    halves_scene(tmp_path / "in" / "s.tif")
    if "c_north" in str(outputs):
        halves_scene(tmp_path / "in" / "north.tif")
    result = label(colour_model(), [tmp_path / "in"], tile=32)
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match=message) as err:
        export_outputs(result, **outputs)
    assert "0x" not in str(err.value) and err.value.hint
    assert snapshot(tmp_path) == before  # nothing written, the input untouched


def test_outputs_are_checked_before_any_image_is_labelled(tmp_path):
    scene = halves_scene(tmp_path / "s.tif")
    model = colour_model()
    with pytest.raises(ConfigError, match="is an input"):
        label_outputs(model, [scene], geo_export.Outputs(raster=scene))
    assert model.predictor.seen == []


def label_outputs(model, paths, outputs):
    from scl_desktop.core.events import drive
    from scl_desktop.core.labelling.label import LabelConfig, label_with_model
    from scl_desktop.core.labelling.tiling import TilingConfig

    config = LabelConfig(tiling=TilingConfig(tile=32), batch_size=8, device="cpu")
    return drive(label_with_model(model, paths, config, outputs=outputs))


def previous_export(folder: Path, scene: Path) -> dict[str, bytes]:
    """A complete earlier export (other class names) in ``folder``; returns its files."""
    result = label(colour_model(), [scene], tile=32)
    result.classes = ("old_a", "old_b", "old_c")
    export_outputs(result, folder / "r.csv", folder / "r.geojson", folder / "c.tif", folder / "p.tif")
    return snapshot(folder)


def test_a_raster_export_failing_half_way_leaves_the_previous_files_and_says_so(tmp_path, monkeypatch):
    from scl_desktop.core.errors import DiskFullError

    scene = halves_scene(tmp_path / "in" / "s.tif")
    out = tmp_path / "out"
    before = previous_export(out, scene)
    result = label(colour_model(), [scene], tile=32)
    written = []

    def text_file(text, path):  # the .aux.xml goes through, the .qml hits a full disk
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        path.write_text(text)

    monkeypatch.setattr(geo_export, "_write_text_file", text_file)
    with pytest.raises(DiskFullError) as err:
        export_outputs(result, raster=out / "c.tif")
    assert "written: none" in str(err.value) and f"not written: {out / 'c.tif'}" in str(err.value)
    assert str(out / "c.qml") in str(err.value)
    assert snapshot(out) == before  # the old .qml still matches the old raster; no new file, no temporary


class DiskFull:
    """Counts write points (file writes, GeoTIFF writes, renames); raises ENOSPC at number ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.count, self.fail_at = 0, fail_at

    def point(self) -> None:
        self.count += 1
        if self.count == self.fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")

    def install(self, monkeypatch) -> None:
        import builtins

        disk = self

        class File:
            def __init__(self, fh):
                self.fh = fh

            def write(self, text):
                disk.point()
                return self.fh.write(text)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

        original_tiff, original_replace = geo_export._write_geotiff, os.replace

        def geotiff(*args, **kwargs):
            original_tiff(*args, **kwargs)
            disk.point()  # fails with the (partial) file on disk

        def replace(*args, **kwargs):
            disk.point()
            return original_replace(*args, **kwargs)

        monkeypatch.setattr(geo_export, "open", lambda *a, **k: File(builtins.open(*a, **k)), raising=False)
        monkeypatch.setattr(geo_export, "_write_geotiff", geotiff)
        monkeypatch.setattr(os, "replace", replace)


def test_a_full_disk_at_any_write_leaves_no_partial_or_mixed_set_of_files(tmp_path, monkeypatch):
    from scl_desktop.core.errors import DiskFullError

    scene = halves_scene(tmp_path / "in" / "s.tif")
    result = label(colour_model(), [scene], tile=32)
    with monkeypatch.context() as m:
        good = DiskFull()
        good.install(m)
        wanted = ("r.csv", "r.geojson", "c.tif", "p.tif")
        report = export_outputs(result, *(tmp_path / "count" / n for n in wanted))
    assert len(report.written) == 6 and good.count > 12
    for k in range(1, good.count + 1):
        for previous in (False, True):
            out = tmp_path / f"k{k}{'p' * previous}"
            out.mkdir()
            before = previous_export(out, scene) if previous else {}
            with monkeypatch.context() as m:
                DiskFull(k).install(m)
                with pytest.raises(DiskFullError) as err:
                    export_outputs(result, *(out / n for n in wanted))
            assert snapshot(out) == before, f"write {k} of {good.count} (previous files: {previous})"
            message = str(err.value)
            assert "written: none" in message, message
            assert all(str(out / n) in message for n in ("r.csv", "r.geojson", "c.tif", "c.tif.aux.xml", "c.qml"))


def test_text_cells_that_start_a_formula_are_neutralised_numbers_never(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    halves_scene(tmp_path / "=HYPERLINK(1).tif", crs="EPSG:3857", origin=(-20000.0, -10000.0))
    model = colour_model()
    model = type(model)(model.predictor, ("=cmd|' /C calc'!A0", "+green", "@blue"), model.size, model.raster,
                        model.default_tile)
    result = label(model, ["=HYPERLINK(1).tif"], tile=32)
    export_outputs(result, csv_path=tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8-sig")))
    assert {r["path"] for r in rows} == {"'=HYPERLINK(1).tif"}
    assert {r["predicted"] for r in rows} == {"'=cmd|' /C calc'!A0", "'+green"}
    assert {r["top3_class"] for r in rows} == {"'@blue"}
    assert all(r["minx"].startswith("-") and float(r["minx"]) < 0 for r in rows)  # negative numbers stay numbers


def test_csv_has_a_byte_order_mark_for_spreadsheets_unless_asked_not_to(tmp_path):
    scene = halves_scene(tmp_path / "scène.tif", crs="EPSG:3857", origin=(-20000.0, -10000.0))
    model = colour_model()
    names = ("Hafen/Überseehafen", "résidentiel", "水")
    model = type(model)(model.predictor, names, model.size, model.raster, model.default_tile)
    result = label(model, [scene], tile=32)
    export_outputs(result, csv_path=tmp_path / "bom.csv")
    export_outputs(result, csv_path=tmp_path / "plain.csv", csv_bom=False)
    with_bom, plain = (tmp_path / "bom.csv").read_bytes(), (tmp_path / "plain.csv").read_bytes()
    assert with_bom.startswith(b"\xef\xbb\xbf") and not plain.startswith(b"\xef\xbb\xbf")
    assert with_bom[3:] == plain  # the same table, only the mark differs
    rows = list(csv.DictReader(open(tmp_path / "bom.csv", encoding="utf-8-sig", newline="")))
    assert tuple(rows[0]) == CSV_FIELDS  # the mark does not stick to the first column's name
    assert {r["predicted"] for r in rows} == {"Hafen/Überseehafen", "résidentiel"}
    assert {r["path"] for r in rows} == {str(scene)}
    assert "Hafen/Überseehafen" in plain.decode("utf-8")
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, no temporaries left
