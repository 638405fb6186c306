"""The run record: ``run.json`` in every run folder (id, kind, name, status, owner process,
dataset, architecture, result summaries), how it is read, and what a status means."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from scl_desktop.core.atomic import read_json
from scl_desktop.core.errors import CheckpointError, SclError

RUN_FILE = "run.json"


RUN_RECORD_TYPE = "scl-run"
SPLIT_FILE = "split.json"


def now_text() -> str:
    """The local time with its UTC offset, to the second (run.json's "created" and "updated")."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def effective_status(status: str | None, host: str | None, pid: int | None) -> str:
    """``status``, except "running" becomes "interrupted" when its process on this host no longer exists."""
    status = status or "unknown"
    if status == "running" and pid and host == socket.gethostname() and pid_alive(int(pid)) is False:
        return "interrupted"
    return status


def pid_alive(pid: int) -> bool | None:
    """Whether a local process exists; ``None`` when that cannot be checked (Windows)."""
    if os.name == "nt":
        return None  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


def read_run_record(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``run.json`` record of a run folder; ``CheckpointError`` when missing or damaged."""
    folder = Path(folder)
    path = folder / RUN_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a run folder ({RUN_FILE} is missing).",
                              "Pass a run id from `scl runs list` or the folder of a run.")
    try:
        record = read_json(path)
    except SclError as exc:
        raise CheckpointError(f"The run record {path} is damaged: {exc.what}",
                              "Delete the run folder, or restore it from a backup.") from exc
    if not isinstance(record, dict) or record.get("type") != RUN_RECORD_TYPE or not record.get("id"):
        raise CheckpointError(f"{path} is not a run record written by scl_desktop.",
                              "Pass a run id from `scl runs list` or the folder of a run.")
    return record


def split_fingerprints(folder: Path, record: dict[str, Any]) -> tuple[str | None, str | None]:
    """The run's split fingerprint and test-set fingerprint (``SplitManifest.fingerprint``).

    Recorded in run.json at creation; for older runs computed once from their split.json.
    """
    if record.get("split_fingerprint"):
        return record["split_fingerprint"], record.get("test_fingerprint")
    from scl_desktop.core.data.manifest import SplitManifest  # older runs only

    try:
        split = SplitManifest.from_json(read_json(folder / SPLIT_FILE))
    except (SclError, KeyError, TypeError, ValueError, AttributeError):
        return None, None
    return split.fingerprint(), split.fingerprint(("test",))
