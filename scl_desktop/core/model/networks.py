"""Encoders, the SupCon model (encoder + projection head) and the linear classifier.

Encoders are torchvision ResNets with their standard stems and the final ``fc`` removed, so
they return the pooled feature vector. Initial weights come from a local ``.pth`` file (published
ones are downloaded into one by ``core.weights``): torchvision / timm state dicts, this app's
checkpoints, and training checkpoints that nest them (Lightning's ``state_dict`` with ``model.`` or
``backbone.`` prefixes, DataParallel's ``module.``). Extra architectures for small images and tests:

* ``resnet18-small``: ResNet-18 with a 3x3 stride-1 stem and no max-pool (the usual CIFAR
  variant), for small images (32-64 px) on CPU;
* ``tiny``: a three-layer CNN with 32 features, for tests and smoke runs (milliseconds on CPU).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from scl_desktop.core.errors import CheckpointError, ConfigError
from scl_desktop.core.model.settings import ARCHS, IMAGENET_MEAN, IMAGENET_STD

# Keys under which training scripts commonly nest a state dict, and key prefixes they add.
_NESTED_KEYS = ("state_dict", "model", "encoder")
_PREFIXES = ("module.", "_orig_mod.", "model.", "backbone.", "encoder.")
# Parts that are not the encoder: projection head, torchvision's fc, this app's linear classifier.
_NOT_ENCODER = ("head.", "fc.", "classifier.")


def _tiny_encoder() -> nn.Module:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(*block(3, 8), *block(8, 16), *block(16, 32), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _resnet(arch: str) -> nn.Module:
    small = arch == "resnet18-small"
    net = getattr(torchvision.models, "resnet18" if small else arch)(weights=None)
    if small:
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net


def _state_dict_from(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The encoder's tensors from a loaded file: unwrap nesting, strip prefixes, drop heads."""
    while isinstance(obj, Mapping):
        nested = next((obj[k] for k in _NESTED_KEYS if isinstance(obj.get(k), Mapping)), None)
        if nested is None or any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        obj = nested
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold model weights (a state dict of tensors).",
                              "Choose a .pth saved with torch.save(model.state_dict()) from a torchvision ResNet "
                              "or from this application.")
    state = {}
    for key, value in obj.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        if not key.startswith(_NOT_ENCODER):
            state[key] = value
    return state


def _check_own_checkpoint(obj: object, path: Path, arch: str) -> None:
    """Refuse, saying what it is, a checkpoint of this application that holds no ``arch`` encoder."""
    if not isinstance(obj, Mapping) or obj.get("format") != "scl-checkpoint":
        return
    if obj.get("stage") == "classifier":
        raise CheckpointError(
            f"{path} is a stage-2 classifier checkpoint of scl_desktop ({obj.get('method', 'SCL-*')}: a linear layer "
            "on an encoder's features), not encoder weights.",
            "Pass the checkpoints/last.pt of the same run instead: it holds that run's encoder.")
    if obj.get("arch") not in (None, arch):
        raise CheckpointError(
            f"{path} is a {obj.get('stage')} checkpoint of scl_desktop with a {obj['arch']} encoder, "
            f"not a {arch} one.", f"Train with --arch {obj['arch']} to start from it, or choose another weights file.")


def load_encoder_weights(encoder: nn.Module, weights_path: str | Path, arch: str) -> None:
    """Load a local ``.pth`` (torchvision ResNet or this app's encoder/model) into ``encoder``."""
    path = Path(weights_path)
    if not path.is_file():
        raise CheckpointError(f"initial weights file {path} does not exist.",
                              "Check the path, or leave the weights empty to start from random weights.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        pickled = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if pickled:
            raise CheckpointError(
                f"{path} holds pickled Python objects besides tensors ({pickled.group(1)}: a whole model saved with "
                "torch.save(model), or the training checkpoint of another program), which are not loaded: they "
                "could run code.",
                "In the program that made it, save only the weights: torch.save(model.state_dict(), "
                "'weights.pth'), and pass that file.") from exc
        raise CheckpointError(f"{path} could not be read as PyTorch weights ({type(exc).__name__}).",
                              "Choose a .pth file saved with torch.save(model.state_dict()).") from exc
    _check_own_checkpoint(obj, path, arch)
    state = _state_dict_from(obj, path)
    own = encoder.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [f"shape of {k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                 for k, v in own.items() if k in state and state[k].shape != v.shape]
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise CheckpointError(f"the weights in {path} do not fit the {arch} encoder ({shown}).",
                              "Choose the architecture these weights were trained with, or another weights file.")
    encoder.load_state_dict(state, strict=True)


def fold_input_normalisation(encoder: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
    """Let an encoder whose weights expect input normalised with ``mean`` / ``std`` (0..1 scale) take this
    app's ImageNet-normalised input instead: the first convolution is rescaled per input channel and the
    constant it then lacks is taken from the running mean of the BatchNorm after it (exact away from
    the image border, where the convolution's zero padding differs). ImageNet normalisation: nothing to do.
    """
    if tuple(mean) == IMAGENET_MEAN and tuple(std) == IMAGENET_STD:
        return
    conv, norm = _first_conv_and_norm(encoder)
    ours_mean, ours_std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    scale = ours_std / torch.tensor(std, dtype=torch.float32)  # expected = ours * scale + offset
    offset = (ours_mean - torch.tensor(mean, dtype=torch.float32)) / torch.tensor(std, dtype=torch.float32)
    with torch.no_grad():
        weight = conv.weight
        shift = (weight * offset.view(1, -1, 1, 1).to(weight)).sum(dim=(1, 2, 3))
        weight.mul_(scale.view(1, -1, 1, 1).to(weight))
        norm.running_mean.sub_(shift.to(norm.running_mean))


def _first_conv_and_norm(encoder: nn.Module) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    if not convs or not norms or convs[0].bias is not None or norms[0].num_features != convs[0].out_channels:
        raise ConfigError("This encoder does not start with a convolution and a BatchNorm, so weights trained "
                          "with another input normalisation cannot be adapted to it.",
                          "Choose weights trained with ImageNet normalisation.")
    return convs[0], norms[0]


def build_encoder(arch: str = "resnet50", weights_path: str | Path | None = None,
                  input_norm: tuple[Sequence[float], Sequence[float]] | None = None) -> tuple[nn.Module, int]:
    """A feature extractor for ``arch`` (one of ``ARCHS``) and the length of its feature vector, starting from
    ``weights_path`` when given; ``input_norm`` (mean, std) is the normalisation those weights expect
    (``None``: ImageNet's), adapted to by ``fold_input_normalisation``."""
    if arch not in ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}.", f"Use one of {', '.join(ARCHS)}.")
    if arch == "tiny":
        encoder, dim = _tiny_encoder(), 32
    else:
        encoder = _resnet(arch)
        dim = 2048 if arch == "resnet50" else 512
    if weights_path:
        load_encoder_weights(encoder, weights_path, arch)
        if input_norm is not None:
            fold_input_normalisation(encoder, *input_norm)
    return encoder, dim


class SupConModel(nn.Module):
    """Encoder plus 2-layer MLP projection head; ``forward`` gives L2-normalised projections."""

    def __init__(self, arch: str = "resnet50", proj_dim: int = 128, weights_path: str | Path | None = None,
                 input_norm: tuple[Sequence[float], Sequence[float]] | None = None) -> None:
        super().__init__()
        if int(proj_dim) < 1:
            raise ConfigError(f"projection size {proj_dim} is not positive.", "Use e.g. 128 (the paper's).")
        self.arch = arch
        self.encoder, self.feature_dim = build_encoder(arch, weights_path, input_norm)
        self.head = nn.Sequential(nn.Linear(self.feature_dim, self.feature_dim), nn.ReLU(inplace=True),
                                  nn.Linear(self.feature_dim, proj_dim))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features [B, feature_dim] (what the classifier stage uses)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-length projections [B, proj_dim] for the contrastive loss."""
        return F.normalize(self.head(self.encoder(x)), dim=1)


class LinearClassifier(nn.Module):
    """One linear layer from encoder features to class logits."""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        if int(num_classes) < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}.",
                              "Check the dataset: it must contain two or more classes.")
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits [B, num_classes]."""
        return self.fc(features)
