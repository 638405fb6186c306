"""A new version of the training dataset from a review: the original images plus the accepted chips.

``write_version(review, split, OUT)`` copies each accepted or relabelled chip into a class folder,
``OUT/<class>/<chip>.png``, and writes beside them:

* ``provenance.csv`` and ``provenance.json``: per added image its class, the decision, the class
  proposed, the source file, the window (pixels; map bounds and CRS when georeferenced), the
  ranking score, the rank, the run and when it was decided;
* ``dataset.json``: the run's dataset manifest with the new images appended (the original items
  keep their indices and the dataset its source, so test sets stay comparable);
* ``split.json``: the run's split over that dataset with the new images added to training only
  (``derive.grown_split``: validation and test are the original's, and ``config["mined"]`` lists
  the mined images), ready for `scl train` or `scl fit`.

Everything is written together or not at all (``atomic.StagedFiles``); a folder that already holds
files is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scl_desktop.core.atomic import StagedFiles
from scl_desktop.core.data.manifest import ImageItem, SplitManifest, display_path
from scl_desktop.core.errors import ConfigError, DatasetError
from scl_desktop.core.events import CancelToken, Event, Log, RateMeter
from scl_desktop.core.labelling.export import CSV_ENCODING, csv_cell
from scl_desktop.core.mining.derive import grown_split
from scl_desktop.core.mining.review import ReviewCandidate, ReviewSession

PROVENANCE_FIELDS = ("image", "class", "decision", "proposed", "source", "col_off", "row_off", "width", "height",
                     "minx", "miny", "maxx", "maxy", "crs", "score", "rank", "run", "decided")
"""Columns of provenance.csv (``image`` relative to the version's folder; ``decided``: UTC, ISO 8601)."""


@dataclass(frozen=True)
class DatasetVersion:
    """What ``write_version`` wrote: the folder, the merged ``dataset`` and grown ``split`` manifests, the
    provenance files and the images added per class."""

    folder: Path
    dataset: Path
    split: Path
    provenance_csv: Path
    provenance_json: Path
    added: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "dataset": str(self.dataset), "split": str(self.split),
                "provenance_csv": str(self.provenance_csv), "provenance_json": str(self.provenance_json),
                "added": self.added}


def _folder_name(label: str) -> str:
    return re.sub(r"[^\w.-]+", "_", display_path(label)).strip("._") or "class"


def _provenance(candidate: ReviewCandidate, image: str, label: str, decision: Any, run: str | None) -> dict[str, Any]:
    minx, miny, maxx, maxy = candidate.bounds or (None, None, None, None)
    col, row, width, height = candidate.window
    return {"image": image, "class": label, "decision": decision.decision, "proposed": candidate.proposed,
            "source": candidate.path, "col_off": col, "row_off": row, "width": width, "height": height,
            "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "crs": candidate.crs, "score": candidate.score,
            "rank": candidate.rank, "run": run, "decided": decision.when}


def _item(tmp: Path, target: Path, label: str, candidate: ReviewCandidate) -> ImageItem:
    from PIL import Image

    data = tmp.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        width, height, bands = image.width, image.height, len(image.getbands())
    stat = tmp.stat()  # a rename keeps size and mtime
    return ImageItem(path=str(target), label=label, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns,
                     sha256=hashlib.sha256(data).hexdigest(), width=width, height=height, bands=bands, dtype="uint8",
                     crs=candidate.crs, bounds=candidate.bounds)


def _check(review: ReviewSession, split: SplitManifest, out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{display_path(out)} already exists and is not an empty folder.",
                          f"Choose a new folder, e.g. `scl mine add {display_path(review.folder)} --out NEWDATA`.")
    if not review.added():
        raise DatasetError(f"No candidate of {display_path(review.folder)} was accepted or relabelled.",
                           "Review the chips first (Review page, or accept some), then add them.")
    unknown = sorted({d.label for _, d in review.added()} - set(split.classes))
    if unknown:
        raise DatasetError(f"The run's dataset has no class {', '.join(unknown)}.",
                           f"Relabel those chips to one of {', '.join(split.classes)}.")
    bands = split.dataset.raster.bands
    if bands and tuple(bands) != (1, 2, 3):
        raise DatasetError(f"The run's dataset maps bands {list(bands)} to RGB; the chips are RGB already, so they "
                           "cannot join it.", "Import the chips on their own: copy them to class folders and run "
                           "`scl import FOLDER`.")


def write_version(review: ReviewSession, split: SplitManifest, out: str | os.PathLike[str],
                  cancel: CancelToken | None = None) -> Generator[Event, None, DatasetVersion]:
    """Write the dataset version of ``review``'s accepted and relabelled chips over the run's ``split`` into
    ``out`` (module docstring). Yields ``Progress`` per chip; cancelling writes nothing."""
    out = Path(os.path.abspath(out))
    _check(review, split, out)
    added = review.added()
    meter = RateMeter(total=len(added))
    items: list[ImageItem] = []
    rows: list[dict[str, Any]] = []
    with StagedFiles() as staged:
        for n, (candidate, decision) in enumerate(added, start=1):
            if cancel is not None:
                cancel.raise_if_cancelled("Writing the dataset version")
            assert decision.label is not None
            if not candidate.chip.is_file():
                raise DatasetError(f"The chip {display_path(candidate.chip)} is missing.",
                                   f"Write the candidate list again with `scl mine RUN INPUT --out "
                                   f"{display_path(review.folder)}`.")
            target = out / _folder_name(decision.label) / candidate.chip.name
            tmp = staged.stage(target, candidate.chip.suffix)
            shutil.copyfile(candidate.chip, tmp)
            items.append(_item(tmp, target, decision.label, candidate))
            rows.append(_provenance(candidate, target.relative_to(out).as_posix(), decision.label, decision,
                                    review.run_id))
            yield meter.progress("Copying chips", n, unit="chips")
        own = split.dataset.items
        dataset = replace(split.dataset, items=tuple(own) + tuple(items))
        origin = {"candidates": str(review.folder), "version": str(out)}
        grown = grown_split(split, dataset, range(len(own), len(own) + len(items)), origin)
        files = {"dataset.json": dataset.to_json(), "split.json": grown.to_json(),
                 "provenance.json": {"kind": "scl-provenance", "candidates": str(review.folder), "run": review.run_id,
                                     "images": rows}}
        for name, obj in files.items():
            with open(staged.stage(out / name, ".json"), "w", encoding="utf-8") as fh:
                json.dump(obj, fh, indent=2)  # ASCII: file names may hold escaped bytes
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(PROVENANCE_FIELDS)
        writer.writerows([csv_cell(r[k]) for k in PROVENANCE_FIELDS] for r in rows)
        with open(staged.stage(out / "provenance.csv", ".csv"), "w", encoding=CSV_ENCODING, newline="") as fh:
            fh.write(buf.getvalue())
        staged.commit()
    counts = {c: n for c in split.classes if (n := sum(item.label == c for item in items))}
    yield Log(f"Wrote the dataset version {display_path(out)}: {len(items)} mined image(s) added to training ("
              + ", ".join(f"{c} {n}" for c, n in counts.items()) + f"); split.json keeps the run's "
              f"{len(split.test)} test images.")
    return DatasetVersion(out, out / "dataset.json", out / "split.json", out / "provenance.csv",
                          out / "provenance.json", counts)
