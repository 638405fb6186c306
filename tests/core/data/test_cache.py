"""Decode-once cache: built once, hit afterwards, invalidated by content, never half-trusted."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from scl_desktop.core.data import cache, imaging
from scl_desktop.core.data.cache import build_store, open_store, store_key
from scl_desktop.core.data.importer import ImportConfig, import_dataset
from scl_desktop.core.data.manifest import DatasetManifest, RasterSettings
from scl_desktop.core.errors import Cancelled, DatasetError, DiskFullError
from scl_desktop.core.events import CancelToken, Log, Progress, drive
from tests.conftest import shared_data
from tests.core.raster_fixtures import class_tree, write_geotiff, write_image


def imported(root: Path, **options) -> DatasetManifest:
    return drive(import_dataset(ImportConfig(source=root, **options)))


def build(dataset: DatasetManifest, size: int | None = None, **kw) -> tuple[cache.DecodedStore, list]:
    events: list = []
    return drive(build_store(dataset, size, **kw), events.append), events


@pytest.fixture
def dataset(tmp_path: Path) -> DatasetManifest:
    root = class_tree(tmp_path / "data", {"a": 3, "b": 2}, size=20)
    write_image(root / "b" / "wide.jpg", np.zeros((10, 30, 3), np.uint8) + 77, quality=95)
    return imported(root, size=16)


def test_build_decodes_every_image_at_the_working_size(dataset):
    store, events = build(dataset)
    assert len(store) == 6 and store.size == 16 and store.images.shape == (6, 16, 16, 3)
    assert isinstance(store.images, np.memmap) and not store.images.flags.writeable
    for i, item in enumerate(dataset.items):
        np.testing.assert_array_equal(store.images[i], imaging.read_rgb(item.path, dataset.raster, 16))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == 6 and progress[-1].eta_s == 0
    assert store.path.parent == cache.stores_dir() and not list(cache.stores_dir().glob("*.tmp-*"))


def test_batch_returns_the_right_pixels_channel_first(dataset):
    store, _ = build(dataset)
    batch = store.batch([4, 0, 4])
    assert batch.dtype == torch.uint8 and batch.shape == (3, 3, 16, 16) and batch.is_contiguous()
    for row, i in enumerate([4, 0, 4]):
        expected = torch.from_numpy(imaging.read_rgb(dataset.items[i].path, dataset.raster, 16)).permute(2, 0, 1)
        assert torch.equal(batch[row], expected)
    assert torch.equal(store.batch(torch.tensor([1, 2])), store.batch(np.array([1, 2])))
    assert store.batch([5])[0, :, 0, 0].tolist() == [77, 77, 77]


def test_store_pickles_as_its_path(dataset):
    store, _ = build(dataset)
    data = pickle.dumps(store)
    assert len(data) < 1000  # the pixels stay in the memory-mapped file
    again = pickle.loads(data)
    assert again.path == store.path and torch.equal(again.batch([0, 5]), store.batch([0, 5]))


def test_second_build_is_a_hit_and_decodes_nothing(dataset, monkeypatch):
    first, _ = build(dataset)

    def no_decoding(*args, **kwargs):
        raise AssertionError("an image file was decoded after the store was built")

    monkeypatch.setattr(imaging, "read_raw", no_decoding)
    monkeypatch.setattr(imaging, "read_rgb", no_decoding)
    monkeypatch.setattr(imaging, "apply_raster_settings", no_decoding)
    again, events = build(dataset)
    assert again.path == first.path and not any(isinstance(e, Progress) for e in events)
    assert any(isinstance(e, Log) and "from the cache" in e.message for e in events)
    assert open_store(dataset) is not None
    batch = again.batch(range(len(again)))
    assert batch.shape == (6, 3, 16, 16)
    assert torch.equal(batch, first.batch(range(len(first))))


def test_stretch_size_and_file_changes_invalidate(tmp_path):
    root = tmp_path / "geo"
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_geotiff(root / name / "t.tif", rng.integers(0, 3000, (3, 12, 12), dtype=np.uint16))
    dataset = imported(root, size=8)
    base, _ = build(dataset)
    keys = {base.key}

    restretched = dataclasses.replace(dataset, raster=RasterSettings(stretch=(0.0, 100.0), stats=((0.0, 3000.0),) * 3))
    other, _ = build(restretched)
    keys.add(other.key)
    assert not np.array_equal(np.asarray(other.images), np.asarray(base.images))

    bigger, _ = build(dataset, size=12)
    keys.add(bigger.key)
    assert bigger.size == 12

    remapped = dataclasses.replace(dataset, raster=dataclasses.replace(dataset.raster, bands=(3, 2, 1)))
    keys.add(store_key(remapped, 8))

    target = Path(dataset.items[0].path)
    write_geotiff(target, rng.integers(0, 3000, (3, 12, 12), dtype=np.uint16))
    os.utime(target, ns=(dataset.items[0].mtime_ns + 10**9,) * 2)  # same size: the time tells
    with pytest.raises(DatasetError, match="changed since the dataset was imported") as info:
        build(dataset)
    assert "Re-import" in info.value.hint
    fresh, _ = build(imported(root, size=8))
    keys.add(fresh.key)
    assert len(keys) == 5


def test_vanished_or_corrupted_files_ask_for_a_reimport(dataset):
    gone = Path(dataset.items[0].path)
    gone.unlink()
    with pytest.raises(DatasetError, match=r"1 of the 6 images vanished.*\(missing\)"):
        build(dataset)

    dataset = imported(gone.parent.parent, size=16)
    victim = Path(dataset.items[-1].path)
    stat = victim.stat()
    victim.write_bytes(b"\0" * stat.st_size)  # same size, same time: only decoding can tell
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(DatasetError, match="cannot be decoded any more") as info:
        build(dataset)
    assert "Re-import" in info.value.hint
    assert open_store(dataset) is None and not list(cache.stores_dir().glob("*.tmp-*"))


def test_cancelled_build_leaves_nothing_that_is_trusted(dataset):
    token = CancelToken()
    steps = build_store(dataset, cancel=token, workers=1)
    next(steps)
    token.cancel()
    with pytest.raises(Cancelled):
        drive(steps)
    assert open_store(dataset) is None
    assert not (cache.stores_dir() / store_key(dataset, 16)).exists()
    assert not list(cache.stores_dir().glob("*.tmp-*"))


def test_an_incomplete_store_folder_is_rebuilt(dataset):
    key = store_key(dataset, 16)
    folder = cache.stores_dir() / key
    folder.mkdir()
    np.save(folder / "images.npy", np.zeros((6, 16, 16, 3), np.uint8))  # data but no completion marker
    assert open_store(dataset) is None
    store, events = build(dataset)
    assert any(isinstance(e, Progress) for e in events) and store.images.any()


def test_disk_full_is_reported_before_decoding(dataset, monkeypatch):
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    with pytest.raises(DiskFullError, match=r"needs 0.0 MiB, and 64.0 MiB is kept free besides, but .* has 0.0 MiB free"):
        build(dataset)
    assert not list(cache.stores_dir().glob("*.tmp-*"))


def test_real_sample_builds_and_reloads():
    source = shared_data("rsi_cb_sample5")
    dataset = imported(source, size=32)
    store, _ = build(dataset)
    assert store.images.shape == (175, 32, 32, 3)
    reopened = open_store(dataset)
    assert reopened is not None and torch.equal(reopened.batch([0, 174]), store.batch([0, 174]))
