"""Atomic writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scl_desktop.core.errors import DiskFullError, SclError, describe_cause


def _read_umask() -> int:
    """The process umask, read once at import (reading it means setting it, which is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "", size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``.

    On any error the temporary file is removed and ``target`` is left untouched; an ``OSError``
    becomes a ``DiskFullError`` (disk full; ``size``, the bytes to write, makes its message say
    how much is needed) or an ``SclError`` saying which folder cannot be written.
    ``suffix`` keeps an extension on the temporary name for writers that check it.
    """
    target = Path(target)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        raise _write_error(target, exc, size) from exc
    except Exception as exc:  # a writer's own error (GDAL's through rasterio): full disk, or its real cause
        _discard(tmp)
        if isinstance(exc, SclError):
            raise
        if _nearly_full(target.parent, size):
            raise _disk_full(target, size) from exc
        if "previous exception" in str(exc):
            raise SclError(f"Could not write {target}: {describe_cause(exc)}.",
                           "Check that the folder has free space and is writable, or choose another folder.") from exc
        raise
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _write_error(target: Path, exc: OSError, size: int | None = None) -> SclError:
    """The ``SclError`` for an ``OSError`` raised while writing ``target``: full disk, a folder in the way, or
    a folder that cannot be written (the message names it and what to do)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _disk_full(target, size)
    if target.is_dir():
        return SclError(f"{target} is a folder, so no file can be written under that name.",
                        "Choose another file name, or move that folder away.")
    folder = _existing_ancestor(target.parent)
    if not folder.is_dir():  # the target's folder, or one above it, is a file
        return SclError(f"Cannot create the folder {target.parent}: {folder} is a file, not a folder.",
                        "Choose another output folder (or set SCL_HOME to a folder you can write to).")
    return SclError(f"Cannot write {target}: {exc.strerror or exc}.",
                    f"Choose another output folder, or make {target.parent} writable "
                    "(or set SCL_HOME to a folder you can write to); files already written were kept.")


def _disk_full(target: Path, size: int | None = None) -> DiskFullError:
    """The ``DiskFullError`` for writing ``target`` (saying how much is needed when ``size`` is known)."""
    folder = _existing_ancestor(target.parent)
    need = ""
    if size is not None:
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(folder).free
            need = f" It needs {_mib(size)}; {_mib(free)} are free there."
    return DiskFullError(f"The disk holding {folder} is full, so {target.name} could not be written.{need}",
                         "Free some space (or choose another folder) and try again; the previous file is unchanged.")


def _nearly_full(folder: Path, size: int | None) -> bool:
    """Less free space below ``folder`` than ``size`` bytes (or 1 MiB): why a writer without errno failed."""
    try:
        return shutil.disk_usage(_existing_ancestor(folder)).free < max(size or 0, 2**20)
    except OSError:
        return False


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _existing_ancestor(folder: Path) -> Path:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


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
    with atomic_path(target, size=len(data)) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str, *, bom: bool = False) -> Path:
    """Atomically write UTF-8 ``text`` to ``target`` (``bom``: after a byte-order mark, as spreadsheet
    programs need to read a CSV as UTF-8)."""
    return write_bytes(target, text.encode("utf-8-sig" if bom else "utf-8"))


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


class StagedFiles:
    """Several files written to temporaries beside their targets, then moved into place together.

    ``stage(target)`` gives the temporary path to write ``target`` to; ``commit()`` moves them all
    over their targets, all or none: targets that existed are kept aside until every move
    succeeded and put back when one fails. Leaving the ``with`` block removes what was not
    committed. ``in_place``: the targets that hold the new files (all after a commit; after a
    failed commit those a roll-back could not undo, normally none).
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self.in_place: list[Path] = []

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def _temporary(self, target: Path, suffix: str) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
        os.close(fd)
        return Path(name)

    def stage(self, target: str | os.PathLike[str], suffix: str = "") -> Path:
        """A temporary path beside ``target`` (``suffix`` kept on its name) to write ``target``'s content to."""
        target = Path(target)
        tmp = self._temporary(target, suffix)
        os.chmod(tmp, 0o666 & ~_UMASK)
        self._staged.append((tmp, target))
        return tmp

    def discard(self) -> None:
        """Remove the temporaries not committed."""
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []

    def commit(self) -> list[Path]:
        """Move every staged file over its target, all or none (the ``OSError`` after a roll-back)."""
        aside: list[tuple[Path, Path]] = []  # (target, where its previous file waits)
        moved: list[Path] = []
        try:
            for _, target in self._staged:
                if os.path.lexists(target):
                    keep = self._temporary(target, ".old")
                    try:
                        os.replace(target, keep)
                    except BaseException:
                        keep.unlink(missing_ok=True)
                        raise
                    aside.append((target, keep))
            for tmp, target in self._staged:
                os.replace(tmp, target)
                moved.append(target)
        except BaseException:
            left = [t for t in moved if not _quietly(os.unlink, t)]
            for target, keep in aside:
                if _quietly(os.replace, keep, target) and target in left:
                    left.remove(target)
            self.in_place = left
            self.discard()
            raise
        for _, keep in aside:
            keep.unlink(missing_ok=True)
        self._staged, self.in_place = [], moved
        return moved


def _quietly(action: Any, *args: Any) -> bool:
    """Run ``action(*args)``; True when it worked (an undo step that fails must not hide the first error)."""
    try:
        action(*args)
    except OSError:
        return False
    return True
