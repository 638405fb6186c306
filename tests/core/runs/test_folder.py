"""Run folders: create, open (id, prefix, name, path), metrics CSV that survives a kill, results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from scl_desktop.core.data.manifest import DatasetManifest, ImageItem, SplitManifest
from scl_desktop.core.errors import CheckpointError, ConfigError
from scl_desktop.core.metrics import evaluate
from scl_desktop.core.runs.store import RunStore

CLASSES = ("field", "forest", "river")
ROLES = {"field": "majority", "forest": "majority", "river": "minority"}


def make_split(source: str = "/data/tiny", n_per_class: int = 4) -> SplitManifest:
    """A small in-memory split: per class, half train, half test (files need not exist)."""
    items = tuple(
        ImageItem(path=f"{source}/{c}/{i}.png", label=c, size_bytes=1, mtime_ns=0, sha256=f"{c}{i}",
                  width=16, height=16, bands=3, dtype="uint8")
        for c in CLASSES for i in range(n_per_class)
    )
    dataset = DatasetManifest(source=source, classes=CLASSES, items=items, size=16)
    train = tuple(i for i in range(len(items)) if i % n_per_class < n_per_class // 2)
    test = tuple(i for i in range(len(items)) if i not in train)
    return SplitManifest(dataset=dataset, protocol="ci", seed=0, config={}, roles=ROLES, train=train, val=(), test=test)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCL_HOME", str(tmp_path))
    return tmp_path


def some_evaluation(right: int = 5):
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = y_true[:right] + [(y + 1) % 3 for y in y_true[right:]]
    return evaluate(y_true, y_pred, CLASSES, ROLES)


def test_create_run_writes_a_complete_folder(home):
    split = make_split()
    run = RunStore().create("scl", split, {"encoder": {"arch": "resnet18", "epochs": 2}}, seed=7, name="first")
    assert run.path.parent == home / "data" / "runs"
    assert run.id.split("-")[2] == "scl" and len(run.id.split("-")[3]) == 4
    for name in ("run.json", "config.json", "split.json", "environment.json"):
        assert (run.path / name).is_file()
    assert run.checkpoint_dir.is_dir()
    assert run.status == "running" and run.seed == 7 and run.kind == "scl" and run.name == "first"
    assert run.config == {"encoder": {"arch": "resnet18", "epochs": 2}}
    assert run.split.to_json() == split.to_json()
    env = run.environment
    assert env["versions"]["torch"] and env["versions"]["scl_desktop"] and env["seed"] == 7
    row = RunStore().index.get(run.id)
    assert row is not None and row.arch == "resnet18" and row.source == "/data/tiny" and row.n_classes == 3


def test_bad_kind_and_status(home):
    with pytest.raises(ConfigError):
        RunStore().create("other", make_split(), {}, seed=0)
    run = RunStore().create("baseline", make_split(), {}, seed=0)
    with pytest.raises(ConfigError):
        run.set_status("finished")
    run.set_status("failed", "loss became NaN")
    again = RunStore().open(run.id)
    assert again.status == "failed" and again.message == "loss became NaN"
    assert RunStore().index.get(run.id).status == "failed"


def test_open_run_by_id_prefix_name_and_path(home):
    a = RunStore().create("scl", make_split(), {}, seed=0, name="alpha")
    b = RunStore().create("baseline", make_split(), {}, seed=0)
    assert RunStore().open(a.id).path == a.path
    assert RunStore().open(str(a.path)).id == a.id
    assert RunStore().open(a.id[:-1]).id == a.id or a.id[:-1] == b.id[:-1]
    with pytest.raises(CheckpointError, match="No run matches"):
        RunStore().open("baseline")  # a fragment from the middle of an id names nothing
    assert RunStore().open("alpha").id == a.id  # name
    with pytest.raises(CheckpointError, match="2 runs match"):
        RunStore().open(a.id[:8])  # the date: both runs
    with pytest.raises(CheckpointError, match="No run matches"):
        RunStore().open("nothing-like-this")
    with pytest.raises(CheckpointError, match="not a run folder"):
        RunStore().open(str(home))
    with pytest.raises(CheckpointError, match="no run folder"):
        RunStore().open(str(home / "missing" / "x"))


def test_a_name_that_is_part_of_another_id_names_its_own_run(home):
    store = RunStore()
    other = store.create("scl", make_split(), {}, seed=0)
    fragment = other.id[-4:]  # "...-scl-0d73": a name equal to the tail of another run's id
    mine = store.create("scl", make_split(), {}, seed=0, name=fragment)
    assert store.open(fragment).id == mine.id
    store.delete(fragment)
    assert not mine.path.exists() and other.path.exists(), "deleting by name must never hit another run"
    with pytest.raises(CheckpointError, match="No run matches"):
        store.open(fragment)


def test_run_names_are_unique_and_ambiguous_prefixes_list_the_candidates(home):
    store = RunStore()
    a = store.create("scl", make_split(), {}, seed=0, name="alpha")
    with pytest.raises(ConfigError, match="already used by run " + a.id):
        store.create("scl", make_split(), {}, seed=0, name="alpha")
    with pytest.raises(ConfigError, match="looks like a run id"):
        store.create("scl", make_split(), {}, seed=0, name=a.id)  # it would hide run a behind its id
    b = store.create("scl", make_split(), {}, seed=0, name="beta")
    with pytest.raises(CheckpointError, match="2 runs match") as err:
        store.open(a.id[:8])
    assert a.id in str(err.value) and b.id in str(err.value) and "(alpha)" in str(err.value)


def test_a_folder_in_the_current_directory_never_wins_over_an_id_or_name(home, tmp_path, monkeypatch):
    store = RunStore()
    real = store.create("scl", make_split(), {}, seed=0, name="mine")
    backup = tmp_path / "cwd" / "mine"
    shutil.copytree(real.path, backup)  # a copy named like the run, in the current directory
    monkeypatch.chdir(backup.parent)
    assert store.open("mine").path == real.path
    store.delete("mine")
    assert not real.path.exists() and backup.is_dir(), "the run named 'mine' is deleted, never the copy"
    assert store.open("mine").path.resolve() == backup.resolve()  # nothing else matches now: the folder here
    assert store.open(str(backup)).path == backup


def test_a_store_parses_a_runs_split_once_and_rereads_its_record(home):
    store = RunStore()
    run = store.create("scl", make_split(), {}, seed=0)
    again = store.open(run.id)
    assert again is run and again.split is run.split  # split.json parsed once per store
    RunStore().open(run.id).set_status("done")  # another process (store) changes run.json
    assert store.open(run.id).status == "done"


def test_damaged_run_record(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    (run.path / "run.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="damaged"):
        RunStore().open(str(run.path))
    (run.path / "run.json").write_text(json.dumps({"type": "scl-run", "id": run.id}))
    (run.path / "split.json").write_text("[]")
    with pytest.raises(CheckpointError):
        _ = RunStore().open(str(run.path)).split


def test_metrics_csv_append_read_and_new_columns(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    assert run.read_metrics("encoder") == []
    run.append_metrics("encoder", {"epoch": 1, "loss": 2.5, "lr": 0.5})
    run.append_metrics("encoder", {"epoch": 2, "loss": 2.25, "lr": 0.25})
    run.append_metrics("encoder", {"epoch": 3, "loss": 2.0, "lr": 0.1, "overall": 50.0})
    rows = run.read_metrics("encoder")
    assert rows == [{"epoch": 1, "loss": 2.5, "lr": 0.5, "overall": None},
                    {"epoch": 2, "loss": 2.25, "lr": 0.25, "overall": None},
                    {"epoch": 3, "loss": 2.0, "lr": 0.1, "overall": 50.0}]
    assert run.metrics_stages() == ["encoder"]
    with pytest.raises(ConfigError):
        run.append_metrics("../evil", {"epoch": 1})


def test_metrics_truncate_for_resume(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    for epoch in range(1, 6):
        run.append_metrics("encoder", {"epoch": epoch, "loss": 1.0 / epoch})
    assert run.truncate_metrics("encoder", after_epoch=3) == 2
    assert [r["epoch"] for r in run.read_metrics("encoder")] == [1, 2, 3]
    assert run.truncate_metrics("encoder", after_epoch=3) == 0
    assert run.truncate_metrics("absent", after_epoch=0) == 0
    run.append_metrics("encoder", {"epoch": 4, "loss": 0.2})
    assert [r["epoch"] for r in run.read_metrics("encoder")] == [1, 2, 3, 4]


KILLER = """
import os, sys
from scl_desktop.core.runs.store import RunStore
run = RunStore().open(sys.argv[1])
for epoch in range(1, 4):
    run.append_metrics("encoder", {"epoch": epoch, "loss": 1.0})
with open(run.metrics_path("encoder"), "a") as fh:  # a row torn by the kill
    fh.write("4,0.9")
    fh.flush()
os.kill(os.getpid(), 9)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_metrics_survive_a_kill(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(run.path)], capture_output=True, timeout=120,
                          env={**os.environ, "SCL_HOME": str(home)})
    assert proc.returncode == -9, proc.stderr
    assert [r["epoch"] for r in run.read_metrics("encoder")] == [1, 2, 3]  # torn line ignored
    run.append_metrics("encoder", {"epoch": 4, "loss": 0.5})
    assert [r["epoch"] for r in run.read_metrics("encoder")] == [1, 2, 3, 4]
    assert run.metrics_path("encoder").read_text().count("\n") == 5


def test_save_and_read_results(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    assert run.methods() == []
    ev_cb, ev_ce = some_evaluation(6), some_evaluation(4)
    run.save_result("SCL-CB", ev_cb, extra={"balance": "cb"})
    run.save_result("SCL-CE", ev_ce)
    assert run.methods() == ["SCL-CE", "SCL-CB"]  # paper order
    assert run.evaluation("SCL-CB") == ev_cb
    assert run.evaluation("SCL-CE").overall == ev_ce.overall
    assert json.loads((run.results_dir / "SCL-CB" / "extra.json").read_text()) == {"balance": "cb"}
    assert not (run.results_dir / "SCL-CE" / "extra.json").exists()
    for name in ("evaluation.json", "per_class.csv", "confusion.csv"):
        assert (run.results_dir / "SCL-CB" / name).is_file()
    rows = run.result_rows()
    assert rows[1]["method"] == "SCL-CB" and rows[1]["run"] == run.id and rows[1]["overall"] == 100.0
    assert rows[1]["per_class"] == {"field": 100.0, "forest": 100.0, "river": 100.0}
    assert RunStore().index.get(run.id).results["SCL-CB"]["minority"] == 100.0
    RunStore().open(run.id).save_result("SCL-CSCE", ev_ce)  # another Run object (another process) ...
    run.save_result("SCL-CE", ev_cb)  # ... and this stale one: neither loses the other's result
    assert set(RunStore().index.get(run.id).results) == {"SCL-CE", "SCL-CB", "SCL-CSCE"}
    assert set(run.record["results"]) == {"SCL-CE", "SCL-CB", "SCL-CSCE"}
    with pytest.raises(CheckpointError, match="no result"):
        run.evaluation("Plain")
    with pytest.raises(ConfigError):
        run.save_result("a/b", ev_cb)


def test_delete_run(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    RunStore().delete(run.id)
    assert not run.path.exists()
    assert RunStore().index.get(run.id) is None


# --- CLI: scl runs ..., scl evaluate ----------------------------------------------------------

def two_runs():
    a = RunStore().create("scl", make_split(), {"encoder": {"arch": "resnet18"}}, seed=0, name="mine")
    a.append_metrics("encoder", {"epoch": 1, "loss": 3.0})
    a.save_result("SCL-CB", some_evaluation(6))
    a.save_result("SCL-CE", some_evaluation(4))
    a.set_status("done")
    b = RunStore().create("baseline", make_split(), {"arch": "resnet18"}, seed=0)
    b.save_result("Plain", some_evaluation(3))
    b.set_status("done")
    return a, b


def test_cli_runs_list_show_compare(home, capsys):
    from scl_desktop.cli import main

    assert main(["runs", "list"]) == 0
    assert "No runs yet" in capsys.readouterr().out
    a, b = two_runs()
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert a.id in out and b.id in out and "SCL-CB 100.0/100.0/100.0" in out
    assert main(["runs", "list", "--json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)["runs"]} == {a.id, b.id}
    assert main(["runs", "show", "mine"]) == 0
    out = capsys.readouterr().out
    assert a.id in out and "river" in out and "minority" in out and "encoder: 1 rows" in out
    assert main(["runs", "show", str(a.path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run"]["id"] == a.id and shown["metrics"]["encoder"][0]["loss"] == 3.0
    assert main(["runs", "compare", a.id, b.id]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("20",))]
    assert [line.split()[1] for line in lines] == ["SCL-CE", "SCL-CB", "Plain"]
    assert "different test sets" not in out


def test_cli_evaluate_json(home, capsys):
    from scl_desktop.cli import main

    a, b = two_runs()
    assert main(["evaluate", a.id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    cb = {r["method"]: r for r in data["results"]}["SCL-CB"]
    assert cb["run"] == a.id and RunStore().open(cb["run"]).id == a.id
    assert (cb["majority"], cb["minority"], cb["overall"]) == (100.0, 100.0, 100.0)
    assert cb["per_class"] == {"field": 100.0, "forest": 100.0, "river": 100.0}
    assert main(["evaluate", a.id, b.id, "--json", "--method", "Plain"]) == 0
    assert [r["method"] for r in json.loads(capsys.readouterr().out)["results"]] == ["Plain"]
    assert main(["evaluate", str(b.path)]) == 0
    out = capsys.readouterr().out
    assert "Plain" in out and "minority %" in out and "river" in out
    assert main(["evaluate", "no-such-run"]) == 2
    assert "No run matches" in capsys.readouterr().err


def test_cli_evaluate_refuses_unknown_methods_and_names_missing_ones(home, capsys):
    from scl_desktop.cli import main

    a, _ = two_runs()
    assert main(["evaluate", a.id, "--method", "FOO"]) == 2
    err = capsys.readouterr().err
    assert "Unknown method 'FOO'" in err and "SCL-CB" in err and "Plain-CSCE" in err
    assert main(["evaluate", a.id, "--method", "SCL-CSCE"]) == 0
    assert "has no SCL-CSCE result yet" in capsys.readouterr().out


def test_cli_show_and_evaluate_mark_stale_results(home, capsys):
    from scl_desktop.cli import main

    a, _ = two_runs()
    a.mark_stale(["SCL-CB"], "fitted on the encoder of epoch 1, which was trained further")
    for command in (["runs", "show", a.id], ["evaluate", a.id]):
        assert main(command) == 0
        out = capsys.readouterr().out
        assert "SCL-CB (stale)" in out and f"refit with `scl fit {a.id} --balance cb`" in out
        assert "SCL-CE (stale)" not in out
    assert main(["evaluate", a.id, "--json"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert "trained further" in rows["SCL-CB"]["stale"] and rows["SCL-CE"]["stale"] is None
    a.save_result("SCL-CB", some_evaluation(6))  # a refit result is no longer stale
    assert RunStore().open(a.id).stale_results == {}


def test_cli_evaluate_recompute_uses_the_predictor(home, capsys, monkeypatch):
    from scl_desktop.cli import main
    from scl_desktop.core.events import Log
    from scl_desktop.core.model import predictor

    a, _ = two_runs()
    calls = []

    def evaluate_run(run, method):
        calls.append((run.id, method))
        yield Log(f"re-evaluating {method}")
        return some_evaluation(0)

    monkeypatch.setattr(predictor, "evaluate_run", evaluate_run)
    assert main(["evaluate", a.id, "--recompute", "--method", "SCL-CB", "--json"]) == 0
    assert calls == [(a.id, "SCL-CB")]
    assert json.loads(capsys.readouterr().out)["results"][0]["overall"] == 0.0
    assert RunStore().open(a.id).evaluation("SCL-CB").overall == 0.0


def test_cli_delete(home, capsys):
    from scl_desktop.cli import main

    a, b = two_runs()
    assert main(["runs", "delete", a.id]) == 2  # no terminal to confirm on
    assert "--yes" in capsys.readouterr().err and a.path.exists()
    assert main(["runs", "delete", a.id, "--yes"]) == 0
    assert not a.path.exists() and b.path.exists()
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["runs"]] == [b.id]
