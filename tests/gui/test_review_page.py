"""The Review page: a candidates folder dropped on the window, decided from the keyboard, added as a dataset version;
a review dropped without any save resumes with every decision."""

from __future__ import annotations

import csv
import json

from PySide6.QtCore import Qt

from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.mining.review import REVIEW_FILE
from scl_desktop.gui.pages.review_page import ReviewPage
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from tests.core.mining.review_fixtures import candidates_folder, small_split
from tests.gui.conftest import drop_paths, no_errors, wait_idle


def saved(folder) -> list[tuple]:
    data = json.loads((folder / REVIEW_FILE).read_text(encoding="utf-8"))
    return [(d["rank"], d["decision"], d["label"]) for d in data["decisions"]]


def test_keyboard_review_and_add_to_dataset(qtbot, window, tmp_path, monkeypatch):
    folder = candidates_folder(tmp_path)
    window.show_page("review")
    drop_paths(window, [folder])
    page = window.pages["review"]
    grid = page.grid
    assert grid.count() == 5 and grid.currentRow() == 0
    assert "1</b> fields" in page.keys_label.text() and "3</b> harbour" in page.keys_label.text()
    assert "#1 harbour 0.89" in grid.item(0).text() and "scene.tif" in grid.item(0).text()

    for key in (Qt.Key.Key_A, Qt.Key.Key_R, Qt.Key.Key_2, Qt.Key.Key_Return):
        qtbot.keyClick(grid, key)
    assert saved(folder) == [(1, "accept", "harbour"), (2, "reject", None), (3, "relabel", "forest"),
                             (4, "accept", "harbour")]
    qtbot.keyClick(grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: back on chip 4, undecided
    assert saved(folder)[-1][0] == 3 and grid.currentRow() == 3 and grid.item(3).text().endswith("—")
    qtbot.keyClick(grid, Qt.Key.Key_Right)
    assert grid.currentRow() == 4
    qtbot.keyClick(grid, Qt.Key.Key_1)
    qtbot.keyClick(grid, Qt.Key.Key_U)  # U undoes too
    qtbot.keyClick(grid, Qt.Key.Key_A)
    assert saved(folder) == [(1, "accept", "harbour"), (2, "reject", None), (3, "relabel", "forest"),
                             (5, "accept", "harbour")]
    assert [grid.item(i).text().splitlines()[-1] for i in range(5)] == [
        "✓ accepted", "✗ rejected", "→ forest", "—", "✓ accepted"]
    assert page.progress_label.text() == "4 of 5 reviewed (2 accepted, 1 relabelled, 1 rejected)"
    assert page.add_button.isEnabled()

    split = small_split(tmp_path)
    monkeypatch.setattr(page, "version_split", lambda: split)  # the run the candidates name is not in this store
    page.add_to_dataset(tmp_path / "v2")
    wait_idle(qtbot, window)
    no_errors(window)
    assert page.version is not None and page.version.added == {"forest": 1, "harbour": 2}
    with open(tmp_path / "v2" / "provenance.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["rank"], r["class"], r["decision"], r["crs"]) for r in rows] == [
        ("1", "harbour", "accept", "EPSG:32633"), ("3", "forest", "relabel", "EPSG:32633"),
        ("5", "harbour", "accept", "EPSG:32633")]
    assert (tmp_path / "v2" / "harbour" / "0001_scene_c32_r0.png").is_file()
    grown = SplitManifest.load(tmp_path / "v2" / "split.json")
    assert grown.test == split.test and len(grown.train) == len(split.train) + 3
    assert len(grown.config["mined"]["items"]) == 3


def test_a_killed_review_resumes_with_every_decision(qtbot, tmp_path):
    folder = candidates_folder(tmp_path)
    page = ReviewPage(Session(), AppSettings())
    qtbot.addWidget(page)
    assert page.open_folder(folder)
    for key in (Qt.Key.Key_R, Qt.Key.Key_3, Qt.Key.Key_A):
        qtbot.keyClick(page.grid, key)
    page.close()
    page.deleteLater()  # no save call of any kind: every decision was written when it was made
    del page

    again = ReviewPage(Session(), AppSettings())
    qtbot.addWidget(again)
    assert again.open_folder(folder)
    assert saved(folder) == [(1, "reject", None), (2, "relabel", "harbour"), (3, "accept", "harbour")]
    assert again.grid.currentRow() == 3  # the first chip not yet decided
    assert again.progress_label.text().startswith("3 of 5 reviewed")
    assert again.grid.item(1).text().endswith("→ harbour")
