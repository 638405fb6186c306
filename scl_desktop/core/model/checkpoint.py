"""Checkpoints: atomic save, validated load, and the RNG state a resumed run needs.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (nothing pickled
beyond that), so it loads with ``torch.load(weights_only=True)``. It is serialised in memory
and written with ``atomic.write_bytes``: a crash or a full disk leaves the previous file intact.
"""

from __future__ import annotations

import io
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scl_desktop.core.atomic import remove_stale_temporaries, write_bytes
from scl_desktop.core.errors import CheckpointError

FORMAT = "scl-checkpoint"
FORMAT_VERSION = 1

_log = logging.getLogger(__name__)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` atomically to ``path`` (tagged with the checkpoint format and version).

    Temporary files left beside ``path`` by a writer that was killed are removed first.
    """
    remove_stale_temporaries(path)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, buffer)
    return write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``; ``CheckpointError`` if missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"There is no checkpoint at {path}.",
            "Check the run id or folder; a run has checkpoints only after its first saved epoch.",
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files; its advice does not apply
        _log.info("torch could not load %s: %s", path, exc)
        raise _not_a_checkpoint(path, "is damaged (cut short or overwritten) or not a checkpoint of scl_desktop") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise _foreign(path, state)
    if int(state.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer scl_desktop (checkpoint format {state['format_version']}).",
            "Update scl_desktop to use it.",
        )
    return state


def _foreign(path: Path, state: object) -> CheckpointError:
    """What a loadable file that scl_desktop did not write holds, and what to do with it."""
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        what = "holds bare model weights (a state dict of tensors)"
    elif isinstance(state, dict):
        keys = ", ".join(sorted(map(str, state))[:6])
        what = f"is the checkpoint of another program (keys: {keys})"
    else:
        what = f"holds a {type(state).__name__}"
    return CheckpointError(
        f"{path} {what}, not a checkpoint of scl_desktop, so it cannot be resumed or used as a run's model.",
        "To start a new run from weights in it, pass its state dict as initial weights: "
        "`scl train SPLIT --weights PATH`.")


def held_model(state: dict[str, Any]) -> tuple[str, str | None]:
    """What a run checkpoint holds, in words, and the command that continues it (``None``: none does)."""
    stage = state.get("stage")
    if stage == "encoder":
        return f"a stage-1 {state.get('arch', '')} encoder (made by `scl train`)".replace("  ", " "), "scl train"
    if stage == "baseline":
        return f"a {state.get('method', 'Plain')} baseline model trained end to end (made by `scl baseline`)", \
            "scl baseline"
    return f"a {stage or 'unknown'} checkpoint", None


def _not_a_checkpoint(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"{path} {what}, so it cannot be loaded.",
        "Choose a checkpoint written by `scl train` or `scl baseline`; if this one was, it is damaged: "
        "resume from an earlier run or train again.")


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Capture the global torch (CPU and CUDA), numpy and Python RNGs plus the named ``generators``."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> list[str]:
    """Restore what ``rng_state`` captured (CUDA states only where the same devices exist).

    Returns the names of ``generators`` whose saved state could not be applied (a run resumed on
    another kind of device); they keep their fresh seeding.
    """
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    saved = state.get("generators", {})
    skipped = []
    for name, generator in (generators or {}).items():
        try:
            generator.set_state(saved[name])
        except (KeyError, RuntimeError):  # absent, or saved on another device type (CPU vs CUDA state)
            skipped.append(name)
    return skipped
