"""What labelling produces, shared by labelling and its exports: rows, scene maps, the result.

``LabelResult`` holds one :class:`LabelRow` per labelled image or window and one
:class:`SceneMap` per scene cut into windows; ``CSV_FIELDS`` are the columns of a row in the CSV
and the GeoJSON properties. ``label`` builds results, ``export`` writes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scl_desktop.core.data.imaging import apply_raster_settings
from scl_desktop.core.data.manifest import RasterSettings, SkippedFile
from scl_desktop.core.labelling.tiling import (
    GridWindow,
    LabelInput,
    SceneGrid,
    WindowReader,
    has_mask,
    image_rgb,
    mapped_bands,
    open_raster,
)

TOP_K = 3
NODATA_CLASS = 255
"""Class index of the cells of a scene that were not labelled (skipped or not reached)."""
CSV_FIELDS = (
    "path", "col_off", "row_off", "width", "height", "cell_row", "cell_col", "predicted", "confidence",
    "top1_class", "top1_prob", "top2_class", "top2_prob", "top3_class", "top3_prob", "valid_fraction",
    "minx", "miny", "maxx", "maxy", "crs", "centroid_lon", "centroid_lat",
)
"""Columns of the results CSV and properties of the GeoJSON features, in order."""


@dataclass(frozen=True, slots=True)
class LabelRow:
    """The prediction for one image or window.

    ``col_off``/``row_off``/``width``/``height``: the part of the file it covers (whole image:
    0, 0, width, height; shifted-back edge windows: where they were read; padded edge windows: the
    part inside the scene). ``cell_row``/``cell_col``: its position in the scene's window grid
    (``SceneGrid.window``; ``None`` for whole images), not a cell of the classification raster. ``top``: the ``TOP_K`` most likely
    (class, probability), best first. ``valid_fraction``: share of valid (not nodata) pixels.
    Geo fields are ``None`` without georeference: bounds in the file's CRS, centroid in WGS84
    (also ``None`` when the file's CRS cannot be transformed to WGS84). ``path`` is the file name as
    the OS gave it (``data.manifest.display_path`` makes it valid UTF-8 for files and messages).
    """

    path: str
    col_off: int
    row_off: int
    width: int
    height: int
    cell_row: int | None
    cell_col: int | None
    class_index: int
    predicted: str
    confidence: float
    top: tuple[tuple[str, float], ...]
    valid_fraction: float = 1.0
    minx: float | None = None
    miny: float | None = None
    maxx: float | None = None
    maxy: float | None = None
    crs: str | None = None
    centroid_lon: float | None = None
    centroid_lat: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as ``CSV_FIELDS`` -> value (``None`` for absent values)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in CSV_FIELDS if not name.startswith("top")}
        for k in range(TOP_K):
            name, prob = self.top[k] if k < len(self.top) else (None, None)
            out[f"top{k + 1}_class"], out[f"top{k + 1}_prob"] = name, prob
        return {name: out[name] for name in CSV_FIELDS}



@dataclass(eq=False)
class SceneMap:
    """Predictions of a scene cut into windows, on its cell grid (the classification raster,
    ``SceneGrid.cell_geometry``).

    Every cell holds the mean class probabilities of the labelled windows that cover its centre
    (``SceneGrid.cell_span``; one window where windows do not overlap): :attr:`classes` (uint8
    [cell_rows, cell_cols]) is their most likely class, ``NODATA_CLASS`` where no labelled window
    covers the cell (skipped or not reached); :attr:`confidence` (float32) that class's mean
    probability, NaN there. ``prob_sum`` (float32 [cell_rows, cell_cols, n_classes]) and
    ``windows`` (how many windows were added to each cell) are the running sums.
    """

    input: LabelInput
    prob_sum: np.ndarray
    windows: np.ndarray
    _maps: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def grid(self) -> SceneGrid:
        assert self.input.grid is not None
        return self.input.grid

    @classmethod
    def empty(cls, inp: LabelInput, n_classes: int) -> SceneMap:
        """A map of ``inp`` with no window labelled yet, for a model of ``n_classes`` classes."""
        assert inp.grid is not None
        shape = (inp.grid.cell_rows, inp.grid.cell_cols)
        return cls(inp, np.zeros((*shape, n_classes), np.float32), np.zeros(shape, np.int32))

    def add(self, window: GridWindow, probs: np.ndarray) -> None:
        """Add the class probabilities ``probs`` [n_classes] of ``window`` to the cells it covers."""
        rows, cols = self.grid.cell_span(window)
        self.prob_sum[rows, cols] += probs
        self.windows[rows, cols] += 1
        self._maps = None

    def _class_maps(self) -> tuple[np.ndarray, np.ndarray]:
        if self._maps is None:
            covered = self.windows > 0
            classes = np.full(covered.shape, NODATA_CLASS, np.uint8)
            confidence = np.full(covered.shape, np.nan, np.float32)
            mean = self.prob_sum[covered] / self.windows[covered][:, None]
            classes[covered] = mean.argmax(axis=1)
            confidence[covered] = mean.max(axis=1, initial=0.0)
            self._maps = classes, confidence
        return self._maps

    @property
    def classes(self) -> np.ndarray:
        """uint8 [cell_rows, cell_cols]: each cell's class, ``NODATA_CLASS`` where no window covers it."""
        return self._class_maps()[0]

    @property
    def confidence(self) -> np.ndarray:
        """float32 [cell_rows, cell_cols]: the mean probability of each cell's class, NaN where not labelled."""
        return self._class_maps()[1]


@dataclass(eq=False)
class LabelResult:
    """Everything one labelling produced. ``rows`` are sorted by input, then window (row-major).

    ``total``: units (images + windows) planned; ``done``: units processed (labelled or skipped);
    ``skipped_nodata``: windows/images skipped as mostly nodata; ``skipped_files``: inputs (or
    windows, named "path [window ...]") that could not be read, with the reason.
    """

    classes: tuple[str, ...]
    raster: RasterSettings
    size: int
    inputs: tuple[LabelInput, ...]
    rows: list[LabelRow] = field(default_factory=list)
    scenes: list[SceneMap] = field(default_factory=list)
    skipped_files: list[SkippedFile] = field(default_factory=list)
    skipped_nodata: int = 0
    total: int = 0
    done: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    run_id: str | None = None
    method: str | None = None

    @property
    def tiles_per_s(self) -> float:
        """Units processed per second over the whole labelling."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def counts(self) -> dict[str, int]:
        """Rows per predicted class, in class order."""
        out = dict.fromkeys(self.classes, 0)
        for row in self.rows:
            out[row.predicted] += 1
        return out

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what `scl label --json` prints besides the output files)."""
        return {
            "run": self.run_id, "method": self.method, "device": self.device,
            "inputs": len(self.inputs), "scenes": len(self.scenes), "total": self.total, "done": self.done,
            "rows": len(self.rows), "skipped_nodata": self.skipped_nodata,
            "skipped_files": [{"path": s.path, "reason": s.reason} for s in self.skipped_files],
            "seconds": round(self.seconds, 3), "tiles_per_s": round(self.tiles_per_s, 2), "counts": self.counts(),
        }

    def thumbnails(self, rows: Sequence[LabelRow], size: int = 96) -> Iterator[np.ndarray]:
        """The image of each row as the model saw it (band mapping + stretch), ``size x size x 3`` uint8.

        Reads from the files again (keeping one scene open), so a results table can show
        thumbnails of any row without holding them all in memory. A fully nodata window is black.
        """
        inputs = {str(i.path): i for i in self.inputs}
        reader = WindowReader(self.raster, size, min_valid=0.0)
        try:
            for row in rows:
                inp = inputs[row.path]
                if row.cell_row is None or row.cell_col is None or inp.grid is None:
                    yield image_rgb(inp.path, self.raster, size)[0]
                else:
                    rgb, _ = reader.read(inp, inp.grid.window(row.cell_row, row.cell_col))
                    yield rgb if rgb is not None else np.zeros((size, size, 3), np.uint8)
        finally:
            reader.close()

    def thumbnail(self, row: LabelRow, size: int = 96) -> np.ndarray:
        """One row's image (see :meth:`thumbnails`)."""
        return next(iter(self.thumbnails([row], size)))

    def preview(self, scene: SceneMap, max_side: int = 1024) -> np.ndarray:
        """A downsampled picture of a whole scene (band mapping + stretch), at most ``max_side``
        pixels on its longer side, to draw ``scene.classes`` over (cell geometry scaled by
        ``preview width / scene width``). Reads block by block (overviews when the file has them)."""
        from rasterio.enums import Resampling

        inp = scene.input
        scale = min(1.0, max_side / max(inp.width, inp.height))
        shape = (max(1, round(inp.height * scale)), max(1, round(inp.width * scale)))
        with open_raster(inp.path) as ds:
            indexes, order = mapped_bands(ds, self.raster.bands)
            data = ds.read(indexes, out_shape=(len(indexes), *shape), resampling=Resampling.average)
            mask = ds.dataset_mask(out_shape=shape) > 0 if has_mask(ds) else None
        return apply_raster_settings(data[order], replace(self.raster, bands=None), mask)
