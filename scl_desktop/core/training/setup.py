"""What every trainer does before its loop: threads, seeds, device, mixed precision, the
training data from the decoded store, the stored state to resume from, and the optimizer."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from scl_desktop.core import devices
from scl_desktop.core.data import store_size
from scl_desktop.core.data.cache import DecodedStore, build_store
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import ConfigError, DatasetError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.model.checkpoint import held_model, load_checkpoint
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.training.config import C, ImageModelSettings
from scl_desktop.core.training.distributed import DistContext


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads(num_threads: int | None) -> None:
    """Use ``num_threads`` CPU threads for torch's intra-op work (``None`` keeps torch's choice)."""
    if num_threads:
        torch.set_num_threads(int(num_threads))


STEM_PREFIXES = ("conv1.", "bn1.", "layer1.")
"""The parameters of a ResNet's stem and first stage, which ``freeze_epochs`` holds still."""


def image_model_sgd(encoder: nn.Module, others: Iterable[nn.Parameter], config: ImageModelSettings,
                    device: torch.device) -> tuple[torch.optim.SGD, Callable[[int], None] | None]:
    """The SGD of stage 1 or a baseline over ``encoder`` and ``others`` (head, classifier), and the
    ``TrainLoop.before_epoch`` hook that holds the stem and first stage still (learning rate 0) for
    ``config.freeze_epochs`` epochs (None when it is 0: then one parameter group, as always before)."""
    others = list(others)
    if not config.freeze_epochs:
        return make_sgd([*encoder.parameters(), *others], config.lr, config.momentum, config.weight_decay,
                        device), None
    stem = [p for name, p in encoder.named_parameters() if name.startswith(STEM_PREFIXES)]
    held = {id(p) for p in stem}
    rest = [p for p in [*encoder.parameters(), *others] if id(p) not in held]
    optimizer = make_sgd([{"params": stem, "stem": True}, {"params": rest}], config.lr, config.momentum,
                         config.weight_decay, device)

    def before_epoch(epoch: int) -> None:
        for group in optimizer.param_groups:
            if group.get("stem"):
                group["lr_scale"] = 0.0 if epoch < config.freeze_epochs else 1.0
    return optimizer, before_epoch


def make_sgd(params: Any, lr: float, momentum: float, weight_decay: float, device: torch.device) -> torch.optim.SGD:
    """SGD with momentum; the fused CUDA kernel where the device supports it. ``params``: parameters or
    parameter groups (a group's ``lr_scale`` multiplies the loop's learning rate)."""
    kwargs: dict[str, Any] = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
    if device.type == "cuda":
        kwargs["fused"] = True
    return torch.optim.SGD(params, **kwargs)


def maybe_compile(fn: Callable[..., Any], enabled: bool) -> Callable[..., Any]:
    """``torch.compile(fn)`` when ``enabled`` (a module or a bound method), else ``fn`` unchanged.

    Checkpoints keep saving the original module, whose parameters the compiled one shares.
    """
    return torch.compile(fn) if enabled else fn


def training_data(split: SplitManifest, config: ImageModelSettings,
                  cancel: CancelToken | None) -> Generator[Event, None, tuple[DecodedStore, np.ndarray, np.ndarray]]:
    """The decoded store of the split's dataset, the training item indices and their class indices.

    The store's side is ``config.store_size``, else the one ``store_size.choose`` picks for the
    config's views (logged with the reason).
    """
    items = np.asarray(split.train, dtype=np.int64)
    labels = np.asarray(split.labels("train"), dtype=np.int64)
    if len(items) < 2 or len(np.unique(labels)) < 2:
        raise DatasetError(
            f"The split's training part has {len(items)} image(s) in {len(np.unique(labels))} class(es); "
            "training needs images of at least two classes.",
            "Build a split with training images in two or more classes (`scl split`).")
    chosen = store_size.choose(split.dataset, config.image_size, config.augment.crop, config.augment.crop_scale[0],
                               config.store_size)
    yield Log(f"Decoded image cache: {chosen.reason}.")
    store = yield from build_store(split.dataset, chosen.size, cancel)
    return store, items, labels


def load_resume(run: runs.Run | None, config_cls: type[C], config: C | None, stage: str,
                command: str) -> Generator[Event, None, tuple[C, SplitManifest, dict[str, Any]]]:
    """The stored configuration, split and last checkpoint of ``run``, to resume ``stage`` with.

    ``ConfigError`` without a run or when the run's checkpoint belongs to another trainer
    (``command`` names the one that continues runs of ``stage``); options given now that differ
    from the stored ones are ignored with a warning. The configuration comes back with the run's
    store size (``Run.store_size``) filled in, so a resumed run decodes the pixels it started on.
    """
    if run is None:
        raise ConfigError("Resuming needs the run to continue.", "Pass the run id or folder (--resume RUN).")
    state = load_checkpoint(run.checkpoint_file)
    if state.get("stage") != stage:
        held, continued_by = held_model(state)
        raise ConfigError(f"Run {run.id} holds {held}, not a {stage} checkpoint, so `{command} --resume` cannot "
                          "continue it.",
                          f"Continue it with `{continued_by} --resume {run.id}`." if continued_by else
                          f"`{command} --resume` continues runs started with `{command}`.")
    stored = config_cls.from_json(run.config)
    if config is not None and config != stored:
        yield Log("Resuming with the run's stored configuration; other options given now are ignored.", "warning")
    if isinstance(stored, ImageModelSettings) and stored.store_size is None:
        stored = stored.replace(store_size=run.store_size)  # the size it started with, whatever the rule is now
    return stored, run.split, state


def setup_device(config: ImageModelSettings | Any, dist: DistContext) -> Generator[Event, None, tuple[
        torch.device, devices.AmpPolicy]]:
    """Threads, seeds, device (joined to the distributed job, if any) and mixed-precision policy."""
    set_threads(config.num_threads)
    seed_everything(config.seed)
    choice = devices.choose_device(config.device)
    device = dist.init(choice.device)
    devices.configure_backends(device)
    policy = devices.amp_policy(device)
    if not config.amp:
        policy = devices.AmpPolicy(False, None, False, "switched off")
    yield Log(f"Training on {device} ({choice.reason}); mixed precision: {policy.label}.")
    return device, policy


def eval_part(split: SplitManifest) -> str:
    """The part scored each epoch: "val" when the split has one, else "test"."""
    return "val" if split.val else "test"
