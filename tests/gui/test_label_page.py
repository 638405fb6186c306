"""The Label page with a tiny trained run: the demo scene and a folder of images labelled from the real
window, the live table with its filters, the class histogram, the classified scene overlay, exports with
their report, cancel, and bad input reaching the error dialog.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from scl_desktop.core.events import drive
from scl_desktop.core.labelling.label import LabelBatch
from scl_desktop.gui.widgets.label_table import COLUMNS
from tests.core.training.test_classifier import tiny_classifier_config
from tests.core.training.test_encoder import tiny_encoder_config, tiny_split
from tests.gui.conftest import drop_paths, error_dialogs, no_errors, wait_idle

SCENE_TILE = 128  # the 1024 px demo scene in 8 x 8 windows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """A tiny real run (stage 1 + SCL-CB classifier, 4 classes of 24 px images) and its image folder."""
    from scl_desktop.core.training.classifier import fit_classifier
    from scl_desktop.core.training.encoder import train_encoder

    root = tmp_path_factory.mktemp("label-page")
    threads = torch.get_num_threads()
    try:
        run = drive(train_encoder(tiny_split(root), tiny_encoder_config(epochs=1)))
        drive(fit_classifier(run, tiny_classifier_config(epochs=1)))
    finally:
        torch.set_num_threads(threads)
    return run, root / "images"


@pytest.fixture
def page(window, trained):  # noqa: ANN001, ANN201
    """The Label page of the real window, showing the tiny run."""
    run, _ = trained
    window.show_page("label")
    label = window.pages["label"]
    label.refresh_runs()
    label.run_combo.setCurrentIndex(label.run_combo.findData(run.id))
    assert label.run is not None and label.run.id == run.id
    label.device.setCurrentText("cpu")
    return label


def run_labelling(qtbot, window, page) -> object:  # noqa: ANN001
    page.controls.start_button.click()
    assert window.session.busy, "Label did not start a task"
    wait_idle(qtbot, window)
    no_errors(window)
    assert page.outcome is not None
    return page.outcome.result


def test_demo_scene_dropped_labelled_reviewed_and_exported(qtbot, window, page, tmp_path: Path) -> None:  # noqa: ANN001
    from scl_desktop.core.data.demo import ensure_demo_scene

    scene = ensure_demo_scene()
    drop_paths(window, [scene])  # on the Label page a drop adds inputs to label, it does not import a dataset
    assert window.current_page() == "label" and page.inputs == [scene] and window.session.dataset is None
    page.tile.setValue(SCENE_TILE)
    result = run_labelling(qtbot, window, page)
    assert result.total == 64 and len(result.rows) == 64 and len(result.scenes) == 1

    # the table holds every row; the histogram the counts per class
    assert page.model.rowCount() == page.proxy.rowCount() == len(result.rows)
    counts = result.counts()
    assert page.model.class_counts() == counts
    qtbot.waitUntil(lambda: page.histogram.values == counts, timeout=2000)
    assert f"{len(result.rows)} rows" in page.shown.text()
    # thumbnails are read for the rows the view shows
    qtbot.waitUntil(lambda: page.model.thumbnails_loaded() > 0, timeout=5000)
    assert page.model.thumbnails_loaded() < len(result.rows) or len(result.rows) <= 12

    # filters: one class, then a minimum confidence
    top_class = max(counts, key=counts.get)
    page.set_filter(top_class)
    assert page.proxy.rowCount() == counts[top_class]
    assert {page.table.row_at(i).predicted for i in range(page.proxy.rowCount())} == {top_class}
    from scl_desktop.gui.widgets.scene_view import HIDDEN_VEIL

    veiled = (page.scene_view.overlay_image() == HIDDEN_VEIL).all(axis=-1)
    assert (~veiled).sum() == counts[top_class]  # the overlay follows the filter: other windows are veiled
    page.set_filter(None, 100)
    confident = sum(r.confidence >= 1.0 for r in result.rows)
    assert page.proxy.rowCount() == confident < len(result.rows)
    page.set_filter(None, 0)
    # sorting by confidence, both ways
    page.table.sortByColumn(COLUMNS.index("Confidence"), Qt.SortOrder.AscendingOrder)
    shown = [page.table.row_at(i).confidence for i in range(page.proxy.rowCount())]
    assert shown == sorted(shown) and len(shown) == len(result.rows)

    # the classified scene over the image: one colour per window, none transparent
    view = page.scene_view
    assert view.selector.count() == 1 and view.previews[0] is not None
    assert view.image.image.shape == (1024, 1024, 3)
    overlay = view.overlay_image()
    assert overlay.shape == (8, 8, 4) and (overlay[..., 3] == 255).all()
    assert 0 < view.overlay.opacity() < 1
    assert "64 of 64 cells" in view.caption.text()
    # a window clicked in the scene is selected in the table, and a selected row is outlined in the scene
    page.select_window(str(scene), 2, 3)
    selected = page.table.row_at(page.table.currentIndex().row())
    assert (selected.cell_row, selected.cell_col) == (2, 3)
    assert view.marker.isVisible() and view.marker.rect().topLeft().toTuple() == (3 * SCENE_TILE, 2 * SCENE_TILE)
    page.table.selectRow(0)
    first = page.table.row_at(0)
    assert view.marker.rect().topLeft().toTuple() == (first.cell_col * SCENE_TILE, first.cell_row * SCENE_TILE)

    # export everything into a folder: all five files, the CSV with one line per row
    page.exporter.with_confidence.setChecked(True)
    page.exporter.export(page.exporter.targets(tmp_path))
    wait_idle(qtbot, window)
    no_errors(window)
    report = page.exporter.last_report
    names = {p.name for p in report.written}
    assert names == {"labels.csv", "labels.geojson", "labels_classes.tif", "labels_classes.tif.aux.xml",
                     "labels_classes.qml", "labels_confidence.tif"}
    assert page.exporter.csv_bom.isChecked()  # by default the CSV has a byte-order mark, for spreadsheets
    assert (tmp_path / "labels.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with open(tmp_path / "labels.csv", newline="", encoding="utf-8-sig") as fh:
        assert len(list(csv.DictReader(fh))) == len(result.rows)
    text = page.exporter.report.text()
    assert f"Written</b> ({len(names)}): labels.csv, " in text and "Not written" not in text


def test_folder_of_images_and_outputs_that_cannot_be_made(qtbot, window, page, trained, tmp_path: Path,
                                                          monkeypatch) -> None:  # noqa: ANN001
    run, images = trained
    page.add_inputs([images])
    result = run_labelling(qtbot, window, page)
    assert len(result.rows) == len(run.split.dataset.items) == page.model.rowCount()
    assert all(r.cell_row is None for r in result.rows) and not result.scenes
    assert "no classified scene" in page.scene_view.caption.text()
    assert not page.exporter.buttons["raster"].isEnabled() and not page.exporter.buttons["geojson"].isEnabled()
    assert "georeferenced" in page.exporter.buttons["geojson"].toolTip()

    # the CSV button asks where (a save dialog) and writes there
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "table"), ""))
    page.exporter.csv_bom.setChecked(False)  # plain UTF-8
    page.exporter.buttons["csv"].click()
    wait_idle(qtbot, window)
    no_errors(window)
    assert page.exporter.last_report.written == [tmp_path / "table.csv"]
    assert (tmp_path / "table.csv").read_bytes().startswith(b"path,")
    with open(tmp_path / "table.csv", newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == len(result.rows)

    # "all to folder": what cannot be made is listed with the reason, the rest is written
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "all"))
    page.exporter.buttons["all"].click()
    wait_idle(qtbot, window)
    assert [p.name for p in page.exporter.last_report.written] == ["labels.csv"]
    report = page.exporter.report.text()
    assert "labels.geojson (none of the labelled inputs is georeferenced" in report
    assert "labels_classes.tif (no input was cut into windows" in report


def test_cancel_keeps_the_rows_so_far(qtbot, window, page) -> None:  # noqa: ANN001
    from scl_desktop.core.data.demo import ensure_demo_scene

    page.add_inputs([ensure_demo_scene()])
    page.tile.setValue(64)  # 256 windows
    page.batch.setValue(1)
    page.controls.start_button.click()
    batches: list[int] = []
    window.session.task.event.connect(lambda e: batches.append(len(e.rows)) if isinstance(e, LabelBatch) else None)
    qtbot.waitUntil(lambda: bool(batches), timeout=60_000)
    page.controls.cancel_button.click()
    wait_idle(qtbot, window)
    no_errors(window)
    result = page.outcome.result
    assert 0 < len(result.rows) < result.total == 256
    assert page.model.rowCount() == len(result.rows)
    assert "Cancelled" in page.summary.text() and "cancelled" in page.controls.progress.status.text().lower()
    overlay = page.scene_view.overlay_image()
    assert overlay is not None and 0 < (overlay[..., 3] == 255).sum() < 256  # the windows not reached are clear


def test_bad_input_gives_an_error_dialog(qtbot, window, page, tmp_path: Path) -> None:  # noqa: ANN001
    page.add_inputs([tmp_path / "missing.tif"])
    boxes = error_dialogs(window)
    assert boxes and "does not exist" in boxes[0].text() and page.inputs == []
    boxes[0].close()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no image here")
    page.add_inputs([tmp_path / "notes"])
    page.controls.start_button.click()
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: bool(error_dialogs(window)), timeout=5000)
    box = error_dialogs(window)[0]
    assert "Labelling failed" in box.windowTitle() and "no image to label" in box.text()
    assert "Labelling failed" in window.log_panel.text()
    assert page.outcome is None and page.controls.start_button.isEnabled(), "the page must stay usable"


def test_the_table_buffers_many_rows_then_filters_and_sorts_them(qtbot) -> None:  # noqa: ANN001
    """20,000 rows arriving in batches of 64: buffered inserts, then the right rows filtered and sorted.

    How long filtering and sorting take is printed by ``python -m scl_desktop.benchmarks.label_table``."""
    from scl_desktop.benchmarks.label_table import CLASSES, filter_and_sort, synthetic_rows
    from scl_desktop.gui.widgets.label_table import LabelFilterProxy, LabelTableModel, LabelTableView

    rows, picks, probs = synthetic_rows(20_000)
    model = LabelTableModel()
    proxy = LabelFilterProxy(model)
    view = LabelTableView(proxy)
    qtbot.addWidget(view)
    view.show()
    model.start(CLASSES)
    for start in range(0, len(rows), 64):
        model.add_rows(rows[start:start + 64])
    assert model.rowCount() == 0, "rows are buffered, not inserted one batch at a time"
    qtbot.waitUntil(lambda: model.rowCount() == len(rows), timeout=30_000)  # flushed by the FLUSH_MS timer
    assert model.class_counts() == {c: int((picks == i).sum()) for i, c in enumerate(CLASSES)}

    filter_and_sort(view, proxy)
    assert proxy.rowCount() == int(((picks == 3) & (probs >= 0.5)).sum())
    shown = [view.row_at(i).confidence for i in range(proxy.rowCount())]
    assert shown == sorted(shown, reverse=True) and all(view.row_at(i).predicted == "class3" for i in range(3))


def test_scale_and_demo_warnings_reach_the_log(qtbot, window, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    """No training: the engine's model loader gives a stand-in model of a demo run whose training images
    are 0.5 m per pixel; the real Label page labels a 2 m scene with it in a worker."""
    from dataclasses import replace
    from types import SimpleNamespace

    from scl_desktop.core.labelling import label as core_label
    from tests.core.labelling.test_label import CLASSES, colour_model
    from tests.core.labelling.test_trust import scene

    model = replace(colour_model(tile=32), training_gsd=0.5, demo_data=tmp_path / "demo")
    monkeypatch.setattr(core_label, "load_label_model", lambda *_a, **_k: model)
    window.show_page("label")
    page = window.pages["label"]
    page.run = SimpleNamespace(id="demo-run", split=SimpleNamespace(classes=CLASSES))  # what start() reads
    page.device.setCurrentText("cpu")
    page.add_inputs([scene(tmp_path / "real.tif", pixel=2.0)])
    page.controls.start_button.click()
    wait_idle(qtbot, window)
    no_errors(window)
    assert page.outcome is not None and len(page.outcome.result.rows) == 4
    log = " ".join(window.log_panel.text().split())
    assert "real.tif has 2 m per pixel, the training images 0.5 m" in log and "--tile-m 16" in log
    assert "trained on the built-in demo data, which is synthetic" in log


def test_export_log_names_the_per_scene_files(tmp_path: Path) -> None:
    """"All to folder" with two scenes: the log names labels_classes_<scene>.tif, the files written."""
    from scl_desktop.core.events import CancelToken, Log
    from scl_desktop.core.labelling.label import LabelConfig, label_with_model
    from scl_desktop.core.labelling.tiling import TilingConfig
    from scl_desktop.gui.widgets.label_export import export_step
    from tests.core.labelling.test_label import colour_model
    from tests.core.labelling.test_trust import scene

    scenes = [scene(tmp_path / f"{name}.tif") for name in ("north", "south")]
    config = LabelConfig(tiling=TilingConfig(tile=16), batch_size=8, device="cpu")
    result = drive(label_with_model(colour_model(tile=16), scenes, config))
    out = tmp_path / "out"
    out.mkdir()
    targets = {"csv": out / "labels.csv", "raster": out / "labels_classes.tif"}
    events: list = []
    report = drive(export_step(result, targets, CancelToken()), events.append)
    (message,) = [e.message for e in events if isinstance(e, Log)]
    tifs = [p for p in report.written if p.suffix == ".tif"]
    assert sorted(p.name for p in tifs) == ["labels_classes_north.tif", "labels_classes_south.tif"]
    assert all(str(p) in message for p in [*tifs, out / "labels.csv"]) and f"{out / 'labels_classes.tif'}," not in message
