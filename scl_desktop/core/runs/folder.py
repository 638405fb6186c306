"""Run folders: everything needed to reproduce and judge one training run, in one place.

``<runs folder>/<id>/`` holds::

    run.json            id, kind, name, note, seed, status, dataset, arch, result summaries (the index's source)
    config.json         the training configuration
    split.json          a copy of the split manifest (with the dataset manifest inside)
    environment.json    python/torch/torchvision/numpy/scl_desktop versions, git commit, device, command line
    checkpoints/        written by the trainers
    metrics_<stage>.csv one row per epoch, appended a line at a time (survives a kill)
    results/<method>/   evaluation.json, per_class.csv, confusion.csv (+ extra.json)

Run ids look like ``20250131-142233-scl-3fa9``. Runs are created, opened, listed, renamed and deleted
through ``store.RunStore``; a ``Run`` is one folder.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scl_desktop.core.atomic import read_json, write_json, write_text
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import CheckpointError, ConfigError, SclError
from scl_desktop.core.methods import METHOD_NAMES
from scl_desktop.core.metrics import EVALUATION_FILE, Evaluation
from scl_desktop.core.runs.lock import run_lock
from scl_desktop.core.runs.record import RUN_FILE, SPLIT_FILE, effective_status, now_text, read_run_record

if TYPE_CHECKING:
    import torch

RUN_KINDS = ("scl", "baseline")
STATUSES = ("running", "done", "cancelled", "failed")
CONFIG_FILE = "config.json"
ENVIRONMENT_FILE = "environment.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FILE = "last.pt"
RESULTS_DIR = "results"
EXTRA_FILE = "extra.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


def check_name(value: str, what: str) -> str:
    if not _NAME_RE.match(value or ""):
        raise ConfigError(f"{what} {value!r} cannot be used as a file name.",
                          "Use letters, digits and - _ . + only (at most 64 characters).")
    return value


def jsonable_config(config: Any) -> dict[str, Any]:
    if hasattr(config, "to_json"):
        config = config.to_json()
    elif is_dataclass(config) and not isinstance(config, type):
        config = asdict(config)
    if not isinstance(config, Mapping):
        raise ConfigError(f"A run configuration must be a dict, got {type(config).__name__}.",
                          "Pass config.to_json().")
    return dict(config)


def find_key(obj: Any, key: str) -> Any:
    """First value of ``key`` anywhere in nested dicts (used for the "arch" shown in run lists)."""
    if isinstance(obj, Mapping):
        if key in obj:
            return obj[key]
        for value in obj.values():
            found = find_key(value, key)
            if found is not None:
                return found
    return None


def git_commit() -> dict[str, Any] | None:
    """Commit and dirty flag of the source checkout scl_desktop runs from, or ``None`` if not a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def environment_info(device: torch.device | str | None = None) -> dict[str, Any]:
    """What environment.json records: package versions, code version, platform, CPU, device, command line."""
    import torch  # lazily: reading runs (`scl runs list/show`) should not pay for importing torch

    from scl_desktop.core.devices import core_versions, cpu_cores, device_summary

    info: dict[str, Any] = {
        "versions": core_versions(),
        "git": git_commit(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu": cpu_cores(),
        "command": list(sys.argv),
        "device": device_summary(torch.device(device)) if device is not None else None,
    }
    return info


class Run:
    """One run folder. Cheap to create; the config, split and environment are read on first use."""

    def __init__(self, path: str | os.PathLike[str], record: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self._record = dict(record) if record is not None else read_run_record(self.path)
        self._config: dict[str, Any] | None = None
        self._split: SplitManifest | None = None

    def __repr__(self) -> str:
        return f"Run({self.id!r}, kind={self.kind!r}, status={self.status!r})"

    # --- identity and record ---------------------------------------------------------------

    @property
    def id(self) -> str:
        return str(self._record["id"])

    @property
    def kind(self) -> str:
        """"scl" (two-stage) or "baseline"."""
        return str(self._record.get("run_kind", "?"))

    @property
    def name(self) -> str | None:
        return self._record.get("name")

    @property
    def note(self) -> str | None:
        """The user's free text about the run (``set_note``), or ``None``."""
        return self._record.get("note") or None

    def set_note(self, text: str | None) -> None:
        """Store ``text`` (stripped; empty or ``None`` removes the note) in run.json; the index picks it up
        at its next sync."""
        self._save_record(note=(text or "").strip() or None)

    @property
    def seed(self) -> int:
        return int(self._record.get("seed", 0))

    @property
    def created(self) -> str | None:
        return self._record.get("created")

    @property
    def status(self) -> str:
        return str(self._record.get("status", "unknown"))

    @property
    def status_label(self) -> str:
        """The status, with "running" shown as "interrupted" when its process on this host is gone."""
        return effective_status(self.status, self._record.get("host"), self._record.get("pid"))

    @property
    def message(self) -> str | None:
        """Why the run stopped, for "failed" and "cancelled"."""
        return self._record.get("message")

    @property
    def record(self) -> dict[str, Any]:
        """A copy of run.json."""
        return dict(self._record)

    def reload(self) -> Run:
        """Re-read run.json (another process may have changed the status or added results)."""
        self._record = read_run_record(self.path)
        return self

    def writer(self, what: str) -> AbstractContextManager[None]:
        """The run's one-writer lock, held by every trainer for its whole run (``lock.run_lock``)."""
        return run_lock(self.path, self.id, what)

    def _save_record(self, results: Mapping[str, Any] | None = None, stale: Mapping[str, str | None] | None = None,
                     **changes: Any) -> None:
        """Write run.json with ``changes`` (and ``results`` and ``stale`` merged in; a stale reason of ``None``
        clears it), starting from the file on disk so that results another process saved meanwhile are kept."""
        try:
            record = read_run_record(self.path)
        except CheckpointError:
            record = dict(self._record)
        if results:
            record["results"] = {**(record.get("results") or {}), **results}
        if stale:
            merged = {**(record.get("stale_results") or {}), **stale}
            record["stale_results"] = {m: why for m, why in merged.items() if why is not None}
        record.update(changes, updated=now_text())
        write_json(self.path / RUN_FILE, record)
        self._record = record

    # --- config, split, environment -------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The training configuration (config.json)."""
        if self._config is None:
            self._config = self._read(CONFIG_FILE)
        return self._config

    @property
    def split(self) -> SplitManifest:
        """The split manifest the run was trained on (split.json)."""
        if self._split is None:
            data = self._read(SPLIT_FILE)
            try:
                self._split = SplitManifest.from_json(data)
            except (SclError, KeyError, TypeError, ValueError, AttributeError) as exc:
                what = exc.what if isinstance(exc, SclError) else f"{type(exc).__name__}: {exc}"
                raise CheckpointError(f"The split copy of run {self.id} is unusable ({what}).",
                                      "The run folder is damaged; train a new run.") from exc
        return self._split

    @property
    def store_size(self) -> int:
        """Side of the decoded image store the run trains, fits and labels on: recorded at creation;
        for runs made before that, the configured store size, else the dataset's working size."""
        size = self._record.get("store_size") or self.config.get("store_size") or self.split.dataset.size
        if not size:
            raise CheckpointError(f"Run {self.id} records no store size.", "The run folder is damaged; train a new run.")
        return int(size)

    @property
    def start_weights(self) -> dict[str, Any] | None:
        """The weights the encoder started from ({"name", "file", "sha256"}; name None for a user's file), or
        None for random initialisation (and for runs made before this was recorded)."""
        return self._record.get("start_weights")

    def record_start_weights(self, start: Mapping[str, Any]) -> None:
        """Record in run.json which weights the encoder started from (``StartWeights.to_json``)."""
        self._save_record(start_weights=dict(start))

    @property
    def derived_from(self) -> dict[str, Any] | None:
        """Where a derived run came from ({"run": parent id, ...}: e.g. mining's grown training part, which
        shares the parent's encoder), or None for a run trained on its own."""
        return self._record.get("derived_from")

    def record_derivation(self, origin: Mapping[str, Any]) -> None:
        """Record in run.json the run this one was derived from and how (``derived_from``)."""
        self._save_record(derived_from=dict(origin))

    @property
    def environment(self) -> dict[str, Any]:
        """Versions, code version, device and command line recorded at creation (environment.json)."""
        return self._read(ENVIRONMENT_FILE)

    def _read(self, name: str) -> Any:
        try:
            return read_json(self.path / name)
        except SclError as exc:
            raise CheckpointError(f"Run {self.id}: {exc.what}", "The run folder is damaged; train a new run.") from exc

    @property
    def checkpoint_dir(self) -> Path:
        """Folder for the trainers' checkpoints (exists)."""
        path = self.path / CHECKPOINT_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def checkpoint_file(self) -> Path:
        """The run's resumable checkpoint: stage 1's encoder or the baseline's model, with optimizer and RNG state."""
        return self.checkpoint_dir / CHECKPOINT_FILE

    def classifier_file(self, balance: str) -> Path:
        """Where stage 2 stores the classifier of one balance strategy."""
        return self.checkpoint_dir / f"classifier_{balance}.pt"

    @property
    def results_dir(self) -> Path:
        return self.path / RESULTS_DIR

    # --- status ----------------------------------------------------------------------------

    def set_status(self, status: str, message: str | None = None) -> None:
        """Record "running", "done", "cancelled" or "failed" (with an optional reason)."""
        if status not in STATUSES:
            raise ConfigError(f"Unknown run status {status!r}.", f"Use one of {', '.join(STATUSES)}.")
        self._save_record(status=status, message=message, pid=os.getpid(), host=socket.gethostname())

    # --- per-epoch metrics -----------------------------------------------------------------

    def metrics_path(self, stage: str) -> Path:
        """metrics_<stage>.csv in the run folder."""
        return self.path / f"metrics_{check_name(stage, 'Stage name')}.csv"

    def metrics_stages(self) -> list[str]:
        """Stages that have a metrics CSV, sorted."""
        return sorted(p.stem[len("metrics_"):] for p in self.path.glob("metrics_*.csv"))

    def append_metrics(self, stage: str, row: Mapping[str, Any]) -> None:
        """Append one row (e.g. one epoch: epoch, loss, lr, ...) to metrics_<stage>.csv.

        The header comes from the first row. Each row is appended, flushed and fsynced on its own,
        so a killed process loses at most the row being written (a torn last line is dropped on
        the next append or read). A row with new columns rewrites the file atomically with the
        wider header.
        """
        path = self.metrics_path(stage)
        header = _read_header(path)
        if not header or any(k not in header for k in row):
            header, rows = _read_csv(path) if path.exists() else ([], [])
            header = header + [k for k in row if k not in header]
            rows.append({k: _csv_value(v) for k, v in row.items()})
            write_text(path, _csv_text(header, rows))
            return
        _drop_torn_tail(path)
        with open(path, "a", encoding="utf-8", newline="") as fh:
            fh.write(_csv_text(header, [{k: _csv_value(v) for k, v in row.items()}], with_header=False))
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self, stage: str) -> list[dict[str, Any]]:
        """Rows of metrics_<stage>.csv with numbers parsed (empty cells are ``None``); [] when absent."""
        path = self.metrics_path(stage)
        if not path.exists():
            return []
        _header, rows = _read_csv(path)
        return [{k: _parse_cell(v) for k, v in r.items()} for r in rows]

    def truncate_metrics(self, stage: str, after_epoch: int) -> int:
        """Drop rows with ``epoch > after_epoch`` (used on resume from a checkpoint); returns rows dropped."""
        path = self.metrics_path(stage)
        if not path.exists():
            return 0
        header, rows = _read_csv(path)

        def keep(row: dict[str, str]) -> bool:
            epoch = _parse_cell(row.get("epoch"))
            return not isinstance(epoch, (int, float)) or epoch <= after_epoch

        kept = [r for r in rows if keep(r)]
        if len(kept) != len(rows) or not path.read_bytes().endswith(b"\n"):
            write_text(path, _csv_text(header, kept))
        return len(rows) - len(kept)

    # --- results ---------------------------------------------------------------------------

    def save_result(self, method: str, evaluation: Evaluation, extra: Mapping[str, Any] | None = None) -> Path:
        """Write results/<method>/ (evaluation JSON + CSVs, extra.json) and update run.json."""
        folder = self.results_dir / check_name(method, "Method name")
        evaluation.write(folder)
        if extra is not None:
            write_json(folder / EXTRA_FILE, dict(extra))
        self._save_record(results={method: evaluation.summary()}, stale={method: None})
        return folder

    @property
    def stale_results(self) -> dict[str, str]:
        """Methods whose stored result no longer matches the run's models -> why (refit to renew them)."""
        return dict(self._record.get("stale_results") or {})

    def mark_stale(self, methods: list[str], why: str) -> None:
        """Record that the results of ``methods`` are stale (e.g. the encoder was trained further)."""
        if methods:
            self._save_record(stale=dict.fromkeys(methods, why))

    def methods(self) -> list[str]:
        """Methods with stored results, in the paper's order, then others alphabetically."""
        if not self.results_dir.is_dir():
            return []
        found = [p.name for p in self.results_dir.iterdir() if (p / EVALUATION_FILE).is_file()]
        order = {m: i for i, m in enumerate(METHOD_NAMES)}
        return sorted(found, key=lambda m: (order.get(m, len(order)), m))

    def evaluation(self, method: str) -> Evaluation:
        """The stored ``Evaluation`` of ``method``; ``CheckpointError`` when absent."""
        folder = self.results_dir / check_name(method, "Method name")
        if not (folder / EVALUATION_FILE).is_file():
            have = ", ".join(self.methods()) or "none"
            raise CheckpointError(f"Run {self.id} has no result for {method!r} (results: {have}).",
                                  "Fit that classifier first, e.g. `scl fit RUN --balance cb`.")
        return Evaluation.load(folder)

    def result_extra(self, method: str) -> dict[str, Any]:
        """What the trainer stored beside ``method``'s evaluation (its extra.json, e.g. auto's choice); {} if none."""
        path = self.results_dir / check_name(method, "Method name") / EXTRA_FILE
        return dict(read_json(path)) if path.is_file() else {}

    def result_rows(self) -> list[dict[str, Any]]:
        """One JSON row per method as `scl evaluate --json` prints it (percent; ``per_class``: accuracy, classes
        without test samples left out; ``per_class_scores``: precision, recall, F1 and accuracy of every class,
        ``None`` where undefined; ``kappa``: Cohen's kappa, a fraction; ``stale``: why the result no longer
        matches the run's models, or ``None``)."""
        rows = []
        for method in self.methods():
            ev = self.evaluation(method)
            rows.append({
                "method": method, "run": self.id,
                "majority": ev.majority, "minority": ev.minority, "overall": ev.overall,
                "balanced_accuracy": ev.balanced_accuracy, "macro_f1": ev.macro_f1,
                "per_class": {c: v for c, v in ev.per_class.items() if v is not None},
                "per_class_scores": {c: sc.to_json() for c, sc in ev.scores().items()},
                "kappa": ev.kappa,
                "stale": self.stale_results.get(method),
            })
        return rows


# --- CSV helpers ---------------------------------------------------------------------------

def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if hasattr(v, "item") and callable(v.item):  # numpy / torch scalar
        v = v.item()
    if isinstance(v, float):
        return repr(v)
    return v


def _csv_text(header: list[str], rows: list[Mapping[str, Any]], with_header: bool = True) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", extrasaction="ignore", restval="")
    if with_header:
        writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and complete rows; a torn last line (no newline: the writer was killed) is ignored."""
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    rows = [dict(r) for r in reader]
    return list(reader.fieldnames or []), rows


def _read_header(path: Path) -> list[str]:
    """Column names of a metrics CSV (the first line); [] when the file is absent or empty."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return next(csv.reader(fh), [])
    except FileNotFoundError:
        return []


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that lacks its newline, left by a process killed mid-append."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return
        fh.truncate(data.rfind(b"\n") + 1)
        fh.flush()
        os.fsync(fh.fileno())


def _parse_cell(v: str | None) -> Any:
    if v is None or v == "":
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


# --- creating and opening ------------------------------------------------------------------


