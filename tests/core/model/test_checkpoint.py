"""Checkpoint files: foreign or junk files and a full disk at every write point."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest
import torch

from scl_desktop.core import atomic
from scl_desktop.core.errors import CheckpointError, DiskFullError
from scl_desktop.core.model.checkpoint import load_checkpoint, save_checkpoint


class _Foreign:
    pass


@pytest.mark.parametrize("content", ["pickled-object", "random-bytes"])
def test_junk_file_is_not_a_checkpoint_of_this_app(tmp_path, content):
    path = tmp_path / "junk.pt"
    if content == "pickled-object":
        torch.save({"thing": _Foreign()}, path)  # torch's weights_only load refuses it with advice to bypass that
    else:
        path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "damaged" in message and "not a checkpoint of scl_desktop" in message
    assert "weights_only" not in message and "issue" not in message
    assert "`scl train`" in info.value.hint


class _FullDisk:
    """Counts the write points of ``atomic.write_bytes``; with ``fail_at`` set, the k-th raises ENOSPC."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at
        for owner, name in ((tempfile, "mkstemp"), (os, "chmod"), (os, "fsync"), (os, "replace")):
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name)))
        real_open = open

        def fake_open(*args, **kwargs):
            self._point()
            return _File(real_open(*args, **kwargs), self._point)

        monkeypatch.setattr(atomic, "open", fake_open, raising=False)

    def _point(self) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def _wrap(self, fn):
        def wrapped(*args, **kwargs):
            self._point()
            return fn(*args, **kwargs)

        return wrapped


class _File:
    def __init__(self, fh, point) -> None:
        self._fh, self._point = fh, point

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def fileno(self) -> int:
        return self._fh.fileno()

    def write(self, data: bytes) -> int:
        self._point()
        return self._fh.write(data)

    def flush(self) -> None:
        self._point()
        self._fh.flush()


def test_full_disk_at_every_write_point_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1, "model": {"w": torch.ones(3)}})
    with pytest.MonkeyPatch.context() as mp:
        counter = _FullDisk(mp)
        save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(3)}})
    assert counter.calls >= 6  # mkstemp, chmod, open, write, flush, fsync, replace
    save_checkpoint(path, {"epoch": 1, "model": {"w": torch.ones(3)}})
    for k in range(1, counter.calls + 1):
        with pytest.MonkeyPatch.context() as mp:
            _FullDisk(mp, fail_at=k)
            with pytest.raises(DiskFullError, match="is full") as info:
                save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(3)}})
        assert "needs" in str(info.value), k
        state = load_checkpoint(path)
        assert state["epoch"] == 1 and torch.equal(state["model"]["w"], torch.ones(3)), k
        assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], k
