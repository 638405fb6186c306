"""Run pickers name a run by name (or id), dataset folder, date and key result; the Runs page renames and
annotates runs, and compares runs of different datasets with a warning and no winner."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QInputDialog

from scl_desktop.core.runs.store import RunStore
from tests.core.reports.test_report import make_split, result
from tests.gui.conftest import error_dialogs, no_errors


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:  # noqa: ANN001
    monkeypatch.setenv("SCL_HOME", str(tmp_path / "home"))  # runs of this test only
    return tmp_path


def make_run(folder: Path, wrong: list[tuple[int, int]], name: str | None = None):  # noqa: ANN201
    """A finished run on a split of the dataset in ``folder`` (made) with one SCL-CB result."""
    folder.mkdir(exist_ok=True)
    run = RunStore().create("scl", make_split(str(folder)), {"encoder": {"arch": "tiny"}}, seed=0, name=name)
    run.save_result("SCL-CB", result(wrong))
    run.set_status("done")
    return run


def select(page, run_ids: list[str]) -> None:  # noqa: ANN001
    page.table.clearSelection()
    ids = [r.id for r in page.rows]
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for run_id in run_ids:
        page.table.selectionModel().select(page.table.model().index(ids.index(run_id), 0), flags)
    assert sorted(page.selected_ids()) == sorted(run_ids)  # runs made in one second may list in any order


def test_pickers_show_name_dataset_date_and_key_result(home: Path, window) -> None:  # noqa: ANN001
    run = make_run(home / "fields_2024", [(2, 0)], name="tau-try")
    ev = run.evaluation("SCL-CB")
    minority, overall = f"minority {ev.minority:.1f} % (SCL-CB)", f"overall {ev.overall:.1f} % (SCL-CB)"
    date = run.created.replace("T", " ")[:16]

    window.show_page("label")
    combo = window.pages["label"].run_combo
    text = combo.itemText(combo.findData(run.id))
    for part in (f"tau-try ({run.id})", "fields_2024", date, minority, overall):
        assert part in text, (part, text)

    window.show_page("runs")
    runs = window.pages["runs"]
    i = [r.id for r in runs.rows].index(run.id)
    cells = [runs.table.item(i, c).text() for c in range(runs.table.columnCount())]
    assert cells[0] == f"tau-try ({run.id})" and cells[2] == date and cells[4] == "fields_2024"
    assert cells[6] == "SCL-CB" and cells[8] == f"{ev.minority:.1f}" and cells[9] == f"{ev.overall:.1f}"
    assert minority in runs.table.item(i, 0).toolTip()

    window.session.set_run(RunStore().open(run.id))
    window.show_page("evaluate")
    evaluate = window.pages["evaluate"]
    assert evaluate.table.item(0, 1).text() == f"tau-try ({run.id}) · fields_2024 · {date}"
    assert evaluate.table.item(0, 1).toolTip() == run.id


def test_rename_and_note_on_the_runs_page(home: Path, window, monkeypatch) -> None:  # noqa: ANN001
    first = make_run(home / "data", [(2, 0)], name="taken")
    second = make_run(home / "data", [])
    window.session.set_run(RunStore().open(second.id))
    window.show_page("runs")
    page = window.pages["runs"]
    answers = iter([("taken", True), ("  ", True), ("cb-try", False), ("cb-try", True)])
    monkeypatch.setattr(QInputDialog, "getText", lambda *_args, **_kwargs: next(answers))
    select(page, [second.id])
    page.buttons["rename"].click()  # a name in use: the error dialog
    boxes = error_dialogs(window)
    assert boxes and "already used by run" in boxes[0].text() and first.id in boxes[0].text()
    for box in boxes:
        box.close()
    for _ in range(2):  # empty, then cancelled: nothing changes
        page.buttons["rename"].click()
    assert RunStore().open(second.id).name is None
    page.buttons["rename"].click()
    no_errors(window)
    assert RunStore().open("cb-try").id == second.id
    i = [r.id for r in page.rows].index(second.id)
    assert page.table.item(i, 0).text() == f"cb-try ({second.id})" and page.selected_ids() == [second.id]
    assert window.session.describe_run().startswith(f"cb-try ({second.id})")

    notes = iter([("tried the CB sampler\non 3 minority classes", True), ("", True)])
    monkeypatch.setattr(QInputDialog, "getMultiLineText", lambda *_args, **_kwargs: next(notes))
    page.buttons["note"].click()
    no_errors(window)
    assert RunStore().open(second.id).note == "tried the CB sampler\non 3 minority classes"
    i = [r.id for r in page.rows].index(second.id)
    assert page.table.item(i, page.table.columnCount() - 1).text() == "tried the CB sampler\non 3 minority classes"
    page.buttons["note"].click()  # emptied: removed
    assert RunStore().open(second.id).note is None


def test_compare_of_different_datasets_warns_and_marks_no_winner(home: Path, window) -> None:  # noqa: ANN001
    a = make_run(home / "data", [(2, 0)])
    b = make_run(home / "data", [(0, 1), (2, 0)])
    c = make_run(home / "elsewhere", [])
    window.show_page("runs")
    page = window.pages["runs"]

    def bold_cells() -> int:
        table = page.compare_results
        return sum(table.item(r, col).font().bold() for r in range(table.rowCount()) for col in range(2, 7))

    select(page, [a.id, b.id])
    page.compare_selected()
    assert len(page.compare_results.rows) == 2 and page.compare_warning.isHidden() and bold_cells() > 0

    select(page, [a.id, c.id])
    page.compare_selected()
    no_errors(window)
    assert len(page.compare_results.rows) == 2 and not page.compare_warning.isHidden()
    text = page.compare_warning.text()
    assert "different datasets (data, elsewhere)" in text and "no winner is marked" in text
    assert bold_cells() == 0
