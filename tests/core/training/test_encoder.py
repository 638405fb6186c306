"""Stage 1 on a tiny model: artifacts, events, cancel + mid-epoch resume, non-finite loss, ablations.

``tiny_split`` (also used by the stage-2, baseline and resume tests) builds a 4-class dataset of
generated PNGs: two majority classes with 8 training images, two minority classes with 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scl_desktop.core.data.importer import ImportConfig, import_dataset
from scl_desktop.core.data.manifest import SplitManifest
from scl_desktop.core.data.split import SplitConfig, build_split
from scl_desktop.core.errors import Cancelled, ConfigError, TrainingError
from scl_desktop.core.events import CancelToken, EpochMetrics, Progress, StepMetrics, drive
from scl_desktop.core.model.checkpoint import load_checkpoint
from scl_desktop.core.training.config import EncoderConfig
from scl_desktop.core.training.encoder import train_encoder

COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]


def tiny_split(root: Path, size: int = 24, per_class: int = 12, val_frac: float = 0.0,
               colours: list[tuple[int, int, int]] = COLOURS, noise: float = 50) -> SplitManifest:
    """A 4-class split of generated PNGs: train 8/8/2/2, test 4 per class (val: ``val_frac`` of the rest).

    Class c's pixels are ``colours[c]`` plus Gaussian ``noise``; close colours make classes hard to tell apart.
    """
    rng = np.random.default_rng(0)
    for c, colour in enumerate(colours):
        folder = root / "images" / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(colour, noise, size=(size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    dataset = drive(import_dataset(ImportConfig(root / "images", size=size)))
    return build_split(dataset, SplitConfig(majority=2, major_count=8, s=2, test_per_class=4, val_frac=val_frac))


def tiny_encoder_config(**changes: object) -> EncoderConfig:
    """Stage-1 settings that run in milliseconds on a CPU: 4 steps per epoch of 5 images, one thread.

    One thread keeps tiny models fast when other processes load the CPU (``restore_threads``
    resets torch's thread count after each test).
    """
    base = dict(arch="tiny", image_size=16, epochs=2, batch_size=5, lr=0.05, checkpoint_every=1, device="cpu",
                num_threads=1)
    base.update(changes)
    return EncoderConfig(**base)  # type: ignore[arg-type]


def cancel_in_epoch(token: CancelToken, epoch: int) -> tuple[list, Callable[[object], None]]:
    """``(seen, on_event)``: ``on_event`` records every event in ``seen`` and cancels ``token`` at the first
    step of ``epoch``."""
    seen: list = []

    def on_event(event: object) -> None:
        seen.append(event)
        if isinstance(event, StepMetrics) and event.epoch == epoch:
            token.cancel()

    return seen, on_event


@pytest.fixture(autouse=True)
def restore_threads():
    """Training sets torch's global thread count; put it back for the tests that follow."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> SplitManifest:
    return tiny_split(tmp_path_factory.mktemp("tiny"))


def final_loss(run) -> float:
    return float(run.read_metrics("encoder")[-1]["loss"])


def test_two_epochs_write_run_artifacts(split):
    events = []
    run = drive(train_encoder(split, tiny_encoder_config()), events.append)
    assert run.status == "done" and run.kind == "scl"
    for name in ("config.json", "split.json", "environment.json", "metrics_encoder.csv"):
        assert (run.path / name).is_file(), name
    rows = run.read_metrics("encoder")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert set(rows[0]) >= {"epoch", "loss", "lr", "samples_per_s", "seconds"}
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.epoch for e in epochs] == [1, 2] and all(e.epochs == 2 for e in epochs)
    assert all(math.isfinite(e.loss) and e.samples_per_s > 0 for e in epochs)  # logic: a rate was measured at all
    assert epochs[-1].eta_s == 0
    assert any(isinstance(e, StepMetrics) for e in events)
    assert any(isinstance(e, Progress) and e.task.startswith("Stage 1 epoch") for e in events)
    state = load_checkpoint(run.checkpoint_file)
    assert (state["epoch"], state["step"], state["stage"]) == (2, 0, "encoder")
    assert EncoderConfig.from_json(run.config) == tiny_encoder_config()


def test_same_seed_same_loss_and_cosine_lr_reaches_the_end(split):
    a = drive(train_encoder(split, tiny_encoder_config(epochs=1)))
    b = drive(train_encoder(split, tiny_encoder_config(epochs=1)))
    assert final_loss(a) == final_loss(b)
    lr = a.read_metrics("encoder")[-1]["lr"]
    assert 0 < lr < 0.05 * 0.2  # last step of a 1-epoch cosine schedule


@pytest.mark.parametrize("changes", [{"sampler": "cb"}, {"cs_scl": True}, {"augment": {"crop": False, "color": False}}])
def test_ablation_variants_run(split, changes):
    run = drive(train_encoder(split, tiny_encoder_config(epochs=1, **changes)))
    assert run.status == "done" and math.isfinite(final_loss(run))


def test_cancel_stops_at_next_step_and_resume_matches_uninterrupted(split):
    reference = drive(train_encoder(split, tiny_encoder_config()))
    token = CancelToken()
    seen, on_event = cancel_in_epoch(token, 2)

    with pytest.raises(Cancelled, match="--resume") as cancelled:
        drive(train_encoder(split, tiny_encoder_config(), cancel=token), on_event)
    run = cancelled.value.kept
    assert run.status == "cancelled"
    state = load_checkpoint(run.checkpoint_file)
    cancelled_at = [e for e in seen if isinstance(e, StepMetrics) and e.epoch == 2][0].step
    assert (state["epoch"], state["step"]) == (1, cancelled_at)  # stopped before the next step
    assert [r["epoch"] for r in run.read_metrics("encoder")] == [1]

    resumed = drive(train_encoder(None, None, run=run, resume=True))
    assert resumed.status == "done"
    assert [r["epoch"] for r in resumed.read_metrics("encoder")] == [1, 2]
    assert final_loss(resumed) == pytest.approx(final_loss(reference), rel=1e-6, abs=1e-6)


def test_resume_of_finished_run_does_nothing_and_needs_a_run(split):
    run = drive(train_encoder(split, tiny_encoder_config(epochs=1)))
    assert drive(train_encoder(None, None, run=run, resume=True)).status == "done"
    with pytest.raises(ConfigError):
        drive(train_encoder(None, None, resume=True))


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(split, monkeypatch):
    from scl_desktop.core.training.distributed import DistContext

    real = DistContext.supcon_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 4 else loss  # epoch 1 (4 steps) is fine

    monkeypatch.setattr(DistContext, "supcon_loss", poisoned)
    events: list = []
    with pytest.raises(TrainingError) as info:
        drive(train_encoder(split, tiny_encoder_config(epochs=3)), events.append)
    message = str(info.value)
    assert "nan" in message and "learning rate" in message and "last good checkpoint" in message
    run_log = [e for e in events if getattr(e, "message", "").startswith("Run ")][0]
    run_id = run_log.message.split()[1].rstrip(".")
    from scl_desktop.core.runs.store import RunStore

    run = RunStore().open(run_id)
    assert run.status == "failed"
    state = load_checkpoint(run.checkpoint_file)
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_huge_learning_rate_is_reported_not_crashing(split):
    with pytest.raises(TrainingError, match="loss became"):
        drive(train_encoder(split, tiny_encoder_config(epochs=3, lr=1e12)))


def test_scl_train_cli_json_and_cpu_note(split, tmp_path, capsys):
    import json

    from scl_desktop.cli import build_parser, main
    from scl_desktop.commands.train import _build_config

    path = split.save(tmp_path / "split.json")
    code = main(["train", str(path), "--arch", "tiny", "--image-size", "16", "--epochs", "1", "--batch-size", "5",
                 "--device", "cpu", "--threads", "1", "--no-rotate", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "done" and out["epochs"] == 1 and math.isfinite(out["loss"])
    from scl_desktop.core.runs.store import RunStore

    config = EncoderConfig.from_json(RunStore().open(out["run"]).config)
    assert config.augment.rotate is False and config.augment.crop is True

    notes: list[str] = []
    args = build_parser().parse_args(["train", str(path), "--device", "cpu", "--epochs", "3"])
    config = _build_config(EncoderConfig, args, notes.append)
    assert (config.arch, config.image_size, config.epochs) == ("resnet18", 64, 3)
    assert len(notes) == 1 and "scaled down" in notes[0] and "epochs" not in notes[0]

    assert main(["train", "--device", "cpu"]) == 2  # no split: a clear error, not a traceback
    assert "No split" in capsys.readouterr().err
