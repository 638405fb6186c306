"""Stage 1's live accuracy: a k-nearest-neighbour probe of the encoder on the validation images.

Every ``probe_every`` epochs, and after the last, the encoder backbone (not the projection head)
in eval mode encodes the un-augmented training images (the bank) and the validation images (the
queries) as evaluation does (``predictor.encode_images``: ``prepare_eval``, autocast, no
gradients); ``model.probe.knn_predict`` labels each query by its ``probe_k`` nearest training
images, and ``metrics.evaluate`` turns that into per-class, majority, minority and overall
accuracy: a ``ProbeMetrics`` event and a row of ``metrics_encoder_probe.csv``. The test part is
never probed (without a validation part there is no probe). The probe draws no random numbers
and leaves the BatchNorm statistics alone, so training and its resume are exactly as without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from scl_desktop.core import metrics
from scl_desktop.core.data.cache import DecodedStore
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.devices import AmpPolicy
from scl_desktop.core.events import Event, ProbeMetrics
from scl_desktop.core.model.predictor import encode_images
from scl_desktop.core.model.probe import knn_predict
from scl_desktop.core.training.config import EncoderConfig
from scl_desktop.core.training.loop import accuracy_columns

PROBE_STAGE = "encoder_probe"
"""The metrics file of the probe: ``metrics_encoder_probe.csv``, one row per probed epoch."""
PROBE_PART = "val"
PROBE_OFF = ("The kNN probe of the encoder is off: the split has no validation part, and the test images are only "
             "scored at the end. Build a split with a validation part (`scl split ... --val-frac 0.1`) to follow "
             "per-class accuracy while stage 1 trains.")


def probe_due(epoch: int, every: int, epochs: int) -> bool:
    """Whether the probe runs after ``epoch`` (1-based): every ``every``-th epoch and the last (never when 0)."""
    return every > 0 and (epoch % every == 0 or epoch == epochs)


def probe_encoder(encoder: nn.Module, store: DecodedStore, split: SplitManifest, k: int, image_size: int,
                  device: torch.device, amp: AmpPolicy, batch_size: int,
                  channels_last: bool = False) -> Generator[Event, None, metrics.Evaluation]:
    """Score ``encoder`` on the validation images by a ``k``-nearest-neighbour vote of the training images.

    The encoder runs in eval mode and is put back in the mode it was in.
    """
    was_training = encoder.training
    encoder.eval()
    try:
        features = []
        for part in ("train", PROBE_PART):
            features.append((yield from encode_images(
                encoder, store, list(split.indices(part)), image_size, device, amp, batch_size,
                f"kNN probe: encoding the {part} images", channels_last=channels_last)))
        bank, queries = features
    finally:
        encoder.train(was_training)
    bank_labels = torch.as_tensor(split.labels("train"), dtype=torch.int64)
    predicted = knn_predict(bank.to(device), bank_labels, queries.to(device), k, len(split.classes))
    return metrics.evaluate(split.labels(PROBE_PART), predicted.cpu().numpy(), split.classes, split.roles)


@dataclass
class EncoderProbe:
    """The ``TrainLoop.evaluate`` hook of stage 1: probes when due, yields ``ProbeMetrics``, ``record``s its row.

    Adds nothing to the epoch's ``EpochMetrics`` (its accuracies are the probe's own event).
    """

    encoder: nn.Module
    store: DecodedStore
    split: SplitManifest
    config: EncoderConfig
    device: torch.device
    amp: AmpPolicy
    channels_last: bool = False
    record: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, epoch: int) -> Generator[Event, None, dict[str, Any]]:
        config = self.config
        if not probe_due(epoch, config.probe_every, config.epochs):
            return {}
        started = time.perf_counter()
        evaluation = yield from probe_encoder(self.encoder, self.store, self.split, config.probe_k, config.image_size,
                                              self.device, self.amp, config.batch_size, self.channels_last)
        event = ProbeMetrics("encoder", epoch, config.epochs, PROBE_PART, config.probe_k,
                             time.perf_counter() - started, **metrics.epoch_fields(evaluation))
        if self.record is not None:
            self.record({"epoch": epoch, "k": event.k, "n": evaluation.n, "seconds": round(event.seconds, 3),
                         **accuracy_columns(event)})
        yield event
        return {}
