"""``RunStore``: the one object that creates, opens, lists, renames and deletes the runs of a runs folder.

The run folders are the truth; the store keeps its SQLite ``RunIndex`` in step with them (the
index is re-synced from the folders whenever it is read, so a status written by any process
shows up). The index is only an index: when it cannot be used (a full disk, a locked or
unwritable file) the store logs why and reads the folders directly, so no training, listing
or deletion fails because of it; the index catches up at its next successful sync. A run is named by its id, its name, or a unique prefix of its id, in that order;
names are unique within a store.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scl_desktop.core.atomic import write_json
from scl_desktop.core.data import store_size
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import CheckpointError, ConfigError, SclError
from scl_desktop.core.paths import data_dir, runs_dir
from scl_desktop.core.runs.folder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    ENVIRONMENT_FILE,
    RUN_KINDS,
    Run,
    check_name,
    environment_info,
    find_key,
    jsonable_config,
    now_text,
)
from scl_desktop.core.runs.index import RunIndex, RunRow, folder_row, folder_rows
from scl_desktop.core.runs.lock import LOCK_FILE
from scl_desktop.core.runs.record import RUN_FILE, RUN_RECORD_TYPE, SPLIT_FILE

if TYPE_CHECKING:
    import torch

INDEX_FILE = "runs.sqlite"
RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[a-z]+-[0-9a-f]{4}$")
"""What run ids look like (``20250131-142233-scl-3fa9``); no run name may."""
_log = logging.getLogger(__name__)


class RunStore:
    """The runs under ``root`` (default: the user's runs folder) and their index.

    Cheap to keep for the life of a session or command; the index is opened (and checked, or
    rebuilt from the folders) once, on first use.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else runs_dir()
        self._index_path = data_dir() / INDEX_FILE if root is None else self.root / INDEX_FILE
        self._index: RunIndex | None = None
        self._opened: dict[Path, Run] = {}

    @property
    def index(self) -> RunIndex:
        """The SQLite index of this store's runs (opened on first use)."""
        if self._index is None:
            self._index = RunIndex(self._index_path, self.root)
        return self._index

    # --- creating ---------------------------------------------------------------------------

    def create(self, kind: str, split: SplitManifest, config: Any, seed: int, name: str | None = None,
               device: torch.device | str | None = None) -> Run:
        """Make a new run folder (status "running") with config, split copy and environment, and index it.

        ``config`` is a dict (or an object with ``to_json()``); ``device`` is recorded in
        environment.json when given. A ``name`` already used by another run is refused. The side
        of the decoded image store the config's training uses (``store_size.for_settings``) is
        recorded in run.json, so every later stage of the run uses that one (``Run.store_size``).
        """
        if kind not in RUN_KINDS:
            raise ConfigError(f"Unknown run kind {kind!r}.", f"Use one of {', '.join(RUN_KINDS)}.")
        if name is not None:
            self.check_name_free(name)
        config_json = jsonable_config(config)
        folder = self._new_folder(kind)
        run_id = folder.name
        try:
            write_json(folder / CONFIG_FILE, config_json)
            split.save(folder / SPLIT_FILE)
            write_json(folder / ENVIRONMENT_FILE, {**environment_info(device), "seed": int(seed)})
            (folder / CHECKPOINT_DIR).mkdir()
            now = now_text()
            arch = find_key(config_json, "arch")
            chosen = store_size.for_settings(split.dataset, config_json)
            record = {
                "type": RUN_RECORD_TYPE, "format": 1, "id": run_id, "run_kind": kind, "name": name,
                "created": now, "updated": now, "seed": int(seed), "status": "running", "message": None,
                "pid": os.getpid(), "host": socket.gethostname(),
                "source": split.dataset.source, "n_classes": len(split.classes),
                "arch": str(arch) if arch is not None else None, "results": {},
                "split_fingerprint": split.fingerprint(), "test_fingerprint": split.fingerprint(("test",)),
                "store_size": chosen.size if chosen is not None else None,
            }
            write_json(folder / RUN_FILE, record)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._update_index(lambda index: index.add(folder))
        run = self._opened[folder.resolve()] = Run(folder, record)
        return run

    def _update_index(self, change: Any) -> None:
        """Apply ``change(index)``; a failure is logged, never raised (the index syncs from the folders later)."""
        try:
            change(self.index)
        except SclError as exc:
            _log.warning("The run index was not updated (%s); it catches up from the run folders later.", exc)

    def _new_folder(self, kind: str) -> Path:
        for _ in range(100):
            folder = self.root / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(2)}"
            try:
                folder.mkdir(parents=True)
                return folder
            except FileExistsError:
                continue
            except OSError as exc:
                raise SclError(f"Could not create a run folder in {self.root} ({exc.strerror or exc}).",
                               "Choose a writable data folder (Settings in the app, or set SCL_HOME).") from exc
        raise SclError(f"Could not create a new run folder in {self.root}.", "Try again in a second.")

    def check_name_free(self, name: str) -> None:
        """``ConfigError`` unless ``name`` can name a new run: a valid file name, not shaped like a run
        id, and used by no other run (as a name or an id). Trainers call it before any work."""
        check_name(name, "Run name")
        if RUN_ID_RE.match(name):
            raise ConfigError(f"The run name {name!r} looks like a run id.", "Choose a name that does not.")
        taken = [row.id for row in self.list() if name in (row.name, row.id)]
        if taken:
            raise ConfigError(f"The run name {name!r} is already used by run {taken[0]}.",
                              "Choose another name, or delete that run first.")

    # --- opening and listing ----------------------------------------------------------------

    def open(self, id_or_path: str | os.PathLike[str]) -> Run:
        """Open a run by folder path (absolute or with a separator), exact id, exact name, or unique id
        prefix, in that order; a bare folder name in the current directory only when nothing else matches.

        ``CheckpointError`` when nothing matches, when a prefix matches several runs (listing
        them), or when the folder is damaged.
        """
        text = str(id_or_path).strip()
        if not text:
            raise CheckpointError("No run was given.", "Pass a run id from `scl runs list` or the folder of a run.")
        path = Path(text).expanduser()
        if path.is_absolute() or os.sep in text or bool(os.altsep and os.altsep in text):
            if path.is_dir():
                return self._run(path)  # raises a clear error for a folder that is not a run
            raise CheckpointError(f"There is no run folder at {path}.",
                                  "Check the path, or pass a run id from `scl runs list`.")
        if (self.root / text / RUN_FILE).is_file():
            return self._run(self.root / text)
        rows = self.list()
        for matches in ([r for r in rows if r.name == text], [r for r in rows if r.id.startswith(text)]):
            if len(matches) == 1:
                return self._run(Path(matches[0].path))
            if matches:
                shown = ", ".join(f"{r.id}" + (f" ({r.name})" if r.name else "") for r in matches[:8])
                more = f" and {len(matches) - 8} more" if len(matches) > 8 else ""
                raise CheckpointError(f"{len(matches)} runs match {text!r}: {shown}{more}.",
                                      "Give the whole run id (see `scl runs list`).")
        if (path / RUN_FILE).is_file():
            return self._run(path)
        raise CheckpointError(f"No run matches {text!r}.", "See `scl runs list` for the runs there are.")

    def _run(self, folder: Path) -> Run:
        """The ``Run`` of ``folder``, kept for the store's life: its split and config (which never change)
        are parsed once per session; its record is re-read on every open."""
        key = folder.resolve()
        run = self._opened.get(key)
        if run is None:
            run = self._opened[key] = Run(key)
            return run
        return run.reload()

    def list(self, kind: str | None = None) -> list[RunRow]:
        """Every run, newest first, with its result summaries (index synced with the folders first)."""
        try:
            return self.index.list(kind=kind)
        except SclError as exc:
            _log.warning("The run index cannot be used (%s); reading the run folders directly.", exc)
            return folder_rows(self.root, kind)

    def rows(self, runs: Sequence[Run]) -> list[RunRow]:
        """The index rows of ``runs``, in their order (a run outside the runs folder: read from its folder)."""
        by_id = {row.id: row for row in self.list()}
        return [by_id.get(run.id) or folder_row(run.path, run.record) for run in runs]

    # --- renaming ---------------------------------------------------------------------------

    def rename(self, run: Run | str, name: str) -> Run:
        """Give ``run`` (a ``Run`` or anything ``open`` takes) the name ``name`` in run.json and the index.

        ``ConfigError`` when the name is not a valid file name, looks like a run id, or names another
        run (``check_name_free``); the run's own name is accepted unchanged.
        """
        run = run if isinstance(run, Run) else self.open(run)
        name = (name or "").strip()
        if name != run.name:
            self.check_name_free(name)
            run._save_record(name=name)
            self._update_index(lambda index: index.add(run.path))
        return run

    # --- deleting ---------------------------------------------------------------------------

    def delete(self, run: Run | str) -> None:
        """Delete a run's folder (checkpoints, results, metrics) and its index row.

        Takes the run's writer lock, so a run that a process is training (or deleting) is refused:
        its next checkpoint or status write would recreate a partial folder that looks like a damaged run.
        """
        run = run if isinstance(run, Run) else self.open(run)
        with run.writer("deleting the run"):
            _remove_contents(run.path)
        shutil.rmtree(run.path, ignore_errors=True)  # the lock file, released now (Windows cannot delete it held)
        self._update_index(lambda index: index.delete(run.id))
        self._opened.pop(run.path.resolve(), None)


def _remove_contents(folder: Path) -> None:
    """Everything in a run folder but its lock file, run.json last (a failure leaves a run that can be deleted again)."""
    children = sorted((p for p in folder.iterdir() if p.name != LOCK_FILE), key=lambda p: p.name == RUN_FILE)
    try:
        for child in children:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    except OSError as exc:
        raise SclError(f"Could not delete {folder}: {exc}.",
                       "Close programs that use files of this run and try again.") from exc
