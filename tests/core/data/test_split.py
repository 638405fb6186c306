"""The split builder: the paper's ci protocol, stratified and predefined splits, errors, CLI."""

from __future__ import annotations

import dataclasses
import importlib
import json
import random
import re

import pytest

from scl_desktop.cli import main as cli_main
from scl_desktop.core.data.manifest import MAJORITY, MINORITY, DatasetManifest, ImageItem, SplitManifest
from scl_desktop.core.data.split import (
    CI_PRESETS,
    PAPER_TEST_PER_CLASS,
    SplitConfig,
    build_split,
    majority_by_count,
    summary,
)
from scl_desktop.core.errors import ConfigError, DatasetError
from tests.conftest import shared_data

UCM_LIKE = [f"class{k:02d}" for k in range(21)]


def make_dataset(counts: dict[str, int], splits: dict[str, list[str]] | None = None, shuffle: int | None = None,
                 root: str = "/data") -> DatasetManifest:
    items = []
    for c, n in counts.items():
        for i in range(n):
            split = splits[c][i] if splits else None
            items.append(ImageItem(path=f"{root}/{c}/{c}_{i:03d}.jpg", label=c, size_bytes=1000 + i, mtime_ns=0,
                                   sha256=f"{c}{i}", width=64, height=64, bands=3, dtype="uint8", split=split))
    if shuffle is not None:
        random.Random(shuffle).shuffle(items)
    return DatasetManifest(source=root, classes=tuple(counts), items=tuple(items))


def paths(split: SplitManifest, part: str) -> set[str]:
    return {split.dataset.items[i].path for i in split.indices(part)}


PAPER_UCM = SplitConfig(protocol="ci", majority=14, major_count=50, s=10, test_per_class=40, seed=0)


def check_paper_counts(split: SplitManifest, classes: list[str]) -> None:
    train, test = split.counts("train"), split.counts("test")
    for k, c in enumerate(classes):
        assert split.roles[c] == (MAJORITY if k < 14 else MINORITY)
        assert train[c] == (50 if k < 14 else 10)
        assert test[c] == 40
    # validation by default: 20 % of the leftovers (10 per majority class, 50 per minority class)
    assert split.counts("val") == {c: (2 if k < 14 else 10) for k, c in enumerate(classes)}
    assert not set(split.train) & set(split.test) and not set(split.val) & (set(split.train) | set(split.test))
    assert len(set(split.train)) == len(split.train) and len(set(split.test)) == len(split.test)


def test_ci_paper_protocol_counts_and_no_overlap():
    split = build_split(make_dataset({c: 100 for c in UCM_LIKE}), PAPER_UCM)
    check_paper_counts(split, UCM_LIKE)
    assert split.majority_classes() == UCM_LIKE[:14] and split.minority_classes() == UCM_LIKE[14:]
    assert split.config["test_per_class"] == 40 and split.config["majority_classes"] == UCM_LIKE[:14]


def test_ci_same_seed_same_files_whatever_the_listing_order():
    a = build_split(make_dataset({c: 100 for c in UCM_LIKE}), PAPER_UCM)
    b = build_split(make_dataset({c: 100 for c in UCM_LIKE}, shuffle=7), PAPER_UCM)
    for part in ("train", "test"):
        assert paths(a, part) == paths(b, part)


def test_ci_other_seed_other_files():
    ds = make_dataset({c: 100 for c in UCM_LIKE})
    a = build_split(ds, PAPER_UCM)
    b = build_split(ds, SplitConfig(**{**PAPER_UCM.to_json(), "seed": 1}))
    check_paper_counts(b, UCM_LIKE)
    assert paths(a, "train") != paths(b, "train")
    assert paths(a, "test") != paths(b, "test")


def test_ci_defaults_fraction_majority_share_and_test_size():
    ds = make_dataset({"a": 40, "b": 60, "c": 30})
    split = build_split(ds, SplitConfig(protocol="ci", s=5))
    # two thirds of 3 classes are majority; majority share 0.5; test = what every class can give
    assert split.roles == {"a": MAJORITY, "b": MAJORITY, "c": MINORITY}
    assert split.counts("train") == {"a": 20, "b": 30, "c": 5}
    assert split.counts("test") == {"a": 20, "b": 20, "c": 20}
    assert split.config["test_per_class"] == 20 and split.config["major_frac"] == 0.5
    # not the paper's 100, so the split says what it chose and why
    assert any("--test-per-class not given: 20 test images per class" in w and "a has 20 left" in w
               for w in split.config["warnings"])


def test_ci_default_test_size_is_the_papers_when_every_class_can_give_it():
    # AID-like: 220 images per majority class at 50 %, minority classes with s = 10 keep >= 100 left
    ds = make_dataset({"a": 220, "b": 240, "c": 130})
    split = build_split(ds, SplitConfig(protocol="ci", s=10))
    assert split.config["test_per_class"] == PAPER_TEST_PER_CLASS == 100
    assert split.counts("test") == {"a": 100, "b": 100, "c": 100}
    assert not any("--test-per-class" in w for w in split.config["warnings"])


@pytest.mark.parametrize("name", sorted(CI_PRESETS))
def test_ci_presets_build_their_protocol_and_name_their_source(name):
    preset = CI_PRESETS[name]
    per_class = 2 * max(preset.major_count or 0, preset.test_per_class) + 20
    ds = make_dataset({c: per_class for c in UCM_LIKE})
    split = build_split(ds, SplitConfig(protocol="ci", major_frac=preset.major_frac, major_count=preset.major_count,
                                        test_per_class=preset.test_per_class, s=5))
    expected = preset.major_count or round(preset.major_frac * per_class)
    assert set(split.counts("train")[c] for c in split.majority_classes()) == {expected}
    assert set(split.counts("test").values()) == {preset.test_per_class}
    assert preset.source


def test_ci_named_majority_classes_and_validation_from_leftovers():
    ds = make_dataset({"a": 30, "b": 30, "c": 30, "d": 30})
    split = build_split(ds, SplitConfig(protocol="ci", majority_classes=("d", "b"), major_count=15, s=5,
                                        test_per_class=10, val_frac=0.5))
    assert split.majority_classes() == ["b", "d"] and split.minority_classes() == ["a", "c"]
    assert split.counts("train") == {"a": 5, "b": 15, "c": 5, "d": 15}
    assert split.counts("test") == {c: 10 for c in "abcd"}
    assert split.counts("val") == {"a": 8, "b": 3, "c": 8, "d": 3}  # half of 15 and of 5, rounded half up
    parts = [set(split.train), set(split.val), set(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_warnings_for_classes_without_validation_images_and_copies_across_parts():
    # Regression: with the paper's settings every majority image went to training or test, so a
    # validation share silently scored only the minority classes each epoch; and identical files
    # (UC Merced has one pair) could sit in training and test without a word.
    ds = make_dataset({"a": 30, "b": 30, "c": 30})
    split = build_split(ds, SplitConfig(protocol="ci", majority=2, major_count=20, s=5, test_per_class=10,
                                        val_frac=0.5))
    assert split.counts("val") == {"a": 0, "b": 0, "c": 8}
    assert any("no validation images" in w and "a, b" in w for w in split.config["warnings"])
    items = list(ds.items)
    items[1] = dataclasses.replace(items[1], sha256=items[0].sha256)  # a0 and a1 hold the same bytes
    twins = DatasetManifest(source=ds.source, classes=ds.classes, items=tuple(items))
    for seed in range(20):
        split = build_split(twins, SplitConfig(protocol="ci", majority=2, major_count=15, s=5, seed=seed))
        parts = {p for p in ("train", "test") for i in split.indices(p) if i in (0, 1)}
        straddles = parts == {"train", "test"}
        assert straddles == any("identical copies" in w for w in split.config["warnings"])
        if straddles:
            break
    else:
        pytest.fail("no seed put the two copies into different parts")
    clean = build_split(ds, SplitConfig(protocol="ci", majority=2, major_count=15, s=5, test_per_class=10))
    assert clean.config["warnings"] == []


def test_ci_draw_of_a_class_does_not_depend_on_the_roles():
    ds = make_dataset({"a": 30, "b": 30, "c": 30})
    small = build_split(ds, SplitConfig(protocol="ci", majority=1, major_count=10, s=10, test_per_class=10))
    big = build_split(ds, SplitConfig(protocol="ci", majority=2, major_count=10, s=10, test_per_class=10))
    assert paths(small, "train") == paths(big, "train")


@pytest.mark.parametrize(
    ("counts", "cfg", "error", "words"),
    [
        ({"a": 100, "b": 30}, SplitConfig(majority=1, major_count=50, s=10, test_per_class=40), DatasetError,
         ["'b'", "30 images", "10 training + 40 test", "--s or --test-per-class"]),
        ({"a": 60, "b": 100}, SplitConfig(majority=1, major_count=50, s=10, test_per_class=40), DatasetError,
         ["'a'", "60 images", "--major-count"]),
        ({"a": 100, "b": 10}, SplitConfig(majority=1, s=10), DatasetError, ["'b'", "10 images"]),
        ({"a": 10, "b": 10}, SplitConfig(majority=2), ConfigError, ["between 1 and 1"]),
        ({"a": 10, "b": 10}, SplitConfig(majority_classes=("a", "zzz")), ConfigError, ["zzz", "a, b"]),
        ({"a": 10, "b": 10}, SplitConfig(majority_classes=("a", "b")), ConfigError, ["at least one minority"]),
        ({"a": 10, "b": 10}, SplitConfig(majority=1, majority_classes=("a",)), ConfigError, ["only one"]),
        ({"a": 10, "b": 10}, SplitConfig(major_frac=0.5, major_count=3), ConfigError, ["only one"]),
        ({"a": 10, "b": 10}, SplitConfig(major_frac=1.5), ConfigError, ["--major-frac must", "Pass e.g. --major-frac"]),
        ({"a": 10, "b": 10}, SplitConfig(s=0), ConfigError, ["--s must be", "Pass e.g. --s 10"]),
        ({"a": 10, "b": 10}, SplitConfig(major_count=0), ConfigError, ["--major-count must be"]),
        ({"a": 10, "b": 10}, SplitConfig(majority_threshold=3), ConfigError, ["--majority-threshold", "--majority K"]),
        ({"a": 10, "b": 10}, SplitConfig(seed=-1), ConfigError, ["seed"]),
        ({"a": 10, "b": 10}, SplitConfig(protocol="magic"), ConfigError, ["ci, stratified, predefined"]),
        ({"a": 10, "b": 0}, SplitConfig(), DatasetError, ["no images: b"]),
        ({"a": 10}, SplitConfig(), DatasetError, ["at least 2 classes"]),
        ({"a": 10, "b": 10}, SplitConfig(protocol="stratified", test_frac=0.6, val_frac=0.4), ConfigError,
         ["--test-frac (0.6) + --val-frac (0.4)", "nothing for training"]),
        ({"a": 10, "b": 10}, SplitConfig(protocol="stratified", major_count=5), ConfigError,
         ["--major-count", "--protocol ci"]),
        ({"a": 10, "b": 10}, SplitConfig(protocol="predefined"), DatasetError, ["no split value"]),
    ],
)
def test_errors_say_what_and_what_to_do(counts, cfg, error, words):
    with pytest.raises(error) as info:
        build_split(make_dataset(counts), cfg)
    assert info.value.hint
    for word in words:
        assert word in str(info.value)
    # what the user reads names `scl split` options, never the config field names behind them
    assert not re.search(r"(?<!-)\b(major_frac|major_count|test_per_class|test_frac|val_frac|majority_threshold|"
                         r"majority_classes)\b", str(info.value))


def test_stratified_keeps_train_and_test_per_class_and_assigns_roles_by_count():
    counts = {"big1": 200, "big2": 150, "big3": 120, "small1": 12, "small2": 3, "tiny": 1}
    split = build_split(make_dataset(counts), SplitConfig(protocol="stratified", test_frac=0.25, val_frac=0.1, seed=3))
    train, val, test = split.counts("train"), split.counts("val"), split.counts("test")
    for c, n in counts.items():
        assert train[c] + val[c] + test[c] == n
        if n >= 2:
            assert train[c] >= 1 and test[c] >= 1
    assert (train["big1"], val["big1"], test["big1"]) == (135, 15, 50)  # val: 10 % of the 150 training images
    assert (train["small1"], val["small1"], test["small1"]) == (8, 1, 3)  # at least one
    assert (train["small2"], val["small2"], test["small2"]) == (2, 0, 1)  # too small: keeps 2 for training
    assert any("no validation images" in w and "small2, tiny" in w and "keeping 2 for training" in w
               for w in split.config["warnings"])
    assert (train["tiny"], test["tiny"]) == (1, 0)
    assert any("tiny" in w for w in split.config["warnings"])
    assert split.majority_classes() == ["big1", "big2", "big3"]
    assert split.minority_classes() == ["small1", "small2", "tiny"]
    assert len(set(split.train) | set(split.val) | set(split.test)) == sum(counts.values())
    again = build_split(make_dataset(counts, shuffle=1), SplitConfig(protocol="stratified", test_frac=0.25,
                                                                     val_frac=0.1, seed=3))
    assert paths(again, "test") == paths(split, "test")


def test_stratified_role_overrides_and_balanced_warning():
    counts = {"a": 50, "b": 40, "c": 20}
    by_threshold = build_split(make_dataset(counts), SplitConfig(protocol="stratified", majority_threshold=20))
    assert by_threshold.majority_classes() == ["a", "b"]
    by_name = build_split(make_dataset(counts), SplitConfig(protocol="stratified", majority_classes=("c",)))
    assert by_name.majority_classes() == ["c"]
    balanced = build_split(make_dataset({"a": 50, "b": 49, "c": 48}), SplitConfig(protocol="stratified"))
    assert balanced.minority_classes() == []
    assert any("balanced" in w for w in balanced.config["warnings"])


def test_majority_by_count_rule():
    assert majority_by_count({"a": 50, "b": 50, "c": 10}) == ["a", "b"]
    assert majority_by_count({"a": 100, "b": 100, "c": 100, **{f"m{i}": 10 for i in range(7)}}) == ["a", "b", "c"]
    assert majority_by_count({"a": 1000, "b": 100, "c": 100, "d": 100, "e": 10}) == ["a", "b", "c", "d"]
    assert majority_by_count({"a": 100, "b": 99, "c": 98}) == ["a", "b", "c"]
    assert majority_by_count({"a": 10, "b": 0}) == ["a"]
    assert majority_by_count({"a": 10, "b": 5}, threshold=6) == ["a"]


def test_predefined_keeps_the_split_column():
    splits = {"a": ["train"] * 6 + ["Validation"] + ["test"] * 3, "b": ["TRAIN"] * 2 + ["test"] * 2}
    ds = make_dataset({"a": 10, "b": 4}, splits=splits)
    split = build_split(ds, SplitConfig(protocol="predefined"))
    assert split.counts("train") == {"a": 6, "b": 2}
    assert split.counts("val") == {"a": 1, "b": 0}
    assert split.counts("test") == {"a": 3, "b": 2}
    assert split.roles == {"a": MAJORITY, "b": MINORITY}
    bad = make_dataset({"a": 2, "b": 2}, splits={"a": ["train", "holdout"], "b": ["train", "test"]})
    with pytest.raises(DatasetError, match="holdout"):
        build_split(bad, SplitConfig(protocol="predefined"))
    # the ci protocol ignores the column and says so
    ci = build_split(ds, SplitConfig(protocol="ci", majority=1, s=1, test_per_class=1))
    assert any("split column" in w for w in ci.config["warnings"])


def test_split_manifest_round_trip_and_rebuild_from_its_config(tmp_path):
    ds = make_dataset({c: 100 for c in UCM_LIKE})
    split = build_split(ds, PAPER_UCM)
    loaded = SplitManifest.load(split.save(tmp_path / "split.json"))
    assert loaded.roles == split.roles and loaded.train == split.train and loaded.test == split.test
    rebuilt = build_split(ds, SplitConfig.from_json(loaded.config))
    assert rebuilt.train == split.train and rebuilt.test == split.test and rebuilt.roles == split.roles
    info = summary(loaded)
    assert info["counts"]["train"]["class00"] == 50 and info["roles"]["class20"] == MINORITY


def test_cli_split_json_and_table(tmp_path, capsys):
    manifest = make_dataset({c: 100 for c in UCM_LIKE}).save(tmp_path / "ucm.json")
    out = tmp_path / "s.json"
    code = cli_main(["split", str(manifest), "--protocol", "ci", "--majority", "14", "--major-count", "50",
                     "--s", "10", "--test-per-class", "40", "--seed", "0", "--out", str(out), "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == str(out) and out.exists()
    assert printed["roles"]["class00"] == "majority" and printed["roles"]["class14"] == "minority"
    assert printed["counts"]["train"]["class13"] == 50 and printed["counts"]["train"]["class14"] == 10
    assert printed["counts"]["test"]["class20"] == 40 and printed["counts"]["val"]["class20"] == 10  # 20 % of 50
    assert printed["counts"]["val"]["class00"] == 2  # 20 % of the 10 majority images left

    code = cli_main(["split", str(out), "--protocol", "stratified", "--majority-classes", "class00,class01"])
    assert code == 0
    text = capsys.readouterr().out
    assert "class00" in text and "majority" in text and "minority" in text
    assert (tmp_path / "s.split-stratified-seed0.json").exists()

    assert cli_main(["split", str(manifest), "--protocol", "stratified", "--s", "5"]) == 2
    assert "--s only apply to the ci protocol" in capsys.readouterr().err
    assert cli_main(["split", str(manifest), "--majority", "14", "--major-count", "90", "--test-per-class", "40"]) == 2
    assert "class00" in capsys.readouterr().err


def test_cli_split_protocol_preset_and_the_test_size_it_chose(tmp_path, capsys):
    manifest = make_dataset({c: 100 for c in UCM_LIKE}).save(tmp_path / "ucm.json")
    assert cli_main(["split", str(manifest), "--protocol-preset", "ucm", "--json", "--out", str(tmp_path / "a")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"]["train"]["class13"] == 50 and printed["counts"]["train"]["class14"] == 10
    assert set(printed["counts"]["test"].values()) == {40} and not printed["warnings"]
    # a flag beside the preset replaces its number
    assert cli_main(["split", str(manifest), "--protocol-preset", "ucm", "--test-per-class", "30", "--json",
                     "--out", str(tmp_path / "b")]) == 0
    assert set(json.loads(capsys.readouterr().out)["counts"]["test"].values()) == {30}
    # no preset, no --test-per-class: 100 is more than the majority classes have left, so it says what it chose
    assert cli_main(["split", str(manifest), "--major-count", "50", "--out", str(tmp_path / "c")]) == 0
    err = capsys.readouterr().err
    assert "--test-per-class not given: 50 test images per class" in err and "the paper's 100" in err
    assert cli_main(["split", str(manifest), "--protocol", "stratified", "--protocol-preset", "aid"]) == 2
    assert "--protocol-preset" in capsys.readouterr().err


def _ucmerced_manifest() -> DatasetManifest:
    """UC Merced as a manifest: through the importer when it exists, else from the folder listing."""
    root = shared_data("ucmerced")
    try:
        dataset_import = importlib.import_module("scl_desktop.core.data.importer")
    except ModuleNotFoundError:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        items = [ImageItem(path=str(f), label=c, size_bytes=f.stat().st_size, mtime_ns=f.stat().st_mtime_ns,
                           sha256="", width=256, height=256, bands=3, dtype="uint8")
                 for c in classes for f in (root / c).iterdir() if f.is_file()]
        return DatasetManifest(source=str(root), classes=tuple(classes), items=tuple(items))
    from scl_desktop.core.events import drive

    return drive(dataset_import.import_dataset(dataset_import.ImportConfig(source=root)))


def test_ucmerced_paper_split():
    ds = _ucmerced_manifest()
    assert len(ds.classes) == 21 and set(ds.counts().values()) == {100}
    split = build_split(ds, PAPER_UCM)
    check_paper_counts(split, list(ds.classes))
    again = build_split(ds, PAPER_UCM)
    other = build_split(ds, SplitConfig(**{**PAPER_UCM.to_json(), "seed": 1}))
    assert paths(again, "train") == paths(split, "train") and paths(again, "test") == paths(split, "test")
    assert paths(other, "train") != paths(split, "train")


def test_numpy_numbers_in_the_config_are_stored_as_plain_json(tmp_path):
    import numpy as np

    cfg = SplitConfig(protocol="ci", majority=np.int64(1), major_count=np.int64(5), s=np.int32(2),
                      test_per_class=np.int64(3), val_frac=np.float32(0.5), seed=np.int64(4))
    split = build_split(make_dataset({"a": 10, "b": 10}), cfg)
    assert split.counts("train") == {"a": 5, "b": 2} and split.seed == 4
    assert SplitManifest.load(split.save(tmp_path / "np.json")).config["major_count"] == 5


@pytest.mark.parametrize("protocol,extra", [("ci", {"majority": 2, "s": 5, "test_per_class": 10}), ("stratified", {})])
def test_every_split_gets_a_validation_part_by_default(protocol, extra):
    split = build_split(make_dataset({"a": 40, "b": 40, "c": 20}), SplitConfig(protocol=protocol, **extra))
    assert split.config["val_frac"] == 0.2
    assert all(n >= 1 for n in split.counts("val").values())
    assert not set(split.val) & (set(split.train) | set(split.test))
    assert build_split(make_dataset({"a": 40, "b": 40, "c": 20}),
                       SplitConfig(protocol=protocol, val_frac=0.0, **extra)).val == ()


def test_stratified_validation_comes_from_training_and_keeps_two_per_class():
    counts = {"a": 100, "b": 6, "c": 4, "d": 3}
    split = build_split(make_dataset(counts), SplitConfig(protocol="stratified", test_frac=0.25, val_frac=0.5))
    train, val, test = split.counts("train"), split.counts("val"), split.counts("test")
    assert (train["a"], val["a"], test["a"]) == (37, 38, 25)  # half of the 75 left after test, rounded half up
    assert (train["b"], val["b"], test["b"]) == (2, 2, 2)  # half of 4 is 2, and 2 stay for training
    assert (train["c"], val["c"], test["c"]) == (2, 1, 1)  # 3 left after test: 1 to validation, 2 kept
    assert (train["d"], val["d"], test["d"]) == (2, 0, 1)  # 2 left after test: none to spare
    assert any("no validation images" in w and ": d." in w for w in split.config["warnings"])


def test_predefined_without_validation_rows_says_the_curves_score_the_test_images():
    ds = make_dataset({"a": 4, "b": 4}, splits={"a": ["train"] * 3 + ["test"], "b": ["train"] * 3 + ["test"]})
    split = build_split(ds, SplitConfig(protocol="predefined"))
    assert any("no validation images" in w and "test images" in w for w in split.config["warnings"])
