"""Stage 2's long-tail classifiers on a tiny encoder: each fits, saves a plain classifier the predictor loads,
the post-hoc ones are the CE layer adjusted, and auto picks by validation balanced accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scl_desktop.cli import main
from scl_desktop.core import devices
from scl_desktop.core.data.cache import build_store
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import EpochMetrics, Log, drive
from scl_desktop.core.methods import CLASSIFIER_BALANCES, method_for
from scl_desktop.core.model.checkpoint import load_checkpoint
from scl_desktop.core.model.losses import log_class_prior
from scl_desktop.core.model.networks import LinearClassifier
from scl_desktop.core.model.posthoc import tau_normalised
from scl_desktop.core.model.predictor import evaluate_predictor, evaluate_run, load_predictor
from scl_desktop.core.training import classifier as fit_mod
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.core.training.strategies import recipe
from tests.core.training.test_classifier import tiny_classifier_config
from tests.core.training.test_encoder import restore_threads, tiny_encoder_config, tiny_split  # noqa: F401


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """An encoder run on a split with a validation part (train 8/8/2/2, test 4 per class)."""
    split = tiny_split(tmp_path_factory.mktemp("tiny_val"), per_class=14, val_frac=0.5)
    assert split.val and split.test
    threads = torch.get_num_threads()
    try:
        return drive(train_encoder(split, tiny_encoder_config()))
    finally:
        torch.set_num_threads(threads)


def _layer(state: dict) -> LinearClassifier:
    layer = LinearClassifier(int(state["feature_dim"]), len(state["classes"]))
    layer.load_state_dict(state["model"])
    return layer


def _fit(run, balance: str, **changes) -> dict:
    drive(fit_classifier(run, tiny_classifier_config(balance=balance, **changes)))
    return load_checkpoint(run.classifier_file(balance))


@pytest.mark.parametrize("balance", ["tau-norm", "logit-adj", "la-loss", "balanced-softmax"])
def test_each_long_tail_strategy_fits_saves_and_the_predictor_recomputes_it(run, balance):
    events: list = []
    evaluation = drive(fit_classifier(run, tiny_classifier_config(balance=balance)), events.append)
    method = method_for("scl", balance).name
    assert [e.epoch for e in events if isinstance(e, EpochMetrics)] == [1, 2, 3]
    assert method in run.methods() and run.evaluation(method).to_json() == evaluation.to_json()
    state = load_checkpoint(run.classifier_file(balance))
    assert state["method"] == method and state["strategy"] == balance
    assert state["tau"] == recipe(balance).tau and run.result_extra(method)["tau"] == recipe(balance).tau
    assert set(state["model"]) == {"fc.weight", "fc.bias"}  # a plain linear layer: labelling and ONNX need nothing new
    predictor = load_predictor(run, method)
    probs = predictor(torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8))
    assert probs.shape == (2, 4) and torch.allclose(probs.sum(dim=1), torch.ones(2), atol=1e-5)
    assert drive(evaluate_run(run, method, device="cpu")).to_json() == evaluation.to_json()


def test_post_hoc_strategies_are_the_ce_layer_adjusted_without_retraining(run):
    plain = _layer(_fit(run, "none"))
    tau_norm = _layer(_fit(run, "tau-norm", tau=0.5))
    assert torch.allclose(tau_norm.fc.weight, tau_normalised(plain, 0.5).fc.weight)
    assert torch.equal(tau_norm.fc.bias, torch.zeros(4))
    logit_adj = _layer(_fit(run, "logit-adj", tau=1.5))
    prior = log_class_prior(np.bincount(run.split.labels("train"), minlength=4))  # train 8/8/2/2
    assert torch.equal(logit_adj.fc.weight, plain.fc.weight)
    assert torch.allclose(logit_adj.fc.bias, plain.fc.bias - 1.5 * prior)
    assert (logit_adj.fc.bias - plain.fc.bias)[2] > (logit_adj.fc.bias - plain.fc.bias)[0]  # rare classes raised


def test_balanced_softmax_is_la_loss_at_tau_one(run):
    balanced = _fit(run, "balanced-softmax")["model"]
    la = _fit(run, "la-loss", tau=1.0)["model"]
    assert all(torch.equal(balanced[k], la[k]) for k in balanced)
    other = _fit(run, "la-loss", tau=2.0)["model"]
    assert not torch.equal(other["fc.bias"], la["fc.bias"])


def _validation_balanced_accuracy(run, method: str) -> float:
    """Recomputed from the saved classifier through the predictor, on the validation part."""
    store = drive(build_store(run.split.dataset, run.config.get("store_size"), None))
    device = torch.device("cpu")
    evaluation = drive(evaluate_predictor(load_predictor(run, method), run.split, store, device,
                                          devices.amp_policy(device), 5, part="val"))
    return evaluation.balanced_accuracy


def test_auto_picks_the_candidate_with_the_best_validation_balanced_accuracy(run, monkeypatch):
    candidates = (recipe("none"), recipe("cb"), recipe("logit-adj", 2.0), recipe("la-loss", 0.5))
    monkeypatch.setattr(fit_mod, "auto_candidates", lambda: candidates)
    logs: list[str] = []
    evaluation = drive(fit_classifier(run, tiny_classifier_config(balance="auto")),
                       lambda e: logs.append(e.message) if isinstance(e, Log) else None)
    auto = run.result_extra("SCL-Auto")["auto"]
    scores = [c["validation_balanced_accuracy"] for c in auto["candidates"]]
    assert [(c["strategy"], c["tau"]) for c in auto["candidates"]] == [(c.strategy, c.tau) for c in candidates]
    best = candidates[scores.index(max(scores))]
    assert (auto["strategy"], auto["tau"]) == (best.strategy, best.tau)
    assert any(f"SCL-Auto chose {best.label}" in line for line in logs)
    chosen_state = load_checkpoint(run.classifier_file("auto"))
    assert (chosen_state["strategy"], chosen_state["tau"]) == (best.strategy, best.tau)
    # every candidate's score is its direct fit's validation balanced accuracy, and auto keeps that very model
    for candidate, score in zip(candidates, scores, strict=True):
        direct = _fit(run, candidate.strategy, **({"tau": candidate.tau} if candidate.tau is not None else {}))
        method = method_for("scl", candidate.strategy).name
        assert _validation_balanced_accuracy(run, method) == pytest.approx(score)
        if candidate == best:
            assert all(torch.equal(direct["model"][k], chosen_state["model"][k]) for k in direct["model"])
    assert drive(evaluate_run(run, "SCL-Auto", device="cpu")).to_json() == evaluation.to_json()


def test_auto_breaks_ties_towards_the_first_candidate(run, monkeypatch):
    # logit-adj at tau 0 is plain CE: the same predictions, the same score
    monkeypatch.setattr(fit_mod, "auto_candidates", lambda: (recipe("logit-adj", 0.0), recipe("none")))
    drive(fit_classifier(run, tiny_classifier_config(balance="auto")))
    auto = run.result_extra("SCL-Auto")["auto"]
    assert auto["candidates"][0]["validation_balanced_accuracy"] == auto["candidates"][1]["validation_balanced_accuracy"]
    assert (auto["strategy"], auto["tau"]) == ("logit-adj", 0.0)


def test_auto_refuses_a_split_without_a_validation_part(tmp_path):
    run = drive(train_encoder(tiny_split(tmp_path), tiny_encoder_config(epochs=1)))
    assert not run.split.val
    with pytest.raises(ConfigError) as info:
        drive(fit_classifier(run, tiny_classifier_config(balance="auto")))
    assert "validation part" in info.value.hint and "scl split" in info.value.hint
    assert "SCL-Auto" not in run.methods() and not run.classifier_file("auto").exists()


def test_scl_fit_auto_prints_its_choice(run, capsys):
    code = main(["fit", run.id, "--balance", "auto", "--epochs", "2", "--batch-size", "5", "--min-steps", "0",
                 "--device", "cpu", "--threads", "1", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert [r["method"] for r in printed["results"]] == ["SCL-Auto"]
    assert printed["auto"]["strategy"] in CLASSIFIER_BALANCES and len(printed["auto"]["candidates"]) > 10
    assert f"SCL-Auto chose {printed['auto']['strategy']}" in captured.err


def test_scl_fit_all_gives_tau_to_the_strategies_that_take_it(run, capsys):
    code = main(["fit", run.id, "--balance", "all", "--tau", "0.5", "--epochs", "1", "--batch-size", "5",
                 "--min-steps", "0", "--device", "cpu", "--threads", "1", "--json", "--quiet"])
    assert code == 0
    methods = {r["method"] for r in json.loads(capsys.readouterr().out)["results"]}
    assert methods == {method_for("scl", b).name for b in CLASSIFIER_BALANCES if b != "auto"}
    taus = {b: load_checkpoint(run.classifier_file(b))["tau"] for b in ("tau-norm", "la-loss", "cb", "balanced-softmax")}
    assert taus == {"tau-norm": 0.5, "la-loss": 0.5, "cb": None, "balanced-softmax": None}
    assert main(["fit", run.id, "--balance", "cb", "--tau", "1", "--device", "cpu", "--quiet"]) == 2
    assert "takes no tau" in capsys.readouterr().err
