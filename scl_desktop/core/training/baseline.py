"""The paper's "Plain" baseline: encoder + linear classifier trained end to end with cross-entropy.

Same data path and augmentation as stage 1 (decoded store, batched on-device augmentation),
one view per image. ``balance`` "none" is Plain; "cb" samples classes uniformly (eq. 2) and
"csce" weights the loss by n_min/n_y (eq. 3), giving "Plain-CB" and "Plain-CSCE". The result is
evaluated on the test part and saved in a run of kind "baseline", so users see what the
two-stage method buys them on the same split.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from scl_desktop.core import metrics
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.devices import prepare_model, to_device
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.methods import method_for
from scl_desktop.core.model.augment import augment_batch
from scl_desktop.core.model.losses import ce_loss, class_cost_weights, csce_loss
from scl_desktop.core.model.networks import LinearClassifier, build_encoder
from scl_desktop.core.model.predictor import Predictor, evaluate_predictor
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.config import BaselineConfig
from scl_desktop.core.training.distributed import DistContext
from scl_desktop.core.training.loop import TrainLoop
from scl_desktop.core.training.setup import (
    eval_part,
    image_model_sgd,
    load_resume,
    maybe_compile,
    setup_device,
    training_data,
)
from scl_desktop.core.weights.start import resolve_start_weights, start_args

STAGE = "baseline"
NONFINITE_HINT = (
    "Likely causes: a learning rate too high for this batch size (try a tenth of it with --lr), images that are "
    "blank or hold invalid values (check the import report), or, on an older GPU, fp16 overflow (try --no-amp)."
)


def train_baseline(split: SplitManifest | None, config: BaselineConfig | None, cancel: CancelToken | None = None,
                   run: runs.Run | None = None, resume: bool = False,
                   name: str | None = None,
                   run_store: RunStore | None = None) -> Generator[Event, None, tuple[runs.Run, metrics.Evaluation]]:
    """Train and evaluate a Plain / Plain-CB / Plain-CSCE baseline; returns (run, test ``Evaluation``).

    Each ``eval_every``-th epoch yields ``EpochMetrics`` with per-class accuracy on the
    validation part (the test part when there is none). Checkpoints, resume and the non-finite
    loss check work as in stage 1. Cancelling saves a checkpoint, marks the run "cancelled" and
    raises ``Cancelled`` (resume it with ``resume=True``). The run's writer lock is held throughout.
    """
    with contextlib.ExitStack() as held:  # the run's writer lock, once the run is known
        state: dict[str, Any] | None = None
        if run is not None:
            held.enter_context(run.writer("scl baseline --resume" if resume else "scl baseline"))
        if resume:
            config, split, state = yield from load_resume(run, BaselineConfig, config, STAGE, "scl baseline")
            assert run is not None
            yield Log(f"Resuming baseline run {run.id} at epoch {int(state['epoch']) + 1}.")
        if split is None or config is None:
            raise ConfigError("The baseline needs a split and a configuration.", "Pass both, or resume an existing run.")
        method = method_for("baseline", config.balance).name
        run_store = run_store or RunStore()
        if run is None and name is not None:
            run_store.check_name_free(name)  # before any work

        device, amp = yield from setup_device(config, DistContext())
        store, items, labels = yield from training_data(split, config, cancel)
        start = yield from resolve_start_weights(None if resume else config.weights_path, config.arch, cancel)
        encoder, dim = build_encoder(config.arch, *start_args(start))  # before the run: bad weights leave none
        if run is None:
            run = run_store.create("baseline", split, config.to_json(), config.seed, name=name, device=device)
            held.enter_context(run.writer("scl baseline"))
            yield Log(f"Run {run.id} ({method}) in {run.path}.")
        if start is not None:
            run.record_start_weights(start.to_json())
        model = Predictor(encoder, LinearClassifier(dim, len(split.classes)), config.image_size, split.classes,
                          config.channels_last)
        logits_of = maybe_compile(prepare_model(model, device, config.channels_last).logits, config.compile)
        channels_last = config.channels_last and device.type == "cuda"
        labels_t = torch.from_numpy(labels)
        class_weights = class_cost_weights(np.bincount(labels, minlength=len(split.classes))).to(device)
        sampler_cls = ClassBalancedSampler if config.balance == "cb" else InstanceSampler
        sampler = sampler_cls(labels, seed=config.seed)
        augment_rng = torch.Generator(device=device)
        augment_rng.manual_seed(config.seed + 1)

        def step(positions: torch.Tensor) -> torch.Tensor:
            images = to_device(store.batch(items[positions.numpy()]), device)
            views = augment_batch(images, config.image_size, config.augment, generator=augment_rng,
                                  channels_last=channels_last)
            with amp.autocast(device):
                logits = logits_of(views)
            y = to_device(labels_t[positions], device)
            return csce_loss(logits, y, class_weights) if config.balance == "csce" else ce_loss(logits, y)

        part = eval_part(split)

        scored: dict[int, metrics.Evaluation] = {}  # epoch -> evaluation of the part scored each epoch

        def evaluate_epoch(epoch: int) -> Generator[Event, None, dict[str, Any]]:
            if epoch % config.eval_every and epoch != config.epochs:
                return {}
            scored.clear()
            scored[epoch] = yield from evaluate_predictor(model, split, store, device, amp, config.batch_size, part=part)
            model.train()
            return metrics.epoch_fields(scored[epoch])

        optimizer, before_epoch = image_model_sgd(encoder, model.classifier.parameters(), config, device)
        loop = TrainLoop(
            stage=STAGE, title=f"Baseline ({method})", model=model,
            optimizer=optimizer, before_epoch=before_epoch,
            amp=amp, device=device, step_fn=step, sampler=sampler, num_samples=len(sampler),
            batch_size=config.batch_size, epochs=config.epochs, base_lr=config.lr, warmup_epochs=config.warmup_used(),
            generators={"augment": augment_rng}, checkpoint_path=run.checkpoint_file,
            checkpoint_every=config.checkpoint_every, evaluate=evaluate_epoch, cancel=cancel,
            nonfinite_hint=NONFINITE_HINT, record=lambda row: run.append_metrics(STAGE, row),
            checkpoint_extra={"arch": config.arch, "feature_dim": dim, "classes": list(split.classes),
                              "config": config.to_json(), "method": method},
        )
        if state is not None:
            run.truncate_metrics(STAGE, int(state["epoch"]))
        run.set_status("running")
        model.train()
        try:
            result = yield from loop.run(state)
        except Exception as exc:
            run.set_status("failed", str(exc))
            raise
        if result.status == "cancelled":
            run.set_status("cancelled", f"cancelled in epoch {result.epochs_done + 1}")
            raise Cancelled(f"The {method} baseline was cancelled in epoch {result.epochs_done + 1}.",
                            f"A checkpoint was saved; continue with `scl baseline --resume {run.id}`.", kept=run)
        if part == "test" and config.epochs in scored:
            evaluation = scored[config.epochs]  # the last epoch was already scored on the test part
        else:
            try:
                evaluation = yield from evaluate_predictor(model, split, store, device, amp, config.batch_size,
                                                           cancel)
            except Cancelled as exc:  # trained, not yet scored: resuming scores it
                run.set_status("cancelled", "cancelled during the final evaluation")
                raise Cancelled(f"The {method} baseline was cancelled during its final evaluation.",
                                f"Its training is finished; `scl baseline --resume {run.id}` scores it.",
                                kept=run) from exc
        run.save_result(method, evaluation, extra={"stage": STAGE, "config": config.to_json()})
        run.set_status("done")
        yield Log(metrics.result_line(method, evaluation))
        return run, evaluation
