"""The simulated mining loop on the tiny run: round 0, train-only growth, untouched run and test set, JSON, precision."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scl_desktop import cli
from scl_desktop.core.errors import DatasetError
from scl_desktop.core.events import drive
from scl_desktop.core.mining.derive import grown_split
from scl_desktop.core.mining.pool import load_pool
from scl_desktop.core.mining.ranking import RankConfig
from scl_desktop.core.mining.simulate import SimulationConfig, SimulationRound, simulate
from scl_desktop.core.runs.store import RunStore

ROUND_KEYS = {"round", "added", "precision", "random_precision", "majority", "minority", "overall"}


def run_files(run) -> list[tuple[str, bytes]]:
    """Every file of the run folder with its content (but the lock file, which any writer touches)."""
    return sorted((str(p.relative_to(run.path)), p.read_bytes()) for p in run.path.rglob("*")
                  if p.is_file() and p.name != "writer.lock")


def part_paths(split, *parts: str) -> set[str]:
    return {os.path.realpath(split.dataset.items[i].path) for p in parts for i in split.indices(p)}


def test_the_pool_leaves_out_the_runs_split_by_path(mined_run, tmp_path):
    split = mined_run.split
    pool = drive(load_pool(split, split.dataset.source))  # the run's own dataset folder
    assert pool.dataset.items == split.dataset.items  # nothing new: the unused images are the pool
    assert pool.in_split == len(split.train) + len(split.val) + len(split.test)
    paths = {os.path.realpath(pool.dataset.items[p].path) for p in pool.positions}
    assert len(paths) == 12 and not paths & part_paths(split, "train", "val", "test")
    assert sorted(np.bincount(pool.labels()).tolist()) == [0, 0, 6, 6]

    extra = tmp_path / "extra"
    for name in ("class2", "class0", "unknown"):
        (extra / name).mkdir(parents=True)
        Image.fromarray(np.full((24, 24, 3), 90, np.uint8)).save(extra / name / f"new_{name}.png")
    test_image = split.dataset.items[split.test[0]]
    os.symlink(test_image.path, extra / test_image.label / "link_to_a_test_image.png")
    pool = drive(load_pool(split, extra))
    assert pool.unknown == 1 and pool.in_split == 1 and len(pool.positions) == 2
    assert pool.dataset.items[:len(split.dataset.items)] == split.dataset.items  # appended after the run's items
    assert all(p >= len(split.dataset.items) for p in pool.positions)


def test_pools_without_usable_images_name_the_next_command(mined_run, tmp_path):
    split = mined_run.split
    (tmp_path / "empty" / "class2").mkdir(parents=True)
    for source in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(DatasetError) as error:
            drive(load_pool(split, source))
        assert "scl mine RUN POOL --simulate" in error.value.hint
    seen = tmp_path / "seen"
    for i in split.train[:4]:
        item = split.dataset.items[i]
        (seen / item.label).mkdir(parents=True, exist_ok=True)
        os.symlink(item.path, seen / item.label / Path(item.path).name)
    with pytest.raises(DatasetError, match="no image the run has not seen") as error:
        drive(load_pool(split, seen))
    assert "scl mine" in error.value.hint


def test_grown_split_adds_to_training_only(mined_run):
    split = mined_run.split
    unused = sorted(set(range(len(split.dataset.items))) - set(split.train) - set(split.test))
    grown = grown_split(split, split.dataset, unused[:2], {"round": 1})
    assert grown.train == split.train + tuple(unused[:2]) and grown.test == split.test and grown.val == split.val
    assert [m["round"] for m in grown.config["mined"]["items"]] == [1, 1]
    with pytest.raises(ValueError):
        grown_split(split, split.dataset, [split.test[0]], {})


def test_simulation_rounds(mined_run, tmp_path):
    before = run_files(mined_run)
    store = RunStore(tmp_path / "derived")
    config = SimulationConfig(rounds=2, rank=RankConfig(top=2), device="cpu")
    events: list = []
    result = drive(simulate(mined_run, mined_run.split.dataset.source, config, store=store), events.append)
    assert run_files(mined_run) == before  # the original run is untouched
    assert [e.round for e in events if isinstance(e, SimulationRound)] == [0, 1, 2]

    minority = mined_run.split.minority_classes()
    stored = mined_run.evaluation("SCL-CB")
    first = result.rounds[0]
    assert (first.majority, first.minority, first.overall) == (stored.majority, stored.minority, stored.overall)
    assert first.added == dict.fromkeys(minority, 0) and first.precision == dict.fromkeys(minority)
    assert first.run == mined_run.id

    data = result.to_json()
    assert list(data) == ["rounds"] and all(set(r) == ROUND_KEYS for r in data["rounds"])
    assert json.loads(json.dumps(data)) == data

    # round 1 draws from the whole pool: 6 of the 12 images are of each minority class
    assert result.rounds[1].random_precision == dict.fromkeys(minority, 0.5)
    split, train = mined_run.split, list(mined_run.split.train)
    for r in result.rounds[1:]:
        assert set(r.added) == set(minority)
        for c in minority:
            assert r.precision[c] == pytest.approx(r.added[c] / 2)  # true positives / K
        if not sum(r.added.values()):
            continue
        derived = store.open(r.run)
        assert derived.derived_from["run"] == mined_run.id and derived.derived_from["round"] == r.round
        grown = derived.split
        assert grown.test == split.test and grown.val == split.val  # the test set is the run's
        assert [grown.dataset.items[i] for i in grown.test] == [split.dataset.items[i] for i in split.test]
        new = list(grown.train[len(train):])
        assert grown.train[:len(train)] == tuple(train)
        assert sorted(grown.dataset.items[i].label for i in new) == sorted(
            c for c, n in r.added.items() for _ in range(n))  # only the accepted true positives
        assert not {os.path.realpath(grown.dataset.items[i].path) for i in new} & part_paths(split, "test", "train")
        assert derived.evaluation("SCL-CB").overall == r.overall and derived.evaluation("SCL-CB").n == stored.n
        assert [m["path"] for m in grown.config["mined"]["items"]] == [grown.dataset.items[i].path
                                                                      for i in grown.train[len(split.train):]]
        train += new


def test_cli_simulation_prints_exactly_the_rounds(mined_run, capsys, tmp_path):
    before = run_files(mined_run)
    runs_before = {r.id for r in RunStore().list()}
    assert cli.main(["mine", mined_run.id, mined_run.split.dataset.source, "--simulate", "--rounds", "1",
                     "--top", "3", "--no-diverse", "--device", "cpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["rounds"] and [r["round"] for r in data["rounds"]] == [0, 1]
    assert all(set(r) == ROUND_KEYS for r in data["rounds"])
    assert {r.id for r in RunStore().list()} == runs_before and run_files(mined_run) == before  # nothing left
    assert cli.main(["mine", mined_run.id, "a", "b", "--simulate"]) == 2
