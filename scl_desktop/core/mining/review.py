"""Reviewing a candidate list: accept, reject or relabel each chip, with undo, saved after every decision.

A review works on a folder ``export.write_candidates`` wrote (``candidates.csv``, ``chips/`` and
``mine.json``, which names the run and its classes). ``ReviewSession.open(DIR)`` reads it and the
decisions made so far, ``DIR/review.json``; every decision and undo rewrites that file atomically
(``atomic.write_json``), so a review killed at any moment resumes with every decision kept. A
decision is ``accept`` (the chip is of its proposed class: the class the list was for, else the
predicted one), ``reject`` (not of any class to add) or ``relabel`` (it is of class X). Undo takes
back the last decision (its stack is saved too); ``dataset_version.write_version`` turns the
accepted and relabelled chips into a new dataset version.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scl_desktop.core.atomic import read_json, write_json
from scl_desktop.core.data.manifest import display_path
from scl_desktop.core.errors import ConfigError, DatasetError, SclError
from scl_desktop.core.labelling.export import CSV_ENCODING
from scl_desktop.core.mining.export import CANDIDATES_FILE, META_FILE

REVIEW_FILE = "review.json"
ACCEPT, REJECT, RELABEL = "accept", "reject", "relabel"
DECISIONS = (ACCEPT, REJECT, RELABEL)


def _hint(folder: Path) -> str:
    return (f"Write a candidate list there first, e.g. `scl mine RUN INPUT --class NAME --out {display_path(folder)}`, "
            "or open the folder that holds candidates.csv.")


def _number(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


@dataclass(frozen=True)
class ReviewCandidate:
    """One row of candidates.csv: its ``rank``, ``chip`` (absolute path), source ``path``, window in pixels,
    map ``bounds`` and ``crs`` (None when not georeferenced), ``predicted`` class, the class the list is
    for (``target``, None for a list by doubt), ``score``, and the class an accept adds it as (``proposed``)."""

    rank: int
    chip: Path
    path: str
    window: tuple[int, int, int, int]
    bounds: tuple[float, float, float, float] | None
    crs: str | None
    predicted: str
    target: str | None
    score: float

    @property
    def proposed(self) -> str:
        return self.target or self.predicted

    @classmethod
    def from_row(cls, folder: Path, row: dict[str, str]) -> ReviewCandidate:
        """The candidate of one CSV row (``DatasetError`` for a damaged row)."""
        try:
            corners = [_number(row[k]) for k in ("minx", "miny", "maxx", "maxy")]
            return cls(rank=int(row["rank"]), chip=folder / row["chip"], path=row["path"],
                       window=tuple(int(row[k]) for k in ("col_off", "row_off", "width", "height")),  # type: ignore[arg-type]
                       bounds=None if None in corners else tuple(corners),  # type: ignore[arg-type]
                       crs=row.get("crs") or None, predicted=row["predicted"], target=row.get("class") or None,
                       score=float(row["score"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{display_path(folder / CANDIDATES_FILE)} has a damaged row ({exc!r}).",
                               _hint(folder)) from exc


@dataclass(frozen=True)
class Decision:
    """What the analyst said about candidate ``rank``: ``decision`` (accept, reject, relabel), the ``label`` it
    is added as (None for reject) and ``when`` (UTC, ISO 8601)."""

    rank: int
    decision: str
    label: str | None
    when: str

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "decision": self.decision, "label": self.label, "when": self.when}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Decision:
        return cls(int(d["rank"]), str(d["decision"]), d.get("label"), str(d.get("when", "")))


def read_candidates(folder: str | os.PathLike[str]) -> tuple[list[ReviewCandidate], dict[str, Any]]:
    """The candidates of ``folder``/candidates.csv in rank order and ``mine.json`` (``{}`` when absent)."""
    folder = Path(os.path.abspath(folder))
    csv_path = folder / CANDIDATES_FILE
    if not csv_path.is_file():
        raise DatasetError(f"{display_path(folder)} holds no {CANDIDATES_FILE}.", _hint(folder))
    with open(csv_path, encoding=CSV_ENCODING, newline="") as fh:
        rows = list(csv.DictReader(fh))
    meta = read_json(folder / META_FILE) if (folder / META_FILE).is_file() else {}
    return sorted((ReviewCandidate.from_row(folder, r) for r in rows), key=lambda c: c.rank), meta


class ReviewSession:
    """The review of one candidates folder (module docstring). ``classes``: what a chip may be relabelled
    as, in the run's order; ``run_id`` and ``target`` from mine.json."""

    def __init__(self, folder: Path, candidates: list[ReviewCandidate], classes: tuple[str, ...],
                 run_id: str | None, target: str | None, decisions: dict[int, Decision],
                 history: list[tuple[int, Decision | None]]) -> None:
        self.folder = folder
        self.candidates = candidates
        self.classes = classes
        self.run_id = run_id
        self.target = target
        self._decisions = decisions
        self._history = history
        self._by_rank = {c.rank: c for c in candidates}

    @classmethod
    def open(cls, folder: str | os.PathLike[str], classes: tuple[str, ...] | None = None) -> ReviewSession:
        """Open ``folder`` and resume its saved decisions. ``classes`` overrides mine.json's (a folder without
        one takes the classes its CSV names)."""
        folder = Path(os.path.abspath(folder))
        candidates, meta = read_candidates(folder)
        if not candidates:
            raise DatasetError(f"{display_path(folder / CANDIDATES_FILE)} lists no candidate.", _hint(folder))
        if classes is None:
            classes = tuple(meta.get("classes") or sorted({c.predicted for c in candidates}
                                                          | {c.target for c in candidates if c.target}))
        decisions: dict[int, Decision] = {}
        history: list[tuple[int, Decision | None]] = []
        saved = folder / REVIEW_FILE
        if saved.is_file():
            try:
                data = read_json(saved)
                decisions = {int(d["rank"]): Decision.from_json(d) for d in data.get("decisions", [])}
                history = [(int(h["rank"]), Decision.from_json(h["before"]) if h.get("before") else None)
                           for h in data.get("history", [])]
            except (SclError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DatasetError(f"{display_path(saved)} is damaged ({exc}).",
                                   f"Move it away to start the review of {display_path(folder)} again.") from exc
        ranks = {c.rank for c in candidates}
        decisions = {r: d for r, d in decisions.items() if r in ranks}
        return cls(folder, candidates, tuple(classes), meta.get("run"), meta.get("class"), decisions, history)

    # -- reading -------------------------------------------------------------------------
    def decision(self, rank: int) -> Decision | None:
        """The decision on candidate ``rank`` (None: not reviewed yet)."""
        return self._decisions.get(rank)

    @property
    def decisions(self) -> list[Decision]:
        """Every decision, in rank order."""
        return [self._decisions[c.rank] for c in self.candidates if c.rank in self._decisions]

    @property
    def reviewed(self) -> int:
        return len(self._decisions)

    def candidate(self, rank: int) -> ReviewCandidate:
        """Candidate ``rank`` (``ConfigError`` naming the ranks there are)."""
        if rank not in self._by_rank:
            raise ConfigError(f"There is no candidate {rank}; the list has ranks {self.candidates[0].rank} to "
                              f"{self.candidates[-1].rank}.", "Give one of them.")
        return self._by_rank[rank]

    def added(self) -> list[tuple[ReviewCandidate, Decision]]:
        """The accepted and relabelled candidates with their decisions, in rank order."""
        return [(c, d) for c in self.candidates if (d := self._decisions.get(c.rank)) and d.label is not None]

    def progress_text(self) -> str:
        """``k of N reviewed (a accepted, r relabelled, j rejected)``."""
        counts = {name: 0 for name in DECISIONS}
        for d in self._decisions.values():
            counts[d.decision] += 1
        return (f"{self.reviewed} of {len(self.candidates)} reviewed ({counts[ACCEPT]} accepted, "
                f"{counts[RELABEL]} relabelled, {counts[REJECT]} rejected)")

    # -- deciding ------------------------------------------------------------------------
    def accept(self, rank: int) -> Decision:
        """Candidate ``rank`` is of its proposed class."""
        return self._decide(rank, ACCEPT, self.candidate(rank).proposed)

    def reject(self, rank: int) -> Decision:
        """Candidate ``rank`` is not to be added."""
        return self._decide(rank, REJECT, None)

    def relabel(self, rank: int, label: str) -> Decision:
        """Candidate ``rank`` is of class ``label`` (one of ``classes``)."""
        if label not in self.classes:
            raise ConfigError(f"{label!r} is not a class of this review; the classes are {', '.join(self.classes)}.",
                              "Relabel to one of them.")
        return self._decide(rank, RELABEL, label)

    def undo(self) -> int | None:
        """Take back the last decision (its candidate's previous decision returns); the rank, None when there
        was nothing to undo."""
        if not self._history:
            return None
        rank, before = self._history.pop()
        if before is None:
            self._decisions.pop(rank, None)
        else:
            self._decisions[rank] = before
        self.save()
        return rank

    def _decide(self, rank: int, decision: str, label: str | None) -> Decision:
        self.candidate(rank)
        made = Decision(rank, decision, label, datetime.now(UTC).isoformat(timespec="seconds"))
        self._history.append((rank, self._decisions.get(rank)))
        self._decisions[rank] = made
        self.save()
        return made

    def save(self) -> Path:
        """Write review.json atomically (done after every decision and undo)."""
        return write_json(self.folder / REVIEW_FILE, {
            "kind": "scl-review", "run": self.run_id, "class": self.target, "classes": list(self.classes),
            "candidates": len(self.candidates), "decisions": [d.to_json() for d in self.decisions],
            "history": [{"rank": r, "before": b.to_json() if b else None} for r, b in self._history]})
