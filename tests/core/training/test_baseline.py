"""The Plain / Plain-CB / Plain-CSCE baselines on a tiny model."""

from __future__ import annotations

import pytest
import torch

from scl_desktop.core.errors import Cancelled, CheckpointError, ConfigError
from scl_desktop.core.events import CancelToken, EpochMetrics, drive
from scl_desktop.core.model.predictor import evaluate_run, load_encoder, load_predictor
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.baseline import train_baseline
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig
from tests.core.training.test_encoder import cancel_in_epoch, restore_threads, tiny_split  # noqa: F401


def tiny_baseline_config(**changes: object) -> BaselineConfig:
    base = dict(arch="tiny", image_size=16, epochs=2, batch_size=5, lr=0.05, checkpoint_every=1, device="cpu",
                num_threads=1)
    base.update(changes)
    return BaselineConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    return tiny_split(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("balance,method", [("none", "Plain"), ("cb", "Plain-CB"), ("csce", "Plain-CSCE")])
def test_baseline_trains_evaluates_and_stores_its_result(split, balance, method):
    events: list = []
    run, evaluation = drive(train_baseline(split, tiny_baseline_config(balance=balance)), events.append)
    assert run.kind == "baseline" and run.status == "done"
    assert run.methods() == [method]
    assert run.evaluation(method).to_json() == evaluation.to_json()
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert epochs[-1].per_class is not None and epochs[-1].overall == evaluation.overall  # no val part: test
    rows = run.read_metrics("baseline")
    assert [r["epoch"] for r in rows] == [1, 2] and "overall" in rows[0]
    recomputed = drive(evaluate_run(run, method, device="cpu"))
    assert recomputed.to_json() == evaluation.to_json()


def test_baseline_predictor_and_wrong_uses(split):
    run, _ = drive(train_baseline(split, tiny_baseline_config(epochs=1)))
    probs = load_predictor(run, "Plain")(torch.zeros(2, 3, 24, 24, dtype=torch.uint8))
    assert probs.shape == (2, 4)
    with pytest.raises(CheckpointError, match="Plain"):
        load_predictor(run, "Plain-CB")
    with pytest.raises(ConfigError, match="scl train"):
        drive(fit_classifier(run, ClassifierConfig(device="cpu")))
    with pytest.raises(CheckpointError, match=r"holds a Plain baseline model trained end to end \(made by `scl baseline`\), no stage-1") as info:
        load_encoder(run)
    assert f"scl evaluate {run.id}" in info.value.hint


def test_eval_every_skips_epochs(split):
    events: list = []
    drive(train_baseline(split, tiny_baseline_config(epochs=3, eval_every=2)), events.append)
    scored = [e.epoch for e in events if isinstance(e, EpochMetrics) and e.overall is not None]
    assert scored == [2, 3]  # every 2nd epoch and the last


def test_cancel_then_resume_finishes_the_same_epochs(split):
    reference, ref_eval = drive(train_baseline(split, tiny_baseline_config()))
    token = CancelToken()
    seen, on_event = cancel_in_epoch(token, 2)

    with pytest.raises(Cancelled, match="--resume"):
        drive(train_baseline(split, tiny_baseline_config(), cancel=token), on_event)
    run_id = next(e.message.split()[1] for e in seen if getattr(e, "message", "").startswith("Run "))
    from scl_desktop.core.runs.store import RunStore

    run = RunStore().open(run_id)
    assert run.status == "cancelled"
    resumed, evaluation = drive(train_baseline(None, None, run=run, resume=True))
    assert [r["epoch"] for r in resumed.read_metrics("baseline")] == [1, 2]
    assert resumed.read_metrics("baseline")[-1]["loss"] == pytest.approx(
        reference.read_metrics("baseline")[-1]["loss"], rel=1e-6)
    assert evaluation.to_json() == ref_eval.to_json()


def test_scl_baseline_cli_json(split, tmp_path, capsys):
    import json

    from scl_desktop.cli import main

    path = split.save(tmp_path / "split.json")
    code = main(["baseline", str(path), "--balance", "csce", "--arch", "tiny", "--image-size", "16", "--epochs", "1",
                 "--batch-size", "5", "--device", "cpu", "--threads", "1", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["method"] for r in rows] == ["Plain-CSCE"]


def test_resuming_a_run_of_the_other_trainer_is_a_clear_error(split):
    # Regression: `scl baseline --resume` of a two-stage run (or `scl train --resume` of a baseline) failed with
    # "Unknown ... setting(s)" from parsing the other trainer's configuration, or not at all.
    from scl_desktop.core.model.checkpoint import save_checkpoint
    from scl_desktop.core.training.config import EncoderConfig
    from scl_desktop.core.training.encoder import train_encoder

    for kind, stage, config, held, command in (
            ("scl", "encoder", EncoderConfig(), "a stage-1 resnet50 encoder", "scl train"),
            ("baseline", "baseline", tiny_baseline_config(), "a Plain-CB baseline model", "scl baseline")):
        run = RunStore().create(kind, split, config.to_json(), 0)
        save_checkpoint(run.checkpoint_file, {"stage": stage, "epoch": 1, "step": 0, "arch": "resnet50",
                                              "method": "Plain-CB"})
        other = (train_baseline(None, None, run=run, resume=True) if kind == "scl"
                 else train_encoder(None, None, run=run, resume=True))
        with pytest.raises(ConfigError, match=f"holds {held}") as info:  # says exactly what the run holds ...
            drive(other)
        assert info.value.hint == f"Continue it with `{command} --resume {run.id}`."  # ... and how to continue it
