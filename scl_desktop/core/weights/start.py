"""What an encoder starts from: published weights by catalogue name (downloaded once) or a local file.

Training resolves its ``weights_path`` setting here before it builds the model, so that a missing
download or a bad file fails before a run folder exists, and records the answer in the run.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scl_desktop.core.errors import CheckpointError, ConfigError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.model.settings import IMAGENET_MEAN, IMAGENET_STD
from scl_desktop.core.weights.catalogue import entry_named, is_catalogue_name
from scl_desktop.core.weights.download import fetch_weights, file_sha256


@dataclass(frozen=True)
class StartWeights:
    """A resolved weights file: its path, catalogue ``name`` (None for a user's file), SHA-256 and the input
    normalisation (mean, std on the 0..1 scale) it was trained with."""

    file: Path
    name: str | None
    sha256: str
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def to_json(self) -> dict[str, Any]:
        """What a run records of its start (``run.json`` "start_weights")."""
        return {"name": self.name, "file": str(self.file), "sha256": self.sha256}


def describe_start(record: dict[str, Any] | None) -> str:
    """How a run's encoder started (``Run.start_weights``), in a few words: random, or the weights' name (or
    file) with its hash prefix."""
    if not record:
        return "random initialisation"
    return f"{record.get('name') or record.get('file')} (sha256 {str(record.get('sha256', '?'))[:12]})"


def start_args(start: StartWeights | None) -> tuple[Path | None, tuple[tuple[float, ...], tuple[float, ...]] | None]:
    """``(weights_path, input_norm)`` for ``networks.build_encoder`` / ``SupConModel``."""
    return (None, None) if start is None else (start.file, (start.mean, start.std))


def resolve_start_weights(spec: str | None, arch: str,
                          cancel: CancelToken | None = None) -> Generator[Event, None, StartWeights | None]:
    """``None`` for random initialisation; else the weights ``spec`` names (downloaded when not yet cached).

    A catalogue entry must be of ``arch`` (``ConfigError`` naming the architecture to train with); any other
    ``spec`` is a local ``.pth``, taken to expect ImageNet normalisation like torchvision's weights.
    """
    if not spec:
        return None
    if is_catalogue_name(spec):
        entry = entry_named(spec)
        if entry.arch != arch:
            raise ConfigError(f"{entry.name} is a {entry.arch} backbone; this training uses {arch}.",
                              f"Train with --arch {entry.arch}, or choose weights of {arch} (`scl weights list`).")
        path = yield from fetch_weights(entry, cancel)
        yield Log(f"Starting from {entry.name} ({entry.citation}).")
        return StartWeights(path, entry.name, file_sha256(path), entry.mean, entry.std)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise CheckpointError(f"initial weights file {path} does not exist and no published weights are called "
                              f"{spec!r}.", "Check the path, name published weights (`scl weights list`), or leave "
                              "the weights empty to start from random weights.")
    return StartWeights(path, None, file_sha256(path))
