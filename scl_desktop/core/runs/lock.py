"""One writer per run: an OS file lock on ``<run>/writer.lock`` that dies with its process.

Every trainer (stage 1, stage 2, baseline, resume) holds it for its whole run and deleting a run
takes it too, so two processes never append the same metrics or overwrite each other's
checkpoints. The lock is ``fcntl.flock`` on Linux and macOS and ``msvcrt.locking`` on Windows;
the operating system drops it when the holder exits, even when killed, so it never goes stale.
The holder writes who it is (process, host, what it does, since when) into the file, which the
refusal message quotes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.runs.record import now_text

LOCK_FILE = "writer.lock"
_WINDOWS_OFFSET = 2**30  # Windows locks a byte range; lock one far past the holder info so it stays readable


def _try_lock(fh: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(_WINDOWS_OFFSET)
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        fh.seek(0)
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held elsewhere
        return False
    return True


def _holder(path: Path) -> str:
    """Who holds the lock, from what it wrote into the lock file."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return (f"process {info['pid']} on {info['host']} ({info['what']}, since {info['since']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike[str], run_id: str, what: str) -> Iterator[None]:
    """Hold the writer lock of the run in ``folder`` while the block runs (``what`` says why, e.g.
    "scl train --resume").

    ``ConfigError`` naming the holder when another process (or another part of this one) holds it.
    """
    path = Path(folder) / LOCK_FILE
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the life of the lock
    try:
        if not _try_lock(fh):
            raise ConfigError(
                f"Run {run_id} is in use by {_holder(path)}; only one process may train or change a run at a time.",
                "Wait for it to finish, or stop it (Ctrl+C in its terminal, or Cancel in the app), then try again.")
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": what, "since": now_text()}))
        fh.flush()
        yield
    finally:
        fh.close()  # closing the file releases the lock
