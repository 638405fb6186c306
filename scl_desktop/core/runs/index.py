"""The run index: SQLite (WAL mode) over the run folders, for listing and comparing.

The run folders are the truth; the index can always be rebuilt from them.
Every run folder holds a ``run.json`` record (id, kind, status, dataset, architecture, result
summaries). ``RunIndex.list`` first syncs the index with the folders: rows of folders deleted by
hand are dropped, folders it does not know are added, and rows whose ``run.json`` changed are
refreshed. A missing, outdated or damaged database file is rebuilt by scanning ``runs_root``, also
when the damage ("database disk image is malformed") shows only during use.
Several processes may read and write at once (WAL mode, a busy timeout, short transactions).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from scl_desktop.core.errors import CheckpointError, DiskFullError, SclError
from scl_desktop.core.runs.record import RUN_FILE, effective_status, read_run_record, split_fingerprints

_log = logging.getLogger(__name__)
_LOW_SPACE = 64 * 2**20  # "disk I/O error" with less free space than this is a full disk
T = TypeVar("T")

SCHEMA_VERSION = 3
SUMMARY_KEYS = ("majority", "minority", "overall", "balanced_accuracy", "macro_f1")

_SCHEMA = f"""
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT,
    created TEXT,
    updated TEXT,
    status TEXT,
    message TEXT,
    path TEXT NOT NULL,
    source TEXT,
    arch TEXT,
    seed INTEGER,
    n_classes INTEGER,
    host TEXT,
    pid INTEGER,
    split TEXT,
    test_set TEXT,
    note TEXT,
    record_stamp TEXT
);
CREATE TABLE results (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    {", ".join(f"{k} REAL" for k in SUMMARY_KEYS)},
    PRIMARY KEY (run_id, method)
);
PRAGMA user_version = {SCHEMA_VERSION};
"""


@dataclass(frozen=True)
class RunRow:
    """One index row: the run's identity, state, dataset, architecture and result summaries.

    ``note`` is the user's free text about the run (``Run.set_note``); ``results`` maps method name
    to {"majority", "minority", "overall", "balanced_accuracy", "macro_f1"} in percent (``None``
    where not defined).
    """

    id: str
    kind: str
    name: str | None
    created: str | None
    updated: str | None
    status: str | None
    message: str | None
    path: str
    source: str | None
    arch: str | None
    seed: int | None
    n_classes: int | None
    host: str | None = None
    pid: int | None = None
    split: str | None = None
    test_set: str | None = None
    note: str | None = None
    results: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def status_label(self) -> str:
        """The status, with "running" shown as "interrupted" when its process on this host is gone."""
        return effective_status(self.status, self.host, self.pid)

    @property
    def dataset_name(self) -> str:
        """The dataset's folder name (the last part of ``source``), or "-" when unknown."""
        return (Path(self.source).name or self.source) if self.source else "-"

    def best(self, key: str = "overall") -> tuple[str, dict[str, float | None]] | None:
        """The method with the highest ``key`` accuracy, or ``None`` without results."""
        scored = [(m, r) for m, r in self.results.items() if r.get(key) is not None]
        return max(scored, key=lambda mr: mr[1][key]) if scored else None  # type: ignore[arg-type,return-value]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "created": self.created, "updated": self.updated,
            "status": self.status_label, "message": self.message, "path": self.path, "source": self.source,
            "arch": self.arch, "seed": self.seed, "n_classes": self.n_classes, "note": self.note,
            "results": self.results,
        }


class DamagedIndex(SclError):
    """The database file is damaged (not a database, or a malformed page); it is rebuilt from the folders."""


def _rebuilt_when_damaged(method: Callable[..., T]) -> Callable[..., T]:
    """Run ``method``; when the database turns out damaged, move it aside, rebuild it and run it once more."""
    @functools.wraps(method)
    def wrapper(self: RunIndex, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except DamagedIndex as exc:
            _log.warning("%s Rebuilding it from the run folders.", exc.what)
            self._move_aside()
            self._create()
            self.rebuild()
            return method(self, *args, **kwargs)
    return wrapper


class RunIndex:
    """SQLite index at ``path`` of the run folders under ``runs_root``, rebuilt from them when needed.

    Use it through ``RunStore``, which keeps one per runs folder.
    """

    def __init__(self, path: str | os.PathLike[str], runs_root: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.runs_root = Path(runs_root)
        self._ensure()

    # --- connection and schema -------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=15.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 15000")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from exc
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one short write transaction (committed on success)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _error(self, exc: sqlite3.Error) -> SclError:
        """The error to raise for ``exc``: damaged (rebuilt by the caller), disk full, or another failure."""
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in text or "not a database" in text:
            return DamagedIndex(f"The run index {self.path} is damaged ({text}).",
                                "It is rebuilt from the run folders; nothing needs to be done.")
        io_error = name.startswith("SQLITE_IOERR") or "I/O error" in text
        if name == "SQLITE_FULL" or "is full" in text or (io_error and _free_bytes(self.path.parent) < _LOW_SPACE):
            return DiskFullError(f"The disk holding {self.path.parent} is full, so the run index could not be "
                                 f"updated ({text}).",
                                 "Free some space there (or choose another data folder); the runs themselves are "
                                 "safe in their folders and the index is rebuilt from them.")
        return SclError(f"The run index {self.path} cannot be used ({text}).",
                        "Check that the data folder is writable; deleting runs.sqlite is safe, it is rebuilt from the run folders.")

    def _ensure(self) -> None:
        """Create the database (WAL mode) or rebuild it when missing, outdated or damaged."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        if not fresh:
            try:
                conn = sqlite3.connect(self.path, timeout=15.0)
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                finally:
                    conn.close()
                fresh = version != SCHEMA_VERSION or not {"runs", "results"} <= tables
            except sqlite3.OperationalError as exc:  # locked or unreadable: not damaged, do not touch it
                raise self._error(exc) from exc
            except sqlite3.DatabaseError:  # "file is not a database", "malformed": keep it aside, start anew
                self._move_aside()
                fresh = True
        if fresh:
            self._create()
            self.rebuild()

    def _move_aside(self) -> None:
        """Keep a damaged database file for inspection and start a new one."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.damaged-{stamp}{suffix}"))

    def _create(self) -> None:
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:  # another process may have just created it
                conn.execute("DROP TABLE IF EXISTS results")
                conn.execute("DROP TABLE IF EXISTS runs")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("COMMIT")

    # --- writing ---------------------------------------------------------------------------

    @_rebuilt_when_damaged
    def add(self, folder: str | os.PathLike[str]) -> RunRow:
        """Insert or refresh the row of the run in ``folder`` from its ``run.json``."""
        folder = Path(folder)
        record = read_run_record(folder)
        with self._write() as conn:
            self._upsert(conn, folder, record)
        row = self.get(record["id"], sync=False)
        assert row is not None
        return row

    def _upsert(self, conn: sqlite3.Connection, folder: Path, record: Mapping[str, Any]) -> None:
        fields = {**_fields(folder, record), "record_stamp": _record_stamp(folder)}
        run_id = fields["id"]
        conn.execute(f"INSERT OR REPLACE INTO runs ({', '.join(fields)}) VALUES ({','.join('?' * len(fields))})",
                     tuple(fields.values()))
        conn.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
        for method, summary in (record.get("results") or {}).items():
            self._insert_result(conn, run_id, method, summary)

    @staticmethod
    def _insert_result(conn: sqlite3.Connection, run_id: str, method: str, summary: Mapping[str, Any]) -> None:
        conn.execute(
            f"INSERT OR REPLACE INTO results (run_id, method, {', '.join(SUMMARY_KEYS)}) VALUES (?,?,?,?,?,?,?)",
            (run_id, method, *(summary.get(k) for k in SUMMARY_KEYS)),
        )

    @_rebuilt_when_damaged
    def delete(self, run_id: str) -> None:
        """Remove a run's row (``RunStore.delete`` deletes its folder first).

        While the folder is still in ``runs_root`` the row comes back at the next ``sync`` (the
        folders are the truth).
        """
        with self._write() as conn:
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # --- syncing with the folders ----------------------------------------------------------

    @_rebuilt_when_damaged
    def rebuild(self) -> int:
        """Forget every row and re-add every run folder under ``runs_root``; returns the number of runs."""
        with self._write() as conn:
            conn.execute("DELETE FROM results")
            conn.execute("DELETE FROM runs")
            count = 0
            for folder in _run_folders(self.runs_root):
                record = _try_record(folder)
                if record is not None:
                    self._upsert(conn, folder, record)
                    count += 1
        return count

    @_rebuilt_when_damaged
    def sync(self) -> None:
        """Drop rows whose folder is gone, add unknown run folders, refresh rows whose run.json changed."""
        with self._connect() as conn:
            known = {r["path"]: (r["id"], r["record_stamp"])
                     for r in conn.execute("SELECT id, path, record_stamp FROM runs")}
        gone: list[str] = []
        updates: list[tuple[Path, dict[str, Any]]] = []
        for path, (run_id, stamp) in known.items():
            now = _record_stamp(Path(path))
            if now is None:
                gone.append(run_id)
            elif now != stamp and (record := _try_record(Path(path))) is not None:
                updates.append((Path(path), record))
        present = {run_id for run_id, _ in known.values()} - set(gone)
        for folder in _run_folders(self.runs_root):
            if str(folder.resolve()) in known:
                continue
            record = _try_record(folder)
            if record is not None and record["id"] not in present:  # a copied folder does not steal the row
                updates.append((folder, record))
                present.add(record["id"])
        if not gone and not updates:
            return
        with self._write() as conn:
            for run_id in gone:
                conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            for folder, record in updates:
                self._upsert(conn, folder, record)

    # --- reading ---------------------------------------------------------------------------

    @_rebuilt_when_damaged
    def list(self, kind: str | None = None, sync: bool = True) -> list[RunRow]:
        """All runs, newest first (synced with the run folders first unless ``sync=False``)."""
        if sync:
            self.sync()
        query, args = "SELECT * FROM runs", ()
        if kind is not None:
            query, args = query + " WHERE kind = ?", (kind,)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY created DESC, id DESC", args).fetchall()
            results = self._results(conn)
        return [_row(r, results.get(r["id"], {})) for r in rows]

    @_rebuilt_when_damaged
    def get(self, run_id: str, sync: bool = True) -> RunRow | None:
        """The row of one run, or ``None``."""
        if sync:
            self.sync()
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            results = self._results(conn, run_id)
        return _row(row, results.get(run_id, {}))

    @staticmethod
    def _results(conn: sqlite3.Connection, run_id: str | None = None) -> dict[str, dict[str, dict[str, float | None]]]:
        query = "SELECT * FROM results" + (" WHERE run_id = ?" if run_id else "") + " ORDER BY method"
        out: dict[str, dict[str, dict[str, float | None]]] = {}
        for r in conn.execute(query, (run_id,) if run_id else ()):
            out.setdefault(r["run_id"], {})[r["method"]] = {k: r[k] for k in SUMMARY_KEYS}
        return out


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def _record_stamp(folder: Path) -> str | None:
    """Identity of the current run.json: inode, mtime and size (each atomic rewrite gets a new inode)."""
    try:
        st = (folder / RUN_FILE).stat()
    except OSError:
        return None
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def _try_record(folder: Path) -> dict[str, Any] | None:
    try:
        return read_run_record(folder)
    except CheckpointError:
        return None


def _fields(folder: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``runs`` columns (but the record stamp) of the run in ``folder``, from its run.json ``record``."""
    split, test_set = split_fingerprints(folder, dict(record))
    return {
        "id": str(record["id"]), "kind": record.get("run_kind", "?"), "name": record.get("name"),
        "created": record.get("created"), "updated": record.get("updated"), "status": record.get("status"),
        "message": record.get("message"), "path": str(folder.resolve()), "source": record.get("source"),
        "arch": record.get("arch"), "seed": record.get("seed"), "n_classes": record.get("n_classes"),
        "host": record.get("host"), "pid": record.get("pid"), "split": split, "test_set": test_set,
        "note": record.get("note"),
    }


def _run_folders(runs_root: Path) -> list[Path]:
    if not runs_root.is_dir():
        return []
    return sorted(p for p in runs_root.iterdir() if (p / RUN_FILE).is_file())


def folder_rows(runs_root: Path, kind: str | None = None) -> list[RunRow]:
    """The rows of the run folders under ``runs_root`` read directly, newest first (when the index cannot be used)."""
    rows = []
    for folder in _run_folders(runs_root):
        record = _try_record(folder)
        if record is not None and kind in (None, record.get("run_kind")):
            rows.append(folder_row(folder, record))
    return sorted(rows, key=lambda r: (r.created or "", r.id), reverse=True)


def folder_row(folder: Path, record: Mapping[str, Any]) -> RunRow:
    """The row of the run in ``folder`` built from its run.json ``record``, without the index (for a run
    outside the runs folder, or when the index cannot be used)."""
    results = {m: {k: (summary or {}).get(k) for k in SUMMARY_KEYS}
               for m, summary in sorted((record.get("results") or {}).items())}
    return RunRow(**_fields(folder, record), results=results)


def _row(r: sqlite3.Row, results: dict[str, dict[str, float | None]]) -> RunRow:
    return RunRow(
        id=r["id"], kind=r["kind"], name=r["name"], created=r["created"], updated=r["updated"], status=r["status"],
        message=r["message"], path=r["path"], source=r["source"], arch=r["arch"], seed=r["seed"],
        n_classes=r["n_classes"], host=r["host"], pid=r["pid"], split=r["split"], test_set=r["test_set"],
        note=r["note"], results=results,
    )
