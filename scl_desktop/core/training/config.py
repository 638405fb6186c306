"""Training configurations: frozen dataclasses with the paper's defaults, JSON round-trip, CPU scaling.

* ``EncoderConfig``: stage 1, the SupCon representation (ResNet-50, 224 px, batch 128, lr 0.5
  cosine, SGD momentum 0.9, weight decay 1e-4, temperature 0.1, 500 epochs).
* ``ClassifierConfig``: stage 2, the linear classifier on the frozen encoder (batch 128,
  lr 0.01 cosine, momentum 0.9, weight decay 5e-5, 100 epochs) with a re-balancing strategy.
* ``BaselineConfig``: the paper's "Plain" end-to-end cross-entropy model, optionally CB or CSCE.

The paper's defaults assume a GPU. ``cpu_defaults`` scales the costly ones down for a CPU
(options the user set explicitly are left alone) and returns a sentence saying what changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.methods import BALANCES, CLASSIFIER_BALANCES
from scl_desktop.core.model.settings import ARCHS, AugmentConfig
from scl_desktop.core.options import setting
from scl_desktop.core.training.strategies import DEFAULT_TAU, STRATEGY_HELP

SAMPLERS = ("instance", "cb")
LOSS_NORMS = ("weights", "count")

CPU_SCALE: dict[str, Any] = {"arch": "resnet18", "image_size": 64, "epochs": 30, "batch_size": 64}
"""What ``cpu_defaults`` uses instead of the GPU-sized paper defaults (the lr follows the batch size)."""


def _check(ok: bool, what: str, hint: str) -> None:
    if not ok:
        raise ConfigError(what, hint)


@dataclass(frozen=True)
class SgdSettings:
    """Fields every trainer shares: schedule, optimizer, device and reproducibility."""

    epochs: int = setting(100, "Passes over the training images.")
    batch_size: int = setting(128, "Images per optimisation step (paper: 128); lower it if memory runs out.")
    lr: float = setting(0.1, "Peak learning rate of the cosine schedule.")
    momentum: float = setting(0.9, "SGD momentum (paper: 0.9).")
    weight_decay: float = setting(1e-4, "SGD weight decay.")
    warmup_epochs: int = setting(0, "Raise the learning rate linearly over the first N epochs, at most a quarter of the epochs (0: no warm-up).")
    device: str = setting("auto", "auto picks a CUDA GPU, then Apple MPS, then the CPU; or cpu, cuda, cuda:N, mps.")
    seed: int = setting(0, "Random seed: the same seed and data repeat the same run.")
    num_threads: int | None = setting(None, "CPU threads torch may use (unset: torch's choice).")

    def __post_init__(self) -> None:
        _check(self.epochs >= 1 or (self.epochs == 0 and self.trains_nothing_ok()),
               f"epochs={self.epochs} must be at least 1.", "Use e.g. --epochs 100 (0 only with --weights, for a "
               "probe-only run on a pretrained encoder).")
        _check(self.batch_size >= 2, f"batch size {self.batch_size} must be at least 2.",
               "Use e.g. --batch-size 128 (smaller if memory is short).")
        _check(self.lr > 0, f"learning rate {self.lr} must be positive.", "Use e.g. --lr 0.1.")
        _check(0 <= self.momentum < 1, f"momentum {self.momentum} must be in [0, 1).", "Use e.g. 0.9.")
        _check(self.weight_decay >= 0, f"weight decay {self.weight_decay} must not be negative.", "Use e.g. 1e-4.")
        _check(self.warmup_epochs >= 0, f"warm-up of {self.warmup_epochs} epochs must not be negative.",
               "Use e.g. 5, or 0 to switch warm-up off.")
        _check(0 <= self.seed < 2**32, f"seed {self.seed} must be in 0..{2**32 - 1}.", "Use e.g. --seed 0.")
        _check(self.num_threads is None or self.num_threads >= 1,
               f"num_threads={self.num_threads} must be at least 1.", "Leave it unset to let torch decide.")

    def trains_nothing_ok(self) -> bool:
        """Whether 0 epochs is a meaningful setting (stage 1 on pretrained weights: the probe-only path)."""
        return False

    def warmup_used(self) -> int:
        """The warm-up epochs training uses: ``warmup_epochs``, at most a quarter of ``epochs``."""
        return min(self.warmup_epochs, self.epochs // 4)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (nested augmentation settings included)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_json() if isinstance(value, AugmentConfig) else value
        return out

    @classmethod
    def from_json(cls: type[C], data: dict[str, Any]) -> C:
        """Inverse of ``to_json``; missing keys take their defaults, unknown keys raise ``ConfigError``."""
        if not isinstance(data, dict):
            raise ConfigError(f"A {cls.__name__} must be a JSON object, got {type(data).__name__}.",
                              "Check the run's config.json.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        _check(not unknown, f"Unknown {cls.__name__} setting(s): {', '.join(unknown)}.",
               f"Known settings are: {', '.join(sorted(known))}.")
        values = dict(data)
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig.from_json(values["augment"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"Invalid {cls.__name__}: {exc}.", "Check the run's config.json.") from exc

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


C = TypeVar("C", bound=SgdSettings)


@dataclass(frozen=True)
class ImageModelSettings(SgdSettings):
    """Fields of trainers that run a ResNet on augmented images (stage 1 and the baselines)."""

    arch: str = setting("resnet50", "Encoder network: resnet50 (the paper's), resnet18, resnet34; resnet18-small for 32-64 px views; tiny for smoke tests. On a CPU resnet18 is practical.")
    image_size: int = setting(224, "Side of the augmented views fed to the network, in pixels (paper: 224; 64 on a CPU).")
    store_size: int | None = setting(None, "Side of the decoded image cache in pixels (unset: the working size given at import, else chosen from the images' native size and what the views' smallest crops need, at most 512).")
    weights_path: str | None = setting(None, "Start the encoder from published weights by name (`scl weights list`: ImageNet or remote-sensing backbones, downloaded once) or from a local .pth file; unset: random initialisation, as in the paper.")
    augment: AugmentConfig = setting(factory=AugmentConfig, help="The aerial augmentation policy; each part can be switched off (paper, Table 2).")
    amp: bool = setting(True, "Mixed precision (bf16, or fp16 with loss scaling) where the device computes it fast.")
    channels_last: bool = setting(True, "Memory layout that speeds up convolutions on CUDA.")
    compile: bool = setting(False, "torch.compile the model (slow first epoch, often faster later; CUDA only).")
    checkpoint_every: int = setting(10, "Save a resumable checkpoint every N epochs (0: only at the end); cancelling always saves one.")
    freeze_epochs: int = setting(0, "With initial weights: leave the stem and first stage (conv1, bn1, layer1) unchanged for the first N epochs (learning rate 0 there; their BatchNorm statistics still adapt to your images), then train every layer (0: train every layer from the start).")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.freeze_epochs >= 0, f"freeze_epochs={self.freeze_epochs} must not be negative.",
               "Use e.g. 5, or 0 to train every layer from the start.")
        _check(not self.freeze_epochs or self.weights_path is not None,
               f"Freezing the first layers for {self.freeze_epochs} epochs needs initial weights to keep.",
               "Give --weights NAME|FILE, or leave --freeze-epochs at 0.")
        _check(not self.freeze_epochs or self.arch.startswith("resnet"),
               f"The {self.arch} encoder has no ResNet stem (conv1, bn1, layer1) to freeze.",
               "Leave --freeze-epochs at 0, or use a ResNet architecture.")
        _check(self.arch in ARCHS, f"Unknown architecture {self.arch!r}.", f"Use one of {', '.join(ARCHS)}.")
        _check(16 <= self.image_size <= 1024, f"image size {self.image_size} px is outside 16..1024.",
               "Use 224 (the paper's) on a GPU or 64 on a CPU.")
        _check(self.store_size is None or self.store_size >= 16,
               f"store size {self.store_size} px is below 16.", "Leave it unset to let the training choose it.")
        _check(self.checkpoint_every >= 0, f"checkpoint_every={self.checkpoint_every} must not be negative.",
               "Use N to save every N epochs, or 0 to save only at the end.")
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig.from_json(self.augment))


@dataclass(frozen=True)
class EncoderConfig(ImageModelSettings):
    """Stage 1: a ResNet encoder + projection head trained with the SupCon loss (paper defaults).

    ``sampler`` "instance" draws every image once per epoch (the paper's default); "cb" draws
    classes uniformly (Table 3 ablation). ``cs_scl`` weights each anchor's loss by n_min/n_y
    (CS-SCL, Table 3). ``probe_every`` N scores the encoder every N epochs and after the last with
    a kNN probe (``probe_k`` neighbours) on the validation images (``training.probe``). ``store_size``
    is the resolution of the decoded image store (``None``: ``store_size.choose``); ``image_size``
    the size the augmented views are resized to.
    """

    epochs: int = setting(500, "Passes over the training images (paper: 500); 0 with --weights: no stage 1, stage 2 on the pretrained encoder as it is (probe only).")
    lr: float = setting(0.5, "Peak learning rate of the cosine schedule (paper: 0.5 at batch 128).")
    weight_decay: float = setting(1e-4, "SGD weight decay (paper: 1e-4).")
    warmup_epochs: int = setting(5, "Raise the learning rate linearly over the first N epochs, at most a quarter of the epochs (0: no warm-up; the paper names none, 5 measured better on UC Merced).")
    temperature: float = setting(0.1, "SupCon temperature tau (paper: 0.1).")
    proj_dim: int = setting(128, "Size of the L2-normalised projection the SupCon loss compares (paper: 128).")
    sampler: str = setting("instance", "instance: every image once per epoch (the paper's); cb: classes drawn uniformly (Table 3 ablation).")
    cs_scl: bool = setting(False, "Cost-sensitive SupCon: weight each image's loss by n_min / n_class (CS-SCL, Table 3 ablation).")
    probe_every: int = setting(5, "Every N epochs (and after the last) score the encoder on the validation images with a kNN probe: per-class, majority and minority accuracy while it trains (0: off).")
    probe_k: int = setting(20, "Neighbours that vote in the kNN probe (weighted by cosine similarity, Wu et al. 2018).")

    def trains_nothing_ok(self) -> bool:
        return self.weights_path is not None  # 0 epochs: the pretrained encoder as it is, for stage 2

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.temperature > 0, f"temperature {self.temperature} must be positive.", "Use e.g. 0.1.")
        _check(self.probe_every >= 0, f"probe_every={self.probe_every} must not be negative.",
               "Use N to probe every N epochs, or 0 to switch the probe off.")
        _check(self.probe_k >= 1, f"probe_k={self.probe_k} must be at least 1.", "Use e.g. 20.")
        _check(self.proj_dim >= 2, f"projection size {self.proj_dim} is too small.", "Use e.g. 128.")
        _check(self.sampler in SAMPLERS, f"Unknown sampler {self.sampler!r}.", f"Use one of {', '.join(SAMPLERS)}.")


def stage2_augment() -> AugmentConfig:
    """Stage 2's own, lighter policy: random crop (of 35-100 % of the area) and flips; no rotation or colour.

    The linear layer should learn the classes of views that look like the images it will label;
    stage 1's strong policy is there to make the contrastive task hard, not to train a classifier.
    """
    return AugmentConfig(crop_scale=(0.35, 1.0), rotate=False, color=False)


@dataclass(frozen=True)
class ClassifierConfig(SgdSettings):
    """Stage 2: a linear classifier on the frozen encoder, trained with cross-entropy.

    ``balance``: "cb" class-balanced sampling (eq. 2), "csce" cost-sensitive CE (eq. 3), "none"
    plain instance sampling, or one of the long-tail classifiers beyond the paper ("tau-norm",
    "logit-adj", "la-loss", "balanced-softmax") or "auto" (see ``strategies``); ``tau`` is the
    parameter of tau-norm, logit-adj and la-loss (None: ``DEFAULT_TAU``). With ``cached_features``
    the encoder runs once over the training images (``feature_views`` views per image drawn with
    ``augment``; 1 = the plain, un-augmented image) and the linear layer trains on those features; otherwise every step augments (with
    ``augment``) and encodes. ``min_steps``: on a small split each epoch draws more samples than
    the split holds, so that the epochs together make at least that many optimisation steps
    (the cosine schedule spans them all); epochs keep their meaning as the rounds after which
    the classifier is scored, and large splits are unaffected.
    """

    balance: str = setting("cb", "; ".join(f"{name}: {text}" for name, text in STRATEGY_HELP.items()) + ".")
    tau: float | None = setting(None, "Strength of tau-norm (weight norms to the power tau: 0 leaves them, 1 makes them equal), logit-adj and la-loss (tau * log class share: 0 is plain cross-entropy); unset: 1, the papers' value. The other strategies take none (auto tries several).")
    epochs: int = setting(100, "Passes over the training images (paper: 100).")
    lr: float = setting(0.01, "Peak learning rate of the cosine schedule (paper: 0.01).")
    weight_decay: float = setting(5e-5, "SGD weight decay (paper: 5e-5).")
    cached_features: bool = setting(True, "Run the frozen encoder once and train the linear layer on its features (much faster).")
    feature_views: int = setting(4, "Cached features per training image: V views drawn with stage 2's policy (1 = the plain image only).")
    loss_norm: str = setting("weights", "How CSCE averages its weighted loss: weights (divided by the sum of the batch's weights, so the learning rate means what it means for plain CE) or count (divided by the batch size, which shrinks the steps by the mean weight; the convention before, for ablations).")
    min_steps: int = setting(1000, "Fewest optimisation steps in all, whatever the split's size: small splits get longer epochs (0: one pass over the training images per epoch).")
    augment: AugmentConfig = setting(factory=stage2_augment, help="Stage 2's augmentation policy, for the cached views (feature views > 1) and for training without cached features: crop and flip only by default, lighter than stage 1's.")
    amp: bool = setting(True, "Compute the encoder features in mixed precision where the device computes it fast.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.balance in CLASSIFIER_BALANCES, f"Unknown balance strategy {self.balance!r}.",
               f"Use one of {', '.join(CLASSIFIER_BALANCES)}.")
        if self.tau is not None:
            _check(self.balance in DEFAULT_TAU, f"The {self.balance} strategy takes no tau (tau={self.tau:g}).",
                   f"Leave tau unset, or use one of {', '.join(DEFAULT_TAU)}"
                   + (" (auto tries several tau values itself)." if self.balance == "auto" else "."))
            _check(0 <= self.tau <= 10, f"tau={self.tau:g} is outside 0..10.", "Use e.g. 1 (the papers' value).")
        _check(self.feature_views >= 1, f"feature_views={self.feature_views} must be at least 1.",
               "Use 1 for un-augmented features or N augmented views per image.")
        _check(self.loss_norm in LOSS_NORMS, f"Unknown loss normalisation {self.loss_norm!r}.",
               f"Use one of {', '.join(LOSS_NORMS)}.")
        _check(self.min_steps >= 0, f"min_steps={self.min_steps} must not be negative.",
               "Use e.g. 1000, or 0 for one pass over the training images per epoch.")
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig.from_json(self.augment))


@dataclass(frozen=True)
class BaselineConfig(ImageModelSettings):
    """The paper's "Plain" baseline: encoder + linear layer trained end to end with cross-entropy.

    ``balance`` "none" is Plain; "cb" and "csce" re-balance as in stage 2. Same data path and
    augmentation as stage 1. ``eval_every`` N measures per-class accuracy every N epochs.
    """

    epochs: int = setting(500, "Passes over the training images (the same budget as stage 1).")
    lr: float = setting(0.1, "Peak learning rate of the cosine schedule.")
    weight_decay: float = setting(1e-4, "SGD weight decay.")
    balance: str = setting("none", "none: Plain; cb: class-balanced sampling; csce: cost-sensitive cross-entropy.")
    eval_every: int = setting(1, "Measure per-class accuracy on the validation (or test) images every N epochs.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.balance in BALANCES, f"Unknown balance strategy {self.balance!r}.",
               "Use none (Plain), cb (class-balanced sampling) or csce (cost-sensitive loss).")
        _check(self.eval_every >= 1, f"eval_every={self.eval_every} must be at least 1.", "Use e.g. 1.")


def cpu_defaults(config: C, explicit: Iterable[str] = ()) -> tuple[C, str | None]:
    """Scale the GPU-sized paper defaults down for a CPU; return the new config and what changed.

    Applies to ``EncoderConfig`` and ``BaselineConfig`` (a ``ClassifierConfig`` is returned
    unchanged). Only fields still at their paper default and not named in ``explicit`` change: the
    architecture to resnet18, the image size to 64 px, the epochs to 30, the batch to 64 (the
    learning rate scaled by the same factor). The message is ``None`` when nothing changed.
    """
    if not isinstance(config, ImageModelSettings):
        return config, None  # stage 2 trains one linear layer; its cost follows the encoder's size
    explicit = set(explicit)
    defaults = type(config)()
    changes: dict[str, Any] = {}
    for name, small in CPU_SCALE.items():
        if hasattr(config, name) and name not in explicit and getattr(config, name) == getattr(defaults, name) \
                and getattr(config, name) != small:
            changes[name] = small
    if "batch_size" in changes and "lr" not in explicit and config.lr == defaults.lr:
        changes["lr"] = config.lr * changes["batch_size"] / config.batch_size
    if not changes:
        return config, None
    scaled = config.replace(**changes)
    parts = ", ".join(f"{_LABELS[name]} {_show(changes[name])} (default: {_show(getattr(config, name))})"
                      for name in changes)
    return scaled, (f"Training on the CPU, so the GPU-sized defaults were scaled down: {parts}. "
                    "Set any of these options explicitly to override.")


_LABELS = {"arch": "arch", "image_size": "image size", "epochs": "epochs", "batch_size": "batch size", "lr": "lr"}


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
