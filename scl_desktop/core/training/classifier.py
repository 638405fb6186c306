"""Stage 2: a linear classifier on the frozen stage-1 encoder, re-balanced.

The encoder is loaded from the run's checkpoint, put in eval mode and frozen (its BatchNorm
statistics never move). One ``LinearClassifier`` is trained and adjusted by the recipe of one
strategy (``strategies``): "cb" class-balanced sampling (eq. 2), "csce" cost-sensitive CE (eq. 3),
"none" (instance sampling), "tau-norm" / "logit-adj" (CE, then a post-hoc step folded into the
layer), "la-loss" / "balanced-softmax" (the logit-adjusted loss). "auto" trains every distinct
training of its candidates once, scores each candidate on the validation part and keeps the best;
the test part is read once, at the end, for the kept classifier. With ``cached_features`` the
encoder runs once over the training images (optionally several views each, drawn with stage 2's
own light policy ``config.augment``) and the epochs train on those features only. Small splits
get longer epochs (``config.min_steps``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch

from scl_desktop.core import metrics
from scl_desktop.core.devices import to_device
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken, EpochMetrics, Event, Log, StepMetrics
from scl_desktop.core.methods import method_for
from scl_desktop.core.model.augment import augment_batch
from scl_desktop.core.model.checkpoint import save_checkpoint
from scl_desktop.core.model.losses import ce_loss, class_cost_weights, csce_loss, log_class_prior, logit_adjusted_loss
from scl_desktop.core.model.networks import LinearClassifier
from scl_desktop.core.model.posthoc import adjusted
from scl_desktop.core.model.predictor import batched_apply, encode_images, encoder_binding, load_encoder
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.training.config import ClassifierConfig
from scl_desktop.core.training.distributed import DistContext
from scl_desktop.core.training.loop import TrainLoop, samples_per_epoch
from scl_desktop.core.training.setup import eval_part, make_sgd, setup_device, training_data
from scl_desktop.core.training.strategies import Recipe, Training, auto_candidates, recipe

STAGE = "classifier"
NONFINITE_HINT = "Likely causes: a learning rate too high (try a tenth of it with --lr) or a damaged encoder checkpoint."


def fit_classifier(run: runs.Run, config: ClassifierConfig, cancel: CancelToken | None = None,
                   save: bool = True) -> Generator[Event, None, metrics.Evaluation]:
    """Stage 2 as a generator of events; returns the test-set ``Evaluation`` (also saved in the run).

    Each epoch yields ``EpochMetrics`` with per-class, majority, minority and overall accuracy
    on the validation part (the test part when there is none) of the classifier as it would be
    saved (post-hoc step included). "auto" yields no curves, a ``Log`` per candidate with its
    validation balanced accuracy and one naming its choice; it needs a validation part
    (``ConfigError`` otherwise). The result is saved under the strategy's method ("SCL-CB", ...,
    "SCL-Auto"; its extra.json names the strategy and tau, for auto also every candidate's score)
    and the classifier under ``checkpoints/classifier_<balance>.pt``, bound to the encoder weights
    it was fitted on. Cancelling
    raises ``Cancelled``; the encoder and earlier classifiers are untouched. Holds the run's writer lock
    (refused while another process trains the run). ``save`` False (ablations of stage 2's settings)
    writes nothing into the run: no classifier, curves or result, only the returned evaluation.
    """
    with run.writer(f"scl fit --balance {config.balance}"):
        return (yield from _fit(run, config, cancel, save))


def _fit(run: runs.Run, config: ClassifierConfig, cancel: CancelToken | None,
         save: bool) -> Generator[Event, None, metrics.Evaluation]:
    if run.kind != "scl":
        raise ConfigError(f"Run {run.id} is a {run.kind} run; stage 2 needs a two-stage (scl) run.",
                          "Pass a run made by `scl train`.")
    split = run.split
    if config.balance == "auto" and not split.val:
        raise ConfigError(
            f"auto chooses the strategy by its accuracy on the validation images, but the split of run {run.id} "
            "has none (and the test images must not steer anything).",
            "Build a split with a validation part (`scl split ... --val-frac 0.1`) and train a run on it, "
            "or choose a strategy yourself (e.g. --balance cb).")
    encoder, enc_config, facts = load_encoder(run)
    if facts["epoch"] < facts["epochs"]:
        yield Log(f"The encoder of run {run.id} was trained for {facts['epoch']} of {facts['epochs']} epochs "
                  f"(it was stopped early); resume it with `scl train --resume {run.id}` for the full result.",
                  "warning")
    device, amp = yield from setup_device(config, DistContext())
    store, items, labels = yield from training_data(split, enc_config, cancel)
    encoder.to(device)
    channels_last = enc_config.channels_last and device.type == "cuda"
    size = enc_config.image_size
    method = method_for("scl", config.balance).name

    augment_rng = torch.Generator(device=device)
    augment_rng.manual_seed(config.seed + 1)

    def encode_augmented(images: torch.Tensor) -> torch.Tensor:
        views = augment_batch(images, size, config.augment, generator=augment_rng, channels_last=channels_last)
        with amp.autocast(device):
            return encoder(views)

    part = eval_part(split)
    batch = config.batch_size

    def encode_plain(positions: list[int], task: str) -> Generator[Event, None, torch.Tensor]:
        features = yield from encode_images(encoder, store, positions, size, device, amp, batch, task, cancel,
                                            channels_last=channels_last)
        return features.to(device)

    def encode_part(name: str) -> Generator[Event, None, torch.Tensor]:
        return (yield from encode_plain(list(split.indices(name)), f"Encoding {name} images"))

    part_features = yield from encode_part(part)

    labels_t = torch.from_numpy(labels)
    counts = np.bincount(labels, minlength=len(split.classes))
    class_weights = class_cost_weights(counts).to(device)
    log_prior = log_class_prior(counts).to(device)

    if config.cached_features:
        if config.feature_views == 1:
            views = [(yield from encode_plain(items.tolist(), "Encoding training images"))]
        else:
            views = []
            for v in range(config.feature_views):
                views.append((yield from batched_apply(
                    encode_augmented, store.batch, items.tolist(), batch, device,
                    f"Encoding training images (view {v + 1}/{config.feature_views})", cancel)))
        train_features = torch.stack([v.to(device) for v in views])  # [V, N, D]

        def feature_source() -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, torch.Generator]]:
            view_rng = torch.Generator(device=device)
            view_rng.manual_seed(config.seed + 2)

            def features_of(positions: torch.Tensor) -> torch.Tensor:
                pos = to_device(positions, device)
                if config.feature_views == 1:
                    return train_features[0, pos]
                view = torch.randint(config.feature_views, (len(pos),), generator=view_rng, device=device)
                return train_features[view, pos]
            return features_of, {"augment": augment_rng, "views": view_rng}
    else:
        def feature_source() -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, torch.Generator]]:
            augment_rng.manual_seed(config.seed + 1)

            def features_of(positions: torch.Tensor) -> torch.Tensor:
                images = to_device(store.batch(items[positions.numpy()]), device)
                with torch.no_grad():
                    return encode_augmented(images).float()
            return features_of, {"augment": augment_rng}

    def score(layer: LinearClassifier, features: torch.Tensor, scored_part: str) -> metrics.Evaluation:
        with torch.no_grad():
            predicted = layer(features).argmax(dim=1).cpu().numpy()
        return metrics.evaluate(split.labels(scored_part), predicted, split.classes, split.roles)

    def train(training: Training, title: str, chosen: Recipe | None) -> Generator[Event, None, LinearClassifier]:
        """One linear layer trained as ``training`` says; with ``chosen`` its curves are scored and recorded."""
        torch.manual_seed(config.seed)  # every training starts from the same layer: auto's pick is a direct fit's
        classifier = LinearClassifier(facts["feature_dim"], len(split.classes)).to(device)
        features_of, generators = feature_source()

        def step(positions: torch.Tensor) -> torch.Tensor:
            logits = classifier(features_of(positions))
            y = to_device(labels_t[positions], device)
            if training.loss == "csce":
                return csce_loss(logits, y, class_weights, config.loss_norm)
            if training.loss == "la":
                return logit_adjusted_loss(logits, y, log_prior, training.loss_tau)
            return ce_loss(logits, y)

        posthoc, tau = (chosen.posthoc, chosen.tau) if chosen else (None, None)

        def evaluate_epoch(epoch: int) -> Generator[Event, None, dict[str, Any]]:
            yield from ()  # no events: scoring cached features takes milliseconds
            return metrics.epoch_fields(score(adjusted(classifier, posthoc, tau, log_prior), part_features, part))

        sampler_cls = ClassBalancedSampler if training.sampler == "cb" else InstanceSampler
        epoch_samples = samples_per_epoch(len(labels), config.batch_size, config.epochs, config.min_steps)
        sampler = sampler_cls(labels, num_samples=epoch_samples, seed=config.seed)
        stage = f"{STAGE}_{config.balance}"
        loop = TrainLoop(
            stage=STAGE, title=title, model=classifier,
            optimizer=make_sgd(classifier.parameters(), config.lr, config.momentum, config.weight_decay, device),
            amp=amp, device=device, step_fn=step, sampler=sampler, num_samples=len(sampler),
            batch_size=config.batch_size, epochs=config.epochs, base_lr=config.lr, warmup_epochs=config.warmup_used(),
            generators=generators, evaluate=evaluate_epoch if chosen else None, cancel=cancel,
            nonfinite_hint=NONFINITE_HINT, record=(lambda row: run.append_metrics(stage, row)) if chosen and save else None,
        )
        if chosen and save and run.metrics_path(stage).exists():
            run.truncate_metrics(stage, 0)
        result = yield from loop.run()
        if result.status == "cancelled":
            raise Cancelled(f"Stage 2 ({method}) was cancelled.", "The encoder is unchanged; fit the classifier again.",
                            kept=run)
        return classifier

    extra: dict[str, Any] = {}
    if config.balance == "auto":
        def validation_score(layer: LinearClassifier) -> float:
            return score(layer, part_features, part).balanced_accuracy

        chosen, classifier, extra["auto"] = yield from _auto_choice(
            method, lambda training, title: train(training, title, None), validation_score, log_prior)
    else:
        chosen = recipe(config.balance, config.tau)
        layer = yield from train(chosen.training, f"Stage 2 ({method})", chosen)
        classifier = adjusted(layer, chosen.posthoc, chosen.tau, log_prior)

    # the same computation as evaluate_predictor: autocast encoder on prepare_eval, float32 classifier
    test_features = part_features if part == "test" else (yield from encode_part("test"))
    evaluation = score(classifier, test_features, "test")
    if not save:
        yield Log(metrics.result_line(f"{method} (not saved)", evaluation))
        return evaluation
    save_checkpoint(run.classifier_file(config.balance), {
        "stage": STAGE, "balance": config.balance, "method": method, "strategy": chosen.strategy, "tau": chosen.tau,
        "model": classifier.state_dict(), "feature_dim": classifier.fc.in_features, "classes": list(split.classes),
        "config": config.to_json(), **extra, **encoder_binding(facts),
    })
    run.save_result(method, evaluation, extra={"stage": STAGE, "classifier": config.to_json(),
                                               "encoder_epoch": facts["epoch"], "strategy": chosen.strategy,
                                               "tau": chosen.tau, **extra})
    yield Log(metrics.result_line(method, evaluation))
    return evaluation


def _auto_choice(method: str, train: Callable[[Training, str], Generator[Event, None, LinearClassifier]],
                 validation_score: Callable[[LinearClassifier], float], log_prior: torch.Tensor,
                 ) -> Generator[Event, None, tuple[Recipe, LinearClassifier, dict[str, Any]]]:
    """Auto: every candidate of ``auto_candidates`` scored on the validation part, each distinct training done
    once (the post-hoc candidates adjust the one CE layer); returns the best (ties: the first, simplest), its
    classifier and the record of the choice (strategy, tau, every candidate's validation balanced accuracy)."""
    trained: dict[Training, LinearClassifier] = {}
    scored: list[tuple[Recipe, float, LinearClassifier]] = []
    for candidate in auto_candidates():
        if candidate.training not in trained:
            trained[candidate.training] = yield from _without_curves(
                train(candidate.training, f"Stage 2 ({method}: {candidate.label})"))
        layer = adjusted(trained[candidate.training], candidate.posthoc, candidate.tau, log_prior)
        value = validation_score(layer)
        scored.append((candidate, value, layer))
        yield Log(f"{method} candidate {candidate.label}: validation balanced accuracy {value:.1f} %")
    best, best_value, classifier = max(scored, key=lambda c: c[1])  # max keeps the first of equal scores
    yield Log(f"{method} chose {best.label}: validation balanced accuracy {best_value:.1f} % "
              f"(best of {len(scored)} candidates).")
    record = {"strategy": best.strategy, "tau": best.tau, "validation_balanced_accuracy": best_value,
              "candidates": [{"strategy": c.strategy, "tau": c.tau, "validation_balanced_accuracy": v}
                             for c, v, _ in scored]}
    return best, classifier, record


def _without_curves(step: Generator[Event, None, Any]) -> Generator[Event, None, Any]:
    """``step``'s events without its step and epoch metrics (auto's candidates draw no curves); its result."""
    while True:
        try:
            event = next(step)
        except StopIteration as stop:
            return stop.value
        if not isinstance(event, StepMetrics | EpochMetrics):
            yield event
