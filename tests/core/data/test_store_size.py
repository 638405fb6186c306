"""The store side: native size, the views' crop bound, the cap; an explicit size wins; runs keep theirs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from scl_desktop.core.data import store_size
from scl_desktop.core.data.cache import store_key
from scl_desktop.core.data.manifest import DatasetManifest, ImageItem, SplitManifest
from scl_desktop.core.events import Log, drive
from scl_desktop.core.model.settings import AugmentConfig
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.config import BaselineConfig, EncoderConfig
from scl_desktop.core.training.setup import load_resume, training_data


def dataset_of(*sides: int | tuple[int, int], size: int | None = None) -> DatasetManifest:
    """A manifest whose images have these sides (an int: square; a pair: width, height); files need not exist."""
    items = tuple(
        ImageItem(path=f"/data/{i % 2}/{i}.png", label=str(i % 2), size_bytes=1, mtime_ns=0, sha256=str(i),
                  width=(s if isinstance(s, int) else s[0]), height=(s if isinstance(s, int) else s[1]), bands=3,
                  dtype="uint8")
        for i, s in enumerate(sides))
    return DatasetManifest(source="/data", classes=("0", "1"), items=items, size=size)


def test_views_bound_is_the_side_a_smallest_crop_needs_unscaled():
    assert store_size.views_size(64, True, 0.2) == 144  # 64 / sqrt(0.2) = 143.1
    assert store_size.views_size(224, True, 0.2) == 501
    assert store_size.views_size(64, True, 0.25) == 128  # exact: no pixel more
    assert store_size.views_size(64, False, 0.2) == 64  # whole-image views


def test_small_images_are_kept_at_their_native_size():
    chosen = store_size.choose(dataset_of(*[150] * 20), 224, True, 0.2)  # not upsampled to 501 (or to 256)
    assert chosen.size == 150 and "native" in chosen.reason and "not upsampled" in chosen.reason
    assert store_size.choose(dataset_of(*[100] * 20), 64, True, 0.2).size == 100


def test_large_images_are_stored_as_large_as_the_crops_need():
    chosen = store_size.choose(dataset_of(*[600] * 20), 64, True, 0.2)
    assert chosen.size == 144 and "20% of the area need 144 px" in chosen.reason
    assert store_size.choose(dataset_of(*[600] * 20), 224, True, 0.2).size == 501


def test_the_cap_bounds_large_views_of_large_images():
    chosen = store_size.choose(dataset_of(*[2000] * 20), 448, True, 0.2)
    assert chosen.size == store_size.MAX_STORE_SIZE == 512 and "largest size chosen automatically" in chosen.reason


def test_native_size_is_a_low_percentile_of_the_shorter_sides():
    # one odd thumbnail among 40 images does not shrink the store; it is upsampled, and the log says so
    sides = [(600, 400)] * 39 + [40]
    assert store_size.native_size(dataset_of(*sides)) == 400
    chosen = store_size.choose(dataset_of(*sides), 224, True, 0.2)
    assert chosen.size == 400 and "1 smaller image(s) are upsampled" in chosen.reason
    # no typical image is upsampled: at most 5 % of them are smaller than the native size
    mixed = [100 + i for i in range(100)]
    native = store_size.native_size(dataset_of(*mixed))
    assert sum(s < native for s in mixed) <= 5 and native == 104


def test_a_given_size_wins():
    data = dataset_of(*[150] * 20)
    assert store_size.choose(data, 64, True, 0.2, explicit=300).size == 300
    imported = dataclasses.replace(data, size=256)
    assert store_size.choose(imported, 64, True, 0.2).size == 256  # the working size given at import
    assert store_size.choose(imported, 64, True, 0.2, explicit=96).size == 96  # the training's beats the import's


def test_for_settings_reads_a_training_configuration():
    data = dataset_of(*[600] * 20)
    assert store_size.for_settings(data, EncoderConfig(image_size=64).to_json()).size == 144
    light = BaselineConfig(image_size=64, augment=AugmentConfig(crop_scale=(0.5, 1.0))).to_json()
    assert store_size.for_settings(data, json.loads(json.dumps(light))).size == 91  # 64 / sqrt(0.5) = 90.5
    assert store_size.for_settings(data, EncoderConfig(image_size=64, store_size=200).to_json()).size == 200
    assert store_size.for_settings(data, {"balance": "cb"}) is None


def test_the_store_key_includes_the_size():
    data = dataset_of(*[32] * 4)
    assert store_key(data, 32) != store_key(data, 24)


def split_of(dataset: DatasetManifest) -> SplitManifest:
    n = len(dataset.items)
    return SplitManifest(dataset=dataset, protocol="stratified", seed=0, config={}, roles={"0": "majority",
                         "1": "minority"}, train=tuple(range(n // 2)), val=(), test=tuple(range(n // 2, n)))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCL_HOME", str(tmp_path))
    return tmp_path


def test_a_run_records_its_store_size_and_older_runs_keep_theirs(home):
    split = split_of(dataset_of(*[600] * 8))
    run = RunStore().create("scl", split, EncoderConfig(image_size=64).to_json(), seed=0)
    assert run.record["store_size"] == run.store_size == 144
    explicit = RunStore().create("baseline", split, BaselineConfig(image_size=64, store_size=72).to_json(), seed=0)
    assert explicit.store_size == 72
    # a run made before the size was recorded: its configured size, else the dataset's working size then
    old = RunStore().create("scl", split_of(dataset_of(*[600] * 8, size=256)), {"arch": "tiny"}, seed=0)
    assert old.record["store_size"] is None and old.store_size == 256


def test_training_reads_the_chosen_size_and_says_why(home, tmp_path):
    from tests.core.training.test_encoder import tiny_split

    split = tiny_split(tmp_path)  # 24 px images, imported at a working size of 24
    auto = dataclasses.replace(split, dataset=dataclasses.replace(split.dataset, size=None))
    events: list = []
    store, items, _ = drive(training_data(auto, EncoderConfig(arch="tiny", image_size=16), None), events.append)
    assert store.size == 24  # 16 px views would use 36 px; the images are 24 px and are not upsampled
    logs = [e.message for e in events if isinstance(e, Log) and e.message.startswith("Decoded image cache")]
    assert logs == ["Decoded image cache: 24 px, the images' native size: 16 px views cropped down to 20% of the "
                    "area need 36 px, but the images are 24 px (5th percentile of their shorter sides) and are "
                    "not upsampled."]
    store, _, _ = drive(training_data(auto, EncoderConfig(arch="tiny", image_size=16, store_size=20), None))
    assert store.size == 20


def test_a_resumed_run_keeps_the_size_it_started_with(home, monkeypatch):
    split = split_of(dataset_of(*[600] * 8))
    run = RunStore().create("scl", split, EncoderConfig(image_size=64).to_json(), seed=0)
    run._save_record(store_size=100)  # as if the rule had been another when the run started
    monkeypatch.setattr("scl_desktop.core.training.setup.load_checkpoint", lambda path: {"stage": "encoder"})
    config, _, _ = drive(load_resume(run, EncoderConfig, None, "encoder", "scl train"))
    assert config.store_size == 100
