"""The review of a candidates folder (decisions, undo, saved after each, resumed) and the dataset version it writes."""

from __future__ import annotations

import csv
import json
import os

import pytest

from scl_desktop import cli
from scl_desktop.core.data.manifest import DatasetManifest, SplitManifest
from scl_desktop.core.errors import ConfigError, DatasetError
from scl_desktop.core.events import drive
from scl_desktop.core.mining.dataset_version import PROVENANCE_FIELDS, write_version
from scl_desktop.core.mining.review import REVIEW_FILE, ReviewSession
from tests.core.mining.review_fixtures import CLASSES, RUN_ID, candidates_folder, small_split


def saved(folder) -> dict:
    return json.loads((folder / REVIEW_FILE).read_text(encoding="utf-8"))


def test_decisions_undo_and_resume(tmp_path):
    folder = candidates_folder(tmp_path)
    review = ReviewSession.open(folder)
    assert review.classes == CLASSES and review.run_id == RUN_ID and review.reviewed == 0
    assert review.accept(1).label == "harbour"
    assert [d["rank"] for d in saved(folder)["decisions"]] == [1]  # saved after every decision
    review.reject(2)
    review.relabel(3, "fields")
    review.accept(4)
    assert len(saved(folder)["decisions"]) == 4
    assert review.undo() == 4 and review.decision(4) is None
    assert [d["rank"] for d in saved(folder)["decisions"]] == [1, 2, 3]
    review.relabel(1, "forest")  # a second decision on one chip: undo brings the first back
    assert review.undo() == 1 and review.decision(1).decision == "accept"
    assert review.progress_text() == "3 of 5 reviewed (1 accepted, 1 relabelled, 1 rejected)"
    with pytest.raises(ConfigError, match="not a class"):
        review.relabel(5, "desert")
    with pytest.raises(ConfigError, match="no candidate 9"):
        review.accept(9)

    again = ReviewSession.open(folder)  # a new session, as after a killed app
    assert [(d.rank, d.decision, d.label) for d in again.decisions] == [
        (1, "accept", "harbour"), (2, "reject", None), (3, "relabel", "fields")]
    assert again.undo() == 3 and again.undo() == 2 and again.undo() == 1 and again.undo() is None  # the stack too
    assert ReviewSession.open(folder).reviewed == 0


def test_a_folder_without_candidates_says_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="no candidates.csv") as error:
        ReviewSession.open(tmp_path)
    assert "scl mine" in error.value.hint


def test_the_dataset_version(tmp_path):
    split = small_split(tmp_path)
    review = ReviewSession.open(candidates_folder(tmp_path))
    review.accept(1)
    review.reject(2)
    review.relabel(3, "forest")
    review.accept(5)
    out = tmp_path / "v2"
    version = drive(write_version(review, split, out))
    assert version.added == {"forest": 1, "harbour": 2}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "forest/0003_scene_c96_r0.png", "harbour/0001_scene_c32_r0.png", "harbour/0005_scene_c160_r0.png"]
    assert (out / "harbour/0001_scene_c32_r0.png").read_bytes() == (review.folder / "chips/0001_scene_c32_r0.png"
                                                                   ).read_bytes()

    with open(out / "provenance.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == PROVENANCE_FIELDS
    first = rows[0]
    assert (first["image"], first["class"], first["decision"], first["source"], first["col_off"], first["crs"],
            first["minx"], first["score"], first["run"]) == (
        "harbour/0001_scene_c32_r0.png", "harbour", "accept", str(tmp_path / "scene.tif"), "32", "EPSG:32633",
        "1001.0", "0.89", RUN_ID)
    assert first["decided"] == review.decision(1).when
    assert [(r["class"], r["decision"], r["proposed"]) for r in rows][1] == ("forest", "relabel", "harbour")
    provenance = json.loads((out / "provenance.json").read_text())
    assert [i["rank"] for i in provenance["images"]] == [1, 3, 5]

    merged = DatasetManifest.load(version.dataset)
    own = len(split.dataset.items)
    assert merged.items[:own] == split.dataset.items and merged.source == split.dataset.source
    new = merged.items[own:]
    assert [(os.path.relpath(i.path, out), i.label) for i in new] == [
        ("harbour/0001_scene_c32_r0.png", "harbour"), ("forest/0003_scene_c96_r0.png", "forest"),
        ("harbour/0005_scene_c160_r0.png", "harbour")]
    assert new[0].crs == "EPSG:32633" and new[0].bounds == (1001.0, 2000.0, 1011.0, 2010.0)
    assert new[0].size_bytes == os.path.getsize(new[0].path) and new[0].mtime_ns == os.stat(new[0].path).st_mtime_ns

    grown = SplitManifest.load(version.split)
    assert grown.test == split.test and grown.val == split.val  # the original test set, untouched
    assert grown.train == split.train + (own, own + 1, own + 2)  # mined images go to training only
    assert [m["path"] for m in grown.config["mined"]["items"]] == [i.path for i in new]
    assert grown.fingerprint(("test",)) == split.fingerprint(("test",))


def test_a_version_needs_decisions_and_a_new_folder(tmp_path):
    split = small_split(tmp_path)
    review = ReviewSession.open(candidates_folder(tmp_path))
    review.reject(1)
    with pytest.raises(DatasetError, match="accepted or relabelled"):
        drive(write_version(review, split, tmp_path / "v2"))
    review.accept(2)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match="not an empty folder"):
        drive(write_version(review, split, tmp_path / "taken"))
    assert not (tmp_path / "v2").exists()


def test_scl_mine_add(tmp_path, monkeypatch, capsys):
    split = small_split(tmp_path)
    folder = candidates_folder(tmp_path)
    review = ReviewSession.open(folder)
    review.accept(1)
    review.relabel(2, "fields")

    class Store:
        def open(self, run_id):
            assert run_id == RUN_ID
            return type("R", (), {"split": split})()

    monkeypatch.setattr("scl_desktop.core.runs.store.RunStore", Store)
    assert cli.main(["mine", "add", str(folder), "--out", str(tmp_path / "v2"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == {"fields": 1, "harbour": 1}
    assert SplitManifest.load(out["split"]).test == split.test
