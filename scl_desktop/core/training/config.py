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
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.model.augment import AugmentConfig
from scl_desktop.core.model.networks import ARCHS

SAMPLERS = ("instance", "cb")
BALANCES = ("cb", "csce", "none")

CPU_SCALE: dict[str, Any] = {"arch": "resnet18", "image_size": 64, "epochs": 30, "batch_size": 64}
"""What ``cpu_defaults`` uses instead of the GPU-sized paper defaults (the lr follows the batch size)."""


def _check(ok: bool, what: str, hint: str) -> None:
    if not ok:
        raise ConfigError(what, hint)


@dataclass(frozen=True)
class SgdSettings:
    """Fields every trainer shares: schedule, optimizer, device and reproducibility."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: int = 0
    device: str = "auto"
    seed: int = 0
    num_threads: int | None = None

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs={self.epochs} must be at least 1.", "Use e.g. --epochs 100.")
        _check(self.batch_size >= 2, f"batch size {self.batch_size} must be at least 2.",
               "Use e.g. --batch-size 128 (smaller if memory is short).")
        _check(self.lr > 0, f"learning rate {self.lr} must be positive.", "Use e.g. --lr 0.1.")
        _check(0 <= self.momentum < 1, f"momentum {self.momentum} must be in [0, 1).", "Use e.g. 0.9.")
        _check(self.weight_decay >= 0, f"weight decay {self.weight_decay} must not be negative.", "Use e.g. 1e-4.")
        _check(0 <= self.warmup_epochs < self.epochs,
               f"warm-up of {self.warmup_epochs} epochs must be shorter than the {self.epochs} epochs of training.",
               "Use fewer warm-up epochs (0 switches warm-up off).")
        _check(0 <= self.seed < 2**32, f"seed {self.seed} must be in 0..{2**32 - 1}.", "Use e.g. --seed 0.")
        _check(self.num_threads is None or self.num_threads >= 1,
               f"num_threads={self.num_threads} must be at least 1.", "Leave it unset to let torch decide.")

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

    arch: str = "resnet50"
    image_size: int = 224
    store_size: int | None = None
    weights_path: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.arch in ARCHS, f"Unknown architecture {self.arch!r}.", f"Use one of {', '.join(ARCHS)}.")
        _check(16 <= self.image_size <= 1024, f"image size {self.image_size} px is outside 16..1024.",
               "Use 224 (the paper's) on a GPU or 64 on a CPU.")
        _check(self.store_size is None or self.store_size >= 16,
               f"store size {self.store_size} px is below 16.", "Leave it unset to use the dataset's working size.")
        _check(self.checkpoint_every >= 0, f"checkpoint_every={self.checkpoint_every} must not be negative.",
               "Use N to save every N epochs, or 0 to save only at the end.")
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig.from_json(self.augment))


@dataclass(frozen=True)
class EncoderConfig(ImageModelSettings):
    """Stage 1: a ResNet encoder + projection head trained with the SupCon loss (paper defaults).

    ``sampler`` "instance" draws every image once per epoch (the paper's default); "cb" draws
    classes uniformly (Table 3 ablation). ``cs_scl`` weights each anchor's loss by n_min/n_y
    (CS-SCL, Table 3). ``store_size`` is the resolution of the decoded image store (``None``: the
    dataset's working size); ``image_size`` the size the augmented views are resized to.
    """

    epochs: int = 500
    lr: float = 0.5
    weight_decay: float = 1e-4
    temperature: float = 0.1
    proj_dim: int = 128
    sampler: str = "instance"
    cs_scl: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.temperature > 0, f"temperature {self.temperature} must be positive.", "Use e.g. 0.1.")
        _check(self.proj_dim >= 2, f"projection size {self.proj_dim} is too small.", "Use e.g. 128.")
        _check(self.sampler in SAMPLERS, f"Unknown sampler {self.sampler!r}.", f"Use one of {', '.join(SAMPLERS)}.")


@dataclass(frozen=True)
class ClassifierConfig(SgdSettings):
    """Stage 2: a linear classifier on the frozen encoder, trained with cross-entropy.

    ``balance``: "cb" class-balanced sampling (eq. 2), "csce" cost-sensitive CE (eq. 3), "none"
    plain instance sampling. With ``cached_features`` the encoder runs once over the training
    images (``feature_views`` augmented views per image; 1 = the plain, un-augmented image) and
    the linear layer trains on those features; otherwise every step augments and encodes.
    """

    balance: str = "cb"
    epochs: int = 100
    lr: float = 0.01
    weight_decay: float = 5e-5
    cached_features: bool = True
    feature_views: int = 1
    amp: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.balance in BALANCES, f"Unknown balance strategy {self.balance!r}.",
               "Use cb (class-balanced sampling), csce (cost-sensitive loss) or none.")
        _check(self.feature_views >= 1, f"feature_views={self.feature_views} must be at least 1.",
               "Use 1 for un-augmented features or N augmented views per image.")


@dataclass(frozen=True)
class BaselineConfig(ImageModelSettings):
    """The paper's "Plain" baseline: encoder + linear layer trained end to end with cross-entropy.

    ``balance`` "none" is Plain; "cb" and "csce" re-balance as in stage 2. Same data path and
    augmentation as stage 1. ``eval_every`` N measures per-class accuracy every N epochs.
    """

    epochs: int = 500
    lr: float = 0.1
    weight_decay: float = 1e-4
    balance: str = "none"
    eval_every: int = 1

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
