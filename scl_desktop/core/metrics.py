"""Evaluation as in the paper's Table 1, plus the usual extras.

``evaluate`` turns true and predicted class indices into an ``Evaluation``: per-class
accuracy, the accuracy over the test samples of the majority classes, of the minority classes
and over all test samples (on the paper's balanced test set the overall figure is also the
mean of the per-class accuracies), balanced accuracy, macro-F1 and the confusion matrix
(rows = true class, columns = predicted class). All accuracies are percentages. A class with
no test samples has accuracy ``None`` (never NaN) and is left out of the averages.

From the stored confusion matrix, ``class_scores`` gives each class's precision, recall, F1 and
accuracy and ``cohen_kappa`` the agreement beyond chance, so older results gain them too.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scl_desktop.core.atomic import read_json, write_json, write_text
from scl_desktop.core.data.manifest import MAJORITY, MINORITY
from scl_desktop.core.errors import CheckpointError, ConfigError, DatasetError, SclError

EVALUATION_FILE = "evaluation.json"
PER_CLASS_FILE = "per_class.csv"
CONFUSION_FILE = "confusion.csv"


def _pct(correct: int, total: int) -> float | None:
    return 100.0 * correct / total if total else None


@dataclass(frozen=True)
class ClassScores:
    """One class's scores in percent from the confusion matrix; ``None`` where undefined.

    ``accuracy`` is the paper's per-class accuracy (the share of the class's test images classified
    correctly, so equal to ``recall``); ``precision`` is ``None`` when the class was never predicted,
    ``recall`` and ``accuracy`` when it has no test images, ``f1`` when both.
    """

    support: int
    predicted: int
    correct: int
    precision: float | None
    recall: float | None
    f1: float | None

    @property
    def accuracy(self) -> float | None:
        return self.recall

    def to_json(self) -> dict[str, Any]:
        return {"support": self.support, "predicted": self.predicted, "precision": self.precision,
                "recall": self.recall, "f1": self.f1, "accuracy": self.accuracy}


def _matrix(confusion: Sequence[Sequence[int]], k: int | None = None) -> np.ndarray | None:
    """The confusion matrix as a square int array (``k`` x ``k`` when given); ``None`` when it is not one."""
    try:
        m = np.asarray(confusion, dtype=np.int64)
    except (TypeError, ValueError):
        return None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or (k is not None and m.shape[0] != k):
        return None
    return m


def class_scores(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> dict[str, ClassScores]:
    """Precision, recall, F1 and accuracy per class (in ``classes`` order) from ``confusion[true][pred]``;
    {} when ``confusion`` is not a square matrix over ``classes`` (a result stored without one)."""
    m = _matrix(confusion, len(classes))
    if m is None:
        return {}
    support, predicted, correct = m.sum(axis=1), m.sum(axis=0), np.diag(m)
    out = {}
    for i, c in enumerate(classes):
        s, p, tp = int(support[i]), int(predicted[i]), int(correct[i])
        out[c] = ClassScores(support=s, predicted=p, correct=tp, precision=_pct(tp, p), recall=_pct(tp, s),
                             f1=100.0 * 2 * tp / (s + p) if s + p else None)
    return out


def cohen_kappa(confusion: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa (a fraction in [-1, 1], not percent) of ``confusion[true][pred]``: the observed agreement
    beyond the agreement expected by chance from the row and column totals. ``None`` when undefined (no
    samples, or chance agreement is certain: truth and predictions all one and the same class)."""
    m = _matrix(confusion)
    if m is None or m.sum() == 0:
        return None
    n = float(m.sum())
    observed = float(np.trace(m)) / n
    expected = float((m.sum(axis=1) * m.sum(axis=0)).sum()) / (n * n)
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class Evaluation:
    """Test-set results of one model. Accuracies in percent; ``None`` where there were no samples.

    ``per_class`` and ``support`` follow ``classes`` order; ``roles`` maps class name to
    "majority" or "minority"; ``confusion[i][j]`` counts samples of class i predicted as j.
    """

    classes: tuple[str, ...]
    roles: dict[str, str]
    per_class: dict[str, float | None]
    support: dict[str, int]
    majority: float | None
    minority: float | None
    overall: float
    balanced_accuracy: float
    macro_f1: float
    confusion: tuple[tuple[int, ...], ...]

    @property
    def n(self) -> int:
        """Number of test samples."""
        return sum(self.support.values())

    @property
    def has_confusion(self) -> bool:
        """Whether a confusion matrix over ``classes`` is stored (results written without one have none)."""
        return _matrix(self.confusion, len(self.classes)) is not None

    def scores(self) -> dict[str, ClassScores]:
        """Per-class precision, recall, F1 and accuracy (``class_scores``); {} without a confusion matrix."""
        return class_scores(self.confusion, self.classes)

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa of the confusion matrix (a fraction); ``None`` when undefined or not stored."""
        return cohen_kappa(self.confusion) if self.has_confusion else None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "scl-evaluation",
            "classes": list(self.classes),
            "roles": dict(self.roles),
            "per_class": dict(self.per_class),
            "support": dict(self.support),
            "majority": self.majority,
            "minority": self.minority,
            "overall": self.overall,
            "balanced_accuracy": self.balanced_accuracy,
            "macro_f1": self.macro_f1,
            "n": self.n,
            "confusion": [list(row) for row in self.confusion],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Evaluation:
        if d.get("kind") != "scl-evaluation":
            raise CheckpointError("This JSON is not an evaluation written by scl_desktop.",
                                  "Re-evaluate the run with `scl evaluate RUN --recompute`.")
        try:
            return cls(
                classes=tuple(d["classes"]),
                roles=dict(d.get("roles", {})),
                per_class={k: (None if v is None else float(v)) for k, v in d["per_class"].items()},
                support={k: int(v) for k, v in d["support"].items()},
                majority=d.get("majority"),
                minority=d.get("minority"),
                overall=float(d["overall"]),
                balanced_accuracy=float(d["balanced_accuracy"]),
                macro_f1=float(d["macro_f1"]),
                confusion=tuple(tuple(int(x) for x in row) for row in d.get("confusion") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"The evaluation JSON is incomplete or damaged ({exc!r}).",
                                  "Re-evaluate the run with `scl evaluate RUN --recompute`.") from exc

    def summary(self) -> dict[str, float | None]:
        """The Table-1 numbers plus balanced accuracy and macro-F1."""
        return {"majority": self.majority, "minority": self.minority, "overall": self.overall,
                "balanced_accuracy": self.balanced_accuracy, "macro_f1": self.macro_f1}

    def per_class_csv(self) -> str:
        """CSV text: class, role, accuracy (percent, empty when no samples), support."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["class", "role", "accuracy", "support"])
        for c in self.classes:
            acc = self.per_class[c]
            writer.writerow([c, self.roles.get(c, ""), "" if acc is None else f"{acc:.4f}", self.support[c]])
        return buf.getvalue()

    def confusion_csv(self) -> str:
        """CSV text of the confusion matrix with class names as header row and first column."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["true \\ predicted", *self.classes])
        for c, row in zip(self.classes, self.confusion, strict=True):
            writer.writerow([c, *row])
        return buf.getvalue()

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write evaluation.json, per_class.csv and confusion.csv into ``folder`` (each atomically; the CSVs
        with a UTF-8 byte-order mark, for spreadsheet programs)."""
        folder = Path(folder)
        write_text(folder / PER_CLASS_FILE, self.per_class_csv(), bom=True)
        write_text(folder / CONFUSION_FILE, self.confusion_csv(), bom=True)
        write_json(folder / EVALUATION_FILE, self.to_json())
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Evaluation:
        """Read the evaluation.json that ``write`` put in ``folder``."""
        try:
            return cls.from_json(read_json(Path(folder) / EVALUATION_FILE))
        except CheckpointError:
            raise
        except SclError as exc:
            raise CheckpointError(exc.what, "Re-evaluate the run with `scl evaluate RUN --recompute`.") from exc


def _as_int_array(values: Any, what: str) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ConfigError(f"{what} must be a flat list of class indices, got shape {arr.shape}.",
                          "Pass one class index per test sample.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{what} must hold integer class indices, got {arr.dtype}.",
                          "Take the argmax of the logits before evaluating.")
    return arr.astype(np.int64, copy=False)


def evaluate(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str],
             roles: Mapping[str, str] | None = None) -> Evaluation:
    """Score predictions against the truth (class indices into ``classes``).

    ``roles`` maps class names to "majority"/"minority"; classes without a role count only in
    the overall figures. Raises ``DatasetError`` for an empty test set and ``ConfigError`` for
    mismatched lengths or indices outside ``classes``.
    """
    classes = tuple(classes)
    roles = {c: r for c, r in dict(roles or {}).items() if c in classes}
    true = _as_int_array(y_true, "y_true")
    pred = _as_int_array(y_pred, "y_pred")
    if not classes:
        raise ConfigError("Cannot evaluate without class names.", "Pass the classes of the split.")
    if true.size == 0:
        raise DatasetError("The test set is empty, so there is nothing to evaluate.",
                           "Build a split with test images per class (`scl split ... --test-per-class N`).")
    if true.shape != pred.shape:
        raise ConfigError(f"{true.size} true labels but {pred.size} predictions.",
                          "Pass exactly one prediction per test sample.")
    k = len(classes)
    for arr, what in ((true, "y_true"), (pred, "y_pred")):
        bad = arr[(arr < 0) | (arr >= k)]
        if bad.size:
            raise ConfigError(f"{what} holds class index {int(bad[0])}, but there are only {k} classes.",
                              "Evaluate with the classes of the split the model was trained on.")

    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    support = confusion.sum(axis=1)
    correct = np.diag(confusion)

    per_class = {c: _pct(int(correct[i]), int(support[i])) for i, c in enumerate(classes)}

    def group(role: str) -> float | None:
        idx = [i for i, c in enumerate(classes) if roles.get(c) == role]
        return _pct(int(correct[idx].sum()), int(support[idx].sum())) if idx else None

    present = support > 0
    balanced = float(np.mean(correct[present] / support[present])) * 100.0
    # macro-F1 over the classes that occur in the truth or the predictions (as scikit-learn does)
    f1s = [s.f1 for s in class_scores(confusion, classes).values() if s.f1 is not None]

    return Evaluation(
        classes=classes,
        roles=roles,
        per_class=per_class,
        support={c: int(support[i]) for i, c in enumerate(classes)},
        majority=group(MAJORITY),
        minority=group(MINORITY),
        overall=100.0 * int(correct.sum()) / int(true.size),
        balanced_accuracy=balanced,
        macro_f1=float(np.mean(f1s)),
        confusion=tuple(tuple(int(x) for x in row) for row in confusion),
    )


def epoch_fields(evaluation: Evaluation) -> dict[str, Any]:
    """The accuracy fields of an ``EpochMetrics`` event taken from an ``Evaluation``."""
    return {"per_class": dict(evaluation.per_class), "roles": dict(evaluation.roles),
            "majority": evaluation.majority, "minority": evaluation.minority, "overall": evaluation.overall}


def result_line(method: str, evaluation: Evaluation) -> str:
    """One line with a method's Table-1 numbers (majority, minority, overall accuracy)."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}%"

    return (f"{method}: majority {pct(evaluation.majority)}, minority {pct(evaluation.minority)}, "
            f"overall {pct(evaluation.overall)} on {evaluation.n} test images.")
