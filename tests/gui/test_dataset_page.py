"""Dataset page: a real drop imports a folder, the class table, chart, report and split builder fill in;
bad input gives an error dialog and the app keeps running.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.gui.conftest import TINY_CLASSES, drop_paths, error_dialogs, import_tiny, no_errors, wait_idle


def test_drop_folder_imports_and_builds_split(qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    page = window.pages["dataset"]
    import_tiny(qtbot, window, tiny_dataset)
    dataset = window.session.dataset
    assert dataset is not None and list(dataset.classes) == list(TINY_CLASSES)
    assert window.current_page() == "dataset"
    assert page.class_table.rowCount() == len(TINY_CLASSES)
    assert page.class_table.column_values("Images") == [str(n) for n in TINY_CLASSES.values()]
    assert not page.class_table.item(0, 0).icon().isNull(), "class thumbnails missing"
    # a split was built right away with the default ci protocol; roles and counts are shown
    split = window.session.split
    assert split is not None and split.protocol == "ci"
    roles = page.class_table.column_values("Role")
    assert set(roles) == {"majority", "minority"}
    assert page.split_summary.item(2, 0).text() == str(len(split.train))
    qtbot.waitUntil(lambda: page.chart.values == split.counts("train"), timeout=2000)
    assert "Import report" in page.tabs.tabText(1)


def test_split_builder_stratified(qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    page = window.pages["dataset"]
    import_tiny(qtbot, window, tiny_dataset)
    page.protocol.setCurrentIndex(page.protocol.findData("stratified"))
    page.test_frac.setValue(0.25)
    page.val_frac.setValue(0.0)
    page.seed.setValue(3)
    page.majority_mode.setCurrentIndex(page.majority_mode.findData("first"))
    page.majority_k.setValue(3)
    page.split_button.click()
    split = window.session.split
    assert split.protocol == "stratified" and split.seed == 3
    assert page.class_table.column_values("Test") == [str(split.counts("test")[c]) for c in TINY_CLASSES]
    assert split.roles["d_harbour"] == "minority" and split.roles["a_fields"] == "majority"
    no_errors(window)


def test_impossible_split_gives_error_dialog(qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    page = window.pages["dataset"]
    import_tiny(qtbot, window, tiny_dataset)
    page.s_spin.setValue(50)  # minority classes have only 14 images
    page.split_button.click()
    boxes = error_dialogs(window)
    assert boxes and "d_harbour" in boxes[0].text() + boxes[0].informativeText()
    assert window.session.split is None
    assert "Cannot build this split" in window.log_panel.text()


def test_broken_dataset_gives_error_dialog_and_app_keeps_running(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "notes.txt").write_text("not an image")
    drop_paths(window, [tmp_path])
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: bool(error_dialogs(window)), timeout=5000)
    box = error_dialogs(window)[0]
    assert "Import failed" in box.windowTitle()
    assert "No images" in box.text() or "no usable" in box.text().lower()
    assert "error" in window.log_panel.text().lower() or "Import failed" in window.log_panel.text()
    assert window.session.dataset is None
    box.close()
    # the app keeps working: a good dataset imports afterwards
    window.pages["dataset"].size_spin.setValue(32)


def test_bad_files_are_reported_not_fatal(qtbot, window, tiny_dataset: Path, tmp_path: Path) -> None:  # noqa: ANN001
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    (root / "a_fields" / "zero.png").write_bytes(b"")
    (root / "b_forest" / "fake.tif").write_text("text, not a tiff")
    Path(os.fsdecode(os.fsencode(root / "b_forest") + b"/f\xe9ke.png")).write_text("not UTF-8, not an image")
    import_tiny(qtbot, window, root)
    report = window.pages["dataset"].report
    skipped = report.topLevelItem(0)
    assert skipped.childCount() == 3
    reasons = " ".join(skipped.child(i).text(1) for i in range(3))
    assert "empty" in reasons and "not an image" in reasons
    assert any(skipped.child(i).text(0).endswith("f\\xe9ke.png") for i in range(3))  # readable, not dropped


def test_dropped_tiles_with_names_that_are_not_utf8_import(tmp_path: Path) -> None:
    from scl_desktop.core.data.importer import ImportConfig, import_dataset
    from scl_desktop.core.events import drive
    from scl_desktop.gui.pages.dataset_page import tiles_manifest
    from tests.core.raster_fixtures import class_tree

    root = class_tree(tmp_path / "tiles", {"a": 1, "b": 1})
    odd = Path(os.fsdecode(os.fsencode(root / "b") + b"/t\xe9.png"))
    os.rename(root / "b" / "b_0.png", odd)
    manifest = drive(import_dataset(ImportConfig(tiles_manifest([root / "a" / "a_0.png", odd]))))
    assert [i.path for i in manifest.items] == [str(root / "a" / "a_0.png"), str(odd)]


def test_dropping_a_non_dataset_file_is_refused_with_a_message(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    note = tmp_path / "readme.txt"
    note.write_text("hello")
    drop_paths(window, [note])
    assert not window.session.busy
    boxes = error_dialogs(window)
    assert boxes and "Drop one dataset folder" in boxes[0].text()
