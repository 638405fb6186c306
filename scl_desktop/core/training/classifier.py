"""Stage 2: a linear classifier on the frozen stage-1 encoder, re-balanced.

The encoder is loaded from the run's checkpoint, put in eval mode and frozen (its BatchNorm
statistics never move). One ``LinearClassifier`` is trained with cross-entropy and one
strategy: "cb" class-balanced sampling (eq. 2), "csce" cost-sensitive CE (eq. 3) or "none"
(instance sampling). With ``cached_features`` the encoder runs once over the training images
(optionally several views each, drawn with stage 2's own light policy ``config.augment``) and
the epochs train on those features only. Small splits get longer epochs (``config.min_steps``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from scl_desktop.core import metrics
from scl_desktop.core.devices import to_device
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.methods import method_for
from scl_desktop.core.model.augment import augment_batch, prepare_eval
from scl_desktop.core.model.checkpoint import save_checkpoint
from scl_desktop.core.model.losses import ce_loss, class_cost_weights, csce_loss
from scl_desktop.core.model.networks import LinearClassifier
from scl_desktop.core.model.predictor import batched_apply, encoder_binding, load_encoder
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.training.config import ClassifierConfig
from scl_desktop.core.training.distributed import DistContext
from scl_desktop.core.training.loop import TrainLoop, samples_per_epoch
from scl_desktop.core.training.setup import eval_part, make_sgd, setup_device, training_data

STAGE = "classifier"
NONFINITE_HINT = "Likely causes: a learning rate too high (try a tenth of it with --lr) or a damaged encoder checkpoint."


def fit_classifier(run: runs.Run, config: ClassifierConfig,
                   cancel: CancelToken | None = None) -> Generator[Event, None, metrics.Evaluation]:
    """Stage 2 as a generator of events; returns the test-set ``Evaluation`` (also saved in the run).

    Each epoch yields ``EpochMetrics`` with per-class, majority, minority and overall accuracy
    on the validation part (the test part when there is none). The result is saved under the
    method "SCL-CB", "SCL-CSCE" or "SCL-CE" and the classifier under
    ``checkpoints/classifier_<balance>.pt``, bound to the encoder weights it was fitted on. Cancelling
    raises ``Cancelled``; the encoder and earlier classifiers are untouched. Holds the run's writer lock
    (refused while another process trains the run).
    """
    with run.writer(f"scl fit --balance {config.balance}"):
        return (yield from _fit(run, config, cancel))


def _fit(run: runs.Run, config: ClassifierConfig,
         cancel: CancelToken | None) -> Generator[Event, None, metrics.Evaluation]:
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
    method = method_for("scl", config.balance).name

    def encode(images: torch.Tensor) -> torch.Tensor:
        with amp.autocast(device):
            return encoder(prepare_eval(images, size, channels_last=channels_last))

    augment_rng = torch.Generator(device=device)
    augment_rng.manual_seed(config.seed + 1)

    def encode_augmented(images: torch.Tensor) -> torch.Tensor:
        views = augment_batch(images, size, config.augment, generator=augment_rng, channels_last=channels_last)
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
        return metrics.epoch_fields(score(part_features, part))

    sampler_cls = ClassBalancedSampler if config.balance == "cb" else InstanceSampler
    epoch_samples = samples_per_epoch(len(labels), config.batch_size, config.epochs, config.min_steps)
    sampler = sampler_cls(labels, num_samples=epoch_samples, seed=config.seed)
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
        raise Cancelled(f"Stage 2 ({method}) was cancelled.", "The encoder is unchanged; fit the classifier again.",
                        kept=run)

    save_checkpoint(run.classifier_file(config.balance), {
        "stage": STAGE, "balance": config.balance, "method": method, "model": classifier.state_dict(),
        "feature_dim": classifier.fc.in_features, "classes": list(split.classes), "config": config.to_json(),
        **encoder_binding(facts),
    })
    # the same computation as evaluate_predictor: autocast encoder on prepare_eval, float32 classifier
    test_features = part_features if part == "test" else (yield from encode_part("test"))
    evaluation = score(test_features, "test")
    run.save_result(method, evaluation, extra={"stage": STAGE, "classifier": config.to_json(),
                                               "encoder_epoch": facts["epoch"]})
    yield Log(metrics.result_line(method, evaluation))
    return evaluation


