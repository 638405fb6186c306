"""Stage 2: a linear classifier on the frozen stage-1 encoder, re-balanced; and loading trained models.

The encoder is loaded from the run's checkpoint, put in eval mode and frozen (its BatchNorm
statistics never move). One ``LinearClassifier`` is trained with cross-entropy and one
strategy: "cb" class-balanced sampling (eq. 2), "csce" cost-sensitive CE (eq. 3) or "none"
(instance sampling). With ``cached_features`` the encoder runs once over the training images
(optionally several augmented views each) and the epochs train on those features only.

``load_predictor`` and ``evaluate_run`` turn any stored method of a run (SCL-* or a Plain
baseline) back into a model that maps uint8 image batches to class probabilities.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scl_desktop.core import metrics
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import Cancelled, CheckpointError, ConfigError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.model.augment import augment_batch, prepare_eval
from scl_desktop.core.model.checkpoint import load_checkpoint, save_checkpoint
from scl_desktop.core.model.losses import ce_loss, class_cost_weights, csce_loss
from scl_desktop.core.model.networks import LinearClassifier, SupConModel, build_encoder
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig
from scl_desktop.core.training.distributed import DistContext
from scl_desktop.core.training.encoder import checkpoint_path, setup_device, training_data
from scl_desktop.core.training.loop import (
    TrainLoop,
    batched_apply,
    make_sgd,
    to_device,
)

STAGE = "classifier"
SCL_METHODS = {"cb": "SCL-CB", "csce": "SCL-CSCE", "none": "SCL-CE"}
BASELINE_METHODS = {"none": "Plain", "cb": "Plain-CB", "csce": "Plain-CSCE"}
NONFINITE_HINT = "Likely causes: a learning rate too high (try a tenth of it with --lr) or a damaged encoder checkpoint."


class Predictor(nn.Module):
    """Encoder + linear classifier that maps uint8 image batches [B, 3, S, S] to class probabilities.

    ``logits`` takes already normalised float images (what training feeds it); ``forward``
    resizes and normalises with ``augment.prepare_eval`` first. ``classes`` names the outputs.
    """

    def __init__(self, encoder: nn.Module, classifier: nn.Module, image_size: int,
                 classes: tuple[str, ...] = (), channels_last: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = classifier
        self.image_size = int(image_size)
        self.classes = tuple(classes)
        self.channels_last = channels_last

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of normalised float images."""
        return self.classifier(self.encoder(x))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """A uint8 batch [B, 3, S, S] resized and normalised as the model expects."""
        return prepare_eval(images, self.image_size, channels_last=self.channels_last and images.is_cuda)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities [B, C] of a uint8 batch [B, 3, S, S]."""
        return torch.softmax(self.logits(self.prepare(images)).float(), dim=1)


def classifier_path(run: runs.Run, balance: str) -> Path:
    """Where stage 2 stores the classifier of one balance strategy."""
    return Path(run.checkpoint_dir) / f"classifier_{balance}.pt"


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode (BatchNorm uses its running statistics and never updates them) and no gradients."""
    module.eval()
    module.requires_grad_(False)
    return module


def load_encoder(run: runs.Run) -> tuple[nn.Module, EncoderConfig, dict[str, Any]]:
    """The run's stage-1 encoder (on the CPU, frozen), its configuration and checkpoint facts."""
    state = load_checkpoint(checkpoint_path(run))
    if state.get("stage") != "encoder":
        raise CheckpointError(f"Run {run.id} holds no stage-1 encoder.", "Train one with `scl train SPLIT`.")
    config = EncoderConfig.from_json(state["config"])
    model = SupConModel(config.arch, config.proj_dim)
    model.load_state_dict(state["model"])
    facts = {"epoch": int(state["epoch"]), "step": int(state["step"]), "epochs": int(state["epochs"]),
             "feature_dim": int(state["feature_dim"])}
    return freeze(model.encoder), config, facts


def epoch_fields(evaluation: metrics.Evaluation) -> dict[str, Any]:
    """The accuracy fields of an ``EpochMetrics`` event taken from an ``Evaluation``."""
    return {"per_class": dict(evaluation.per_class), "roles": dict(evaluation.roles),
            "majority": evaluation.majority, "minority": evaluation.minority, "overall": evaluation.overall}


def eval_part(split: SplitManifest) -> str:
    """The part scored each epoch: "val" when the split has one, else "test"."""
    return "val" if split.val else "test"


def fit_classifier(run: runs.Run, config: ClassifierConfig,
                   cancel: CancelToken | None = None) -> Generator[Event, None, metrics.Evaluation]:
    """Stage 2 as a generator of events; returns the test-set ``Evaluation`` (also saved in the run).

    Each epoch yields ``EpochMetrics`` with per-class, majority, minority and overall accuracy
    on the validation part (the test part when there is none). The result is saved under the
    method "SCL-CB", "SCL-CSCE" or "SCL-CE" and the classifier under
    ``checkpoints/classifier_<balance>.pt``. Cancelling raises ``Cancelled``; the encoder and
    earlier classifiers are untouched.
    """
    if run.kind != "scl":
        raise ConfigError(f"Run {run.id} is a {run.kind} run; stage 2 needs a two-stage (scl) run.",
                          "Pass a run made by `scl train`.")
    encoder, enc_config, facts = load_encoder(run)
    if facts["epoch"] < facts["epochs"]:
        yield Log(f"The encoder of run {run.id} was trained for {facts['epoch']} of {facts['epochs']} epochs "
                  f"(it was stopped early); resume it with `scl train --resume {run.id}` for the full result.",
                  "warning")
    device, amp = yield from setup_device(config, DistContext())
    split = run.split
    store, items, labels = yield from training_data(split, enc_config, cancel)
    encoder.to(device)
    channels_last = enc_config.channels_last and device.type == "cuda"
    size = enc_config.image_size
    method = SCL_METHODS[config.balance]

    def encode(images: torch.Tensor) -> torch.Tensor:
        with amp.autocast(device):
            return encoder(prepare_eval(images, size, channels_last=channels_last))

    augment_rng = torch.Generator(device=device)
    augment_rng.manual_seed(config.seed + 1)

    def encode_augmented(images: torch.Tensor) -> torch.Tensor:
        views = augment_batch(images, size, enc_config.augment, generator=augment_rng, channels_last=channels_last)
        with amp.autocast(device):
            return encoder(views)

    part = eval_part(split)
    batch = config.batch_size

    def encode_part(name: str) -> Generator[Event, None, torch.Tensor]:
        features = yield from batched_apply(encode, store.batch, list(split.indices(name)), batch, device,
                                            f"Encoding {name} images", cancel)
        return features.to(device)

    part_features = yield from encode_part(part)

    classifier = LinearClassifier(facts["feature_dim"], len(split.classes)).to(device)
    labels_t = torch.from_numpy(labels)
    class_weights = class_cost_weights(np.bincount(labels, minlength=len(split.classes))).to(device)

    if config.cached_features:
        views = []
        for v in range(config.feature_views):
            fn, what = (encode, "Encoding training images") if config.feature_views == 1 else (
                encode_augmented, f"Encoding training images (view {v + 1}/{config.feature_views})")
            views.append((yield from batched_apply(fn, store.batch, items.tolist(), batch, device, what, cancel)))
        train_features = torch.stack(views).to(device)  # [V, N, D]
        view_rng = torch.Generator(device=device)
        view_rng.manual_seed(config.seed + 2)

        def features_of(positions: torch.Tensor) -> torch.Tensor:
            pos = to_device(positions, device)
            if config.feature_views == 1:
                return train_features[0, pos]
            view = torch.randint(config.feature_views, (len(pos),), generator=view_rng, device=device)
            return train_features[view, pos]
        generators = {"augment": augment_rng, "views": view_rng}
    else:
        def features_of(positions: torch.Tensor) -> torch.Tensor:
            images = to_device(store.batch(items[positions.numpy()]), device)
            with torch.no_grad():
                return encode_augmented(images).float()
        generators = {"augment": augment_rng}

    def step(positions: torch.Tensor) -> torch.Tensor:
        logits = classifier(features_of(positions))
        y = to_device(labels_t[positions], device)
        return csce_loss(logits, y, class_weights) if config.balance == "csce" else ce_loss(logits, y)

    def score(features: torch.Tensor, scored_part: str) -> metrics.Evaluation:
        with torch.no_grad():
            predicted = classifier(features).argmax(dim=1).cpu().numpy()
        return metrics.evaluate(split.labels(scored_part), predicted, split.classes, split.roles)

    def evaluate_epoch(epoch: int) -> Generator[Event, None, dict[str, Any]]:
        yield from ()  # no events: scoring cached features takes milliseconds
        return epoch_fields(score(part_features, part))

    sampler_cls = ClassBalancedSampler if config.balance == "cb" else InstanceSampler
    sampler = sampler_cls(labels, seed=config.seed)
    loop = TrainLoop(
        stage=STAGE, title=f"Stage 2 ({method})", model=classifier,
        optimizer=make_sgd(classifier.parameters(), config.lr, config.momentum, config.weight_decay, device),
        amp=amp, device=device, step_fn=step, sampler=sampler, num_samples=len(sampler),
        batch_size=config.batch_size, epochs=config.epochs, base_lr=config.lr, warmup_epochs=config.warmup_epochs,
        generators=generators, evaluate=evaluate_epoch, cancel=cancel, nonfinite_hint=NONFINITE_HINT,
        record=lambda row: run.append_metrics(f"{STAGE}_{config.balance}", row),
    )
    if run.metrics_path(f"{STAGE}_{config.balance}").exists():
        run.truncate_metrics(f"{STAGE}_{config.balance}", 0)
    result = yield from loop.run()
    if result.status == "cancelled":
        raise Cancelled(f"Stage 2 ({method}) was cancelled.", "The encoder is unchanged; run `scl fit` again.")

    save_checkpoint(classifier_path(run, config.balance), {
        "stage": STAGE, "balance": config.balance, "method": method, "model": classifier.state_dict(),
        "feature_dim": classifier.fc.in_features, "classes": list(split.classes), "config": config.to_json(),
        "encoder_epoch": facts["epoch"],
    })
    # the same computation as evaluate_predictor: autocast encoder on prepare_eval, float32 classifier
    test_features = part_features if part == "test" else (yield from encode_part("test"))
    evaluation = score(test_features, "test")
    run.save_result(method, evaluation, extra={"stage": STAGE, "classifier": config.to_json(),
                                               "encoder_epoch": facts["epoch"]})
    yield Log(result_line(method, evaluation))
    return evaluation


def result_line(method: str, evaluation: metrics.Evaluation) -> str:
    """One line with a method's Table-1 numbers (majority, minority, overall accuracy)."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}%"

    return (f"{method}: majority {pct(evaluation.majority)}, minority {pct(evaluation.minority)}, "
            f"overall {pct(evaluation.overall)} on {evaluation.n} test images.")


def evaluate_predictor(predictor: Predictor, split: SplitManifest, store: Any, device: torch.device, amp: Any,
                       batch_size: int, cancel: CancelToken | None = None,
                       part: str = "test") -> Generator[Event, None, metrics.Evaluation]:
    """Score ``predictor`` on a part of the split (default the test part).

    The encoder runs under the device's autocast, the linear classifier in float32 (as stage 2
    trains it on cached features), so a recomputed evaluation matches the stored one.
    """
    predictor.eval()

    def predict(images: torch.Tensor) -> torch.Tensor:
        with amp.autocast(device):
            features = predictor.encoder(predictor.prepare(images))
        return predictor.classifier(features.float()).argmax(dim=1)

    predicted = yield from batched_apply(predict, store.batch, list(split.indices(part)), batch_size, device,
                                         f"Evaluating on the {part} images", cancel)
    return metrics.evaluate(split.labels(part), predicted.long().numpy(), split.classes, split.roles)


def load_predictor(run: runs.Run, method: str, device: torch.device | str = "cpu") -> Predictor:
    """The trained model of ``method`` ("SCL-CB", "SCL-CSCE", "SCL-CE", or the baseline's "Plain*") in eval mode."""
    device = torch.device(device)
    if run.kind == "baseline":
        state = load_checkpoint(checkpoint_path(run))
        config = BaselineConfig.from_json(state["config"])
        if method != BASELINE_METHODS[config.balance]:
            raise CheckpointError(f"Baseline run {run.id} holds the {BASELINE_METHODS[config.balance]} model, "
                                  f"not {method}.", f"Use method {BASELINE_METHODS[config.balance]}.")
        encoder, dim = build_encoder(config.arch)
        predictor = Predictor(encoder, LinearClassifier(dim, len(state["classes"])), config.image_size,
                              tuple(state["classes"]), config.channels_last)
        predictor.load_state_dict(state["model"])
    else:
        balance = {m: b for b, m in SCL_METHODS.items()}.get(method)
        if balance is None:
            raise ConfigError(f"Unknown method {method!r} for a two-stage run.",
                              f"Use one of {', '.join(SCL_METHODS.values())}.")
        path = classifier_path(run, balance)
        if not path.is_file():
            raise CheckpointError(f"Run {run.id} has no {method} classifier yet.",
                                  f"Fit it with `scl fit {run.id} --balance {balance}`.")
        encoder, enc_config, _ = load_encoder(run)
        state = load_checkpoint(path)
        classifier = LinearClassifier(int(state["feature_dim"]), len(state["classes"]))
        classifier.load_state_dict(state["model"])
        predictor = Predictor(encoder, classifier, enc_config.image_size, tuple(state["classes"]),
                              enc_config.channels_last)
    return freeze(predictor).to(device)


def evaluate_run(run: runs.Run, method: str, device: str = "auto", batch_size: int = 128,
                 cancel: CancelToken | None = None) -> Generator[Event, None, metrics.Evaluation]:
    """Recompute ``method``'s test-set evaluation from the run's checkpoints (not saved; the caller decides)."""
    from scl_desktop.core import devices
    from scl_desktop.core.data.cache import build_store

    dev = devices.resolve_device(device)
    predictor = load_predictor(run, method, dev)
    config = run.config
    store = yield from build_store(run.split.dataset, config.get("store_size"), cancel)
    return (yield from evaluate_predictor(predictor, run.split, store, dev, devices.amp_policy(dev), batch_size,
                                          cancel))
