"""Torch-free settings of the model side: the architectures there are and the augmentation policy.

Kept apart from ``networks`` and ``augment`` so that configurations (and the CLI's help) load
without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.options import setting

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The input normalisation of every model here (0..1 scale), ImageNet's; ``augment`` applies it."""

ROTATE_MODES = ("any", "90", "both")


PADDING_MODES = ("reflection", "zeros")


@dataclass(frozen=True)
class AugmentConfig:
    """Switches and parameters of the aerial augmentation policy (defaults: the paper's policy).

    The colour defaults are those of the SupCon reference (jitter 0.4/0.4/0.4/0.1 with p=0.8,
    grayscale p=0.2); the crop defaults are SupCon's ``RandomResizedCrop(scale=(0.2, 1.0))``.
    Rotation: ``rotate_mode`` "90" turns by a random multiple of 90 degrees (lossless for aerial
    views), "any" by a uniform angle in +-``rotate_degrees``, "both" combines the two; corners
    that fall outside the image are filled by ``padding`` ("reflection" or "zeros").
    """

    crop: bool = setting(True, "Random crop and resize (RCR).")
    crop_scale: tuple[float, float] = setting((0.2, 1.0), "Range of the crop's share of the image area (low, high).")
    crop_ratio: tuple[float, float] = setting((3 / 4, 4 / 3), "Range of the crop's width/height ratio (low, high).")
    flip: bool = setting(True, "Random horizontal and vertical flips (RF).")
    hflip_p: float = setting(0.5, "Probability of a horizontal flip.")
    vflip_p: float = setting(0.5, "Probability of a vertical flip.")
    rotate: bool = setting(True, "Random rotation (RR).")
    rotate_mode: str = setting("90", "90: multiples of 90 degrees (lossless); any: a random angle; both: the two combined.")
    rotate_degrees: float = setting(45.0, "Largest random angle for the 'any' mode, in degrees.")
    color: bool = setting(True, "Random colour distortion (RCD): brightness, contrast, saturation, hue, greyscale.")
    color_p: float = setting(0.8, "Probability of applying the colour jitter.")
    brightness: float = setting(0.4, "Brightness jitter strength (0: off).")
    contrast: float = setting(0.4, "Contrast jitter strength (0: off).")
    saturation: float = setting(0.4, "Saturation jitter strength (0: off).")
    hue: float = setting(0.1, "Hue jitter strength, 0..0.5 (0: off).")
    grayscale_p: float = setting(0.2, "Probability of turning a view grey.")
    padding: str = setting("reflection", "How corners uncovered by a rotation are filled: reflection or zeros.")

    def __post_init__(self) -> None:
        for name in ("crop_scale", "crop_ratio"):
            value = getattr(self, name)
            try:
                pair = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                pair = ()
            if len(pair) != 2:
                raise ConfigError(f"augmentation {name} must be two numbers (low, high), got {value!r}.",
                                  f"Give it as [low, high], e.g. {list(getattr(AugmentConfig, name))}.")
            object.__setattr__(self, name, pair)
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ConfigError(f"augmentation crop_scale {self.crop_scale} is not within 0 < low <= high <= 1.",
                              "Use fractions of the image area, e.g. [0.2, 1.0].")
        lo, hi = self.crop_ratio
        if not 0.0 < lo <= hi:
            raise ConfigError(f"augmentation crop_ratio {self.crop_ratio} is not 0 < low <= high.",
                              "Use width/height ratios, e.g. [0.75, 1.333].")
        for name in ("hflip_p", "vflip_p", "color_p", "grayscale_p"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ConfigError(f"augmentation {name}={getattr(self, name)} is not a probability.",
                                  "Use a value between 0 and 1.")
        for name in ("brightness", "contrast", "saturation"):
            if float(getattr(self, name)) < 0.0:
                raise ConfigError(f"augmentation {name}={getattr(self, name)} is negative.",
                                  "Use 0 (off) or a positive jitter strength such as 0.4.")
        if not 0.0 <= float(self.hue) <= 0.5:
            raise ConfigError(f"augmentation hue={self.hue} is outside 0..0.5.", "Use e.g. 0.1 (0 switches it off).")
        if self.rotate_mode not in ROTATE_MODES:
            raise ConfigError(f"augmentation rotate_mode {self.rotate_mode!r} is unknown.",
                              f"Use one of {', '.join(ROTATE_MODES)}.")
        if not 0.0 <= float(self.rotate_degrees) <= 180.0:
            raise ConfigError(f"augmentation rotate_degrees={self.rotate_degrees} is outside 0..180.",
                              "Use the largest random angle in degrees, e.g. 45.")
        if self.padding not in PADDING_MODES:
            raise ConfigError(f"augmentation padding {self.padding!r} is unknown.",
                              f"Use one of {', '.join(PADDING_MODES)}.")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AugmentConfig:
        """Inverse of :meth:`to_json`; missing keys take their defaults, unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError(f"augmentation settings must be a JSON object, got {type(data).__name__}.",
                              "Fix or remove the 'augment' entry of the configuration.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown augmentation setting(s): {', '.join(unknown)}.",
                              f"Known settings are: {', '.join(sorted(known))}.")
        return cls(**data)


ARCHS = ("resnet18", "resnet34", "resnet50", "resnet18-small", "tiny")
