"""The whole method in one step: split -> Plain baseline -> stage 1 -> stage 2 -> Table-1 results.

``run_pipeline`` trains the two-stage model (SupCon encoder, then one linear classifier per
re-balancing strategy on its frozen features) and the paper's Plain baseline on the same split,
and returns every method's test-set evaluation. ``run_demo`` does the same on the built-in
synthetic demo data (generated, imported and split first), with settings sized to finish in a
minute or two on a 2-core CPU; `scl demo` (and the app, if it offers a demo) drives it.

Both are step generators (they yield the engine's events and return a ``PipelineResult``) and
stop at the next step when their ``CancelToken`` is set. Nothing here imports Qt.

The comparison is kept fair on purpose: Plain and the encoder get the same architecture, image
size, augmentation, batch size and number of epochs (stage 1 sees two views per image, so it
does twice Plain's work per epoch); neither is tuned on the test images, and each reports its
last epoch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scl_desktop.core import metrics
from scl_desktop.core.data import demo as demo_data
from scl_desktop.core.data.importer import ImportConfig, import_dataset
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.data.split import build_split
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.methods import BALANCES, balances_of, method_for
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.training.baseline import train_baseline
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig
from scl_desktop.core.training.encoder import train_encoder

DEMO_EPOCHS = 30
"""Epochs of stage 1 and of the Plain baseline in the demo (the same budget for both)."""

DEMO_SETTINGS: dict[str, Any] = {"arch": "resnet18", "image_size": 32, "batch_size": 64}
"""What the demo trains, on every device: ResNet-18 on 32 px views of the 64 px demo patches, batch 64.
Learning rates follow the paper's, scaled by batch/128 (0.25 for SupCon, 0.05 for Plain)."""

DEMO_BASELINE_EVAL_EVERY = 5
"""The demo's Plain baseline scores the validation images every 5 epochs (for the curves; never used to pick a model)."""


@dataclass(frozen=True)
class PipelineConfig:
    """What ``run_pipeline`` trains: one encoder, its classifiers and the baselines.

    ``balances``: stage-2 strategies fitted on the one encoder (default the paper's "cb", "csce",
    "none", giving SCL-CB, SCL-CSCE and SCL-CE; any of ``balances_of("scl")``). ``baselines``:
    end-to-end baselines trained on the same split ("none" is Plain; "cb", "csce" give Plain-CB,
    Plain-CSCE).
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    balances: tuple[str, ...] = BALANCES
    baselines: tuple[str, ...] = ("none",)

    def __post_init__(self) -> None:
        for name, kind in (("balances", "scl"), ("baselines", "baseline")):
            values, allowed = tuple(getattr(self, name)), balances_of(kind)
            unknown = [v for v in values if v not in allowed]
            if unknown or len(set(values)) != len(values):
                raise ConfigError(f"The pipeline's {name} {list(values)} are not valid.",
                                  f"List each of {', '.join(allowed)} at most once.")
            object.__setattr__(self, name, values)
        if not self.balances and not self.baselines:
            raise ConfigError("The pipeline has nothing to train.", "Give at least one balance or baseline.")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every setting."""
        return {"encoder": self.encoder.to_json(), "classifier": self.classifier.to_json(),
                "baseline": self.baseline.to_json(), "balances": list(self.balances),
                "baselines": list(self.baselines)}


@dataclass
class PipelineResult:
    """What ``run_pipeline`` made: the runs, each method's test ``Evaluation`` and the time each step took."""

    split: SplitManifest
    config: PipelineConfig
    scl_run: runs.Run | None
    baseline_runs: dict[str, runs.Run]
    evaluations: dict[str, metrics.Evaluation]
    seconds: dict[str, float]
    split_path: Path | None = None

    def run_of(self, method: str) -> runs.Run:
        """The run holding ``method``'s model (the two-stage run or a baseline run)."""
        if method in self.baseline_runs:
            return self.baseline_runs[method]
        if self.scl_run is None or method not in self.evaluations:
            raise ConfigError(f"The pipeline has no result for {method!r}.",
                              f"Its methods are: {', '.join(self.evaluations)}.")
        return self.scl_run

    def rows(self) -> list[dict[str, Any]]:
        """One row per method (Plain first, then the SCL methods): the `--json` rows of `scl evaluate`."""
        rows = []
        for method in self.evaluations:
            rows.extend(r for r in self.run_of(method).result_rows() if r["method"] == method)
        return rows

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: the result rows, the runs, the split and the timings."""
        return {
            "results": self.rows(),
            "runs": {m: self.run_of(m).id for m in self.evaluations},
            "split": str(self.split_path) if self.split_path else None,
            "dataset": self.split.dataset.source,
            "classes": {c: self.split.roles.get(c) for c in self.split.classes},
            "train_counts": self.split.counts("train"),
            "test_counts": self.split.counts("test"),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "config": self.config.to_json(),
        }


def run_pipeline(split: SplitManifest, config: PipelineConfig, cancel: CancelToken | None = None,
                 name: str | None = None) -> Generator[Event, None, PipelineResult]:
    """Train and evaluate the two-stage method and the baselines on ``split``; returns a ``PipelineResult``.

    Order: each baseline first (``train_baseline``; Plain is the row the others are read
    against), then stage 1 (``train_encoder``) and stage 2 once per strategy in
    ``config.balances`` (``fit_classifier`` on cached features). Every
    result is also saved in its run, so `scl evaluate RUN` shows it later. ``name`` prefixes the
    names of the runs made. Raises the cancelled step's ``Cancelled`` when ``cancel`` is set
    (work finished so far stays in its runs).
    """
    seconds: dict[str, float] = {}
    evaluations: dict[str, metrics.Evaluation] = {}
    baseline_runs: dict[str, runs.Run] = {}
    scl_run: runs.Run | None = None
    steps = (1 if config.balances else 0) + len(config.balances) + len(config.baselines)
    step_no = 0

    def announce(what: str) -> Log:
        nonlocal step_no
        step_no += 1
        return Log(f"Step {step_no}/{steps}: {what}.")

    for balance in config.baselines:  # Plain first: the row the others are read against
        method = method_for("baseline", balance).name
        yield announce(f"{method} baseline (end-to-end cross-entropy)")
        start = time.perf_counter()
        run, evaluation = yield from train_baseline(split, config.baseline.replace(balance=balance), cancel=cancel,
                                                    name=_run_name(name, method))
        seconds[method] = time.perf_counter() - start
        baseline_runs[method], evaluations[method] = run, evaluation

    if config.balances:
        yield announce("stage 1, the supervised contrastive encoder")
        start = time.perf_counter()
        scl_run = yield from train_encoder(split, config.encoder, cancel=cancel, name=_run_name(name, "SCL"))
        seconds["stage1"] = time.perf_counter() - start
        for balance in config.balances:
            method = method_for("scl", balance).name
            yield announce(f"stage 2, {method} (linear classifier on the frozen encoder)")
            start = time.perf_counter()
            evaluations[method] = yield from fit_classifier(scl_run, config.classifier.replace(balance=balance),
                                                            cancel=cancel)
            seconds[method] = time.perf_counter() - start
    return PipelineResult(split, config, scl_run, baseline_runs, evaluations, seconds)


def demo_config(seed: int = 0, epochs: int | None = None, device: str = "auto", num_threads: int | None = None,
                balances: tuple[str, ...] = BALANCES) -> PipelineConfig:
    """The settings `scl demo` uses (``DEMO_SETTINGS``, ``DEMO_EPOCHS`` epochs; paper defaults otherwise).

    Stage 1 and the Plain baseline share architecture, image size, batch, augmentation and
    epochs; stage 2 keeps the paper's (100 epochs, lr 0.01, batch 128) on cached features.
    """
    epochs = DEMO_EPOCHS if epochs is None else int(epochs)
    common: dict[str, Any] = {**DEMO_SETTINGS, "epochs": epochs, "seed": seed, "device": device,
                              "num_threads": num_threads, "checkpoint_every": 0}
    scale = DEMO_SETTINGS["batch_size"] / EncoderConfig.batch_size
    encoder = EncoderConfig(lr=EncoderConfig.lr * scale, **common)
    baseline = BaselineConfig(lr=BaselineConfig.lr * scale, eval_every=min(DEMO_BASELINE_EVAL_EVERY, epochs),
                              **common)
    classifier = ClassifierConfig(seed=seed, device=device, num_threads=num_threads)
    return PipelineConfig(encoder, classifier, baseline, balances=balances, baselines=("none",))


def demo_split(seed: int = 0, root: str | os.PathLike[str] | None = None,
               cancel: CancelToken | None = None) -> Generator[Event, None, tuple[SplitManifest, Path]]:
    """Generate (once) and import the demo data, build and save its split; returns (split, saved path).

    The split (``demo_data.demo_split_config(seed)``) is saved beside the demo data, so it can
    be trained again with `scl train` / `scl baseline`.
    """
    folder = yield from demo_data.generate_demo_dataset(root, cancel=cancel)
    yield Log(f"Demo data (synthetic, drawn by the program): {folder}")
    dataset = yield from import_dataset(ImportConfig(folder, size=demo_data.PATCH_SIZE), cancel=cancel)
    split = build_split(dataset, demo_data.demo_split_config(seed))
    path = split.save(demo_data.demo_root(root) / "splits" / f"demo_ci_seed{seed}.json")
    counts = split.counts("train")
    major = sorted({counts[c] for c in split.majority_classes()})
    minor = sorted({counts[c] for c in split.minority_classes()})
    yield Log(f"Demo split (seed {seed}): {len(split.majority_classes())} majority classes with {_join(major)} "
              f"training images, {len(split.minority_classes())} minority classes with {_join(minor)}; "
              f"{len(split.val)} validation and {len(split.test)} test images. Saved to {path}.")
    return split, Path(path)


def run_demo(seed: int = 0, epochs: int | None = None, device: str = "auto", num_threads: int | None = None,
             root: str | os.PathLike[str] | None = None, cancel: CancelToken | None = None,
             config: PipelineConfig | None = None) -> Generator[Event, None, PipelineResult]:
    """The whole pipeline on the built-in demo data: data, import, split, both stages, Plain, evaluation.

    ``config`` overrides ``demo_config(seed, epochs, device, num_threads)`` (tests use a tiny
    one). Returns the ``PipelineResult`` with the time of every step (``seconds["total"]``).
    """
    start = time.perf_counter()
    config = config or demo_config(seed, epochs, device, num_threads)
    split, path = yield from demo_split(seed, root, cancel)
    prepared = time.perf_counter()
    result = yield from run_pipeline(split, config, cancel, name=f"demo-seed{seed}")
    result.split_path = path
    result.seconds = {"data": prepared - start, **result.seconds, "total": time.perf_counter() - start}
    return result


def _run_name(prefix: str | None, method: str) -> str | None:
    return None if prefix is None else f"{prefix}-{method}-{time.strftime('%Y%m%d-%H%M%S')}"


def _join(values: list[int]) -> str:
    return "/".join(str(v) for v in values)
