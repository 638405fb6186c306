"""Stage 1: train the encoder + projection head with the supervised contrastive loss.

Data path: the split's dataset is decoded once into the uint8 store (``cache.build_store``);
each step gathers a batch of images chosen by the sampler (instance or class-balanced), copies
it to the device (pinned memory, non-blocking on CUDA), makes two augmented views with the
batched on-device ``augment_batch`` and computes SupCon (CS-SCL weights when asked) on the
projections. No per-image PIL work happens during training. The loop itself (schedule, AMP,
events, checkpoints, resume, non-finite loss check) is ``training.loop.TrainLoop``; its
end-of-epoch hook is the kNN probe of ``training.probe`` (rank 0 only, validation images only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.devices import prepare_model, to_device
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.methods import names_of
from scl_desktop.core.model.augment import augment_batch
from scl_desktop.core.model.losses import class_cost_weights
from scl_desktop.core.model.networks import SupConModel
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.config import EncoderConfig
from scl_desktop.core.training.distributed import DistContext
from scl_desktop.core.training.loop import TrainLoop
from scl_desktop.core.training.probe import PROBE_OFF, PROBE_STAGE, EncoderProbe
from scl_desktop.core.training.setup import (
    image_model_sgd,
    load_resume,
    maybe_compile,
    setup_device,
    training_data,
)
from scl_desktop.core.weights.start import resolve_start_weights, start_args

STAGE = "encoder"
NONFINITE_HINT = (
    "Likely causes: a learning rate too high for this batch size (try a tenth of it with --lr), a very small "
    "--temperature, images that are blank or hold invalid values (check the import report), or, on an older "
    "GPU, fp16 overflow (try --no-amp)."
)


def train_encoder(split: SplitManifest | None, config: EncoderConfig | None, run: runs.Run | None = None,
                  resume: bool = False, cancel: CancelToken | None = None,
                  name: str | None = None, run_store: RunStore | None = None) -> Generator[Event, None, runs.Run]:
    """Stage 1 as a generator of events; returns the run holding the trained encoder.

    A new run (kind "scl", optionally called ``name``) is created in ``run_store`` (default: the
    user's runs) unless ``run`` is given. With
    ``resume`` the run's stored configuration and split are used and training continues from its
    last checkpoint exactly where it stopped (same schedule, sampler order and augmentation draws). When ``cancel`` is
    set, training stops at the next step, saves a checkpoint, marks the run "cancelled" and raises
    ``Cancelled`` carrying the run. A non-finite loss or an out-of-memory error raises ``TrainingError`` (the
    last good checkpoint stays on disk) and marks the run "failed". The run's writer lock is held throughout
    (a second trainer of the same run is refused); resuming marks its stored SCL-* results stale.
    Every ``probe_every`` epochs and after the last, a kNN probe scores the encoder on the validation
    images (``training.probe``: a ``ProbeMetrics`` event and a row of metrics_encoder_probe.csv).
    """
    dist = DistContext.from_env()
    with contextlib.ExitStack() as held:  # the run's writer lock, once the run is known
        state: dict[str, Any] | None = None
        if run is not None and dist.is_main:
            held.enter_context(run.writer("scl train --resume" if resume else "scl train"))
        if resume:
            config, split, state = yield from load_resume(run, EncoderConfig, config, STAGE, "scl train")
            assert run is not None
            if int(state["epoch"]) >= config.epochs:
                yield Log(f"Run {run.id} already finished its {config.epochs} epochs; nothing to resume.")
                return run
            yield Log(f"Resuming run {run.id} at epoch {int(state['epoch']) + 1}, step {int(state['step']) + 1}.")
            if dist.is_main:  # the classifiers fitted so far describe the encoder as it was
                run.mark_stale([m for m in run.methods() if m in names_of("scl")],
                               f"fitted on the encoder of epoch {int(state['epoch'])}, which was trained further")
        if split is None or config is None:
            raise ConfigError("Stage 1 needs a split and a configuration.", "Pass both, or resume an existing run.")
        run_store = run_store or RunStore()
        if run is None and name is not None:
            run_store.check_name_free(name)  # before any work; every rank sees the same answer

        device, amp = yield from setup_device(config, dist)
        with dist.local_main_first():  # the first process of each machine decodes the image cache once
            store, items, labels = yield from training_data(split, config, cancel)
        start = yield from resolve_start_weights(None if resume else config.weights_path, config.arch, cancel)
        model = SupConModel(config.arch, config.proj_dim, *start_args(start))  # before the run: bad weights leave none
        if run is None:
            run = dist.broadcast(run_store.create("scl", split, config.to_json(), config.seed, name=name, device=device)
                                 if dist.is_main else None)
            if dist.is_main:
                held.enter_context(run.writer("scl train"))
            yield Log(f"Run {run.id} in {run.path}.")
        if start is not None and dist.is_main:
            run.record_start_weights(start.to_json())
        net = maybe_compile(dist.wrap_model(prepare_model(model, device, config.channels_last), device), config.compile)
        channels_last = config.channels_last and device.type == "cuda"
        labels_t = torch.from_numpy(labels)
        weights_t = class_cost_weights(np.bincount(labels, minlength=len(split.classes)))[labels_t] if config.cs_scl \
            else None
        sampler_cls = ClassBalancedSampler if config.sampler == "cb" else InstanceSampler
        sampler = sampler_cls(labels, seed=config.seed, rank=dist.rank, world_size=dist.world_size)
        augment_rng = torch.Generator(device=device)
        augment_rng.manual_seed(config.seed + 1 + dist.rank)
        probe = None
        if config.probe_every and not split.val:
            yield Log(PROBE_OFF)
        elif config.probe_every and dist.is_main:  # the other ranks wait at their next step meanwhile
            probe = EncoderProbe(model.encoder, store, split, config, device, amp, channels_last,
                                 record=lambda row: run.append_metrics(PROBE_STAGE, row))

        def step(positions: torch.Tensor) -> torch.Tensor:
            images = to_device(store.batch(items[positions.numpy()]), device)
            batch = images.shape[0]
            views = augment_batch(images.repeat(2, 1, 1, 1), config.image_size, config.augment,
                                  generator=augment_rng, channels_last=channels_last)
            with amp.autocast(device):
                projections = net(views)
            features = torch.stack([projections[:batch], projections[batch:]], dim=1)
            y = to_device(labels_t[positions], device)
            w = None if weights_t is None else to_device(weights_t[positions], device)
            return dist.supcon_loss(features, y, config.temperature, sample_weights=w)  # all ranks' views

        optimizer, before_epoch = image_model_sgd(model.encoder, model.head.parameters(), config, device)
        loop = TrainLoop(
            stage=STAGE, title="Stage 1", model=model, optimizer=optimizer, before_epoch=before_epoch,
            amp=amp, device=device, step_fn=step, sampler=sampler, num_samples=len(sampler),
            batch_size=config.batch_size, epochs=config.epochs, base_lr=config.lr, warmup_epochs=config.warmup_used(),
            generators={"augment": augment_rng}, checkpoint_path=run.checkpoint_file,
            checkpoint_every=config.checkpoint_every, cancel=dist.agreed_cancel(cancel),  # all ranks stop at one step
            evaluate=probe,
            nonfinite_hint=NONFINITE_HINT,
            checkpoint_extra={"arch": config.arch, "proj_dim": config.proj_dim, "feature_dim": model.feature_dim,
                              "classes": list(split.classes), "config": config.to_json()},
            record=(lambda row: run.append_metrics(STAGE, row)) if dist.is_main else None,
            write_checkpoints=dist.is_main,
        )
        if dist.is_main:
            if state is not None:
                for stage in (STAGE, PROBE_STAGE):
                    run.truncate_metrics(stage, int(state["epoch"]))
            run.set_status("running")
        try:
            result = yield from loop.run(state)
        except Exception as exc:
            if dist.is_main:
                run.set_status("failed", str(exc))
            raise
        finally:
            dist.shutdown()
        if result.status == "cancelled":
            if dist.is_main:
                run.set_status("cancelled", f"cancelled in epoch {result.epochs_done + 1}/{config.epochs}")
            raise Cancelled(f"Stage 1 of run {run.id} was cancelled in epoch {result.epochs_done + 1}/{config.epochs}; "
                            "its checkpoint was saved.", f"Continue with `scl train --resume {run.id}`.", kept=run)
        if dist.is_main:
            run.set_status("done")
        done = (f"Stage 1 finished {config.epochs} epochs (final loss {result.loss:.4f})" if config.epochs else
                "No stage 1 (0 epochs): the pretrained encoder is kept as it is, for a probe-only classifier")
        yield Log(f"{done}. Next: `scl fit {run.id} --balance cb`.")
        return run
