"""The shared TrainLoop: a diverged model stops training and never reaches a checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from scl_desktop.core.devices import AmpPolicy
from scl_desktop.core.errors import TrainingError
from scl_desktop.core.model.checkpoint import load_checkpoint
from scl_desktop.core.model.samplers import InstanceSampler
from scl_desktop.core.training.loop import TrainLoop, nonfinite_tensors

HUGE_LR = 1e38  # one step with a gradient above 4 overflows the weights to inf


def _loop(tmp_path, epochs: int, scale_per_epoch: list[float]) -> TrainLoop:
    """A 2-weight model whose loss, tanh, stays finite however large the weights become."""
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.5)
    x = torch.ones(2, 2)
    calls = []

    def step(positions: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return torch.tanh(model(x[positions])).mean() * scale_per_epoch[len(calls) - 1]

    return TrainLoop(stage="s", title="Stage 1", model=model, optimizer=torch.optim.SGD(model.parameters(), lr=HUGE_LR),
                     amp=AmpPolicy(False, None, False), device=torch.device("cpu"), step_fn=step,
                     sampler=InstanceSampler([0, 1]), num_samples=2, batch_size=2, epochs=epochs, base_lr=HUGE_LR,
                     checkpoint_path=tmp_path / "last.pt", checkpoint_every=1, nonfinite_hint="Lower the learning rate.")


def _drain(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def test_weights_gone_infinite_with_a_finite_loss_stop_training(tmp_path):
    loop = _loop(tmp_path, epochs=1, scale_per_epoch=[100.0])
    with pytest.raises(TrainingError, match=r"weights became NaN or infinite by epoch 1.*\(weight\)") as info:
        _drain(loop.run())
    assert info.value.hint.startswith("Lower the learning rate.")
    assert not (tmp_path / "last.pt").exists()  # a non-finite checkpoint is never written


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    loop = _loop(tmp_path, epochs=2, scale_per_epoch=[0.0, 100.0])  # epoch 1 does not move, epoch 2 overflows
    with pytest.raises(TrainingError, match="by epoch 2") as info:
        _drain(loop.run())
    assert "last good checkpoint" in info.value.hint
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 1 and torch.equal(state["model"]["weight"], torch.full((1, 2), 0.5))


def test_nonfinite_tensors_names_parameters_and_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    assert nonfinite_tensors(model) == []
    with torch.no_grad():
        model[0].weight[0, 0] = 3e38  # huge but finite: not reported
        model[0].bias[1] = math.nan
        model[1].running_var[2] = math.inf
    assert nonfinite_tensors(model) == ["0.bias", "1.running_var"]
