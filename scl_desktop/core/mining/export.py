"""A candidate list on disk: ``DIR/candidates.csv``, one image chip per candidate, ``DIR/chips/``, and
``DIR/mine.json`` (the run, its method and classes, the class the list is for: what a review needs).

The CSV (columns ``CANDIDATE_FIELDS``) is UTF-8 with a byte-order mark like labelling's
(``labelling.export.CSV_ENCODING``; formula characters and non-UTF-8 file names handled the same
way), one row per candidate in rank order. Each chip is the candidate's image or window as the
model saw it (band mapping and stretch applied), a PNG named ``<rank>_<file stem>[_c<col>_r<row>].png``.
Every file is written to a temporary first and all are moved into place together
(``atomic.StagedFiles``); chips of an earlier list in the same folder are removed afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from scl_desktop.core.atomic import StagedFiles
from scl_desktop.core.events import CancelToken, Event, RateMeter
from scl_desktop.core.labelling.export import CSV_ENCODING, csv_cell
from scl_desktop.core.mining.candidates import Candidate, CandidateList

CANDIDATES_FILE = "candidates.csv"
CHIPS_DIR = "chips"
META_FILE = "mine.json"
CANDIDATE_FIELDS = (
    "rank", "path", "col_off", "row_off", "width", "height", "cell_row", "cell_col", "minx", "miny", "maxx", "maxy",
    "crs", "predicted", "predicted_probability", "class", "class_probability", "margin", "entropy", "score", "chip",
)
"""Columns of candidates.csv: the window (pixels of the file, grid cell, map bounds and CRS when
georeferenced), the predicted class and its probability, the class the list is for and its
probability (empty for a list by doubt), the top-two margin, the normalised entropy, the ranking
score and the chip's path relative to the folder."""
_CHIP_RE = re.compile(r"^\d+_.*\.png$")


@dataclass(frozen=True)
class CandidateFiles:
    """What ``write_candidates`` wrote: the CSV and the chips, in rank order."""

    csv: Path
    chips: tuple[Path, ...]


def chip_name(candidate: Candidate, digits: int = 4) -> str:
    """``<rank>_<file stem>[_c<col>_r<row>].png`` (the window's pixel offset for windows of a scene)."""
    row = candidate.row
    stem = re.sub(r"[^\w.-]+", "_", Path(os.fsencode(row.path).decode("utf-8", "replace")).stem).strip("._")
    where = f"_c{row.col_off}_r{row.row_off}" if row.cell_row is not None else ""
    return f"{candidate.rank:0{digits}d}_{stem[:60] or 'image'}{where}.png"


def csv_text(candidates: CandidateList, chips: list[str]) -> str:
    """candidates.csv's text (without the byte-order mark); ``chips``: each candidate's chip path."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CANDIDATE_FIELDS)
    for candidate, chip in zip(candidates.candidates, chips, strict=True):
        values = {**candidate.to_json(), "chip": chip}
        writer.writerow([csv_cell(values[name]) for name in CANDIDATE_FIELDS])
    return buf.getvalue()


def meta_json(candidates: CandidateList) -> dict[str, object]:
    """mine.json's content: the run, method, class (None for a list by doubt) and the run's classes."""
    return {"kind": "scl-candidates", "run": candidates.run_id, "method": candidates.method,
            "class": candidates.target, "classes": list(candidates.result.classes), "scored": candidates.scored}


def write_candidates(candidates: CandidateList, folder: str | os.PathLike[str], chip_size: int | None = None,
                     cancel: CancelToken | None = None) -> Generator[Event, None, CandidateFiles]:
    """Write ``folder``/candidates.csv and the chips (``chip_size`` px a side; default the run's working size),
    all together or none (module docstring). Yields ``Progress`` per chip; cancelling writes nothing."""
    from PIL import Image

    folder = Path(folder)
    rows = [c.row for c in candidates.candidates]
    digits = max(4, len(str(len(rows))))
    names = [chip_name(c, digits) for c in candidates.candidates]
    meter = RateMeter(total=len(rows))
    with StagedFiles() as staged:
        chips = []
        for n, (name, image) in enumerate(zip(names, candidates.result.thumbnails(rows, chip_size or candidates.result.size),
                                              strict=True), start=1):
            if cancel is not None:
                cancel.raise_if_cancelled("Writing the candidate chips")
            target = folder / CHIPS_DIR / name
            Image.fromarray(image).save(staged.stage(target, ".png"), format="PNG")
            chips.append(target)
            yield meter.progress("Writing chips", n, unit="chips")
        csv_path = folder / CANDIDATES_FILE
        with open(staged.stage(csv_path, ".csv"), "w", encoding=CSV_ENCODING, newline="") as fh:
            fh.write(csv_text(candidates, [f"{CHIPS_DIR}/{name}" for name in names]))
        with open(staged.stage(folder / META_FILE, ".json"), "w", encoding="utf-8") as fh:
            json.dump(meta_json(candidates), fh, indent=2)  # ASCII: class names may hold escaped bytes
        staged.commit()
    kept = set(names)
    for old in (folder / CHIPS_DIR).glob("*.png") if (folder / CHIPS_DIR).is_dir() else ():
        if _CHIP_RE.match(old.name) and old.name not in kept:
            old.unlink(missing_ok=True)
    return CandidateFiles(csv_path, tuple(chips))
