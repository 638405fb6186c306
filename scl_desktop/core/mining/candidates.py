"""Candidates for review: every image or window of new inputs scored with a run, then ranked.

``find_candidates(run, paths, MineConfig(...), cancel)`` labels the inputs exactly as
``labelling.label`` does (the same readers, windows, band mapping and stretch, and the same
probabilities: the model's ``Predictor`` under autocast), with the encoder features of each
image or window riding along (``FeatureScorer``). The list is ranked by the probability of the
chosen class (``MineConfig.target``) or, without one, by doubt (``RankConfig.uncertainty``), and
spread over feature space unless ``RankConfig.diverse`` is off (``ranking.rank``). It yields
labelling's events and returns a :class:`CandidateList`; ``export.write_candidates`` writes it.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from scl_desktop.core.errors import ConfigError, DatasetError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.labelling.label import LabelBatch, LabelConfig, label_with_model, load_label_model
from scl_desktop.core.labelling.types import LabelResult, LabelRow
from scl_desktop.core.mining.ranking import RankConfig, rank
from scl_desktop.core.mining.scores import entropies, margins, scores


@dataclass(frozen=True)
class MineConfig:
    """Options of :func:`find_candidates`: ``target`` the class to find (None: the most doubtful images),
    ``rank`` how the list is ranked, ``label`` how the inputs are read (tiling, batch, device, method)."""

    target: str | None = None
    rank: RankConfig = field(default_factory=RankConfig)
    label: LabelConfig = field(default_factory=LabelConfig)

    def validate(self) -> None:
        """``ConfigError`` for values out of range."""
        self.rank.validate()
        self.label.validate()


class FeatureScorer(nn.Module):
    """A ``Predictor`` whose output is its class probabilities [B, C] followed by the encoder features [B, D].

    The probabilities are computed as ``Predictor.forward`` computes them (labelling's computation).
    """

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor
        self.channels_last = bool(getattr(predictor, "channels_last", False))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.predictor.encoder(self.predictor.prepare(images))
        probs = torch.softmax(self.predictor.classifier(features).float(), dim=1)
        return torch.cat([probs, features.float()], dim=1)


@dataclass(frozen=True)
class Candidate:
    """One image or window of the list: its ``rank`` (1 = review first), labelling's ``row`` (file, window,
    map bounds and CRS), the predicted class and its probability, the probability of the ``target`` class
    (None for a list by doubt), the top-two ``margin``, the normalised ``entropy`` and the ranking ``score``."""

    rank: int
    row: LabelRow
    predicted: str
    predicted_probability: float
    target: str | None
    class_probability: float | None
    margin: float
    entropy: float
    score: float

    def to_json(self) -> dict[str, Any]:
        """The candidate as a flat dict (the columns of ``export.CANDIDATE_FIELDS`` but the chip)."""
        r = self.row
        return {
            "rank": self.rank, "path": r.path, "col_off": r.col_off, "row_off": r.row_off, "width": r.width,
            "height": r.height, "cell_row": r.cell_row, "cell_col": r.cell_col, "minx": r.minx, "miny": r.miny,
            "maxx": r.maxx, "maxy": r.maxy, "crs": r.crs, "predicted": self.predicted,
            "predicted_probability": self.predicted_probability, "class": self.target,
            "class_probability": self.class_probability, "margin": self.margin, "entropy": self.entropy,
            "score": self.score,
        }


@dataclass(eq=False)
class CandidateList:
    """A ranked list for review. ``scored``: images and windows scored; ``result``: the labelling behind
    it (``LabelResult.thumbnails`` gives each candidate's image as the model saw it)."""

    run_id: str | None
    method: str | None
    target: str | None
    config: RankConfig
    candidates: list[Candidate]
    scored: int
    result: LabelResult

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what `scl mine --json` prints besides the files)."""
        return {"run": self.run_id, "method": self.method, "class": self.target,
                "ranked_by": f"probability of {self.target}" if self.target else self.config.uncertainty,
                "diverse": self.config.diverse, "top": self.config.top, "scored": self.scored,
                "candidates": [c.to_json() for c in self.candidates]}


def class_index(target: str | None, classes: Sequence[str], run_id: str | None) -> int | None:
    """Index of ``target`` among the run's ``classes`` (None for None); ``ConfigError`` naming the choices."""
    if target is None:
        return None
    if target in classes:
        return list(classes).index(target)
    run = run_id or "RUN"
    raise ConfigError(f"Run {run} has no class {target!r}; its classes are {', '.join(classes)}.",
                      f"Name one of them, e.g. `scl mine {run} INPUT --class {classes[-1]} --out DIR`, or rank "
                      "by doubt with --uncertain.")


def rank_rows(rows: Sequence[LabelRow], probs: np.ndarray, features: np.ndarray | None, classes: Sequence[str],
              target: str | None, config: RankConfig) -> list[Candidate]:
    """The ranked :class:`Candidate` list of ``rows`` with their class ``probs`` [N, C] and ``features`` [N, D]."""
    index = class_index(target, classes, None)
    score = scores(probs, index, config.uncertainty)
    margin, entropy = margins(probs), entropies(probs)
    chosen = rank(score, features, config)
    out = []
    for n, i in enumerate(chosen, start=1):
        top = int(np.argmax(probs[i]))
        out.append(Candidate(
            rank=n, row=rows[i], predicted=classes[top], predicted_probability=round(float(probs[i, top]), 6),
            target=target, class_probability=None if index is None else round(float(probs[i, index]), 6),
            margin=round(float(margin[i]), 6), entropy=round(float(entropy[i]), 6), score=round(float(score[i]), 6)))
    return out


def find_candidates(run: Any, paths: Sequence[Any], config: MineConfig | None = None,
                    cancel: CancelToken | None = None) -> Generator[Event | LabelBatch, None, CandidateList]:
    """Score ``paths`` (images, GeoTIFF tiles and scenes, folders) with ``run`` (a ``Run``, id or folder) and rank
    them for review (module docstring). Yields labelling's events; cancelling raises labelling's ``Cancelled``.
    ``ConfigError`` for a class the run does not have, ``DatasetError`` when nothing could be scored."""
    from scl_desktop.core import devices

    config = config or MineConfig()
    config.validate()
    choice = devices.choose_device(config.label.device)
    model = load_label_model(run, config.label.method, choice.device)
    class_index(config.target, model.classes, model.run_id)
    what = f"the probability of {config.target}" if config.target else f"doubt ({config.rank.uncertainty})"
    yield Log(f"Mining with model {model.method} of run {model.run_id}: ranking by {what}, "
              f"{'spread over feature space' if config.rank.diverse else 'best scores first'}; "
              f"device {choice.reason}")
    outputs: dict[int, np.ndarray] = {}  # id(row) -> the model's output for it
    step = label_with_model(replace(model, predictor=FeatureScorer(model.predictor)), paths, config.label, cancel,
                            choice.device)
    while True:
        try:
            event = next(step)
        except StopIteration as stop:
            result: LabelResult = stop.value
            break
        if isinstance(event, LabelBatch) and event.outputs is not None:
            outputs.update((id(row), out) for row, out in zip(event.rows, event.outputs, strict=True))
        yield event
    if not result.rows:
        raise DatasetError("No image or window of the inputs could be scored (all were unreadable or mostly nodata).",
                           f"See why with `scl label {model.run_id} INPUT --out labels.csv`, or give other inputs.")
    table = np.stack([outputs[id(row)] for row in result.rows])
    n_classes = len(model.classes)
    ranked = rank_rows(result.rows, table[:, :n_classes], table[:, n_classes:], model.classes, config.target,
                       config.rank)
    yield Log(f"Ranked {len(ranked)} of {len(result.rows)} scored images and windows.")
    return CandidateList(model.run_id, model.method, config.target, config.rank, ranked, len(result.rows), result)
