"""A stored run turned back into a model: load and freeze the trained encoder and classifier,
apply them in batches, and score them on a part of the split.

``load_predictor`` and ``evaluate_run`` work for any method of a run (SCL-* or a Plain baseline);
the result maps uint8 image batches to class probabilities.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Sequence
from typing import Any

import torch
from torch import nn

from scl_desktop.core import devices, metrics
from scl_desktop.core.data.cache import build_store
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import CheckpointError
from scl_desktop.core.events import CancelToken, Event, RateMeter
from scl_desktop.core.methods import method_for, method_named
from scl_desktop.core.model.augment import prepare_eval
from scl_desktop.core.model.checkpoint import held_model, load_checkpoint
from scl_desktop.core.model.networks import LinearClassifier, SupConModel, build_encoder
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.training.config import BaselineConfig, EncoderConfig


def batched_apply(fn: Callable[[torch.Tensor], torch.Tensor], load: Callable[[Sequence[int]], torch.Tensor],
                  positions: Sequence[int], batch_size: int, device: torch.device, task: str,
                  cancel: CancelToken | None = None, unit: str = "images") -> Generator[Event, None, torch.Tensor]:
    """Apply ``fn`` to ``positions`` in batches without gradients; return the outputs concatenated (on the CPU).

    ``load(chunk)`` returns the CPU batch for a chunk of positions (e.g. uint8 images from the
    decoded store). Yields ``Progress`` after each batch; raises ``Cancelled`` when asked to stop
    and ``TrainingError`` (with a smaller batch size to try) when the device runs out of memory.
    """
    meter = RateMeter(total=len(positions))
    outputs: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(positions), batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled(task)
            chunk = positions[start:start + batch_size]
            with devices.oom_guard(batch_size, device, task):
                outputs.append(fn(devices.to_device(load(chunk), device)).float())
            yield meter.progress(task, min(start + batch_size, len(positions)), unit=unit)
    if not outputs:
        return torch.empty(0)
    return torch.cat(outputs).cpu()


def encode_images(encoder: nn.Module, store: Any, positions: Sequence[int], image_size: int, device: torch.device,
                  amp: devices.AmpPolicy, batch_size: int, task: str, cancel: CancelToken | None = None,
                  channels_last: bool = False) -> Generator[Event, None, torch.Tensor]:
    """Float32 features (on the CPU) of the un-augmented images at ``positions`` of the decoded ``store``.

    The images are prepared as for evaluation (``prepare_eval``) and encoded under the device's
    autocast, in batches, without gradients; ``encoder`` is used in whatever mode it is in.
    """
    def encode(images: torch.Tensor) -> torch.Tensor:
        with amp.autocast(device):
            return encoder(prepare_eval(images, image_size, channels_last=channels_last))

    return (yield from batched_apply(encode, store.batch, positions, batch_size, device, task, cancel))


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


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode (BatchNorm uses its running statistics and never updates them) and no gradients."""
    module.eval()
    module.requires_grad_(False)
    return module


def load_encoder(run: runs.Run) -> tuple[nn.Module, EncoderConfig, dict[str, Any]]:
    """The run's stage-1 encoder (on the CPU, frozen), its configuration (with the run's store size, so stage 2
    reads the pixels stage 1 trained on) and checkpoint facts."""
    state = load_checkpoint(run.checkpoint_file)
    if state.get("stage") != "encoder":
        raise CheckpointError(f"Run {run.id} holds {held_model(state)[0]}, no stage-1 encoder to fit a classifier on.",
                              f"Use its own model (`scl evaluate {run.id}`), or train a two-stage run with "
                              "`scl train SPLIT`.")
    config = EncoderConfig.from_json(state["config"]).replace(store_size=run.store_size)
    model = SupConModel(config.arch, config.proj_dim)
    model.load_state_dict(state["model"])
    facts = {"epoch": int(state["epoch"]), "step": int(state["step"]), "epochs": int(state["epochs"]),
             "feature_dim": int(state["feature_dim"]), "fingerprint": weights_fingerprint(state["model"])}
    return freeze(model.encoder), config, facts


def weights_fingerprint(tensors: dict[str, torch.Tensor]) -> str:
    """A content hash of a state dict: binds a classifier to the exact encoder weights it was fitted on."""
    digest = hashlib.blake2b(digest_size=16)
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encoder_binding(facts: dict[str, Any]) -> dict[str, Any]:
    """What a classifier checkpoint records of the encoder it was fitted on (``load_encoder``'s facts)."""
    return {"encoder_epoch": facts["epoch"], "encoder_step": facts["step"], "encoder_fingerprint": facts["fingerprint"]}


def _check_binding(run: runs.Run, method: str, balance: str, state: dict[str, Any], facts: dict[str, Any]) -> None:
    """``CheckpointError`` when a classifier was fitted on other encoder weights than the run holds now."""
    if "encoder_fingerprint" in state:
        same = state["encoder_fingerprint"] == facts["fingerprint"]
    else:  # classifiers saved before the fingerprint was recorded
        same = int(state.get("encoder_epoch", -1)) == facts["epoch"]
    if not same:
        raise CheckpointError(
            f"The {method} classifier of run {run.id} was fitted on the encoder of epoch {state.get('encoder_epoch')}, "
            f"but the encoder has since been trained further (now epoch {facts['epoch']}), so it is stale.",
            f"Refit it with `scl fit {run.id} --balance {balance}`.")


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
    wanted = method_named(method, run.kind)
    if run.kind == "baseline":
        state = load_checkpoint(run.checkpoint_file)
        config = BaselineConfig.from_json(state["config"])
        held = method_for("baseline", config.balance).name
        if wanted.name != held:
            raise CheckpointError(f"Baseline run {run.id} holds the {held} model, not {method}.",
                                  f"Use method {held}.")
        encoder, dim = build_encoder(config.arch)
        predictor = Predictor(encoder, LinearClassifier(dim, len(state["classes"])), config.image_size,
                              tuple(state["classes"]), config.channels_last)
        predictor.load_state_dict(state["model"])
    else:
        path = run.classifier_file(wanted.balance)
        if not path.is_file():
            raise CheckpointError(f"Run {run.id} has no {method} classifier yet.",
                                  f"Fit it with `scl fit {run.id} --balance {wanted.balance}`.")
        encoder, enc_config, facts = load_encoder(run)
        state = load_checkpoint(path)
        _check_binding(run, wanted.name, wanted.balance, state, facts)
        classifier = LinearClassifier(int(state["feature_dim"]), len(state["classes"]))
        classifier.load_state_dict(state["model"])
        predictor = Predictor(encoder, classifier, enc_config.image_size, tuple(state["classes"]),
                              enc_config.channels_last)
    return freeze(predictor).to(device)


def evaluate_run(run: runs.Run, method: str, device: str = "auto", batch_size: int = 128,
                 cancel: CancelToken | None = None) -> Generator[Event, None, metrics.Evaluation]:
    """Recompute ``method``'s test-set evaluation from the run's checkpoints (not saved; the caller decides)."""
    dev = devices.resolve_device(device)
    predictor = load_predictor(run, method, dev)
    store = yield from build_store(run.split.dataset, run.store_size, cancel)
    return (yield from evaluate_predictor(predictor, run.split, store, dev, devices.amp_policy(dev), batch_size,
                                          cancel))
