"""Distributed training: 2 gloo processes give the loss and gradients of one process on the global batch."""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken
from scl_desktop.core.model.losses import class_cost_weights, supcon_loss
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler
from scl_desktop.core.training.distributed import DistContext

WORLD, BATCH, VIEWS, SIZE = 2, 4, 2, 16
LABELS = torch.tensor([0, 1, 0, 2, 1, 1, 0, 3])  # class 3 occurs once (its anchors see only their other view)


class _Net(nn.Module):
    """A small conv net with an L2-normalised projection (no BatchNorm, whose batch statistics would
    differ between a rank's batch and the global batch; torchvision stays unimported in the workers)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(6, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.body(x), dim=1)


def _global_batch() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The same model, images [W*B, V, 3, S, S] and CS-SCL weights [W*B] in every process (float64)."""
    torch.manual_seed(0)
    model = _Net().double()
    images = torch.rand(WORLD * BATCH, VIEWS, 3, SIZE, SIZE, dtype=torch.float64)
    weights = class_cost_weights(torch.bincount(LABELS)).double()[LABELS]
    return model, images, weights


def _projections(net: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """[N, V, D] projections; like train_encoder, all views go through the network as one batch."""
    n = images.shape[0]
    flat = images.transpose(0, 1).reshape(VIEWS * n, *images.shape[2:])
    return net(flat).reshape(VIEWS, n, -1).transpose(0, 1)


def _reference(model: nn.Module, images: torch.Tensor, weights: torch.Tensor | None) -> tuple[float, list]:
    reference = copy.deepcopy(model)
    loss = supcon_loss(_projections(reference, images), LABELS, 0.1, sample_weights=weights)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in reference.parameters()]


def _worker(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    ctx = DistContext(rank=rank, world_size=WORLD, local_rank=rank)
    device = ctx.init("cpu", timeout_s=60)
    try:
        assert device == torch.device("cpu") and ctx.enabled and ctx.is_main == (rank == 0)
        model, images, weights = _global_batch()
        net = ctx.wrap_model(copy.deepcopy(model), device)
        mine = slice(rank * BATCH, (rank + 1) * BATCH)
        for w in (None, weights):  # SupCon, then CS-SCL
            expected_loss, expected_grads = _reference(model, images, w)
            net.zero_grad(set_to_none=True)
            loss = ctx.supcon_loss(_projections(net, images[mine]), LABELS[mine], 0.1,
                                   sample_weights=None if w is None else w[mine])
            loss.backward()  # DDP averages the gradients over both ranks here
            assert loss.item() == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
            for (name, p), g in zip(net.module.named_parameters(), expected_grads, strict=True):
                torch.testing.assert_close(p.grad, g, rtol=1e-9, atol=1e-12, msg=f"gradient of {name}")
        # helpers: gather in rank order, broadcast from rank 0
        assert ctx.gather(torch.tensor([rank])).tolist() == list(range(WORLD))
        assert ctx.broadcast({"run": f"from rank {rank}"}) == {"run": "from rank 0"}
        # the first process builds (e.g. the image cache), the other finds it built
        marker = Path(folder) / "built"
        with ctx.local_main_first():
            assert marker.exists() == (rank != 0)
            marker.touch()
        # a cancel on one rank stops every rank at the same step
        local = CancelToken()
        agreed = ctx.agreed_cancel(local)
        assert not agreed.cancelled
        if rank == 1:
            local.cancel()
        assert agreed.cancelled and local.cancelled
        with pytest.raises(Cancelled):
            agreed.raise_if_cancelled()
    finally:
        ctx.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_gloo_processes_match_one_process_on_the_global_batch(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)


def test_single_process_context_is_a_no_op():
    ctx = DistContext.from_env({})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.enabled, ctx.is_main) == (0, 1, 0, False, True)
    model, images, weights = _global_batch()
    assert ctx.init("cpu") == torch.device("cpu")
    assert ctx.wrap_model(model, torch.device("cpu")) is model
    feats = _projections(model, images)
    assert torch.equal(ctx.supcon_loss(feats, LABELS, 0.1, weights), supcon_loss(feats, LABELS, 0.1, weights))
    x = torch.arange(3)
    assert ctx.gather(x) is x and ctx.broadcast("a") == "a"
    token = CancelToken()
    assert ctx.agreed_cancel(token) is token and ctx.agreed_cancel(None) is None
    with ctx.local_main_first():
        ctx.barrier()


def test_from_env_reads_torchrun_variables_and_rejects_nonsense():
    ctx = DistContext.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_main) == (3, 4, 1, False)
    for env in ({"WORLD_SIZE": "two"}, {"RANK": "2", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(ConfigError, match="torchrun"):
            DistContext.from_env(env)


@pytest.mark.parametrize("cls", [InstanceSampler, ClassBalancedSampler])
def test_rank_batches_together_are_the_single_process_global_batch(cls):
    """Step s of W ranks with batch B draws exactly the images of step s of one process with batch W*B."""
    labels = np.array([0] * 40 + [1] * 6 + [2] * 3)
    world, batch = 3, 4
    single = cls(labels, num_samples=48, seed=7)
    shards = [cls(labels, num_samples=48, seed=7, rank=r, world_size=world) for r in range(world)]
    for epoch in (0, 5):
        for s in (single, *shards):
            s.set_epoch(epoch)
        order = list(single)
        parts = [list(s) for s in shards]
        for step in range(len(parts[0]) // batch):
            together = sorted(i for p in parts for i in p[step * batch:(step + 1) * batch])
            assert together == sorted(order[step * world * batch:(step + 1) * world * batch])
