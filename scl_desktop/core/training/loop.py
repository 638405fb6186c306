"""The one epoch/step loop every trainer shares, and the small helpers around it.

Stage 1 (SupCon encoder), stage 2 (linear classifier) and the end-to-end baselines differ only
in what one step computes; ``TrainLoop`` does the rest the same way for all of them: SGD with a
per-step cosine learning rate (optional linear warm-up), mixed precision through the device's
``AmpPolicy``, throttled ``Progress``/``StepMetrics`` events, ``EpochMetrics`` with samples/s and
ETA, the non-finite loss and weights checks, cancellation at the next step, periodic and on-cancel
checkpoints, and an exact resume (model, optimizer, scaler, epoch, step and RNG states).

Inside the step loop nothing waits for the device: the loss is accumulated on the device and
read only at log points (at most a few times per second) and at the end of each epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from scl_desktop.core import devices
from scl_desktop.core.errors import TrainingError
from scl_desktop.core.events import CancelToken, EpochMetrics, Event, Log, ProbeMetrics, RateMeter, StepMetrics
from scl_desktop.core.model.checkpoint import restore_rng_state, rng_state, save_checkpoint

LOG_INTERVAL_S = 0.5
"""Seconds between two step events (each one reads the loss from the device)."""


class IndexSampler(Protocol):
    """What the samplers of ``model.samplers`` provide: a per-epoch order of sample positions."""

    def set_epoch(self, epoch: int) -> None: ...

    def __iter__(self) -> Any: ...


def cosine_lr(base_lr: float, step: int, total_steps: int, warmup_steps: int = 0) -> float:
    """Learning rate at optimisation ``step`` (0-based): linear warm-up, then cosine decay to 0."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * progress))


def samples_per_epoch(num_samples: int, batch_size: int, epochs: int, min_steps: int = 0) -> int:
    """Samples to draw per epoch so that ``epochs`` epochs make at least ``min_steps`` steps in all.

    ``num_samples`` (one pass) when that already gives enough steps of ``TrainLoop``'s batch,
    else whole batches of ``batch_size`` enough for ``ceil(min_steps / epochs)`` steps per epoch.
    """
    steps = max(1, num_samples // min(batch_size, num_samples))
    needed = math.ceil(min_steps / epochs)
    return num_samples if steps >= needed else needed * batch_size


StepFn = Callable[[torch.Tensor], torch.Tensor]
"""One training step's forward pass: sample positions (CPU int64) -> scalar loss on the device."""

EvalFn = Callable[[int], Generator[Event, None, dict[str, Any]]]
"""End-of-epoch evaluation: epoch number (1-based) -> events, returning extra ``EpochMetrics`` fields."""


@dataclass
class LoopResult:
    """How a loop ended: ``status`` "done" or "cancelled", completed epochs, last epoch's mean loss."""

    status: str
    epochs_done: int
    loss: float | None
    checkpoint: Path | None


@dataclass
class TrainLoop:
    """Everything the shared loop needs. ``model`` is what checkpoints save (never a compiled wrapper).

    ``num_samples`` samples are drawn per epoch from ``sampler`` (positions ``0..n-1`` that
    ``step_fn`` maps to its data); an epoch has ``num_samples // batch_size`` steps (one step
    with every sample when there are fewer samples than a batch). ``record`` receives one row
    per epoch for the metrics CSV. ``checkpoint_every`` 0 saves only at the end and on cancel.
    """

    stage: str
    title: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    amp: devices.AmpPolicy
    device: torch.device
    step_fn: StepFn
    sampler: IndexSampler
    num_samples: int
    batch_size: int
    epochs: int
    base_lr: float
    warmup_epochs: int = 0
    generators: dict[str, torch.Generator] = field(default_factory=dict)
    checkpoint_path: Path | None = None
    checkpoint_every: int = 0
    checkpoint_extra: dict[str, Any] = field(default_factory=dict)
    evaluate: EvalFn | None = None
    record: Callable[[dict[str, Any]], None] | None = None
    cancel: CancelToken | None = None
    nonfinite_hint: str = "Lower the learning rate."
    write_checkpoints: bool = True
    before_epoch: Callable[[int], None] | None = None  # called with the 0-based epoch before it starts

    def __post_init__(self) -> None:
        self.scaler = self.amp.scaler(self.device)
        self.batch = min(self.batch_size, self.num_samples)
        self.steps_per_epoch = max(1, self.num_samples // self.batch)
        self.total_steps = self.epochs * self.steps_per_epoch
        self._last_checkpoint: Path | None = None
        self._sum_dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64

    # ----------------------------------------------------------------- checkpoints
    def _state(self, epoch: int, step: int, loss_sum: float, seconds: float) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "epoch": epoch,
            "step": step,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(self.generators),
            "partial_epoch": {"loss_sum": loss_sum, "seconds": seconds},
            **self.checkpoint_extra,
        }

    def _save(self, epoch: int, step: int, loss_sum: float, seconds: float) -> Path | None:
        if self.checkpoint_path is None or not self.write_checkpoints:
            return None
        self._last_checkpoint = save_checkpoint(self.checkpoint_path, self._state(epoch, step, loss_sum, seconds))
        return self._last_checkpoint

    def restore(self, state: dict[str, Any]) -> tuple[int, int, float, float, list[str]]:
        """Load a checkpoint of this loop.

        Returns (epoch, step, partial loss sum, partial seconds, generators whose state could not be restored).
        """
        if state.get("steps_per_epoch") != self.steps_per_epoch:
            raise TrainingError(
                f"The checkpoint has {state.get('steps_per_epoch')} steps per epoch but this run has "
                f"{self.steps_per_epoch}, so it cannot continue the same schedule.",
                "Resume with as many training processes (GPUs) as the run started with; the split and batch "
                "size are taken from the run itself.")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):  # empty when saved without loss scaling (bf16, CPU); a fresh scale is right then
            self.scaler.load_state_dict(state["scaler"])
        skipped = restore_rng_state(state["rng"], self.generators)
        self._last_checkpoint = self.checkpoint_path
        partial = state.get("partial_epoch", {})
        return (int(state["epoch"]), int(state["step"]), float(partial.get("loss_sum", 0.0)),
                float(partial.get("seconds", 0.0)), skipped)

    # ----------------------------------------------------------------- the loop
    def _nonfinite(self, value: float, epoch: int, step: int) -> TrainingError:
        return self._diverged(f"The {self.title} loss became {value} at epoch {epoch + 1}, step {step}")

    def _diverged(self, what: str) -> TrainingError:
        kept = (f"The last good checkpoint {self._last_checkpoint} was kept; resume from it after fixing the cause."
                if self._last_checkpoint else "No checkpoint had been written yet.")
        return TrainingError(f"{what}, so training stopped.", f"{self.nonfinite_hint} {kept}")

    def _check_weights(self, epoch: int, step: int) -> None:
        """``TrainingError`` when a parameter or buffer (BatchNorm statistics) holds NaN or inf."""
        bad = nonfinite_tensors(self.model)
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise self._diverged(f"The {self.title} model's weights became NaN or infinite by epoch {epoch + 1}, "
                                 f"step {step} ({', '.join(bad[:3])}{more})")

    def _order(self, epoch: int) -> torch.Tensor:
        self.sampler.set_epoch(epoch)
        return torch.as_tensor(np.fromiter(iter(self.sampler), dtype=np.int64))

    def run(self, resume: dict[str, Any] | None = None) -> Generator[Event, None, LoopResult]:
        """Train to ``epochs`` (from a checkpoint state when ``resume``); yield events; return how it ended."""
        epoch, start_step, resumed_loss, resumed_seconds = 0, 0, 0.0, 0.0
        if resume is not None:
            epoch, start_step, resumed_loss, resumed_seconds, skipped = self.restore(resume)
            if skipped:
                yield Log(f"The random state of {', '.join(skipped)} was saved on another kind of device and starts "
                          "afresh; the result will differ slightly from an uninterrupted run.", "warning")
        warmup_steps = self.warmup_epochs * self.steps_per_epoch
        epoch_times: list[float] = []
        last_loss: float | None = None
        while epoch < self.epochs:
            if self.before_epoch is not None:
                self.before_epoch(epoch)
            order = self._order(epoch)
            started = time.perf_counter() - resumed_seconds
            loss_sum = torch.tensor(resumed_loss, dtype=self._sum_dtype, device=self.device)
            meter = RateMeter(total=self.steps_per_epoch)
            meter.start = started
            task = f"{self.title} epoch {epoch + 1}/{self.epochs}"
            last_log = 0.0
            for step in range(start_step, self.steps_per_epoch):
                if self.cancel is not None and self.cancel.cancelled:
                    return self._cancelled(epoch, step, loss_sum, time.perf_counter() - started)
                global_step = epoch * self.steps_per_epoch + step
                lr = cosine_lr(self.base_lr, global_step, self.total_steps, warmup_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                positions = order[step * self.batch:(step + 1) * self.batch]
                with devices.oom_guard(self.batch, self.device, self.title):
                    loss = self.step_fn(positions)
                    self.optimizer.zero_grad(set_to_none=True)
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                loss_sum += loss.detach()
                now = time.perf_counter()
                if now - last_log >= LOG_INTERVAL_S or step + 1 == self.steps_per_epoch:
                    last_log = now
                    mean = loss_sum.item() / (step + 1)
                    if not math.isfinite(mean):
                        raise self._nonfinite(mean, epoch, step + 1)
                    yield StepMetrics(self.stage, epoch + 1, step + 1, self.steps_per_epoch, mean, lr)
                    yield meter.progress(task, step + 1, unit="steps", message=f"loss {mean:.4f}")
            seconds = time.perf_counter() - started
            last_loss = loss_sum.item() / self.steps_per_epoch
            if not math.isfinite(last_loss):
                raise self._nonfinite(last_loss, epoch, self.steps_per_epoch)
            self._check_weights(epoch, self.steps_per_epoch)
            epoch_times.append(seconds)
            epoch += 1
            start_step, resumed_loss, resumed_seconds = 0, 0.0, 0.0
            extra: dict[str, Any] = {}
            if self.evaluate is not None:
                extra = yield from self.evaluate(epoch)
            eta = (self.epochs - epoch) * sum(epoch_times) / len(epoch_times)
            samples_per_s = self.steps_per_epoch * self.batch / max(seconds, 1e-9)
            event = EpochMetrics(self.stage, epoch, self.epochs, last_loss, lr, samples_per_s, eta, **extra)
            if self.record is not None:
                self.record(epoch_row(event, seconds))
            if epoch == self.epochs or (self.checkpoint_every and epoch % self.checkpoint_every == 0):
                self._save(epoch, 0, 0.0, 0.0)
            yield event
        if self.epochs == 0:  # nothing to train (a pretrained encoder used as it is): its weights are the result
            self._save(0, 0, 0.0, 0.0)
        return LoopResult("done", epoch, last_loss, self._last_checkpoint)

    def _cancelled(self, epoch: int, step: int, loss_sum: torch.Tensor, seconds: float) -> LoopResult:
        total = loss_sum.item()
        if not math.isfinite(total):
            raise self._nonfinite(total / max(step, 1), epoch, step)
        self._check_weights(epoch, step)
        path = self._save(epoch, step, total, seconds)
        return LoopResult("cancelled", epoch, total / step if step else None, path)


def nonfinite_tensors(model: nn.Module) -> list[str]:
    """Names of the floating-point parameters and buffers of ``model`` holding NaN or inf.

    One fused max-abs reduction over all tensors (it cannot overflow, unlike a 2-norm) and one read.
    """
    named = [(name, t.detach()) for name, t in (*model.named_parameters(), *model.named_buffers())
             if t.is_floating_point() and t.numel()]
    if not named:
        return []
    finite = torch.stack([peak.isfinite() for peak in torch._foreach_norm([t for _, t in named], math.inf)])
    return [named[i][0] for i in torch.nonzero(~finite.cpu()).flatten().tolist()]


def epoch_row(event: EpochMetrics, seconds: float) -> dict[str, Any]:
    """The metrics-CSV row of one epoch: scalars first, then one ``acc_<class>`` column per class."""
    row: dict[str, Any] = {
        "epoch": event.epoch,
        "loss": event.loss,
        "lr": event.lr,
        "samples_per_s": round(event.samples_per_s, 3),
        "seconds": round(seconds, 3),
    }
    return {**row, **accuracy_columns(event)}


def accuracy_columns(event: EpochMetrics | ProbeMetrics) -> dict[str, Any]:
    """An event's accuracies as metrics-CSV columns: majority, minority, overall, then ``acc_<class>``."""
    row: dict[str, Any] = {}
    if event.overall is not None:
        row.update(majority=event.majority, minority=event.minority, overall=event.overall)
    for name, acc in (event.per_class or {}).items():
        row[f"acc_{name}"] = acc
    return row
