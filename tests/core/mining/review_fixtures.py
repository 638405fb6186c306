"""A candidates folder written by hand in ``export.write_candidates``'s format, and a small split it belongs to,
for the review tests (no training)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from scl_desktop.core.data.manifest import DatasetManifest, ImageItem, SplitManifest
from scl_desktop.core.labelling.export import CSV_ENCODING
from scl_desktop.core.mining.export import CANDIDATE_FIELDS, CANDIDATES_FILE, CHIPS_DIR, META_FILE

CLASSES = ("fields", "forest", "harbour")
RUN_ID = "20260101-000000-scl-abcd"


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)


def small_split(root: Path) -> SplitManifest:
    """Three classes of 4 images each: 2 train, 1 val, 1 test per class; the harbour is the minority."""
    items = []
    for c, name in enumerate(CLASSES):
        for i in range(4):
            path = root / "data" / name / f"{name}_{i}.png"
            _png(path, 20 * c + i)
            items.append(ImageItem(str(path), name, path.stat().st_size, path.stat().st_mtime_ns, f"{c}{i}" * 32,
                                   16, 16, 3, "uint8"))
    dataset = DatasetManifest(source=str(root / "data"), classes=CLASSES, items=tuple(items))
    index = [[c * 4 + i for i in range(4)] for c in range(3)]
    return SplitManifest(dataset, "ci", 0, {"s": 2}, {"fields": "majority", "forest": "majority",
                                                       "harbour": "minority"},
                         train=tuple(i for k in index for i in k[:2]), val=tuple(k[2] for k in index),
                         test=tuple(k[3] for k in index))


def candidates_folder(root: Path, n: int = 5, target: str | None = "harbour") -> Path:
    """``root``/cands: ``n`` candidates of scene.tif windows (georeferenced), chips and mine.json."""
    folder = root / "cands"
    rows = []
    for rank in range(1, n + 1):
        chip = f"{CHIPS_DIR}/{rank:04d}_scene_c{32 * rank}_r0.png"
        _png(folder / chip, 100 + rank)
        rows.append({"rank": rank, "path": str(root / "scene.tif"), "col_off": 32 * rank, "row_off": 0, "width": 32,
                     "height": 32, "cell_row": 0, "cell_col": rank, "minx": 1000.0 + rank, "miny": 2000.0,
                     "maxx": 1010.0 + rank, "maxy": 2010.0, "crs": "EPSG:32633",
                     "predicted": "forest" if rank == 2 else "harbour", "predicted_probability": 0.9,
                     "class": target or "", "class_probability": 0.9 - rank / 100, "margin": 0.5, "entropy": 0.2,
                     "score": round(0.9 - rank / 100, 6), "chip": chip})
    with open(folder / CANDIDATES_FILE, "w", encoding=CSV_ENCODING, newline="") as fh:
        writer = csv.DictWriter(fh, CANDIDATE_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    (folder / META_FILE).write_text(json.dumps({"kind": "scl-candidates", "run": RUN_ID, "method": "SCL-CB",
                                                "class": target, "classes": list(CLASSES), "scored": 40}))
    return folder
