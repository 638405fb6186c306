"""How long the Label page's result table takes to filter and sort many rows.

    python -m scl_desktop.benchmarks.label_table [--rows 20000]

Fills the real ``LabelTableModel`` (buffered inserts, batches of 64 as labelling delivers them)
with synthetic rows of 10 classes, then times one class-and-confidence filter and one sort by
confidence in the view (offscreen unless a display is set). The default test command checks
that filtering and sorting give the right rows; these seconds are a figure of the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

CLASSES = tuple(f"class{i}" for i in range(10))


def synthetic_rows(count: int = 20_000, seed: int = 0) -> tuple[list, np.ndarray, np.ndarray]:
    """``count`` label rows of a 100-column grid of 64 px windows; also the class index and confidence of each."""
    from scl_desktop.core.labelling.types import LabelRow

    rng = np.random.default_rng(seed)
    picks, probs = rng.integers(0, 10, count), rng.random(count)
    rows = [LabelRow("/scene.tif", c * 64, r * 64, 64, 64, r, c, int(k), CLASSES[k], float(p),
                     ((CLASSES[k], float(p)), (CLASSES[(k + 1) % 10], float(1 - p))))
            for (r, c), k, p in zip(np.ndindex(count // 100, 100), picks, probs, strict=True)]
    return rows, picks, probs


def filter_and_sort(view, proxy) -> tuple[float, float]:  # noqa: ANN001 - LabelTableView, LabelFilterProxy
    """Seconds to show class 3 at confidence >= 0.5, then to sort by confidence (highest first)."""
    from PySide6.QtCore import Qt

    from scl_desktop.gui.widgets.label_table import COLUMNS

    started = time.perf_counter()
    proxy.set_filter(3, 0.5)
    filtered = time.perf_counter() - started
    started = time.perf_counter()
    view.sortByColumn(COLUMNS.index("Confidence"), Qt.SortOrder.DescendingOrder)
    return filtered, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scl_desktop.benchmarks.label_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows (a multiple of 100; default 20000)")
    args = parser.parse_args(argv)
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from scl_desktop.gui.widgets.label_table import LabelFilterProxy, LabelTableModel, LabelTableView

    app = QApplication.instance() or QApplication([])
    rows, _, _ = synthetic_rows(args.rows)
    model = LabelTableModel()
    proxy = LabelFilterProxy(model)
    view = LabelTableView(proxy)
    view.show()
    model.start(CLASSES)
    for start in range(0, len(rows), 64):
        model.add_rows(rows[start:start + 64])
    while model.rowCount() < len(rows):
        app.processEvents()
    filtered, sorted_s = filter_and_sort(view, proxy)
    print(f"{len(rows):,} rows: filter {1000 * filtered:.0f} ms, sort {1000 * sorted_s:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
