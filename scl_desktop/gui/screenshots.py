"""Write a PNG of every page after a real (small) demo run: ``python -m scl_desktop.gui.screenshots OUTDIR``.

Runs offscreen unless ``QT_QPA_PLATFORM`` says otherwise, in a temporary ``SCL_HOME`` unless one is
set (so the user's runs are untouched): opens the built-in demo data, builds its split, trains a
tiny stage-1 encoder, fits CB and CSCE classifiers, trains the Plain baseline, labels the demo GeoTIFF
scene, then grabs each page.
The models are tiny so it finishes in about a minute on a CPU; the pipeline is the real one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WINDOW_SIZES = ((1280, 800), (1920, 1080))
"""The sizes every page is grabbed at: a small laptop and a full-HD screen."""
TINY = {"arch": "tiny", "image_size": 32, "batch_size": 32, "device": "cpu", "amp": False, "channels_last": False,
        "checkpoint_every": 0}


def _wait(app: Any, window: Any, settle_s: float = 0.0) -> None:
    """Process events until the window's task has ended, then for ``settle_s`` more (plot redraws)."""
    while window.session.busy:
        app.processEvents()
        time.sleep(0.01)
    end = time.perf_counter() + settle_s
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def _check(window: Any, what: str) -> None:
    from PySide6.QtWidgets import QMessageBox

    boxes = [b for b in window.findChildren(QMessageBox, "errorDialog") if b.isVisible()]
    if boxes:
        raise SystemExit(f"{what} failed: {boxes[0].text()} {boxes[0].informativeText()}")


def _train(app: Any, window: Any, page: str, form: Any, values: dict[str, Any], controls: Any, what: str) -> None:
    """Fill ``form`` with ``values``, show ``page``, press Start of ``controls`` and wait for the task to end."""
    for name, value in values.items():
        form.set_field(name, value)
    window.show_page(page)
    controls.start_button.click()
    _wait(app, window)
    _check(window, what)


def run_demo(app: Any, window: Any, epochs: int) -> None:
    """The demo pipeline through the window's own widgets."""
    _wait(app, window)
    _check(window, "Opening the demo data")
    encoder = window.pages["encoder"]
    _train(app, window, "encoder", encoder.form, {**TINY, "epochs": epochs}, encoder.controls, "Stage 1")
    classifier = window.pages["classifier"]
    for balance in ("csce", "cb"):
        _train(app, window, "classifier", classifier.form,
               {"balance": balance, "epochs": epochs, "batch_size": 32, "device": "cpu"}, classifier.controls,
               f"Stage 2 ({balance})")
    evaluate = window.pages["evaluate"]
    _train(app, window, "evaluate", evaluate.baseline_form, {**TINY, "epochs": epochs}, evaluate.baseline_controls,
           "The Plain baseline")


def label_demo_scene(app: Any, window: Any) -> None:
    """Label the built-in demo GeoTIFF scene with the demo run on the Label page."""
    from scl_desktop.core.data.demo import ensure_demo_scene

    label = window.pages["label"]
    window.show_page("label")
    label.refresh_runs()
    label.add_inputs([ensure_demo_scene()])
    label.device.setCurrentText("cpu")
    label.controls.start_button.click()
    _wait(app, window)
    _check(window, "Labelling the demo scene")
    label.table.selectRow(min(37, label.proxy.rowCount() - 1))  # outlined in the scene


def grab_pages(app: Any, window: Any, out: Path) -> list[Path]:
    """Show each page, let its plots redraw, and save the window as ``NN_<page>.png``."""
    from PySide6.QtCore import QTimer

    from scl_desktop.gui import dialogs

    written: list[Path] = []
    runs = window.pages["runs"]
    for index, (key, _title) in enumerate(window.PAGES, start=1):
        window.show_page(key)
        if key == "runs":
            runs.refresh()
            runs.select_run(window.session.run.id)
            runs.open_selected()
        _wait(app, window, settle_s=0.8)
        path = out / f"{index:02d}_{key}.png"
        window.grab().save(str(path))
        written.append(path)
    window.show_page("runs")
    runs.table.selectAll()
    runs.compare_selected()
    _wait(app, window, settle_s=0.8)
    path = out / f"{len(written) + 1:02d}_runs_compare.png"
    window.grab().save(str(path))
    written.append(path)

    settings_path = out / f"{len(written) + 1:02d}_settings.png"

    def grab_settings() -> None:
        dialog = window.findChild(dialogs.SettingsDialog, "settingsDialog")
        dialog.grab().save(str(settings_path))
        dialog.reject()

    QTimer.singleShot(300, grab_settings)
    window.open_settings()
    written.append(settings_path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scl_desktop.gui.screenshots",
                                     description="Screenshot every page of the app after a small demo run.")
    parser.add_argument("outdir", type=Path, help="folder for the PNG files")
    parser.add_argument("--epochs", type=int, default=12, help="epochs of each (tiny) training step")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in WINDOW_SIZES), metavar="WxH,...",
                        help="window sizes to grab every page at, one sub-folder each (default %(default)s)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if "SCL_HOME" not in os.environ:
        os.environ["SCL_HOME"] = tempfile.mkdtemp(prefix="scl-screenshots-")
    args.outdir.mkdir(parents=True, exist_ok=True)

    from scl_desktop.gui.startup import create_app, create_main_window

    app = create_app()
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    window = create_main_window(open_demo=True)
    window.resize(*sizes[0])
    window.show()
    run_demo(app, window, args.epochs)
    label_demo_scene(app, window)
    for width, height in sizes:
        window.resize(width, height)
        folder = args.outdir / f"{width}x{height}"
        folder.mkdir(exist_ok=True)
        for path in grab_pages(app, window, folder):
            print(path)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
