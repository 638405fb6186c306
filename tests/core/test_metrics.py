"""Evaluation maths (Table 1 majority/minority/overall, balanced accuracy, macro-F1, per-class precision /
recall / F1, Cohen's kappa) on hand-computed cases."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from scl_desktop.core.errors import CheckpointError, ConfigError, DatasetError
from scl_desktop.core.metrics import Evaluation, class_scores, cohen_kappa, evaluate

CLASSES = ("a", "b", "c")
ROLES = {"a": "majority", "b": "minority", "c": "minority"}


def test_hand_computed_case():
    # a: 4 samples, 3 right; b: 2 samples, 1 right; c: 2 samples, 0 right (both predicted a)
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 0, 0]
    ev = evaluate(y_true, y_pred, CLASSES, ROLES)
    assert ev.per_class == {"a": 75.0, "b": 50.0, "c": 0.0}
    assert ev.support == {"a": 4, "b": 2, "c": 2}
    assert ev.majority == 75.0
    assert ev.minority == pytest.approx(100 * 1 / 4)  # 1 of the 4 minority samples
    assert ev.overall == pytest.approx(100 * 4 / 8)
    assert ev.balanced_accuracy == pytest.approx((75 + 50 + 0) / 3)
    assert ev.confusion == ((3, 1, 0), (0, 1, 1), (2, 0, 0))
    # F1: a p=3/5 r=3/4 -> 2/3; b p=1/2 r=1/2 -> 1/2; c p=0 r=0 -> 0
    assert ev.macro_f1 == pytest.approx(100 * (2 / 3 + 1 / 2 + 0) / 3)
    assert ev.n == 8


def test_balanced_test_set_overall_is_mean_of_per_class():
    rng = np.random.default_rng(0)
    y_true = np.repeat(np.arange(3), 10)
    y_pred = rng.integers(0, 3, size=30)
    ev = evaluate(y_true, y_pred, CLASSES, ROLES)
    assert ev.overall == pytest.approx(np.mean(list(ev.per_class.values())))
    assert ev.overall == pytest.approx(ev.balanced_accuracy)


def test_accepts_tensors_and_numpy():
    a = evaluate(torch.tensor([0, 1, 2]), np.array([0, 1, 1]), CLASSES, ROLES)
    assert a.per_class == {"a": 100.0, "b": 100.0, "c": 0.0}


def test_class_absent_from_test_set_is_none_not_nan():
    ev = evaluate([0, 0, 1], [0, 1, 1], CLASSES, ROLES)
    assert ev.per_class["c"] is None and ev.support["c"] == 0
    assert ev.minority == 100.0  # only b's sample counts
    assert ev.balanced_accuracy == pytest.approx((50 + 100) / 2)
    # a: p=1 r=1/2 -> 2/3; b: p=1/2 r=1 -> 2/3; c never true nor predicted -> left out
    assert ev.macro_f1 == pytest.approx(100 * 2 / 3)
    text = json.dumps(ev.to_json(), allow_nan=False)  # no NaN anywhere
    assert '"c": null' in text


def test_predicted_but_absent_class_counts_zero_in_macro_f1():
    ev = evaluate([0, 1], [0, 2], CLASSES, ROLES)
    # a: 1; b: 0 (missed); c: predicted, never true -> F1 0 (as scikit-learn)
    assert ev.macro_f1 == pytest.approx(100 / 3)


def test_no_roles_gives_no_majority_minority():
    ev = evaluate([0, 1], [0, 1], CLASSES)
    assert ev.majority is None and ev.minority is None and ev.overall == 100.0


@pytest.mark.parametrize("y_true,y_pred,err", [
    ([], [], DatasetError),
    ([0, 1], [0], ConfigError),
    ([0, 3], [0, 1], ConfigError),
    ([0, 1], [0, -1], ConfigError),
    ([0.0, 1.0], [0, 1], ConfigError),
])
def test_bad_inputs_give_clear_errors(y_true, y_pred, err):
    with pytest.raises(err) as info:
        evaluate(y_true, y_pred, CLASSES, ROLES)
    assert info.value.hint


def test_json_round_trip_and_files(tmp_path):
    ev = evaluate([0, 0, 1, 2], [0, 1, 1, 2], CLASSES, ROLES)
    assert Evaluation.from_json(json.loads(json.dumps(ev.to_json()))) == ev
    ev.write(tmp_path)
    assert Evaluation.load(tmp_path) == ev
    assert (tmp_path / "per_class.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # for spreadsheets
    with open(tmp_path / "per_class.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["class"] for r in rows] == list(CLASSES)
    assert rows[0] == {"class": "a", "role": "majority", "accuracy": "50.0000", "support": "2"}
    with open(tmp_path / "confusion.csv", newline="", encoding="utf-8-sig") as fh:
        conf = list(csv.reader(fh))
    assert conf[0][1:] == list(CLASSES)
    assert conf[1] == ["a", "1", "1", "0"]
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporaries


def test_damaged_evaluation_json(tmp_path):
    (tmp_path / "evaluation.json").write_text('{"kind": "scl-evaluation"}')
    with pytest.raises(CheckpointError):
        Evaluation.load(tmp_path)
    (tmp_path / "evaluation.json").write_text("{not json")
    with pytest.raises(CheckpointError):
        Evaluation.load(tmp_path)


def test_per_class_scores_and_kappa_by_hand():
    # the hand case above: confusion ((3, 1, 0), (0, 1, 1), (2, 0, 0)); truth totals 4, 2, 2; predicted 5, 2, 1
    ev = evaluate([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 2, 0, 0], CLASSES, ROLES)
    scores = ev.scores()
    assert list(scores) == list(CLASSES)
    a, b, c = scores["a"], scores["b"], scores["c"]
    assert (a.support, a.predicted, a.correct) == (4, 5, 3)
    assert a.precision == pytest.approx(60.0) and a.recall == 75.0 and a.f1 == pytest.approx(100 * 2 * 3 / 9)
    assert b.precision == 50.0 and b.recall == 50.0 and b.f1 == 50.0
    assert (c.predicted, c.precision, c.recall, c.f1) == (1, 0.0, 0.0, 0.0)  # predicted once, wrongly
    assert {k: s.accuracy for k, s in scores.items()} == ev.per_class
    assert ev.macro_f1 == pytest.approx(sum(s.f1 for s in scores.values()) / 3)
    # kappa: observed 4/8, chance (4*5 + 2*2 + 2*1) / 64 = 26/64 -> (1/2 - 13/32) / (1 - 13/32) = 3/19
    assert ev.kappa == pytest.approx(3 / 19)
    assert cohen_kappa(ev.confusion) == ev.kappa


@pytest.mark.parametrize("confusion,kappa", [
    ([[3, 0], [0, 2]], 1.0),  # perfect
    ([[1, 1], [1, 1]], 0.0),  # no better than chance
    ([[0, 2], [2, 0]], -1.0),  # always wrong
    ([[4, 0], [0, 0]], None),  # one class in truth and predictions: chance agreement is certain
    ([[0, 0], [0, 0]], None),  # no samples
    ([[1, 2, 3]], None),  # not square
])
def test_kappa_edge_cases(confusion, kappa):
    got = cohen_kappa(confusion)
    assert got == (None if kappa is None else pytest.approx(kappa))


def test_undefined_scores_are_none():
    ev = evaluate([0, 0, 1], [0, 0, 0], CLASSES, ROLES)
    scores = ev.scores()
    assert scores["b"].precision is None and scores["b"].recall == 0.0 and scores["b"].f1 == 0.0  # never predicted
    assert scores["c"].precision is None and scores["c"].recall is None and scores["c"].f1 is None  # absent
    assert scores["a"].precision == pytest.approx(200 / 3) and scores["a"].recall == 100.0
    assert json.dumps({k: s.to_json() for k, s in scores.items()}, allow_nan=False)
    assert class_scores([[1, 0], [0, 1]], CLASSES) == {}  # a matrix over other classes


def test_result_stored_without_confusion_matrix_still_loads(tmp_path):
    data = evaluate([0, 1, 2], [0, 1, 1], CLASSES, ROLES).to_json()
    del data["confusion"]
    (tmp_path / "evaluation.json").write_text(json.dumps(data))
    ev = Evaluation.load(tmp_path)
    assert ev.per_class["c"] == 0.0 and not ev.has_confusion
    assert ev.scores() == {} and ev.kappa is None
