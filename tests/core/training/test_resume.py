"""Checkpoints and resume: atomic files, RNG state, the schedule, and `scl train` killed with SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.errors import CheckpointError
from scl_desktop.core.events import drive
from scl_desktop.core.model.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from scl_desktop.core.training.config import EncoderConfig
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.core.training.loop import cosine_lr
from tests.core.training.test_encoder import restore_threads, tiny_split  # noqa: F401

REPO = Path(__file__).resolve().parents[3]


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    path = tmp_path / "ck" / "last.pt"
    state = {"epoch": 3, "model": {"w": torch.arange(4.0)}, "config": {"lr": 0.5, "augment": {"crop": True}}}
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert loaded["config"] == state["config"] and loaded["format"] == "scl-checkpoint"
    assert not list(path.parent.glob(".*tmp"))  # no temporary file left behind

    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="is damaged"):
        load_checkpoint(broken)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="holds bare model weights .*not a checkpoint of scl_desktop") as info:
        load_checkpoint(foreign)
    assert "--weights" in info.value.hint and "damaged" not in str(info.value)
    torch.save({"epoch": 3, "optimizer_states": [], "global_step": 9}, foreign)  # another program's training state
    with pytest.raises(CheckpointError, match=r"checkpoint of another program \(keys: epoch, global_step"):
        load_checkpoint(foreign)


def test_rng_state_restores_every_generator(tmp_path):
    generator = torch.Generator().manual_seed(5)
    saved = rng_state({"augment": generator})
    save_checkpoint(tmp_path / "rng.pt", {"rng": saved})  # survives a weights_only round trip

    def draws():
        return (torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random(),
                torch.rand(3, generator=generator).tolist())

    first = draws()
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"], {"augment": generator})
    assert draws() == first


def test_cosine_schedule_with_warmup():
    assert cosine_lr(0.5, 0, 100) == pytest.approx(0.5)
    assert cosine_lr(0.5, 50, 100) == pytest.approx(0.25)
    assert cosine_lr(0.5, 99, 100) == pytest.approx(0.5 * 0.5 * (1 + np.cos(np.pi * 0.99)))
    assert [cosine_lr(1.0, s, 100, warmup_steps=4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cosine_lr(1.0, 4, 100, warmup_steps=4) == pytest.approx(1.0)


def _scl(args: list[str], home: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "SCL_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "scl_desktop.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_scl_train_killed_with_sigkill_resumes_to_the_same_result(tmp_path):
    split_path = tiny_split(tmp_path / "data").save(tmp_path / "split.json")
    epochs = 40
    args = ["train", str(split_path), "--arch", "tiny", "--image-size", "16", "--epochs", str(epochs),
            "--batch-size", "5", "--lr", "0.05", "--checkpoint-every", "1", "--device", "cpu", "--threads", "1",
            "--seed", "3", "--json"]
    reference = drive(train_encoder(SplitManifest.load(split_path), EncoderConfig(
        arch="tiny", image_size=16, epochs=epochs, batch_size=5, lr=0.05, checkpoint_every=0, device="cpu",
        num_threads=1, seed=3)))
    reference_loss = reference.read_metrics("encoder")[-1]["loss"]

    home = tmp_path / "home_kill"
    proc = _scl(args, home)
    deadline = time.monotonic() + 240
    checkpoints: list[Path] = []
    while proc.poll() is None and not checkpoints and time.monotonic() < deadline:
        checkpoints = list((home / "data" / "runs").glob("*/checkpoints/last.pt"))
        time.sleep(0.005)
    assert proc.poll() is None, "training finished before it could be killed; make the run longer"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run_folder = checkpoints[0].parents[1]
    killed_at = load_checkpoint(checkpoints[0])["epoch"]
    assert 1 <= killed_at < epochs

    resumed = _finish(_scl(["train", "--resume", run_folder.name, "--json"], home))
    assert resumed["status"] == "done" and resumed["epochs"] == epochs
    assert resumed["loss"] == pytest.approx(reference_loss, rel=1e-5, abs=1e-6)
    lines = (run_folder / "metrics_encoder.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, epochs + 1))


def test_generator_state_from_another_device_type_is_reported_not_fatal():
    saved = rng_state({"augment": torch.Generator().manual_seed(1)})
    saved["generators"]["augment"] = torch.zeros(3, dtype=torch.uint8)  # e.g. a CUDA generator's state
    assert restore_rng_state(saved, {"augment": torch.Generator(), "views": torch.Generator()}) == ["augment", "views"]


def test_resume_with_loss_scaling_from_a_checkpoint_saved_without_it():
    # Regression: a run saved on the CPU or a bf16 GPU (no GradScaler, empty scaler state) and resumed on a
    # GPU that needs fp16 + GradScaler crashed in GradScaler.load_state_dict ("source state dict is empty").
    from scl_desktop.core.devices import AmpPolicy
    from scl_desktop.core.model.samplers import InstanceSampler
    from scl_desktop.core.training.loop import TrainLoop

    def loop(amp: AmpPolicy) -> TrainLoop:
        model = torch.nn.Linear(2, 2)
        return TrainLoop(stage="s", title="t", model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                         amp=amp, device=torch.device("cpu"), step_fn=lambda pos: model.weight.sum(),
                         sampler=InstanceSampler([0, 1, 0, 1]), num_samples=4, batch_size=2, epochs=2, base_lr=0.1)

    saved = loop(AmpPolicy(False, None, False))._state(1, 0, 0.0, 0.0)
    assert saved["scaler"] == {}
    resumed = loop(AmpPolicy(True, torch.float16, True))
    assert resumed.restore(saved)[:2] == (1, 0)
    assert resumed.scaler.is_enabled()


def test_saving_a_checkpoint_removes_temporaries_of_a_killed_writer(tmp_path):
    from scl_desktop.core.model.checkpoint import load_checkpoint, save_checkpoint

    target = tmp_path / "last.pt"
    leftover = tmp_path / ".last.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.pt.abc123.tmp"
    other.write_bytes(b"not ours")
    save_checkpoint(target, {"epoch": 1})
    assert not leftover.exists()
    assert other.exists()
    assert load_checkpoint(target)["epoch"] == 1
