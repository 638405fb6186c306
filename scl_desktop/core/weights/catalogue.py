"""The published backbones training can start from: where each file is, its hash, what input it expects.

Sources (read from the publishers' code, not guessed):

* ImageNet: torchvision's ``ResNet18_Weights.IMAGENET1K_V1``, ``ResNet34_Weights.IMAGENET1K_V1`` and
  ``ResNet50_Weights.IMAGENET1K_V2`` (torchvision/models/resnet.py; BSD-3-Clause code, weights trained
  on ImageNet-1k, whose terms allow non-commercial research use). The file name ends in the first
  8 hex digits of the file's SHA-256, the prefix torch.hub checks.
* Remote sensing, RGB: torchgeo's ``ResNet18_Weights.SENTINEL2_RGB_MOCO`` / ``ResNet50_Weights.
  SENTINEL2_RGB_MOCO`` (SSL4EO-S12, Wang et al. 2022, arXiv 2211.07044; CC-BY-4.0) and
  ``ResNet50_Weights.FMOW_RGB_GASSL`` (Ayush et al. 2021, arXiv 2011.09980), torchgeo/models/resnet.py,
  timm ResNet key names (the same as torchvision's). Same hash-prefix convention.

``mean`` / ``std`` are the per-channel normalisation the weights were trained with, written for
input scaled to 0..1 (an 8-bit value v is v / 255). This application feeds ImageNet-normalised
input; other normalisations are folded into the first layer when the weights are loaded
(``networks.fold_input_normalisation``). SSL4EO-S12's torchgeo transform divides Sentinel-2 values
by 10000; an 8-bit RGB value is taken as that raw value (std 10000 / 255 on the 0..1 scale), which is
an approximation for aerial 8-bit imagery and said so in ``note``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.model.settings import IMAGENET_MEAN, IMAGENET_STD

_SSL4EO_STD = (10000 / 255,) * 3


@dataclass(frozen=True)
class WeightsEntry:
    """One published backbone: ``name`` (what ``--weights`` takes), its encoder ``arch`` and where it comes from."""

    name: str
    arch: str
    source: str  # "imagenet" or "remote-sensing"
    url: str
    sha256: str  # the full digest or the prefix the publisher gives (the file name's suffix)
    size: int | None  # bytes as the publisher states it (rounded where given in MB); None: not stated
    mean: tuple[float, ...]
    std: tuple[float, ...]
    licence: str
    citation: str
    note: str = ""

    @property
    def file_name(self) -> str:
        """The file's name in the cache and on a mirror: the last part of its URL."""
        return self.url.rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std), "file_name": self.file_name}


def _mb(megabytes: float) -> int:
    return round(megabytes * 1024 * 1024)


_TORCHVISION = "torchvision (pytorch/vision, torchvision/models/resnet.py)"
_TORCHGEO = "torchgeo (microsoft/torchgeo, torchgeo/models/resnet.py)"
_IMAGENET_LICENCE = "BSD-3-Clause code; trained on ImageNet-1k (non-commercial research terms)"

CATALOGUE: tuple[WeightsEntry, ...] = (
    WeightsEntry("resnet18-imagenet", "resnet18", "imagenet",
                 "https://download.pytorch.org/models/resnet18-f37072fd.pth", "f37072fd", _mb(44.661),
                 IMAGENET_MEAN, IMAGENET_STD, _IMAGENET_LICENCE, f"{_TORCHVISION}: ResNet18_Weights.IMAGENET1K_V1"),
    WeightsEntry("resnet34-imagenet", "resnet34", "imagenet",
                 "https://download.pytorch.org/models/resnet34-b627a593.pth", "b627a593", _mb(83.275),
                 IMAGENET_MEAN, IMAGENET_STD, _IMAGENET_LICENCE, f"{_TORCHVISION}: ResNet34_Weights.IMAGENET1K_V1"),
    WeightsEntry("resnet50-imagenet", "resnet50", "imagenet",
                 "https://download.pytorch.org/models/resnet50-11ad3fa6.pth", "11ad3fa6", _mb(97.79),
                 IMAGENET_MEAN, IMAGENET_STD, _IMAGENET_LICENCE, f"{_TORCHVISION}: ResNet50_Weights.IMAGENET1K_V2"),
    WeightsEntry("resnet18-ssl4eo-rgb-moco", "resnet18", "remote-sensing",
                 "https://hf.co/torchgeo/resnet18_sentinel2_rgb_moco/resolve/e1c032e7785fd0625224cdb6699aa138bb304eec/"
                 "resnet18_sentinel2_rgb_moco-e3a335e3.pth", "e3a335e3", None,
                 (0.0, 0.0, 0.0), _SSL4EO_STD, "CC-BY-4.0 (SSL4EO-S12)",
                 f"{_TORCHGEO}: ResNet18_Weights.SENTINEL2_RGB_MOCO; Wang et al. 2022, arXiv 2211.07044",
                 "MoCo on Sentinel-2 RGB (10 m); 8-bit input read as the raw values the weights expect"),
    WeightsEntry("resnet50-ssl4eo-rgb-moco", "resnet50", "remote-sensing",
                 "https://hf.co/torchgeo/resnet50_sentinel2_rgb_moco/resolve/efd9723b59a88e9dc1420dc1e96afb25b0630a3c/"
                 "resnet50_sentinel2_rgb_moco-2b57ba8b.pth", "2b57ba8b", None,
                 (0.0, 0.0, 0.0), _SSL4EO_STD, "CC-BY-4.0 (SSL4EO-S12)",
                 f"{_TORCHGEO}: ResNet50_Weights.SENTINEL2_RGB_MOCO; Wang et al. 2022, arXiv 2211.07044",
                 "MoCo on Sentinel-2 RGB (10 m); 8-bit input read as the raw values the weights expect"),
    WeightsEntry("resnet50-fmow-rgb-gassl", "resnet50", "remote-sensing",
                 "https://hf.co/torchgeo/resnet50_fmow_rgb_gassl/resolve/fe8a91026cf9104f1e884316b8e8772d7af9052c/"
                 "resnet50_fmow_rgb_gassl-da43d987.pth", "da43d987", None,
                 IMAGENET_MEAN, IMAGENET_STD, "see the publisher (sustainlab-group/geography-aware-ssl)",
                 f"{_TORCHGEO}: ResNet50_Weights.FMOW_RGB_GASSL; Ayush et al. 2021, arXiv 2011.09980",
                 "geography-aware MoCo on fMoW high-resolution satellite RGB, the closest to aerial imagery"),
)
"""Every entry ``--weights NAME`` accepts (torchgeo states no file sizes: None)."""


def entry_named(name: str) -> WeightsEntry:
    """The catalogue entry called ``name``; ``ConfigError`` naming the choices otherwise."""
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    raise ConfigError(f"No published weights are called {name!r}.",
                      f"Use one of {', '.join(e.name for e in CATALOGUE)} (`scl weights list`), or a .pth file.")


def is_catalogue_name(spec: str) -> bool:
    """Whether ``spec`` names a catalogue entry (anything else is taken as a file path)."""
    return any(entry.name == spec for entry in CATALOGUE)
