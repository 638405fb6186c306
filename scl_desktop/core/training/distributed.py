"""Training on several processes or machines with ``torchrun`` and DistributedDataParallel.

``torchrun --nproc_per_node=N -m scl_desktop.cli train ...`` starts N copies of the command and
sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for each (multi-node: the usual
``--nnodes``/``--rdzv-*`` flags). ``DistContext.from_env()`` reads them; without torchrun it is a
single-process context on which every method is a cheap no-op, so the training loop calls the
same lines either way:

* ``init(device)`` joins the process group (NCCL on CUDA, gloo on the CPU) and returns the
  device this process trains on (``cuda:LOCAL_RANK`` on a multi-GPU node);
* ``wrap_model`` wraps the model in DDP, which averages gradients over the ranks;
* ``supcon_loss`` computes SupCon for this rank's anchors against the projections of *all*
  ranks (a gradient-preserving all-gather; labels gathered too), scaled so that N processes with
  batch B give exactly the gradients of one process with the global batch of N*B;
* ``is_main`` tells which process writes checkpoints, logs, metrics and the run records;
  ``broadcast`` hands rank 0's objects (run folder, resumed state) to the others;
* ``local_main_first`` lets one process per machine build the image cache before the others;
  ``agreed_cancel`` makes every rank stop at the same step when any of them is cancelled.

Multi-node jobs need the dataset, the split and SCL_HOME's runs folder at the same paths on
every machine (a shared file system): every rank reads the images, and a resumed run is read
from its folder by every rank.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from scl_desktop.core.errors import ConfigError, TrainingError
from scl_desktop.core.events import CancelToken
from scl_desktop.core.model.losses import safe_total, supcon_anchor_losses
from scl_desktop.core.model.losses import supcon_loss as single_process_supcon_loss

T = TypeVar("T")

_ENV_HINT = ("Start distributed training with torchrun, e.g. `torchrun --nproc_per_node=2 -m scl_desktop.cli train "
             "SPLIT`, or unset RANK/WORLD_SIZE/LOCAL_RANK to train in one process.")


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"Environment variable {name}={text!r} is not a whole number.", _ENV_HINT) from None


def _all_gather(tensor: torch.Tensor, world_size: int) -> torch.Tensor:
    parts = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums every rank's gradient of this rank's slice."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
        ctx.rank, ctx.batch = rank, tensor.shape[0]
        return _all_gather(tensor, world_size)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.batch:(ctx.rank + 1) * ctx.batch], None, None


class _AgreedCancel(CancelToken):
    """Reads as cancelled on every rank once any rank's own token is cancelled (one all-reduce per read)."""

    def __init__(self, local: CancelToken, group: Any) -> None:
        super().__init__()
        self._local, self._group = local, group

    def cancel(self) -> None:
        self._local.cancel()

    @property
    def cancelled(self) -> bool:
        flag = torch.tensor([int(self._local.cancelled)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        if flag.item():
            self._local.cancel()
        return bool(flag.item())

    def raise_if_cancelled(self, what: str = "The step") -> None:
        if self.cancelled:
            self._local.raise_if_cancelled(what)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly one-process) training job.

    ``rank`` is the global process index, ``world_size`` the number of processes and
    ``local_rank`` the index on this machine (the GPU it uses).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size or self.local_rank < 0:
            raise ConfigError(f"Inconsistent distributed settings: rank {self.rank}, world size {self.world_size}, "
                              f"local rank {self.local_rank}.", _ENV_HINT)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DistContext:
        """The context torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK (one process without them)."""
        env = os.environ if environ is None else environ
        world_size = _env_int(env, "WORLD_SIZE", 1)
        rank = _env_int(env, "RANK", 0)
        return cls(rank=rank, world_size=world_size, local_rank=_env_int(env, "LOCAL_RANK", rank))

    @property
    def enabled(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the one process (rank 0) that writes checkpoints, logs, metrics and the run record."""
        return self.rank == 0

    def init(self, device: torch.device | str, timeout_s: float = 1800.0) -> torch.device:
        """Join the process group and return the device this process trains on.

        One process: returns ``device`` unchanged. Several: NCCL when ``device`` is CUDA (each
        process then uses ``cuda:LOCAL_RANK``), gloo otherwise. Safe to call twice.
        """
        device = torch.device(device)
        if not self.enabled:
            return device
        if device.type == "cuda":
            count = torch.cuda.device_count()
            if self.local_rank >= count:
                raise ConfigError(f"Process with local rank {self.local_rank} needs a GPU but this machine has {count}.",
                                  f"Start at most {count} processes per machine (--nproc_per_node={count}).")
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            try:
                dist.init_process_group(backend=backend, rank=self.rank, world_size=self.world_size,
                                        timeout=datetime.timedelta(seconds=timeout_s))
            except (RuntimeError, ValueError) as exc:
                raise TrainingError(f"Could not join the distributed training job as rank {self.rank} of "
                                    f"{self.world_size} ({backend}): {exc}",
                                    "Check that every process was started by the same torchrun command, that "
                                    "MASTER_ADDR/MASTER_PORT (or --rdzv-endpoint) are reachable from every machine, "
                                    "and that no firewall blocks the port.") from exc
        return device

    def shutdown(self) -> None:
        """Leave the process group (at the end of training); a no-op for one process.

        On gloo every rank first waits (at most 30 s) until all have arrived, so rank 0, which hosts
        the rendezvous store, does not tear it down while another rank is still leaving (that rank
        would abort with "terminate called without an active exception").
        """
        if self.enabled and dist.is_initialized():
            if dist.get_backend() == "gloo":
                with contextlib.suppress(RuntimeError):  # a rank that failed never arrives: leave anyway
                    dist.monitored_barrier(timeout=datetime.timedelta(seconds=30))
            dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait until every process reaches this point (e.g. after rank 0 wrote a checkpoint)."""
        if self.enabled:
            dist.barrier()

    @contextlib.contextmanager
    def local_main_first(self) -> Iterator[None]:
        """Run the block on each machine's first process, then on its other processes.

        For work every process needs but one should do per machine, such as decoding the image
        cache: the others find it done. Usable around ``yield from`` in a step generator.
        """
        if self.enabled and self.local_rank != 0:
            self.barrier()
        yield
        if self.enabled and self.local_rank == 0:
            self.barrier()

    def agreed_cancel(self, cancel: CancelToken | None) -> CancelToken | None:
        """The token to give the training loop: cancelled on every rank as soon as one rank's ``cancel`` is.

        One process: ``cancel`` itself. Several: every read of ``cancelled`` is a one-number
        all-reduce (over a gloo group, so it never waits for a GPU), so all ranks stop at the
        same step. Every rank must read it at the same points: give it to the step loop only,
        not to work whose length differs between ranks (such as building the image cache).
        """
        if not self.enabled:
            return cancel
        group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
        return _AgreedCancel(cancel or CancelToken(), group)

    def wrap_model(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The model wrapped in DistributedDataParallel (unchanged for one process).

        DDP copies rank 0's parameters and buffers to every rank, so all start alike, and
        averages the gradients over the ranks in ``backward``.
        """
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, output_device=device.index if ids else None)

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's ``tensor`` concatenated along dim 0, in rank order.

        Gradients flow back to each rank's own slice (they are summed over the ranks that used
        it) when ``tensor`` requires grad; otherwise the result is a plain copy. All ranks must
        pass tensors of the same shape.
        """
        if not self.enabled:
            return tensor
        if tensor.requires_grad:
            return _GatherWithGrad.apply(tensor, self.rank, self.world_size)
        return _all_gather(tensor, self.world_size)

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (picklable objects: a run folder path, a resumed state dict)."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[return-value]

    def supcon_loss(self, features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1,
                    sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """SupCon of this rank's views ``features`` [B, V, D] against the views of every rank.

        Same arguments as ``losses.supcon_loss`` for the local batch (``labels`` [B], optional
        CS-SCL ``sample_weights`` [B]); one process computes exactly ``losses.supcon_loss``.
        With W ranks the returned value is the loss of the global batch of W*B images on every
        rank (so logs and the non-finite check agree), and its gradient is W times this rank's
        share of that loss, so that DDP's averaging of the gradients over the ranks yields
        exactly the gradient of the single-process loss of the global batch.
        """
        if not self.enabled:
            return single_process_supcon_loss(features, labels, temperature, sample_weights)
        batch, views, dim = features.shape
        all_features = self.gather(features)  # [W*B, V, D], gradients flow back to each rank's slice
        all_labels = self.gather(labels.reshape(batch))
        global_batch = all_features.shape[0]
        # View-major order as in losses.supcon_loss: all first views of the global batch, then all second ...
        contrast = all_features.transpose(0, 1).reshape(views * global_batch, dim)
        anchors = features.transpose(0, 1).reshape(views * batch, dim)
        offsets = torch.arange(views, device=features.device)[:, None] * global_batch + self.rank * batch
        anchor_index = (offsets + torch.arange(batch, device=features.device)[None, :]).reshape(-1)
        weights = None if sample_weights is None else sample_weights.reshape(batch).repeat(views)
        terms, norm = supcon_anchor_losses(anchors, labels.reshape(batch).repeat(views), contrast,
                                           all_labels.repeat(views), anchor_index, temperature, weights)
        # One all-reduce gives the global sum of the anchor weights (of anchors with a positive) and of the terms.
        totals = torch.stack([terms.detach().sum(), norm.sum()])
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        count = safe_total(totals[1])
        share = terms.sum() / count * self.world_size
        return share + (totals[0] / count - share.detach())
