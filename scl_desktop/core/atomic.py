"""Atomic writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scl_desktop.core.errors import DiskFullError, SclError


def _read_umask() -> int:
    """The process umask, read once at import (reading it means setting it, which is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``.

    On any error the temporary file is removed and ``target`` is left untouched.
    ``suffix`` keeps an extension on the temporary name for writers that check it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"The disk is full while writing {target}.",
                "Free some space (or choose another folder) and try again; the previous file is unchanged.",
            ) from exc
        raise SclError(f"Could not write {target}: {exc.strerror or exc}.", "Check that the folder is writable.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(target: str | os.PathLike[str]) -> int:
    """Delete temporary files that an interrupted ``atomic_path`` left beside ``target``.

    A process killed mid-write (SIGKILL, power cut) cannot clean up; for large files such as
    checkpoints the leftovers add up. Only call this where no other process writes ``target``.
    Returns how many files were removed.
    """
    target = Path(target)
    removed = 0
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``target``."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``target``."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented UTF-8 JSON.

    Lone surrogates (file names that are not UTF-8, as Python's surrogate escapes) are written
    as ``\\udcNN`` escapes, which ``read_json`` turns back into the same string.
    """
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False)
    return write_text(target, re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m[0]):04x}", text) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning a missing or corrupt file into a clear ``SclError``."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SclError(f"{path} does not exist.", "Check the path.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SclError(f"{path} is not valid JSON ({exc}).", "The file is damaged; recreate it.") from exc
