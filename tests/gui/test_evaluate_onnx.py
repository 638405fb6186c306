"""Evaluate page: "Export ONNX…" exports the selected result's model of a tiny two-stage run trained in the
window, in the worker, where the save dialog says (starting in the dataset's folder); the file loads in
onnxruntime; a target that cannot be written ends in the error dialog."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.gui.conftest import error_dialogs, import_tiny, no_errors, wait_idle
from tests.gui.test_training import train_stage1, train_stage2

HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def test_export_onnx_from_the_evaluate_page(qtbot, window, tiny_dataset: Path, tmp_path: Path,  # noqa: ANN001
                                            monkeypatch) -> None:  # noqa: ANN001
    import_tiny(qtbot, window, tiny_dataset)
    train_stage1(qtbot, window, epochs=1)
    train_stage2(qtbot, window, epochs=1)
    window.show_page("evaluate")
    page = window.pages["evaluate"]
    row = page.table.selected()
    assert row is not None and row.method == "SCL-CB" and page.onnx_button.isEnabled()

    asked: list[str] = []
    answers = iter([str(tmp_path / "models" / "tiny"), str(tmp_path / "a_file" / "x.onnx")])

    def save_dialog(_parent, _title, start, _filter):  # noqa: ANN001
        asked.append(start)
        return next(answers), ""

    logged: list[str] = []
    window.session.log.connect(lambda message, _level: logged.append(message))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    page.onnx_button.click()
    assert Path(asked[0]) == tiny_dataset / f"{row.run_id}_SCL-CB.onnx"  # in the dataset's folder
    assert window.session.busy, "the export runs in the worker"
    wait_idle(qtbot, window)
    if not HAVE_ONNX:
        boxes = error_dialogs(window)
        assert boxes and "needs the onnx" in boxes[0].text()
        pytest.skip("onnx/onnxruntime are not installed: the export was refused in the error dialog, as it should "
                    "be; the file's loading is not checked")
    no_errors(window)
    target = tmp_path / "models" / "tiny.onnx"
    assert page.last_onnx.path == target and target.is_file()
    assert (page.last_onnx.run_id, page.last_onnx.method) == (row.run_id, "SCL-CB")
    assert f"ONNX model written: {target} (SCL-CB of run {row.run_id})" in logged

    import onnxruntime

    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    size = page.last_onnx.input_size
    image = np.random.default_rng(0).integers(0, 256, (2, 3, size, size), dtype=np.uint8)
    probabilities = session.run(None, {session.get_inputs()[0].name: image})[0]
    assert probabilities.shape == (2, len(window.session.split.classes))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

    (tmp_path / "a_file").write_text("not a folder")
    page.onnx_button.click()  # then in the folder used last; a target that cannot be written: the error dialog
    assert Path(asked[1]).parent == tmp_path / "models"
    wait_idle(qtbot, window)
    boxes = error_dialogs(window)
    assert boxes and boxes[0].windowTitle() == "Export ONNX failed" and "a_file" in boxes[0].text(), boxes[0].text()
    for box in boxes:
        box.close()
