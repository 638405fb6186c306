"""Split builder: turn a dataset manifest into train / validation / test parts with class roles.

Three protocols:

* ``"ci"`` -- the paper's class-imbalance protocol (Huang et al. 2022, sec. 3.1). Classes are
  taken in the dataset's class order; the first ``majority`` (or the named
  ``majority_classes``) are majority classes and keep ``major_frac`` of their images (AID: 0.5)
  or ``major_count`` images (NWPU: 140, UC Merced: 50) for training; every other class is a
  minority class with only ``s`` training images (5 or 10). A balanced test set of
  ``test_per_class`` images per class (default: the paper's ``PAPER_TEST_PER_CLASS`` when every
  class has that many left, else the most every class can give, and the split's warnings say
  so) is drawn from the images left over, and ``val_frac`` of
  what is left after that (at least one image per class that has any left) becomes the
  validation set.
* ``"stratified"`` -- for data that is already imbalanced: per class, ``test_frac`` of the images
  go to test, then ``val_frac`` of the remaining training images (at least one) to validation,
  always keeping ``MIN_TRAIN_KEPT`` for training: a class too small for that gets no validation
  image, and the split's warnings name it.
* ``"predefined"`` -- every item already names its part (the ``split`` column of a CSV manifest).

Roles for ``stratified`` and ``predefined`` follow :func:`majority_by_count` on the training
counts unless ``majority`` or ``majority_classes`` say otherwise.

Draws are deterministic: items of a class are sorted by path and shuffled with a numpy
``Generator`` seeded from ``(seed, class name)``, so the same seed picks the same files whatever
order the file system listed them in, and a class's draw does not depend on the other classes.
"""

from __future__ import annotations

import math
import numbers
import zlib
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from scl_desktop.core.data.manifest import MAJORITY, MINORITY, DatasetManifest, SplitManifest
from scl_desktop.core.errors import ConfigError, DatasetError

PROTOCOLS = ("ci", "stratified", "predefined")
VAL_FRAC = 0.2
"""Default validation share: modest, because the baselines score the validation images every epoch."""
MIN_TRAIN_KEPT = 2
"""Training images ``stratified`` keeps per class before it moves any to validation."""
PARTS = ("train", "val", "test")
PAPER_TEST_PER_CLASS = 100
"""The ci default test size: the paper's for AID (Huang et al. 2022, sec. 3.1; DESIGN.md), the dataset
whose 50 % majority share is also the ci default."""


@dataclass(frozen=True)
class CiPreset:
    """A named ci protocol: the majority share (a fraction or a count) and the balanced test size.

    The majority classes are the first two thirds in dataset (sorted) order and ``s`` is chosen
    separately, as in the paper; ``source`` says where the numbers come from.
    """

    major_frac: float | None
    major_count: int | None
    test_per_class: int
    source: str

    def numbers(self, major_frac: float | None = None, major_count: int | None = None,
                test_per_class: int | None = None) -> dict[str, Any]:
        """``SplitConfig`` fields of this preset; a given number replaces the preset's (a fraction its count too)."""
        share_given = major_frac is not None or major_count is not None
        return {"major_frac": major_frac if share_given else self.major_frac,
                "major_count": major_count if share_given else self.major_count,
                "test_per_class": test_per_class if test_per_class is not None else self.test_per_class}


CI_PRESETS = {
    "aid": CiPreset(0.5, None, 100, "AID in the paper (Huang et al. 2022, sec. 3.1): 50 % of each "
                                     "majority class for training, 100 test images per class"),
    "nwpu": CiPreset(None, 140, 400, "NWPU-RESISC45 in the paper (sec. 3.1): 140 training "
                                      "images per majority class (20 % of its 700), 400 test images per class"),
    "ucm": CiPreset(None, 50, 40, "UC Merced, which the paper does not report: this project's protocol (README, "
                                   "the `scl reproduce` tables): 50 training images per majority class, 40 test "
                                   "images per class"),
}
"""The ci protocols of the paper's datasets, by the name `--protocol-preset` takes.

AID's and NWPU's numbers are the paper's sec. 3.1 as the project's design notes (DESIGN.md) quote
it; UC Merced's are the README's protocol (the paper has no UC Merced experiment).
"""

#: spellings of the split column that mean train / val / test (compared in lower case)
SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test", "tst": "test",
}

#: the rule :func:`majority_by_count` applies, in words (stored in the split config)
COUNT_RULE = (
    "a class is a minority class when its training count is below the geometric mean of all "
    "training counts and at most half of the largest one; every other class is a majority class"
)


@dataclass(frozen=True)
class SplitConfig:
    """Options of :func:`build_split`.

    ``majority`` (first K classes in dataset order) and ``majority_classes`` (names) are
    alternatives; without either, ``ci`` makes the first two thirds of the classes majority
    classes (14 of 21 for UC Merced, as in the paper) and the other protocols use
    :func:`majority_by_count` (or ``majority_threshold``: majority when training count >= it).

    ``ci`` only: ``major_frac`` or ``major_count`` (default ``major_frac=0.5``), ``s``,
    ``test_per_class`` (default ``PAPER_TEST_PER_CLASS`` when every class can give it, else the
    largest balanced count every class can give, with a warning saying so).
    ``stratified`` only: ``test_frac``. ``val_frac`` (0: no validation set): for ``ci`` the share
    of the images left after train and test, for ``stratified`` the share of each class's
    training images (see the module docstring for the per-class minimums).
    """

    protocol: str = "ci"
    majority: int | None = None
    majority_classes: tuple[str, ...] | None = None
    major_frac: float | None = None
    major_count: int | None = None
    s: int = 10
    test_per_class: int | None = None
    val_frac: float = VAL_FRAC
    test_frac: float = 0.3
    majority_threshold: int | None = None
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.majority_classes is not None:
            d["majority_classes"] = list(self.majority_classes)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SplitConfig:
        """Rebuild from ``to_json`` output or a split manifest's ``config`` (extra keys ignored)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if kwargs.get("majority_classes") is not None:
            kwargs["majority_classes"] = tuple(kwargs["majority_classes"])
        return cls(**kwargs)


def build_split(dataset: DatasetManifest, cfg: SplitConfig) -> SplitManifest:
    """Split ``dataset`` by ``cfg`` into train / val / test and assign majority / minority roles.

    The returned manifest's ``config`` holds the resolved options (enough to rebuild the same
    split with ``build_split(dataset, SplitConfig.from_json(split.config))``), the role rule and
    any ``warnings``. Raises ``ConfigError`` for inconsistent options and ``DatasetError`` when
    the data cannot satisfy them (naming the class, its size and what to lower).
    """
    cfg = _plain_numbers(cfg)
    if cfg.protocol not in PROTOCOLS:
        raise ConfigError(f"Unknown split protocol {cfg.protocol!r}.", f"Use one of: {', '.join(PROTOCOLS)}.")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, numbers.Integral) or cfg.seed < 0:
        raise ConfigError(f"The seed must be a whole number >= 0, not {cfg.seed!r}.", "Pass e.g. --seed 0.")
    if cfg.majority is not None and cfg.majority_classes is not None:
        raise ConfigError("Both a majority count and majority class names were given.", "Give only one of them.")
    _check_fraction("val_frac", cfg.val_frac, allow_zero=True)
    by_class = _items_by_class(dataset)
    if cfg.protocol == "ci":
        return _build_ci(dataset, cfg, by_class)
    if cfg.major_frac is not None or cfg.major_count is not None or cfg.test_per_class is not None:
        raise ConfigError(
            "--major-frac, --major-count and --test-per-class belong to the ci protocol.",
            f"Drop them, or use --protocol ci instead of {cfg.protocol}.",
        )
    if cfg.protocol == "stratified":
        return _build_stratified(dataset, cfg, by_class)
    return _build_predefined(dataset, cfg, by_class)


def majority_by_count(train_counts: dict[str, int], threshold: int | None = None) -> list[str]:
    """Majority classes by training count (order of ``train_counts`` kept).

    With ``threshold``: a class is majority when its count is >= threshold. Without: see
    ``COUNT_RULE`` -- imbalance is multiplicative, so the geometric mean separates a few large
    classes from many small ones (and vice versa), and the "at most half the largest" condition
    keeps nearly balanced data all-majority instead of splitting it by noise.
    """
    if threshold is not None:
        return [c for c, n in train_counts.items() if n >= threshold]
    positive = [n for n in train_counts.values() if n > 0]
    if not positive:
        return []
    geo_mean = math.exp(sum(math.log(n) for n in positive) / len(positive))
    largest = max(positive)
    # the tolerance keeps counts equal to the mean on the majority side despite float rounding
    return [c for c, n in train_counts.items() if not (n < geo_mean * (1 - 1e-9) and n <= largest / 2)]


def summary(split: SplitManifest) -> dict[str, Any]:
    """JSON-ready roles and per-part class counts (the shape `scl split --json` prints)."""
    return {
        "protocol": split.protocol,
        "seed": split.seed,
        "roles": dict(split.roles),
        "counts": {part: split.counts(part) for part in PARTS},
        "warnings": list(split.config.get("warnings", [])),
    }


# --- protocols -------------------------------------------------------------------------------


def _build_ci(dataset: DatasetManifest, cfg: SplitConfig, by_class: dict[str, list[int]]) -> SplitManifest:
    classes = dataset.classes
    if len(classes) < 2:
        raise DatasetError(
            f"The ci protocol needs at least 2 classes; this dataset has {len(classes)}.",
            "Import a dataset with more classes.",
        )
    if cfg.majority_threshold is not None:
        raise ConfigError("--majority-threshold applies to the stratified and predefined protocols.",
                          "Use --majority K or --majority-classes with the ci protocol.")
    if cfg.major_frac is not None and cfg.major_count is not None:
        raise ConfigError("Both a majority training fraction and a count were given.", "Give only one of them.")
    major_frac = cfg.major_frac if cfg.major_frac is not None or cfg.major_count is not None else 0.5
    if major_frac is not None:
        _check_fraction("major_frac", major_frac)
    if cfg.major_count is not None:
        _check_positive("major_count", cfg.major_count)
    _check_positive("s", cfg.s)
    if cfg.test_per_class is not None:
        _check_positive("test_per_class", cfg.test_per_class)

    majority = _resolve_roles_by_option(classes, cfg)
    if majority is None:
        majority = list(classes[: max(1, min(len(classes) - 1, round(2 * len(classes) / 3)))])
        rule = "first two thirds of the classes in dataset order (the paper's ratio)"
    else:
        rule = "majority_classes" if cfg.majority_classes is not None else f"first {cfg.majority} classes in dataset order"
    if len(majority) == len(classes):
        raise ConfigError("Every class was made a majority class; the ci protocol needs at least one minority class.",
                          "Name fewer majority classes.")

    n_train: dict[str, int] = {}
    for c in classes:
        n = len(by_class[c])
        if c in majority:
            n_train[c] = cfg.major_count if cfg.major_count is not None else max(1, _round(major_frac * n))
        else:
            n_train[c] = cfg.s
    leftover = {c: len(by_class[c]) - n_train[c] for c in classes}
    warnings = _split_column_warning(dataset)
    test_per_class = cfg.test_per_class
    if test_per_class is None:
        test_per_class, note = _default_test_per_class(leftover)
        warnings += [note] if note else []
    needed_test = max(test_per_class, 1)
    for c in classes:
        n, role = len(by_class[c]), (MAJORITY if c in majority else MINORITY)
        if n_train[c] + needed_test > n:
            raise DatasetError(_too_small_message(c, n, role, n_train[c], needed_test), _too_small_hint(cfg, role))

    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for c in classes:
        order = _shuffled(by_class[c], cfg.seed, c)
        end_train = n_train[c]
        end_test = end_train + test_per_class
        rest = order[end_test:]
        train += order[:end_train]
        test += order[end_train:end_test]
        val += rest[: min(len(rest), max(1, _round(cfg.val_frac * len(rest))))] if cfg.val_frac > 0 else []

    if cfg.val_frac > 0 and not val:
        warnings.append("No images were left for validation after train and test; the validation set is empty.")
    resolved = {
        "protocol": "ci",
        "majority_classes": majority,
        "major_frac": None if cfg.major_count is not None else major_frac,
        "major_count": cfg.major_count,
        "s": cfg.s,
        "test_per_class": test_per_class,
        "val_frac": cfg.val_frac,
        "seed": cfg.seed,
        "role_rule": rule,
        "warnings": warnings,
    }
    return _manifest(dataset, "ci", cfg.seed, resolved, majority, train, val, test)


def _build_stratified(dataset: DatasetManifest, cfg: SplitConfig, by_class: dict[str, list[int]]) -> SplitManifest:
    _check_fraction("test_frac", cfg.test_frac)
    if cfg.test_frac + cfg.val_frac >= 1:
        raise ConfigError(
            f"--test-frac ({cfg.test_frac}) + --val-frac ({cfg.val_frac}) leave nothing for training.",
            "Make their sum smaller than 1 (e.g. --test-frac 0.3 --val-frac 0.1).",
        )
    warnings = _split_column_warning(dataset)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    single: list[str] = []
    for c in dataset.classes:
        order = _shuffled(by_class[c], cfg.seed, c)
        n = len(order)
        if n == 1:
            single.append(c)
            train += order
            continue
        # every class of >= 2 images keeps >= 1 training and >= 1 test image; validation comes from
        # the training images, at least one, but never leaves fewer than MIN_TRAIN_KEPT to train on
        n_test = min(max(1, _round(cfg.test_frac * n)), n - 1)
        pool = n - n_test
        n_val = max(0, min(max(1, _round(cfg.val_frac * pool)), pool - MIN_TRAIN_KEPT)) if cfg.val_frac > 0 else 0
        test += order[:n_test]
        val += order[n_test : n_test + n_val]
        train += order[n_test + n_val :]
    if single:
        warnings.append(
            f"{len(single)} class(es) have a single image, used for training only (no test image): "
            f"{', '.join(single)}. Add images to them to measure their accuracy."
        )
    return _with_count_roles(dataset, cfg, "stratified", train, val, test, warnings,
                             {"test_frac": cfg.test_frac, "val_frac": cfg.val_frac})


def _build_predefined(dataset: DatasetManifest, cfg: SplitConfig, by_class: dict[str, list[int]]) -> SplitManifest:
    missing = [item.path for item in dataset.items if not item.split]
    if missing:
        raise DatasetError(
            f"{len(missing)} of {len(dataset.items)} images have no split value (for example {missing[0]}).",
            "Fill the split column (train/val/test) for every row of the CSV, or use the ci or stratified protocol.",
        )
    parts: dict[str, list[int]] = {p: [] for p in PARTS}
    unknown: set[str] = set()
    for i, item in enumerate(dataset.items):
        part = SPLIT_ALIASES.get(item.split.strip().lower())  # type: ignore[union-attr]
        if part is None:
            unknown.add(item.split)  # type: ignore[arg-type]
        else:
            parts[part].append(i)
    if unknown:
        raise DatasetError(
            f"Unknown split values in the manifest: {', '.join(sorted(unknown))}.",
            "Use train, val or test in the split column.",
        )
    if not parts["train"] or not parts["test"]:
        raise DatasetError(
            "The split column must name at least one training and one test image.",
            "Mark some rows as train and some as test.",
        )
    labels = [item.label for item in dataset.items]
    warnings = [] if parts["val"] else [
        "The split column names no validation images, so the per-epoch curves will score the test images; "
        "mark some training rows as val to keep the test set for the final result only."]
    for part in ("train", "test"):
        present = {labels[i] for i in parts[part]}
        absent = [c for c in dataset.classes if c not in present]
        if absent:
            warnings.append(f"No {part} images for: {', '.join(absent)}.")
    return _with_count_roles(dataset, cfg, "predefined", parts["train"], parts["val"], parts["test"], warnings, {})


# --- helpers ---------------------------------------------------------------------------------


def _default_test_per_class(leftover: dict[str, int]) -> tuple[int, str | None]:
    """The ci test size when none is given, and a note saying why when it is not the paper's."""
    smallest = min(leftover, key=lambda c: leftover[c])
    if leftover[smallest] >= PAPER_TEST_PER_CLASS:
        return PAPER_TEST_PER_CLASS, None
    n = leftover[smallest]
    return n, (f"--test-per-class not given: {n} test images per class, the most every class can give "
               f"({smallest} has {n} left after training), since not every class can give the paper's "
               f"{PAPER_TEST_PER_CLASS}; pass --test-per-class to choose another size.")


def _items_by_class(dataset: DatasetManifest) -> dict[str, list[int]]:
    """Item indices per class, sorted by path (independent of listing order)."""
    if not dataset.items:
        raise DatasetError("The dataset has no images.", "Import a folder that holds images in class sub-folders.")
    by_class: dict[str, list[int]] = {c: [] for c in dataset.classes}
    for i, item in enumerate(dataset.items):
        if item.label not in by_class:
            raise DatasetError(f"Image {item.path} has label {item.label!r}, which is not among the dataset's classes.",
                               "Re-import the dataset to rebuild its manifest.")
        by_class[item.label].append(i)
    empty = [c for c, idx in by_class.items() if not idx]
    if empty:
        raise DatasetError(f"These classes have no images: {', '.join(empty)}.",
                           "Add images to them or remove their folders, then import again.")
    for idx in by_class.values():
        idx.sort(key=lambda i: (dataset.items[i].path, dataset.items[i].sha256))
    return by_class


def _shuffled(indices: list[int], seed: int, class_name: str) -> list[int]:
    rng = np.random.default_rng([seed, zlib.crc32(class_name.encode("utf-8"))])
    return [indices[j] for j in rng.permutation(len(indices))]


def _resolve_roles_by_option(classes: tuple[str, ...], cfg: SplitConfig) -> list[str] | None:
    """Majority classes named by ``majority`` or ``majority_classes``; None when neither is set."""
    if cfg.majority_classes is not None:
        unknown = [c for c in cfg.majority_classes if c not in classes]
        if unknown:
            raise ConfigError(f"Unknown majority class(es): {', '.join(unknown)}.",
                              f"The dataset's classes are: {', '.join(classes)}.")
        if not cfg.majority_classes:
            raise ConfigError("The list of majority classes is empty.", "Name at least one majority class.")
        chosen = set(cfg.majority_classes)
        return [c for c in classes if c in chosen]
    if cfg.majority is not None:
        if (isinstance(cfg.majority, bool) or not isinstance(cfg.majority, numbers.Integral)
                or not 1 <= cfg.majority < len(classes)):
            raise ConfigError(
                f"The number of majority classes must be between 1 and {len(classes) - 1} "
                f"(the dataset has {len(classes)} classes), not {cfg.majority!r}.",
                "Pass a smaller --majority.",
            )
        return list(classes[: cfg.majority])
    return None


def _with_count_roles(dataset: DatasetManifest, cfg: SplitConfig, protocol: str, train: list[int], val: list[int],
                      test: list[int], warnings: list[str], extra: dict[str, Any]) -> SplitManifest:
    """Finish a stratified / predefined split: roles from the options or the training counts."""
    majority = _resolve_roles_by_option(dataset.classes, cfg)
    if majority is not None:
        rule = "majority_classes" if cfg.majority_classes is not None else f"first {cfg.majority} classes in dataset order"
    else:
        counts = {c: 0 for c in dataset.classes}
        for i in train:
            counts[dataset.items[i].label] += 1
        majority = majority_by_count(counts, cfg.majority_threshold)
        rule = (f"majority when training count >= {cfg.majority_threshold}" if cfg.majority_threshold is not None
                else COUNT_RULE)
        if len(majority) == len(dataset.classes):
            warnings.append("Every class came out as a majority class (the training counts look balanced), so the "
                            "minority accuracy is undefined. Name the majority classes, or use the ci protocol.")
        elif not majority:
            warnings.append(f"No class reaches the majority threshold {cfg.majority_threshold}; lower it.")
    resolved = {"protocol": protocol, "majority_classes": majority, **extra,
                "majority_threshold": cfg.majority_threshold, "seed": cfg.seed, "role_rule": rule,
                "warnings": warnings}
    return _manifest(dataset, protocol, cfg.seed, resolved, majority, train, val, test)


def _manifest(dataset: DatasetManifest, protocol: str, seed: int, config: dict[str, Any], majority: list[str],
              train: list[int], val: list[int], test: list[int]) -> SplitManifest:
    config["warnings"] = config.get("warnings", []) + _part_warnings(dataset, protocol, train, val, test)
    chosen = set(majority)
    roles = {c: MAJORITY if c in chosen else MINORITY for c in dataset.classes}
    return SplitManifest(dataset=dataset, protocol=protocol, seed=seed, config=config, roles=roles,
                         train=tuple(sorted(train)), val=tuple(sorted(val)), test=tuple(sorted(test)))


_NO_VAL_WHY = {
    "ci": ("all their images went to training and test",
           "lower the test count or the majority training share to keep some"),
    "stratified": (f"too few images to give one while keeping {MIN_TRAIN_KEPT} for training and one for test, so "
                   "they keep them all for training and test", "add images to them to score them"),
    "predefined": ("the split column names none for them", "mark some of their rows as val"),
}


def _part_warnings(dataset: DatasetManifest, protocol: str, train: list[int], val: list[int],
                   test: list[int]) -> list[str]:
    """Problems of the drawn parts that would mislead the scores: partial validation, copies across parts."""
    warnings = []
    if val:
        in_val = {dataset.items[i].label for i in val}
        missing = [c for c in dataset.classes if c not in in_val]
        if missing:
            why, fix = _NO_VAL_WHY[protocol]
            warnings.append(
                f"{len(missing)} class(es) have no validation images ({why}): "
                f"{', '.join(missing)}. The per-epoch validation scores leave them out; {fix}.")
    by_hash: dict[str, str] = {}
    for i in train:
        by_hash.setdefault(dataset.items[i].sha256, dataset.items[i].path)
    copies = [(dataset.items[i].path, by_hash[dataset.items[i].sha256])
              for i in (*val, *test) if dataset.items[i].sha256 in by_hash]
    if copies:
        copy, original = copies[0]
        warnings.append(
            f"{len(copies)} validation/test image(s) are identical copies of training images (e.g. {copy} = "
            f"{original}), which inflates their accuracy. Remove the duplicate files (the import report lists "
            "them), import again and split again.")
    return warnings


def _split_column_warning(dataset: DatasetManifest) -> list[str]:
    if any(item.split for item in dataset.items):
        return ["The manifest's split column was ignored; use the predefined protocol to keep it."]
    return []


def _plain_numbers(cfg: SplitConfig) -> SplitConfig:
    """numpy scalars (e.g. from a GUI) as Python numbers, so the stored config stays JSON."""
    changes: dict[str, Any] = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        changes[f.name] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return replace(cfg, **changes)


def _round(x: float) -> int:
    """Round half up (Python's round() rounds half to even)."""
    return int(math.floor(x + 0.5))


def _check_fraction(name: str, value: float, allow_zero: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and (0 <= value < 1 if allow_zero else 0 < value < 1)
    if not ok:
        low = "0 or more" if allow_zero else "above 0"
        raise ConfigError(f"{_option(name)} must be a fraction {low} and below 1, not {value!r}.",
                          f"Pass e.g. {_option(name)} 0.2.")


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{_option(name)} must be a whole number of at least 1, not {value!r}.",
                          f"Pass e.g. {_option(name)} 10.")


def _option(name: str) -> str:
    """The `scl split` option of a ``SplitConfig`` field (messages name what the user types)."""
    return "--" + name.replace("_", "-")


def _too_small_message(cls: str, n: int, role: str, n_train: int, n_test: int) -> str:
    return (f"Class {cls!r} ({role}) has {n} images, but the split needs {n_train} training + {n_test} test "
            f"= {n_train + n_test}.")


def _too_small_hint(cfg: SplitConfig, role: str) -> str:
    if role == MAJORITY:
        share = "--major-count" if cfg.major_count is not None else "--major-frac"
        return f"Lower {share} or --test-per-class, or make this class a minority class."
    return "Lower --s or --test-per-class, or leave this class out of the dataset."
