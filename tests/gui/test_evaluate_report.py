"""Evaluate page: "Export report…" writes the core report (HTML + per-class CSV) where the save dialog says,
starting in the dataset's folder and then in the last report folder; an unwritable target is an error dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from scl_desktop.core.reports import build_report, per_class_csv
from scl_desktop.core.runs.store import RunStore
from tests.core.reports.test_report import HOSTILE, Page, make_split, result
from tests.gui.conftest import error_dialogs, no_errors


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:  # noqa: ANN001
    monkeypatch.setenv("SCL_HOME", str(tmp_path / "home"))  # runs of this test only
    return tmp_path


def test_export_report_writes_the_core_report(home: Path, qtbot, window, monkeypatch) -> None:  # noqa: ANN001
    dataset = home / "dataset"
    dataset.mkdir()
    run = RunStore().create("scl", make_split(str(dataset)), {"encoder": {"arch": "tiny"}}, seed=0)
    run.save_result("SCL-CB", result([(2, 0)]))
    run.set_status("done")
    page = window.pages["evaluate"]
    assert not page.export_button.isEnabled()  # nothing to report yet
    window.session.set_run(RunStore().open(run.id))
    window.show_page("evaluate")
    assert page.export_button.isEnabled() and page.table.selected().run_id == run.id

    asked: list[str] = []
    answers = iter([str(home / "out" / "kept"), str(home / "out" / "again.html"), str(home / "a_file" / "x.html"), ""])

    def save_dialog(_parent, _title, start, _filter):  # noqa: ANN001
        asked.append(start)
        return next(answers), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    page.export_button.click()
    no_errors(window)
    html, table = home / "out" / "kept.html", home / "out" / "kept_per_class.csv"
    assert page.last_report == [html, table]
    assert Path(asked[0]).parent == dataset  # first in the dataset's folder
    parsed = Page(html.read_text(encoding="utf-8"))
    per_class = parsed.table(klass="per-class", method="SCL-CB")["rows"][1:]
    assert [r["attrs"]["data-class"] for r in per_class] == list(HOSTILE)
    assert table.read_text(encoding="utf-8") == per_class_csv(build_report(run, RunStore()))

    page.export_button.click()  # then in the folder used last
    assert Path(asked[1]).parent == home / "out" and (home / "out" / "again.html").is_file()

    (home / "a_file").write_text("not a folder")
    page.export_button.click()
    boxes = error_dialogs(window)
    assert boxes and "is a file" in boxes[0].text() and "Export report… on the Evaluate page" in boxes[0].informativeText()
    for box in boxes:
        box.close()
    page.export_button.click()  # cancelled: nothing written, no error
    assert len(asked) == 4 and not error_dialogs(window)
