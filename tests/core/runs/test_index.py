"""The SQLite run registry: WAL mode, rebuilt from the run folders, tolerant of hand-made changes."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading

import pytest

from scl_desktop.core.runs.index import SCHEMA_VERSION
from scl_desktop.core.runs.store import RunStore
from tests.core.runs.test_folder import make_split, some_evaluation


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCL_HOME", str(tmp_path))
    return tmp_path


def db_path(home):
    return home / "data" / "runs.sqlite"


def test_wal_mode_and_schema_version(home):
    registry = RunStore().index
    assert registry.path == db_path(home)
    with sqlite3.connect(registry.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    with sqlite3.connect(registry.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_list_shows_runs_newest_first_with_results(home):
    a = RunStore().create("scl", make_split(), {"arch": "resnet18"}, seed=0)
    b = RunStore().create("baseline", make_split(), {"arch": "resnet34"}, seed=1)
    a.save_result("SCL-CB", some_evaluation(6))
    a.save_result("SCL-CE", some_evaluation(4))
    rows = RunStore().index.list()
    assert [r.id for r in rows] == sorted([a.id, b.id], reverse=True)
    row_a = RunStore().index.get(a.id)
    assert set(row_a.results) == {"SCL-CB", "SCL-CE"}
    assert row_a.best("overall")[0] == "SCL-CB"
    assert [r.id for r in RunStore().index.list(kind="baseline")] == [b.id]


def test_rebuilt_when_database_deleted(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    run.save_result("SCL-CB", some_evaluation())
    run.set_status("done")
    for suffix in ("", "-wal", "-shm"):
        db_path(home).with_name("runs.sqlite" + suffix).unlink(missing_ok=True)
    rows = RunStore().index.list()
    assert [r.id for r in rows] == [run.id]
    assert rows[0].status == "done" and "SCL-CB" in rows[0].results


def test_damaged_database_is_moved_aside_and_rebuilt(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    for suffix in ("-wal", "-shm"):
        db_path(home).with_name("runs.sqlite" + suffix).unlink(missing_ok=True)
    db_path(home).write_bytes(b"this is not a database" * 100)
    assert [r.id for r in RunStore().index.list()] == [run.id]
    assert list(db_path(home).parent.glob("runs.sqlite.damaged-*"))


def test_old_schema_is_rebuilt(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    with sqlite3.connect(db_path(home)) as conn:
        conn.execute("PRAGMA user_version = 0")
    assert [r.id for r in RunStore().index.list()] == [run.id]


def test_folder_deleted_by_hand_is_dropped_and_unknown_folder_added(home):
    a = RunStore().create("scl", make_split(), {}, seed=0)
    b = RunStore().create("scl", make_split(), {}, seed=0)
    shutil.rmtree(a.path)
    copy = b.path.with_name(b.id + "-copy")
    shutil.copytree(b.path, copy)  # same id in run.json: the copy replaces b's row ...
    shutil.rmtree(b.path)  # ... and b is gone
    assert [r.path for r in RunStore().index.list()] == [str(copy.resolve())]


def test_changed_run_json_is_refreshed(home):
    store = RunStore()
    run = store.create("scl", make_split(), {}, seed=0)
    assert store.index.get(run.id, sync=False).status == "running"
    run.set_status("cancelled")  # run.json only: the index follows at its next read
    assert store.index.get(run.id).status == "cancelled"
    run.save_result("Plain", some_evaluation(3))
    assert store.index.get(run.id).results["Plain"]["overall"] == pytest.approx(50.0)


def test_interrupted_run_is_labelled(home):
    run = RunStore().create("scl", make_split(), {}, seed=0)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = run.record
    record["pid"] = int(dead.stdout)
    from scl_desktop.core.atomic import write_json

    write_json(run.path / "run.json", record)
    row = RunStore().index.get(run.id)
    assert row.status == "running" and row.status_label == "interrupted"
    assert RunStore().open(run.id).status_label == "interrupted"


def test_deleting_a_row_keeps_the_folder_which_comes_back(home):
    a = RunStore().create("scl", make_split(), {}, seed=0)
    registry = RunStore().index
    registry.delete(a.id)
    assert a.path.exists() and registry.get(a.id, sync=False) is None
    assert registry.get(a.id) is not None  # the folder is the truth: the next sync adds it again


def test_concurrent_writers_and_readers(home):
    made = [RunStore().create("scl", make_split(), {}, seed=i) for i in range(4)]
    errors: list[BaseException] = []

    def work(run):
        try:
            for i in range(5):
                run.save_result("SCL-CB", some_evaluation(i % 6))
                RunStore().index.list()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(RunStore().index.list()) == 4


def test_a_page_damaged_while_in_use_is_rebuilt_from_the_folders(home):
    store = RunStore()
    run = store.create("scl", make_split(), {}, seed=0)
    run.save_result("SCL-CB", some_evaluation())
    assert [r.id for r in store.list()] == [run.id]  # the index is open and in use
    with sqlite3.connect(db_path(home)) as conn:  # the last connection checkpoints the WAL into the file
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        runs_page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    conn.close()
    with open(db_path(home), "r+b") as fh:  # garble the runs table's page: the header still reads fine
        fh.seek((runs_page - 1) * page_size)
        fh.write(b"\xff" * page_size)
    with pytest.raises(sqlite3.DatabaseError, match="malformed"), sqlite3.connect(db_path(home)) as conn:
        conn.execute("SELECT * FROM runs").fetchall()
    conn.close()
    rows = store.list()
    assert [r.id for r in rows] == [run.id] and "SCL-CB" in rows[0].results
    assert list(db_path(home).parent.glob("runs.sqlite.damaged-*"))


def full_disk(monkeypatch):
    """Every index connection behaves as on a full disk: SQLite refuses to grow the file (SQLITE_FULL)."""
    from scl_desktop.core.runs import index as index_mod

    real = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real(*args, **kwargs)
        conn.execute("PRAGMA max_page_count = 1")
        return conn

    monkeypatch.setattr(index_mod.sqlite3, "connect", connect)


def test_a_full_disk_is_a_disk_full_error_naming_the_folder_and_never_fails_a_run(home, monkeypatch, caplog):
    from scl_desktop.core.errors import DiskFullError
    from scl_desktop.core.runs.index import RunIndex

    old = RunStore().create("scl", make_split(), {}, seed=0)
    full_disk(monkeypatch)
    with pytest.raises(DiskFullError) as info:
        RunIndex(home / "full" / "runs.sqlite", old.path.parent)
    assert str(home / "full") in info.value.what and "Free some space" in info.value.hint
    store = RunStore(old.path.parent)  # its index cannot be written
    run = store.create("scl", make_split(), {}, seed=1, name="named")  # the name check and the index add fail
    assert "run index was not updated" in caplog.text
    run.save_result("SCL-CB", some_evaluation())
    rows = store.list()  # read from the folders directly
    assert {r.id for r in rows} == {old.id, run.id} and "SCL-CB" in next(r for r in rows if r.id == run.id).results
    store.delete(run.id)
    assert not run.path.exists() and [r.id for r in store.list()] == [old.id]
    monkeypatch.undo()
    assert [r.id for r in store.list()] == [old.id] and store.index.path.is_file()  # the index catches up


def test_disk_io_error_on_a_full_disk_is_a_disk_full_error(home, monkeypatch):
    from scl_desktop.core.errors import DiskFullError, SclError
    from scl_desktop.core.runs import index as index_mod

    registry = RunStore().index
    error = sqlite3.OperationalError("disk I/O error")
    monkeypatch.setattr(index_mod, "_free_bytes", lambda folder: 0)
    assert isinstance(registry._error(error), DiskFullError)
    monkeypatch.setattr(index_mod, "_free_bytes", lambda folder: 10 * 2**30)
    assert type(registry._error(error)) is SclError
