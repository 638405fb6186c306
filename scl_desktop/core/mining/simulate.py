"""The mining loop, simulated: a labelled pool plays the analyst, so the loop's gain can be measured.

``simulate(run, pool, SimulationConfig(...), cancel)``: round 0 is the run's stored test evaluation
of the chosen method (no refit). Each round r = 1..R then

1. scores every pool image not yet added with the latest classifier (the run's own in round 1) on the
   frozen encoder's features (computed once, as stage 2 computes them);
2. ranks, for every minority class of the run's split, the top K of the pool images not yet added and
   not already shown in that class's list (``ranking.rank``: by the class's probability, spread over
   feature space unless ``diverse`` is off);
3. accepts the true positives (the pool's label is the class; other images are rejected, never
   relabelled) and adds them to the training part of a copy of the split (``derive.grown_split``:
   validation and test untouched);
4. refits stage 2 with the method's stored settings in a derived run that shares the encoder
   (``derive.derive_run``; the original run is never written) and scores it on the unchanged test set.

A round's ``precision`` of a class is true positives / list length (K unless the pool ran short;
None for an empty list); ``random_precision`` is the share of the class among the images the list
was drawn from: what a list picked at random would have scored. The derived runs live in a
temporary runs folder that is deleted at the end, unless a ``store`` is given to keep them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from scl_desktop.core import devices, paths
from scl_desktop.core.data.cache import build_store
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.labelling.label import best_method
from scl_desktop.core.methods import method_named
from scl_desktop.core.metrics import Evaluation
from scl_desktop.core.mining.derive import derive_run, grown_split
from scl_desktop.core.mining.pool import Pool, load_pool
from scl_desktop.core.mining.ranking import RankConfig, rank
from scl_desktop.core.model.predictor import encode_images, load_encoder, load_predictor
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import ClassifierConfig
from scl_desktop.core.training.setup import set_threads


@dataclass(frozen=True)
class SimulationConfig:
    """Options of :func:`simulate`: ``rounds`` of mining, each list ranked by ``rank`` (``rank.top`` = K per
    minority class); ``method`` the run's stage-2 method to refit (None: its best overall); ``device`` for
    encoding and refitting (None: the method's stored setting); ``batch_size`` for encoding the pool."""

    rounds: int = 2
    rank: RankConfig = field(default_factory=RankConfig)
    method: str | None = None
    device: str | None = None
    batch_size: int = 128

    def validate(self) -> None:
        """``ConfigError`` for values out of range."""
        self.rank.validate()
        if self.rounds < 1:
            raise ConfigError(f"A simulation needs at least one round, not {self.rounds}.", "Use e.g. --rounds 2.")
        if self.batch_size < 1:
            raise ConfigError(f"The batch size must be at least 1, not {self.batch_size}.", "Use e.g. --batch-size 128.")


@dataclass(frozen=True)
class SimulationRound:
    """Event and result: one round. ``added``: images of each minority class accepted this round;
    ``precision`` / ``random_precision`` as fractions (module docstring; None in round 0); test accuracies
    in percent; ``run``: the run scored (round 0 the original, later the derived one; None once removed)."""

    round: int
    added: dict[str, int]
    precision: dict[str, float | None]
    random_precision: dict[str, float | None]
    majority: float | None
    minority: float | None
    overall: float
    run: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The round as `scl mine --simulate --json` prints it."""
        return {"round": self.round, "added": dict(self.added), "precision": dict(self.precision),
                "random_precision": dict(self.random_precision), "majority": self.majority,
                "minority": self.minority, "overall": self.overall}


@dataclass(frozen=True)
class Simulation:
    """A whole simulation: the run and method, the pool's size and every round (round 0 first)."""

    run_id: str
    method: str
    pool: str
    pool_size: int
    rounds: tuple[SimulationRound, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"rounds": [...]}``, as `scl mine --simulate --json` prints it."""
        return {"rounds": [r.to_json() for r in self.rounds]}


def _round_of(number: int, evaluation: Evaluation, added: dict[str, int], precision: dict[str, float | None],
              random_precision: dict[str, float | None], run_id: str | None) -> SimulationRound:
    return SimulationRound(number, added, precision, random_precision, evaluation.majority, evaluation.minority,
                           evaluation.overall, run_id)


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} %" if percent else f"{value:.2f}"


def round_line(r: SimulationRound) -> str:
    """One line per round for the log: accuracies, then per class added / precision (random)."""
    head = (f"Round {r.round}: minority {_fmt(r.minority, True)}, majority {_fmt(r.majority, True)}, "
            f"overall {_fmt(r.overall, True)}")
    if r.round == 0:
        return head + " (the run as trained)"
    return head + "; " + ", ".join(f"{c} +{n} (precision {_fmt(r.precision[c])}, random {_fmt(r.random_precision[c])})"
                                   for c, n in r.added.items())


def stage2_settings(run: runs.Run, method: str, device: str | None) -> tuple[ClassifierConfig, Log | None]:
    """The stage-2 settings ``method`` was fitted with (from its stored result), on ``device`` when given;
    a warning when the result does not record them (the defaults of its strategy are used)."""
    balance = method_named(method, "scl").balance
    stored = run.result_extra(method).get("classifier")
    warning = None
    if stored:
        config = ClassifierConfig.from_json(stored)
    else:
        config = ClassifierConfig(balance=balance)
        warning = Log(f"The {method} result of run {run.id} does not record its stage-2 settings; refitting with "
                      f"the defaults of --balance {balance}.", "warning")
    return (config.replace(device=device) if device else config), warning


def _check_run(run: runs.Run, method: str | None) -> str:
    if run.kind != "scl":
        raise ConfigError(f"Run {run.id} is a {run.kind} run; the simulation refits stage 2, which needs a two-stage "
                          "run.", "Train one with `scl train SPLIT` and `scl fit RUN`, then simulate on it.")
    method = method or best_method(run)
    balance = method_named(method, "scl").balance
    run.evaluation(method)  # CheckpointError naming `scl fit` when absent
    if method in run.stale_results:
        raise ConfigError(f"The {method} result of run {run.id} is stale ({run.stale_results[method]}).",
                          f"Refit it with `scl fit {run.id} --balance {balance}`, then simulate again.")
    if not run.split.minority_classes():
        raise ConfigError(f"The split of run {run.id} has no minority class to mine for.",
                          "Simulate on a run trained on an imbalanced split (`scl split --protocol ci`).")
    return method


def _pool_features(run: runs.Run, pool: Pool, config: ClassifierConfig, batch_size: int,
                   cancel: CancelToken | None) -> Generator[Event, None, tuple[torch.Tensor, torch.device]]:
    """The frozen encoder's features of the pool images (as stage 2 computes them) and the device."""
    set_threads(config.num_threads)
    choice = devices.choose_device(config.device)
    device = choice.device
    amp = devices.amp_policy(device) if config.amp else devices.AmpPolicy(False, None, False)
    encoder, enc_config, _ = load_encoder(run)
    encoder.to(device)
    store = yield from build_store(pool.dataset, run.store_size, cancel)
    features = yield from encode_images(encoder, store, list(pool.positions), enc_config.image_size, device, amp,
                                        batch_size, "Encoding the pool images", cancel,
                                        channels_last=enc_config.channels_last and device.type == "cuda")
    return features, device


def simulate(run: Any, pool_source: str | os.PathLike[str], config: SimulationConfig | None = None,
             cancel: CancelToken | None = None,
             store: RunStore | None = None) -> Generator[Event | SimulationRound, None, Simulation]:
    """Simulate ``config.rounds`` rounds of mining ``pool_source`` for ``run`` (a ``Run``, id or folder; module
    docstring). Yields fitting's events and a :class:`SimulationRound` per round (round 0 first); returns the
    :class:`Simulation`. ``store``: keep the derived runs there (default: a temporary folder, removed)."""
    config = config or SimulationConfig()
    config.validate()
    if not isinstance(run, runs.Run):
        run = RunStore().open(run)
    method = _check_run(run, config.method)
    fit_config, warning = stage2_settings(run, method, config.device)
    if warning is not None:
        yield warning
    split = run.split
    minority = split.minority_classes()
    pool = yield from load_pool(split, pool_source, cancel)
    features, device = yield from _pool_features(run, pool, fit_config, config.batch_size, cancel)
    features_np = features.numpy()
    labels = pool.labels()
    classes = split.classes

    first = _round_of(0, run.evaluation(method), dict.fromkeys(minority, 0), dict.fromkeys(minority),
                      dict.fromkeys(minority), run.id)
    rounds = [first]
    yield first
    yield Log(round_line(first))
    added_mask = np.zeros(len(pool.positions), dtype=bool)
    shown = {c: np.zeros(len(pool.positions), dtype=bool) for c in minority}
    temporary = None if store is not None else tempfile.TemporaryDirectory(prefix="mining-", dir=paths.cache_dir())
    runs_store = store if store is not None else RunStore(temporary.name)  # type: ignore[union-attr]
    current, current_split, evaluation = run, split, run.evaluation(method)
    try:
        for number in range(1, config.rounds + 1):
            if cancel is not None:
                cancel.raise_if_cancelled(f"Mining round {number}")
            classifier = load_predictor(current, method, device).classifier
            with torch.no_grad():
                probs = torch.softmax(classifier(features.to(device)).float(), dim=1).cpu().numpy()
            added, precision, random_precision = {}, {}, {}
            accepted: list[int] = []
            for name in minority:
                c = classes.index(name)
                candidates = np.flatnonzero(~added_mask & ~shown[name])
                if not len(candidates):
                    added[name], precision[name], random_precision[name] = 0, None, None
                    continue
                picked = candidates[rank(probs[candidates, c], features_np[candidates], config.rank)]
                shown[name][picked] = True
                true = picked[labels[picked] == c]
                accepted += true.tolist()
                added[name] = len(true)
                precision[name] = round(len(true) / len(picked), 4)
                random_precision[name] = round(float(np.mean(labels[candidates] == c)), 4)
            added_mask[accepted] = True
            if accepted:
                origin = {"method": method, "round": number}
                current_split = grown_split(current_split, pool.dataset, [pool.positions[i] for i in accepted],
                                            {"from_run": run.id, **origin})
                current = derive_run(runs_store, run, current_split, origin)
                yield Log(f"Round {number}: {len(accepted)} accepted image(s) added to the training part; refitting "
                          f"{method} in run {current.id}.")
                evaluation = yield from fit_classifier(current, fit_config, cancel)
            else:
                yield Log(f"Round {number}: no candidate was accepted; the training part and the result are unchanged.",
                          "warning")
            result = _round_of(number, evaluation, added, precision, random_precision,
                               current.id if store is not None or current is run else None)
            rounds.append(result)
            yield result
            yield Log(round_line(result))
    finally:
        if temporary is not None:
            temporary.cleanup()
    return Simulation(run.id, method, pool.source, len(pool.positions), tuple(rounds))
