"""Dataset import from class folders and CSV lists, the import report, and `scl import`."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from scl_desktop import cli
from scl_desktop.core.data import imaging
from scl_desktop.core.data import importer as dataset_import
from scl_desktop.core.data.cache import build_store
from scl_desktop.core.data.importer import ImportConfig, default_manifest_path, import_dataset
from scl_desktop.core.data.manifest import DatasetManifest, SplitManifest
from scl_desktop.core.data.split import SplitConfig, build_split
from scl_desktop.core.errors import Cancelled, ConfigError, DatasetError
from scl_desktop.core.events import CancelToken, Log, Progress, drive
from tests.conftest import shared_data
from tests.core.raster_fixtures import NOT_GEOREFERENCED_OK, class_tree, rgb, write_geotiff, write_image

pytestmark = NOT_GEOREFERENCED_OK


def run_import(source: Path | str, **options) -> tuple[DatasetManifest, list]:
    events: list = []
    manifest = drive(import_dataset(ImportConfig(source=source, **options)), events.append)
    return manifest, events


def reasons(manifest: DatasetManifest) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in manifest.report.skipped}


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """Good and bad files of every kind the issue names, in two class folders."""
    root = tmp_path / "my data ü"
    write_image(root / "fields" / "a.jpg", rgb(1), quality=90)
    write_image(root / "fields" / "nested deeper" / "B.JPEG", rgb(2), quality=90)
    write_image(root / "fields" / "rgba.png", np.dstack([rgb(3), np.full((24, 24), 255, np.uint8)]))
    write_image(root / "fields" / "deep16.tif", np.arange(24 * 24, dtype=np.uint16).reshape(24, 24) * 50)
    good_jpeg = write_image(root / "wäter bodies" / "see blick é.jpg", rgb(4), quality=90)
    write_image(root / "wäter bodies" / "grey.bmp", rgb(5)[..., 0])
    write_image(root / "wäter bodies" / "palette.PNG", rgb(6)[..., 0], mode="L")
    broken = good_jpeg.read_bytes()
    (root / "wäter bodies" / "corrupt.jpg").write_bytes(broken[: len(broken) // 2])
    (root / "wäter bodies" / "empty.png").write_bytes(b"")
    (root / "fields" / "notes.tif").write_text("this is a text file, not a TIFF")
    (root / "fields" / "README.txt").write_text("about the fields")
    (root / ".hidden").mkdir()
    (root / "fields" / ".DS_Store").write_bytes(b"\0\0")
    write_image(root / "loose.png", rgb(7))
    return root


def test_messy_folder_imports_good_files_and_reports_bad_ones(messy):
    manifest, events = run_import(messy, size=32)
    assert manifest.classes == ("fields", "wäter bodies")
    assert manifest.counts() == {"fields": 4, "wäter bodies": 3}
    assert manifest.size == 32
    why = reasons(manifest)
    assert set(why) == {"corrupt.jpg", "empty.png", "notes.tif", "README.txt", "loose.png"}
    assert why["corrupt.jpg"].startswith("corrupt or truncated")
    assert why["empty.png"] == "empty file (0 bytes)"
    assert why["notes.tif"].startswith("not an image")
    assert why["README.txt"].startswith("not an image file type")
    assert why["loose.png"].startswith("not inside a class folder")
    items = {Path(i.path).name: i for i in manifest.items}
    assert items["see blick é.jpg"].label == "wäter bodies" and Path(items["see blick é.jpg"].path).is_absolute()
    assert items["deep16.tif"].dtype == "uint16" and items["rgba.png"].bands == 3
    assert items["B.JPEG"].label == "fields" and len(items["a.jpg"].sha256) == 64
    assert manifest.raster.stats is not None  # the 16-bit TIFF was sampled
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == 10 and progress[-1].eta_s == 0
    assert any(isinstance(e, Log) and "skipped" in e.message for e in events)


def test_manifest_roundtrip(messy, tmp_path):
    manifest, _ = run_import(messy)
    path = manifest.save(tmp_path / "out" / "m.json")
    again = DatasetManifest.load(path)
    assert again == manifest


def test_duplicates_and_small_classes_are_reported(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 3, "b": 2, "c": 1})
    (root / "b" / "copy.png").write_bytes((root / "a" / "a_0.png").read_bytes())
    manifest, _ = run_import(root)
    assert manifest.report.duplicates == ((str(root / "a" / "a_0.png"), str(root / "b" / "copy.png")),)
    assert manifest.report.small_classes == ("c",)
    assert manifest.counts() == {"a": 3, "b": 3, "c": 1}


def test_stretch_is_over_the_dataset_not_per_tile(tmp_path):
    dark = np.full((3, 16, 16), 1000, np.uint16)
    dark[:, :8] = 1100
    bright = np.full((3, 16, 16), 3000, np.uint16)
    bright[:, :8] = 3100
    write_geotiff(tmp_path / "s" / "dark" / "t.tif", dark)
    write_geotiff(tmp_path / "s" / "bright" / "t.tif", bright)
    manifest, _ = run_import(tmp_path / "s", stretch=(0, 100))
    assert manifest.raster.stats == ((1000.0, 3100.0),) * 3
    dark_rgb = imaging.read_rgb(manifest.items[1].path, manifest.raster)
    assert manifest.items[1].label == "dark" and dark_rgb.max() < 20  # per-tile stretch would reach 255


def test_stats_sample_is_bounded_and_excludes_nodata(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_import, "SAMPLE_BUDGET", 200)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        data = rng.random((4, 32, 32)) * 100.0 + 50.0
        data[:, :, :4] = -9999.0
        write_geotiff(tmp_path / "f" / name / "ms.tif", data, nodata=-9999.0)
    manifest, events = run_import(tmp_path / "f", stretch=(0, 100))
    message = next(e.message for e in events if isinstance(e, Log) and e.message.startswith("Stretch"))
    assert int(message.split(" over ")[1].split()[0]) <= 200
    assert all(50.0 <= lo <= hi <= 150.0 for lo, hi in manifest.raster.stats)
    out = imaging.read_rgb(manifest.items[0].path, manifest.raster)
    assert (out[:, :4] == 0).all()


def test_geotiffs_any_band_count_and_dtype_keep_their_crs(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "geo"
    write_geotiff(root / "u16" / "a.tif", rng.integers(0, 4000, (3, 12, 12), dtype=np.uint16))
    write_geotiff(root / "u16" / "b.tif", rng.integers(0, 4000, (3, 12, 12), dtype=np.uint16), crs=None)
    ms = rng.random((4, 12, 12))
    ms[:, 0, 0] = -1.0
    write_geotiff(root / "ms" / "a.tif", ms, crs="EPSG:4326", nodata=-1.0)
    write_geotiff(root / "ms" / "pan.tif", rng.random((1, 12, 12)).astype(np.float32), crs="EPSG:3857")
    manifest, _ = run_import(root, size=16)
    assert not manifest.report.skipped
    facts = {(i.label, Path(i.path).name): (i.bands, i.dtype, i.crs) for i in manifest.items}
    assert facts == {
        ("ms", "a.tif"): (4, "float64", "EPSG:4326"), ("ms", "pan.tif"): (1, "float32", "EPSG:3857"),
        ("u16", "a.tif"): (3, "uint16", "EPSG:32631"), ("u16", "b.tif"): (3, "uint16", None),
    }
    assert manifest.items[0].bounds is not None


def test_band_mapping_out_of_range_is_an_unsupported_bands_skip(tmp_path):
    four = {"photometric": "MINISBLACK"}  # 4 data bands (GDAL would make a 4th byte band alpha)
    write_geotiff(tmp_path / "g" / "four" / "a.tif", np.ones((4, 8, 8), np.uint8), **four)
    write_geotiff(tmp_path / "g" / "four" / "b.tif", np.ones((4, 8, 8), np.uint8) * 2, **four)
    write_image(tmp_path / "g" / "rgb" / "c.png", rgb(1))
    write_image(tmp_path / "g" / "rgb2" / "d.png", rgb(2))
    write_geotiff(tmp_path / "g" / "rgb2" / "e.tif", np.ones((4, 8, 8), np.uint8) * 3, **four)
    manifest, _ = run_import(tmp_path / "g", bands=(4, 3, 2))
    assert manifest.raster.bands == (4, 3, 2)
    assert manifest.classes == ("four", "rgb2")
    assert reasons(manifest)["c.png"].startswith("unsupported bands (the image has 3 bands")
    assert reasons(manifest)["d.png"].startswith("unsupported bands")


def test_csv_source(tmp_path):
    images = class_tree(tmp_path / "imgs", {"x": 2, "y": 2})
    csv_path = tmp_path / "lists" / "data.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(
        "path,label,split\n"
        f"../imgs/x/x_0.png,forest,train\n"
        f"{images / 'x' / 'x_1.png'},forest,TEST\n"
        "../imgs/y/y_0.png,sea,validation\n"
        "../imgs/y/y_1.png,sea,\n"
        "../imgs/y/missing.png,sea,train\n"
        "../imgs/y/y_0.png,sea,train\n"
        "just-one-cell\n"
        "../imgs/x/x_0.png,forest,holdout\n",
        encoding="utf-8",
    )
    manifest, _ = run_import(csv_path)
    assert manifest.classes == ("forest", "sea")
    assert [(Path(i.path).name, i.label, i.split) for i in manifest.items] == [
        ("x_0.png", "forest", "train"), ("x_1.png", "forest", "test"),
        ("y_0.png", "sea", "val"), ("y_1.png", "sea", None),
    ]
    why = {s.path: s.reason for s in manifest.report.skipped}
    assert why[str(images / "y" / "missing.png")].startswith("file not found")
    assert why[f"{csv_path}:8"] == "CSV line 8 needs a path and a label"
    assert any(r.startswith("listed twice") for r in why.values())
    assert any("unknown split 'holdout'" in r for r in why.values())


def test_headerless_rfc4180_csv_with_doubled_quotes_keeps_every_row(tmp_path):
    rows = [[name, ["one", 'two "2"'][i % 2]] for i, name in enumerate(['".png', "' ';.png", "a.png", "b.png"])]
    for i, (name, _label) in enumerate(rows):
        write_image(tmp_path / name, rgb(i))
    csv_path = tmp_path / "list.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)  # RFC 4180: quoted where needed, quotes doubled (csv.Sniffer misreads it)
    manifest, _ = run_import(csv_path)
    assert not manifest.report.skipped
    assert sorted((Path(i.path).name, i.label) for i in manifest.items) == sorted(map(tuple, rows))


def test_csv_whose_rows_all_fail_says_why(tmp_path):
    csv_path = tmp_path / "list.csv"
    csv_path.write_text("gone.png,a\nalso-gone.png,b\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"No images found .*gone.png: file not found \(CSV line 1\)"):
        run_import(csv_path)


def test_all_nodata_and_all_nan_images_are_skipped_as_empty(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 2, "b": 2})
    write_geotiff(root / "a" / "nodata.tif", np.full((3, 8, 8), 7, np.uint16), nodata=7)
    write_geotiff(root / "b" / "nan.tif", np.full((1, 8, 8), np.nan, np.float32))
    write_image(root / "b" / "clear.png", np.zeros((8, 8, 4), np.uint8))
    manifest, _ = run_import(root)
    assert len(manifest.items) == 4 and manifest.raster.stats is None
    assert {name: why.split(":")[0] for name, why in reasons(manifest).items()} == {
        "nodata.tif": "empty image", "nan.tif": "empty image", "clear.png": "empty image"}


def test_unreadable_folders_are_reported(tmp_path, monkeypatch):
    root = class_tree(tmp_path / "d", {"a": 2, "b": 2, "locked class": 1})
    class_tree(root / "a", {"locked": 2})
    scandir = os.scandir

    def refuse_locked(path):
        if Path(path).name.startswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(dataset_import.os, "scandir", refuse_locked)
    manifest, _ = run_import(root)
    assert manifest.counts() == {"a": 2, "b": 2}
    assert {s.path: s.reason for s in manifest.report.skipped} == {
        str(root / name): "folder cannot be listed (Permission denied): the images in it are left out"
        for name in ("a/locked", "locked class")}


def test_links_into_or_above_the_dataset_are_reported_not_followed(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 2, "b": 2})
    outside = class_tree(tmp_path / "elsewhere", {"more": 1})
    os.symlink(root, root / "a" / "up")
    os.symlink(root / "b", root / "a" / "sibling")
    os.symlink(root / "b", root / "alias")
    os.symlink(outside / "more", root / "a" / "more")
    os.symlink(outside / "more", root / "a" / "again")
    os.symlink(outside, root / "outer")  # a class folder outside the dataset, with a link back to itself
    os.symlink(outside, outside / "loop")
    manifest, _ = run_import(root)
    assert manifest.classes == ("a", "b", "outer") and manifest.counts() == {"a": 3, "b": 2, "outer": 1}
    assert str(root / "a" / "again" / "more_0.png") in {i.path for i in manifest.items}
    why = {Path(s.path).name: s.reason for s in manifest.report.skipped}
    assert set(why) == {"up", "sibling", "alias", "more", "loop"}  # "again" was walked first, "more" repeats it
    assert all("inside or above the dataset folder: not followed" in why[n] for n in ("up", "sibling", "alias"))
    assert why["more"] == why["loop"] == "link to a folder already walked: not followed again"


def test_file_names_that_are_not_utf8_import_save_and_decode(tmp_path, capsys):
    root = tmp_path / "d"
    class_tree(root, {"a": 2})
    folder = os.fsencode(root) + b"/b\xe9ta"
    os.mkdir(folder)
    for name, seed in ((b"caf\xe9 \xff.png", 1), (b"b\xe4d.png", 2)):
        write_image(tmp_path / "tmp.png", rgb(seed))
        os.rename(tmp_path / "tmp.png", folder + b"/" + name)
    with open(folder + b"/\xfe.jpg", "wb") as fh:
        fh.write(b"not an image")
    geo = os.fsdecode(os.fsencode(root / "a") + b"/g\xe9o.tif")
    os.rename(write_geotiff(tmp_path / "tmp.tif", np.arange(192, dtype=np.uint16).reshape(3, 8, 8)), geo)
    manifest, _ = run_import(root, size=16)
    assert manifest.classes == ("a", "b\\xe9ta")  # the label is readable text
    odd = os.fsdecode(os.fsencode(root) + b"/b\xe9ta/caf\xe9 \xff.png")
    assert odd in {i.path for i in manifest.items} and geo in {i.path for i in manifest.items}
    assert reasons(manifest)[os.fsdecode(b"\xfe.jpg")].startswith("not an image")
    saved = manifest.save(tmp_path / "m.json")
    assert "\\udce9" in saved.read_text(encoding="utf-8") and DatasetManifest.load(saved) == manifest
    store = drive(build_store(manifest))
    assert len(store) == len(manifest.items) == 5
    split = build_split(manifest, SplitConfig(protocol="stratified", test_frac=0.5))
    assert SplitManifest.load(split.save(tmp_path / "s.json")) == split
    assert default_manifest_path(manifest).name == "d.json"
    assert cli.main(["import", str(root), "--no-cache", "--out", str(tmp_path / "cli.json")]) == 0
    text = capsys.readouterr().out
    assert "b\\xe9ta" in text and "\\xfe.jpg: not an image" in text
    assert cli.main(["import", str(root), "--no-cache", "--out", str(tmp_path / "cli.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [Path(s["path"]).name for s in report["skipped"]] == ["\\xfe.jpg"]


def test_csv_listing_file_names_that_are_not_utf8(tmp_path):
    root = class_tree(tmp_path / "imgs", {"x": 1, "y": 1})
    os.rename(root / "y" / "y_0.png", os.fsencode(root / "y") + b"/\xe9t\xe9.png")
    csv_path = tmp_path / "list.csv"
    csv_path.write_bytes(b"imgs/x/x_0.png,x\nimgs/y/\xe9t\xe9.png,caf\xe9\n")
    manifest, _ = run_import(csv_path)
    assert manifest.classes == ("caf\\xe9", "x") and not manifest.report.skipped
    assert os.fsencode(manifest.items[0].path).endswith(b"/\xe9t\xe9.png")


def test_wrapper_folder_is_looked_through(tmp_path):
    class_tree(tmp_path / "UCM" / "Images", {"a": 2, "b": 2})
    manifest, events = run_import(tmp_path / "UCM")
    assert manifest.classes == ("a", "b") and manifest.source == str(tmp_path / "UCM")
    assert any("as the dataset folder" in e.message for e in events if isinstance(e, Log))


def test_class_order_orders_and_restricts(tmp_path):
    root = class_tree(tmp_path / "c", {"a": 2, "b": 2, "c": 2})
    manifest, _ = run_import(root, class_order=("c", "a"))
    assert manifest.classes == ("c", "a") and [i.label for i in manifest.items] == ["c", "c", "a", "a"]
    with pytest.raises(DatasetError, match="not in the dataset: zebra"):
        run_import(root, class_order=("a", "zebra"))


@pytest.mark.parametrize("layout, message", [
    ({}, "No images found"),
    ({"only": 3}, "Only one class"),
])
def test_unusable_sources_raise_dataset_errors(tmp_path, layout, message):
    root = class_tree(tmp_path / "src", layout)
    root.mkdir(exist_ok=True)
    with pytest.raises(DatasetError, match=message) as info:
        run_import(root)
    assert "class" in info.value.hint


def test_missing_source_all_bad_files_and_bad_options(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        run_import(tmp_path / "nowhere")
    for name in ("a", "b"):
        (tmp_path / "bad" / name).mkdir(parents=True)
        (tmp_path / "bad" / name / "x.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="None of the 2 image files"):
        run_import(tmp_path / "bad")
    write_image(tmp_path / "flat" / "x.png", rgb(1))
    write_image(tmp_path / "flat" / "y.png", rgb(2))
    with pytest.raises(DatasetError, match="holds 2 images but no class folders") as info:
        run_import(tmp_path / "flat")
    assert "ROOT/<class>/<image>" in info.value.hint
    with pytest.raises(ConfigError):
        run_import(tmp_path / "bad", stretch=(98, 2))
    with pytest.raises(ConfigError):
        run_import(tmp_path / "bad", bands=(0, 1, 2))


def test_import_can_be_cancelled(tmp_path):
    root = class_tree(tmp_path / "c", {"a": 20, "b": 20})
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        drive(import_dataset(ImportConfig(root), cancel=token))


def test_default_manifest_path_does_not_clobber_another_source(tmp_path):
    first, _ = run_import(class_tree(tmp_path / "one" / "data", {"a": 2, "b": 2}))
    second, _ = run_import(class_tree(tmp_path / "two" / "data", {"a": 2, "b": 2}))
    path = default_manifest_path(first)
    assert path.name == "data.json" and path.parent.name == "datasets"
    first.save(path)
    assert default_manifest_path(first) == path
    assert default_manifest_path(second).name.startswith("data-")


# --- the `scl import` command ----------------------------------------------------------------


def test_cli_import_json(messy, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert cli.main(["import", str(messy), "--size", "16", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == [{"name": "fields", "count": 4}, {"name": "wäter bodies", "count": 3}]
    assert {Path(s["path"]).name for s in report["skipped"]} == {
        "corrupt.jpg", "empty.png", "notes.tif", "README.txt", "loose.png"}
    assert report["duplicates"] == [] and report["manifest"] == str(out)
    assert report["cache"]["images"] == 7 and report["cache"]["size"] == 16 and not report["cache"]["hit"]
    assert report["cache"]["read_all_s"] is None
    assert DatasetManifest.load(out).size == 16
    assert cli.main(["import", str(messy), "--size", "16", "--out", str(out), "--json", "--time-read"]) == 0
    again = json.loads(capsys.readouterr().out)["cache"]
    assert again["hit"] and again["read_all_s"] >= 0  # logic: a duration was recorded


def test_cli_import_without_a_size_leaves_the_choice_to_training(messy, tmp_path, capsys):
    out = tmp_path / "auto.json"
    assert cli.main(["import", str(messy), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cache"] is None  # nothing decoded at a size no training may use
    assert DatasetManifest.load(out).size is None


def test_cli_import_text_no_cache_and_errors(tmp_path, capsys):
    root = class_tree(tmp_path / "c", {"a": 2, "b": 1})
    assert cli.main(["import", str(root), "--no-cache", "--bands", "1", "--stretch", "1,99"]) == 0
    text = capsys.readouterr().out
    assert "Imported 3 images in 2 classes" in text and "fewer than 2 images: b" in text
    manifest = DatasetManifest.load(text.split("Manifest: ")[1].split("\n")[0])
    assert manifest.raster.bands == (1, 1, 1) and manifest.raster.stretch == (1.0, 99.0)
    assert "Cache: not decoded now" in text
    assert cli.main(["import", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["import", str(root), "--bands", "3,2"])
    assert "one or three band numbers" in capsys.readouterr().err


def test_cli_help_explains_the_layout(capsys):
    with pytest.raises(SystemExit):
        cli.main(["import", "--help"])
    text = capsys.readouterr().out
    assert "ROOT/<class>/<image>" in text and "--bands" in text and "--no-cache" in text


# --- real data (../shared/data; skipped when absent) -------------------------------------------


def test_ucmerced_imports_21_by_100_with_nothing_skipped():
    manifest, _ = run_import(shared_data("ucmerced"), class_order=None)
    assert len(manifest.classes) == 21 and set(manifest.counts().values()) == {100}
    assert not manifest.report.skipped and not manifest.report.small_classes
    assert manifest.raster.stats is None  # 8-bit JPEGs are not stretched
    assert {(i.width, i.height) for i in manifest.items} >= {(256, 256)}


def test_rsi_cb_sample_imports_35_by_5():
    manifest, _ = run_import(shared_data("rsi_cb_sample5"))
    assert len(manifest.classes) == 35 and set(manifest.counts().values()) == {5}
    assert not manifest.report.skipped


def test_ucmerced_tif_sample_imports():
    manifest, _ = run_import(shared_data("ucmerced_tif_sample"), size=64)
    assert len(manifest.classes) == 21 and set(manifest.counts().values()) == {5}
    assert not manifest.report.skipped and {i.dtype for i in manifest.items} == {"uint8"}


def test_every_shared_geotiff_imports_with_its_crs(tmp_path):
    source = shared_data("geotiff")
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".tif", ".tiff"))
    for path in files:
        folder = tmp_path / "geo" / path.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        os.symlink(path, folder / path.name)
    manifest, _ = run_import(tmp_path / "geo", size=32)
    assert not manifest.report.skipped and len(manifest.items) == len(files)
    assert all(i.crs for i in manifest.items) and all(i.bounds for i in manifest.items)
    kinds = {(i.bands, i.dtype) for i in manifest.items}
    assert {(1, "uint16"), (4, "float64"), (3, "uint8"), (4, "uint8"), (6, "uint8")} <= kinds
    assert manifest.raster.stats is not None
