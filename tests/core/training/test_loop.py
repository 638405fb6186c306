"""The shared TrainLoop: a diverged model stops training and never reaches a checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from scl_desktop.core.devices import AmpPolicy
from scl_desktop.core.errors import TrainingError
from scl_desktop.core.model.checkpoint import load_checkpoint
from scl_desktop.core.model.samplers import InstanceSampler
from scl_desktop.core.training.loop import TrainLoop, cosine_lr, nonfinite_tensors, samples_per_epoch

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


def test_samples_per_epoch_lengthens_small_epochs_only():
    assert samples_per_epoch(1000, 100, epochs=10, min_steps=50) == 1000  # 100 steps already
    assert samples_per_epoch(304, 128, epochs=100, min_steps=1000) == 10 * 128  # logic: 2 steps/epoch -> 10
    assert samples_per_epoch(20, 128, epochs=3, min_steps=10) == 4 * 128  # fewer images than a batch
    assert samples_per_epoch(304, 128, epochs=100, min_steps=0) == 304


def test_min_steps_epochs_run_every_step_under_one_cosine_schedule():
    """8 images, batch 4, 2 epochs, at least 10 steps: 5 steps per epoch and the cosine spans all 10."""
    model = torch.nn.Linear(2, 1)
    x = torch.randn(8, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    lrs, seen = [], []

    def step(positions: torch.Tensor) -> torch.Tensor:
        lrs.append(optimizer.param_groups[0]["lr"])
        seen.extend(positions.tolist())
        return model(x[positions]).pow(2).mean()

    num = samples_per_epoch(8, 4, epochs=2, min_steps=10)
    loop = TrainLoop(stage="s", title="Stage 2", model=model, optimizer=optimizer, amp=AmpPolicy(False, None, False),
                     device=torch.device("cpu"), step_fn=step, sampler=InstanceSampler(list(range(8)), num_samples=num),
                     num_samples=num, batch_size=4, epochs=2, base_lr=0.1, write_checkpoints=False)
    result = _drain(loop.run())
    assert result.epochs_done == 2 and loop.steps_per_epoch == 5 and loop.total_steps == 10
    assert lrs == pytest.approx([cosine_lr(0.1, i, 10) for i in range(10)])
    assert sorted(set(seen)) == list(range(8))
