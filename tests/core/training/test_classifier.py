"""Stage 2 on a tiny encoder: the paper's balance strategies, frozen BatchNorm, stored results, predictors
(the long-tail classifiers: test_classifier_long_tail.py)."""

from __future__ import annotations

import pytest
import torch

from scl_desktop.core.errors import Cancelled, CheckpointError, ConfigError
from scl_desktop.core.events import CancelToken, EpochMetrics, StepMetrics, drive
from scl_desktop.core.methods import CLASSIFIER_BALANCES, method_for
from scl_desktop.core.model.checkpoint import load_checkpoint
from scl_desktop.core.model.predictor import evaluate_run, load_predictor
from scl_desktop.core.training import classifier as fit_mod
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import ClassifierConfig, stage2_augment
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.core.training.loop import cosine_lr
from tests.core.training.test_encoder import restore_threads, tiny_encoder_config, tiny_split  # noqa: F401


def tiny_classifier_config(**changes: object) -> ClassifierConfig:
    base = dict(epochs=3, batch_size=5, lr=0.05, device="cpu", num_threads=1, min_steps=0)
    base.update(changes)
    return ClassifierConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    split = tiny_split(tmp_path_factory.mktemp("tiny"))
    threads = torch.get_num_threads()
    try:
        return drive(train_encoder(split, tiny_encoder_config()))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("balance,method", [("cb", "SCL-CB"), ("csce", "SCL-CSCE"), ("none", "SCL-CE")])
def test_each_balance_trains_scores_and_saves(run, balance, method):
    events: list = []
    evaluation = drive(fit_classifier(run, tiny_classifier_config(balance=balance)), events.append)
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    last = epochs[-1]
    assert set(last.per_class) == set(run.split.classes) and last.roles == run.split.roles
    assert last.majority is not None and last.minority is not None and last.overall is not None
    assert method in run.methods()
    assert run.evaluation(method).to_json() == evaluation.to_json()
    assert evaluation.n == 16
    state = load_checkpoint(run.classifier_file(balance))
    assert state["balance"] == balance and state["classes"] == list(run.split.classes)
    assert [r["epoch"] for r in run.read_metrics(f"classifier_{balance}")] == [1, 2, 3]


def test_unsaved_fit_returns_its_evaluation_and_writes_nothing_into_the_run(run):
    config = tiny_classifier_config(balance="csce", loss_norm="count", feature_views=2)

    def files() -> list:  # every file with its content, but the writer lock the fit holds
        return sorted((p.relative_to(run.path), p.read_bytes()) for p in run.path.rglob("*")
                      if p.is_file() and p.name != "writer.lock")

    before = files()
    evaluation = drive(fit_classifier(run, config, save=False))
    assert files() == before
    assert evaluation.n == 16 and evaluation.overall is not None


@pytest.mark.parametrize("changes", [{"cached_features": False}, {"feature_views": 2}, {}])
def test_encoder_stays_frozen_batchnorm_included(run, monkeypatch, changes):
    captured = {}
    real = fit_mod.load_encoder

    def spy(r):
        encoder, config, facts = real(r)
        captured["encoder"] = encoder
        captured["before"] = {k: v.clone() for k, v in encoder.state_dict().items()}
        return encoder, config, facts

    monkeypatch.setattr(fit_mod, "load_encoder", spy)
    drive(fit_classifier(run, tiny_classifier_config(epochs=2, balance="none", **changes)))
    encoder = captured["encoder"]
    assert not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())
    after = encoder.state_dict()
    assert any("running_mean" in k for k in after)
    for key, value in captured["before"].items():
        assert torch.equal(value, after[key].cpu()), f"{key} changed during stage 2"


def test_predictor_gives_probabilities_and_recomputes_the_stored_result(run):
    drive(fit_classifier(run, tiny_classifier_config(balance="cb")))
    predictor = load_predictor(run, "SCL-CB")
    images = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8)
    with torch.no_grad():
        probs = predictor(images)
    assert probs.shape == (3, 4)
    assert torch.allclose(probs.sum(dim=1), torch.ones(3), atol=1e-5)
    assert predictor.classes == run.split.classes
    recomputed = drive(evaluate_run(run, "SCL-CB", device="cpu"))
    assert recomputed.to_json() == run.evaluation("SCL-CB").to_json()


def test_unknown_or_missing_methods_are_clear_errors(run):
    with pytest.raises(ConfigError, match="Unknown method"):
        load_predictor(run, "Plain")
    run.classifier_file("csce").unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="scl fit"):
        load_predictor(run, "SCL-CSCE")


def test_cancel_raises_and_keeps_earlier_results(run):
    token = CancelToken()

    def on_event(event):
        if isinstance(event, EpochMetrics):
            token.cancel()

    with pytest.raises(Cancelled):
        drive(fit_classifier(run, tiny_classifier_config(balance="none", epochs=5), cancel=token), on_event)


def test_scl_fit_cli_all_balances_json(run, capsys):
    import json

    from scl_desktop.cli import main

    code = main(["fit", run.id, "--balance", "all", "--epochs", "2", "--batch-size", "5", "--device", "cpu",
                 "--threads", "1", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert sorted(r["method"] for r in rows) == sorted(method_for("scl", b).name for b in CLASSIFIER_BALANCES
                                                       if b != "auto")
    assert all(r["run"] == run.id and set(r) >= {"majority", "minority", "overall", "per_class"} for r in rows)


def test_epochs_score_the_validation_part_and_the_result_the_test_part(tmp_path):
    split = tiny_split(tmp_path, per_class=14, val_frac=0.5)
    assert split.val
    run = drive(train_encoder(split, tiny_encoder_config(epochs=1)))
    events: list = []
    evaluation = drive(fit_classifier(run, tiny_classifier_config(epochs=2)), events.append)
    last = [e for e in events if isinstance(e, EpochMetrics)][-1]
    n_val = len(split.val)
    assert sum(1 for v in last.per_class.values() if v is not None) == len(split.classes)
    assert evaluation.n == len(split.test) != n_val
    assert drive(evaluate_run(run, "SCL-CB", device="cpu")).to_json() == evaluation.to_json()


def test_min_steps_lengthens_the_epochs_of_a_tiny_split(run):
    """20 training images, batch 5: 4 steps per epoch; 3 epochs and min_steps 24 give 8 steps per epoch."""
    config = tiny_classifier_config(balance="cb", min_steps=24)
    events: list = []
    drive(fit_classifier(run, config), events.append)
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert {e.steps_per_epoch for e in steps} == {8}
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[-1].lr == pytest.approx(cosine_lr(config.lr, 23, 24))  # the schedule ends with the last step
    assert [r["epoch"] for r in run.read_metrics("classifier_cb")] == [1, 2, 3]


@pytest.mark.parametrize("changes", [{"feature_views": 2}, {"cached_features": False}])
def test_views_are_drawn_with_stage_2s_own_light_policy(run, monkeypatch, changes):
    policies = []
    real = fit_mod.augment_batch

    def spy(images, size, cfg, **kwargs):
        policies.append(cfg)
        return real(images, size, cfg, **kwargs)

    monkeypatch.setattr(fit_mod, "augment_batch", spy)
    drive(fit_classifier(run, tiny_classifier_config(epochs=1, balance="none", **changes)))
    light = stage2_augment()
    assert policies and all(p == light for p in policies)
    assert not light.rotate and not light.color and light.crop and light.flip
    assert light.crop_scale[0] > ClassifierConfig().augment.crop_scale[0] - 1e-9 > 0.2  # milder than stage 1's 0.2
