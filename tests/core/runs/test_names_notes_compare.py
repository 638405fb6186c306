"""Runs can be renamed (names stay unique, the index follows) and annotated (a note in run.json, shown by
`scl runs show`); runs of different datasets or splits are compared with a warning and no winner."""

from __future__ import annotations

import dataclasses
import json

import pytest

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.runs.compare import comparison_warning
from scl_desktop.core.runs.store import RunStore
from tests.core.runs.test_folder import make_split, some_evaluation, two_runs


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCL_HOME", str(tmp_path))
    return tmp_path


def test_rename_refuses_a_name_in_use_and_keeps_the_index_in_step(home):
    store = RunStore()
    a = store.create("scl", make_split(), {}, seed=0, name="mine")
    b = store.create("scl", make_split(), {}, seed=0)
    with pytest.raises(ConfigError, match=f"already used by run {a.id}"):
        store.rename(b, "mine")
    for id_like in (a.id, "20250131-142233-scl-3fa9"):
        with pytest.raises(ConfigError, match="looks like a run id"):
            store.rename(b, id_like)
    with pytest.raises(ConfigError, match="cannot be used as a file name"):
        store.rename(b, "two words")
    assert RunStore().open(b.id).name is None
    store.rename(b.id, "theirs")
    assert b.name == "theirs" and store.index.get(b.id, sync=False).name == "theirs"  # the index, without a sync
    assert RunStore().open("theirs").id == b.id
    store.rename(a, "mine")  # its own name: nothing to do
    store.rename(a, "renamed")
    assert RunStore().open("renamed").id == a.id
    store.rename(b, "mine")  # the old name of a is free again
    assert {r.id: r.name for r in RunStore().list()} == {a.id: "renamed", b.id: "mine"}


def test_a_note_is_kept_in_run_json_and_shown_in_the_index(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    assert run.note is None
    run.set_note("  tried tau-norm\nbetter minority  ")
    assert RunStore().open(run.id).note == "tried tau-norm\nbetter minority"
    assert json.loads((run.path / "run.json").read_text())["note"] == "tried tau-norm\nbetter minority"
    row = RunStore().index.get(run.id)
    assert row.note == "tried tau-norm\nbetter minority" and row.to_json()["note"] == row.note
    run.set_note("")
    assert RunStore().open(run.id).note is None and RunStore().index.get(run.id).note is None


def split_variants():
    """A split, the same on another dataset, another test set of its dataset, and other training images only."""
    split = make_split("/data/tiny", n_per_class=4)
    other_dataset = make_split("/data/other", n_per_class=4)
    other_test = dataclasses.replace(split, test=split.test[1:])
    other_train = dataclasses.replace(split, train=split.train[1:])
    assert other_train.fingerprint(("test",)) == split.fingerprint(("test",)) != other_test.fingerprint(("test",))
    return split, other_dataset, other_test, other_train


def test_comparison_warning_names_what_differs(home):
    store = RunStore()
    split, other_dataset, other_test, other_train = split_variants()
    runs = {key: store.create("scl", s, {}, seed=0) for key, s in
            (("a", split), ("same", split), ("dataset", other_dataset), ("test", other_test), ("train", other_train))}
    rows = {r.id: r for r in store.list()}

    def warning(*keys):
        return comparison_warning([rows[runs[k].id] for k in keys])

    assert warning("a", "same") is None and warning("a") is None
    assert "different datasets (other, tiny)" in warning("a", "dataset")
    assert "different test sets" in warning("a", "test")
    assert "different splits of tiny (the same test set)" in warning("a", "train")
    for text in (warning("a", "dataset"), warning("a", "test"), warning("a", "train")):
        assert "no winner is marked" in text
    unknown = dataclasses.replace(rows[runs["same"].id], split=None)
    assert "is unknown" in comparison_warning([rows[runs["a"].id], unknown])


# --- CLI ----------------------------------------------------------------------------------

def test_cli_rename_note_and_show(home, capsys):
    from scl_desktop.cli import main

    a, b = two_runs()
    assert main(["runs", "rename", b.id, "mine"]) == 2
    assert "already used by run" in capsys.readouterr().err
    assert main(["runs", "rename", b.id, "plain-one"]) == 0
    assert f"renamed {b.id}: (no name) -> plain-one" in capsys.readouterr().out
    assert main(["runs", "note", "plain-one", "the Plain baseline for Table 1"]) == 0
    assert "the Plain baseline for Table 1" in capsys.readouterr().out
    assert main(["runs", "show", "plain-one"]) == 0
    out = capsys.readouterr().out
    assert f"Run {b.id} (plain-one)" in out and "  note:     the Plain baseline for Table 1" in out
    assert main(["runs", "show", "plain-one", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["note"] == "the Plain baseline for Table 1"
    assert main(["runs", "list"]) == 0
    assert "plain-one" in capsys.readouterr().out
    assert main(["runs", "note", b.id, ""]) == 0
    assert "removed" in capsys.readouterr().out
    assert main(["runs", "show", b.id]) == 0
    assert "note:" not in capsys.readouterr().out


def test_cli_compare_declares_a_winner_only_on_the_same_split(home, capsys):
    from scl_desktop.cli import main

    a, b = two_runs()  # the same split
    assert main(["runs", "compare", a.id, b.id]) == 0
    out = capsys.readouterr().out
    assert f"best: minority SCL-CB of {a.id} (100.0 %); overall SCL-CB of {a.id} (100.0 %)" in out
    assert "WARNING" not in out
    assert main(["runs", "compare", a.id, b.id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["comparable"] and data["notes"] == [] and data["best"]["overall"]["method"] == "SCL-CB"

    split, other_dataset, _, other_train = split_variants()
    for other_split, says in ((other_dataset, "different datasets"), (other_train, "different splits")):
        c = RunStore().create("scl", other_split, {}, seed=0)
        c.save_result("SCL-CB", some_evaluation(6))
        assert main(["runs", "compare", a.id, c.id]) == 0
        out = capsys.readouterr().out
        assert "WARNING: " in out and says in out and "no winner is marked" in out and "best:" not in out
        assert main(["runs", "compare", str(c.path), a.id, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert not data["comparable"] and data["best"] is None and says in data["notes"][0]
        RunStore().delete(c)
