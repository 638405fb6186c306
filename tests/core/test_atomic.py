"""Atomic writes: what an unwritable folder, a folder in the way and a full disk say."""

from __future__ import annotations

import errno
import os
import tempfile
from types import SimpleNamespace

import pytest

from scl_desktop.core import atomic
from scl_desktop.core.errors import DiskFullError, SclError


def test_write_replaces_the_file(tmp_path):
    target = tmp_path / "a" / "b.json"
    atomic.write_json(target, {"x": 1})
    atomic.write_json(target, {"x": 2})
    assert atomic.read_json(target) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_folder_under_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(SclError, match="is a file, not a folder") as info:
        atomic.write_text(blocker / "runs" / "out.txt", "hello")
    assert "Choose another output folder" in info.value.hint
    assert "SCL_HOME" in info.value.hint


def test_unwritable_folder_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    atomic.write_text(target, "old")

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(SclError, match=r"Cannot write .*out.txt: Permission denied") as info:
        atomic.write_text(target, "new")
    assert "make" in info.value.hint and "writable" in info.value.hint
    assert target.read_text() == "old"


def test_target_that_is_a_folder_says_so(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(SclError, match="is a folder, so no file can be written") as info:
        atomic.write_text(tmp_path / "out.csv", "x")
    assert "Check that the folder is writable" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_full_disk_names_the_folder_and_the_size(tmp_path, monkeypatch):
    target = tmp_path / "big.bin"

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFullError, match=r"The disk holding .* is full.*needs 3\.0 MiB") as info:
        with atomic.atomic_path(target, size=3 * 2**20) as tmp:
            fd = os.open(tmp, os.O_WRONLY)
            try:
                os.write(fd, b"x")
            finally:
                os.close(fd)
    assert "Free some space" in info.value.hint
    assert list(tmp_path.iterdir()) == []


class _GdalError(Exception):
    pass


def _failing_writer(tmp_path, message: str):
    def write() -> None:
        with atomic.atomic_path(tmp_path / "map.tif", suffix=".tif") as tmp:
            tmp.write_bytes(b"half")
            try:
                raise _GdalError("/data/.map.tif.x.tmp: TIFFAppendToStrip:Write error at scanline 7")
            except _GdalError as cause:
                raise RuntimeError(message) from cause

    return write


def test_writer_error_on_a_full_disk_is_a_disk_full_error(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda _path: SimpleNamespace(free=0))
    with pytest.raises(DiskFullError, match="is full"):
        _failing_writer(tmp_path, "Write failed. See previous exception for details.")()
    assert list(tmp_path.iterdir()) == []


def test_writer_error_names_the_real_cause_not_see_previous_exception(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda _path: SimpleNamespace(free=2**40))
    with pytest.raises(SclError, match="Write error at scanline 7") as info:
        _failing_writer(tmp_path, "Write failed. See previous exception for details.")()
    assert "previous exception" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
