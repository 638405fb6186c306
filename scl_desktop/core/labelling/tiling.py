"""What gets labelled: input discovery, the window grid over large scenes, and window reads.

Inputs are image files, folders of them (searched recursively) and GeoTIFF scenes. Each input
becomes a :class:`LabelInput`: either labelled **whole** (resized to the model's working size,
exactly as the training images were) or cut into a **grid of windows** (:class:`SceneGrid`).

Grid rules (see :class:`TilingConfig`):

* Window size and stride are given in pixels (``tile``, ``stride``) or in metres of the scene's
  projected CRS (``tile_m``, ``stride_m``; converted per scene with its pixel size). Without
  either, windows are as large as the median training image, so they cover about the ground
  the model was trained on when the imagery has the training resolution.
* ``mode="auto"`` cuts an input into windows only when at least two windows fit along one side
  (width or height >= 2 x tile); smaller images are labelled whole.
* **Edge windows** (``edge``): with ``"shift"`` (default) the last window of a row or column is
  moved back so that it ends at the scene edge: every window is full size and read entirely
  from the scene, and it overlaps its neighbour. With ``"pad"`` the last window stays on the
  regular grid and the part beyond the scene is padded (nodata, zeros to the model); padding
  counts as nodata for ``min_valid``. A scene no larger than one tile along a side is covered
  by one window spanning that side (with ``"pad"``: padded to the tile).
* Windows whose share of valid (not nodata / not masked) pixels is below ``min_valid`` are
  skipped and counted. Windows smaller than ``MIN_WINDOW_PX`` pixels (e.g. a tiny ``tile_m``)
  are refused at planning: the scene is skipped with the reason.
* Metres on an input without georeference: in ``mode="auto"`` it is labelled whole and
  :func:`plan_inputs` warns (``InputPlan.warnings``); in ``mode="grid"`` it is skipped.
* Georeferenced inputs whose CRS has no way to WGS84 (``LabelInput.wgs84_problem``) keep their
  native bounds; their WGS84 columns stay empty and the GeoJSON leaves them out.
* Any file name works, also one that is not valid UTF-8 (``display_path`` gives it for messages
  and files).

Scenes are read window by window with rasterio (imported lazily, so the engine imports without
it), so memory stays bounded whatever the scene size.
"""

from __future__ import annotations

import functools
import math
import os
import re
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from scl_desktop.core.data.imaging import (
    SUPPORTED_EXTENSIONS,
    UnreadableImage,
    apply_raster_settings,
    read_raw,
    resize_square,
    select_bands,
)
from scl_desktop.core.data.manifest import RasterSettings, SkippedFile, display_path
from scl_desktop.core.errors import ConfigError, ImageReadError
from scl_desktop.core.events import CancelToken, Progress, RateMeter
from scl_desktop.core.labelling.geometry import wgs84_problem

EDGE_MODES = ("shift", "pad")
TILING_MODES = ("auto", "whole", "grid")
MIN_WINDOW_PX = 8  # a smaller window holds too little image to label (and a scene would become millions of them)


@dataclass(frozen=True)
class TilingConfig:
    """How inputs are cut into windows.

    ``tile`` / ``stride``: window size and step in pixels; ``tile_m`` / ``stride_m``: the same in
    metres of the scene CRS (projected CRSs only). ``tile=None`` and ``tile_m=None``: the median
    training image size. ``stride=None`` and ``stride_m=None``: equal to the window size (no
    overlap). ``edge``: "shift" or "pad" (module docstring). ``min_valid``: windows with a
    smaller share of valid pixels are skipped. ``mode``: "auto" (grid only when >= 2 windows fit
    along a side), "whole" (never cut) or "grid" (always cut).
    """

    tile: int | None = None
    stride: int | None = None
    tile_m: float | None = None
    stride_m: float | None = None
    edge: str = "shift"
    min_valid: float = 0.5
    mode: str = "auto"

    def validate(self) -> None:
        """Raise ``ConfigError`` for inconsistent or out-of-range values."""
        if self.tile is not None and self.tile_m is not None:
            raise ConfigError("Both a tile size in pixels and one in metres were given.", "Give only one of them.")
        if self.stride is not None and self.stride_m is not None:
            raise ConfigError("Both a stride in pixels and one in metres were given.", "Give only one of them.")
        for name in ("tile", "stride"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"The {name} must be a whole number of pixels >= 1, not {value!r}.",
                                  f"Give e.g. --{name} 256.")
        for name in ("tile_m", "stride_m"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"The {name.replace('_m', '')} in metres must be a positive number, not {value!r}.",
                                  f"Give e.g. --{name.replace('_', '-')} 50.")
        if self.edge not in EDGE_MODES:
            raise ConfigError(f"Unknown edge handling {self.edge!r}.", f"Use one of {', '.join(EDGE_MODES)}.")
        if self.mode not in TILING_MODES:
            raise ConfigError(f"Unknown tiling mode {self.mode!r}.", f"Use one of {', '.join(TILING_MODES)}.")
        if not 0.0 <= self.min_valid <= 1.0:
            raise ConfigError(f"min_valid must be a fraction between 0 and 1, not {self.min_valid!r}.",
                              "Give e.g. 0.5 to skip windows that are more than half nodata.")


@dataclass(frozen=True)
class GridWindow:
    """One window of a scene grid: its position (``cell_row``, ``cell_col``) in the window grid and
    its pixel extent.

    ``x``, ``y``, ``width``, ``height`` are the full window in scene pixels; with ``edge="pad"``
    it may reach beyond the scene (see :meth:`clipped`).
    """

    cell_row: int
    cell_col: int
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class SceneGrid:
    """The window grid of one scene: window size and step in pixels, edge handling.

    Windows are indexed (``cell_row``, ``cell_col``) in the grid (:meth:`window`). The
    classification raster is a separate **cell grid** that covers exactly the scene: it starts at
    the scene origin and has ``ceil(width / stride_x)`` x ``ceil(height / stride_y)`` cells, each
    ``width / cell_cols`` x ``height / cell_rows`` scene pixels (:meth:`cell_geometry`). That is the
    stride when the scene is a multiple of it and a little less otherwise (never more), so the
    raster's bounds are the scene's bounds: no cell is partial or reaches past the edge.
    A cell takes the windows that cover its centre (:meth:`cell_span`; ``types.SceneMap`` averages
    their probabilities), so shifted-back edge windows land where they were read. With a stride
    larger than the window (gaps between windows) each window stands for the stride-wide block
    centred on it.
    """

    width: int
    height: int
    tile_w: int
    tile_h: int
    stride_x: int
    stride_y: int
    edge: str = "shift"

    @staticmethod
    def _count(size: int, tile: int, stride: int) -> int:
        return 1 if size <= tile else math.ceil((size - tile) / stride) + 1

    @property
    def n_cols(self) -> int:
        """Windows per row."""
        return self._count(self.width, self.tile_w, self.stride_x)

    @property
    def n_rows(self) -> int:
        """Windows per column."""
        return self._count(self.height, self.tile_h, self.stride_y)

    @property
    def cell_cols(self) -> int:
        """Columns of the cell grid (the classification raster): ``ceil(width / stride_x)``."""
        return math.ceil(self.width / self.stride_x)

    @property
    def cell_rows(self) -> int:
        """Rows of the cell grid: ``ceil(height / stride_y)``."""
        return math.ceil(self.height / self.stride_y)

    def __len__(self) -> int:
        return self.n_cols * self.n_rows

    def _axis(self, index: int, size: int, tile: int, stride: int) -> tuple[int, int]:
        """Offset and length of window ``index`` along one axis."""
        if size <= tile:
            return 0, (tile if self.edge == "pad" else size)
        offset = index * stride
        if offset + tile > size and self.edge == "shift":
            offset = size - tile
        return offset, tile

    def window(self, cell_row: int, cell_col: int) -> GridWindow:
        """The window of cell (``cell_row``, ``cell_col``)."""
        x, w = self._axis(cell_col, self.width, self.tile_w, self.stride_x)
        y, h = self._axis(cell_row, self.height, self.tile_h, self.stride_y)
        return GridWindow(cell_row, cell_col, x, y, w, h)

    def windows(self) -> Iterator[GridWindow]:
        """All windows, row by row."""
        for r in range(self.n_rows):
            for c in range(self.n_cols):
                yield self.window(r, c)

    def cell_geometry(self) -> tuple[float, float, float, float]:
        """(x origin, y origin, cell width, cell height) of the cell grid in scene pixels; the
        origin is the scene's (0, 0) and ``cell_cols x cell width`` the scene width."""
        return 0.0, 0.0, self.width / self.cell_cols, self.height / self.cell_rows

    def cell_transform(self, transform: Any) -> Any:
        """The affine transform of the cell grid (the classification raster) given the scene's:
        its extent is the scene's extent."""
        from affine import Affine

        _, _, cw, ch = self.cell_geometry()
        return Affine(*tuple(transform)[:6]) @ Affine.scale(cw, ch)

    @staticmethod
    def _cells(start: int, end: int, size: int, cells: int, tile: int, stride: int) -> slice:
        """The cells along one axis whose centres lie in [start, end) (grown to the stride when it
        is larger than the tile); exact integer arithmetic in half pixels."""
        grow = max(0, stride - tile)
        def first(half_px: int) -> int:  # first cell c with 2 * centre(c) = (2c + 1) * size / cells >= half_px
            return min(cells, max(0, -((size - half_px * cells) // (2 * size))))
        return slice(first(2 * start - grow), first(2 * end + grow))

    @functools.cached_property
    def _spans(self) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        """Cells of each window row and of each window column (computed once per grid)."""
        rows, cols = [], []
        for r in range(self.n_rows):
            _, y, _, h = clip_window(self.window(r, 0), self.width, self.height)
            rows.append(self._cells(y, y + h, self.height, self.cell_rows, self.tile_h, self.stride_y))
        for c in range(self.n_cols):
            x, _, w, _ = clip_window(self.window(0, c), self.width, self.height)
            cols.append(self._cells(x, x + w, self.width, self.cell_cols, self.tile_w, self.stride_x))
        return tuple(rows), tuple(cols)

    def cell_span(self, win: GridWindow) -> tuple[slice, slice]:
        """(rows, cols) of the cells whose centres the window ``win`` of this grid covers (its part
        inside the scene)."""
        rows, cols = self._spans
        return rows[win.cell_row], cols[win.cell_col]

    def window_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, col) of the window whose centre is nearest scene pixel (``x``, ``y``), ``None`` outside
        the scene: the window that covers the point (with gaps, the one whose block holds it)."""
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None

        def nearest(pos: float, count: int, size: int, tile: int, stride: int) -> int:
            guess = min(max(round((pos - tile / 2) / stride), 0), count - 1)
            candidates = {i for i in (guess - 1, guess, guess + 1, count - 1) if 0 <= i < count}
            def distance(i: int) -> float:
                offset, length = self._axis(i, size, tile, stride)
                return abs(offset + min(length, size - offset) / 2 - pos)
            return min(sorted(candidates), key=distance)

        return (nearest(y, self.n_rows, self.height, self.tile_h, self.stride_y),
                nearest(x, self.n_cols, self.width, self.tile_w, self.stride_x))

    def to_json(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "tile": [self.tile_w, self.tile_h],
                "stride": [self.stride_x, self.stride_y], "edge": self.edge,
                "windows": [self.n_rows, self.n_cols], "cells": [self.cell_rows, self.cell_cols]}


def clip_window(win: GridWindow, width: int, height: int) -> tuple[int, int, int, int]:
    """(col_off, row_off, width, height) of the part of ``win`` inside a ``width`` x ``height`` scene."""
    x0, y0 = max(win.x, 0), max(win.y, 0)
    x1, y1 = min(win.x + win.width, width), min(win.y + win.height, height)
    return x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)


@dataclass(frozen=True)
class LabelInput:
    """One input file: its raster facts and, when it is cut into windows, its grid.

    ``crs`` is "EPSG:n" when the CRS has an EPSG code, else WKT; ``transform`` the affine
    (a, b, c, d, e, f) from pixel to CRS coordinates. Both are ``None`` without georeference.
    ``grid`` is ``None`` when the input is labelled whole. ``wgs84_problem``: why a georeferenced
    input's coordinates cannot be given in WGS84 (``None``: they can).
    """

    path: Path
    width: int
    height: int
    bands: int
    dtype: str
    crs: str | None = None
    transform: tuple[float, float, float, float, float, float] | None = None
    grid: SceneGrid | None = None
    wgs84_problem: str | None = None

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None

    @property
    def wgs84(self) -> bool:
        """Georeferenced, with a CRS that transforms to WGS84 (it has centroids and GeoJSON footprints)."""
        return self.georeferenced and self.wgs84_problem is None

    @property
    def units(self) -> int:
        """Number of labelling units: windows of the grid, or 1 for a whole image."""
        return len(self.grid) if self.grid is not None else 1


@dataclass(frozen=True)
class InputPlan:
    """Every input that will be labelled, files that cannot be, warnings, and the number of units in all."""

    inputs: tuple[LabelInput, ...]
    skipped: tuple[SkippedFile, ...]
    warnings: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(i.units for i in self.inputs)


def find_input_files(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[SkippedFile]]:
    """Expand ``paths`` into image files: folders recursively (files whose ending import reads,
    ``imaging.SUPPORTED_EXTENSIONS``; no hidden files or folders), files as given (any raster
    format GDAL reads). Returns (files in a stable order without duplicates, paths not found)."""
    files: list[Path] = []
    missing: list[SkippedFile] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_EXTENSIONS:
                        add(Path(root) / name)
        elif path.is_file():
            add(path)
        else:
            missing.append(SkippedFile(display_path(path), "does not exist; check the path"))
    return files, missing


_MEMORY_NAME = re.compile(r"/vsi\w+/\S*?([^/\s'\",]+)(?=['\"\s),]|$)")
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def clean_reason(text: str, path: str | os.PathLike[str]) -> str:
    """A reader's error message for people: GDAL's in-memory paths (``/vsimem/...``) and Python object
    reprs (``<_io.BytesIO object at 0x...>``) become the file's name; whitespace is squeezed."""
    name = display_path(Path(path).name)
    text = _OBJECT_REPR.sub(name, _MEMORY_NAME.sub(name, display_path(text)))
    return " ".join(text.split())


def _opener(path: Path) -> Any:
    """An opener for rasterio that reads ``path`` (and its side files) although its name is not UTF-8."""
    real_base = os.path.splitext(os.fspath(path))[0]
    shown_base = display_path(real_base)

    def open_file(name: str, mode: str = "rb") -> Any:
        if name.startswith(shown_base):
            name = real_base + name[len(shown_base):]
        return open(name, mode)

    return open_file


def open_raster(path: str | os.PathLike[str]) -> Any:
    """Open ``path`` with rasterio (``ImageReadError`` with the reason when it cannot be read); also
    a file whose name is not valid UTF-8, which rasterio cannot open by name."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    shown = display_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            if shown == os.fspath(path):
                return rasterio.open(path)
            return rasterio.open(shown, opener=_opener(path))
    except RasterioIOError as exc:
        raise ImageReadError(f"{shown} cannot be read as an image ({clean_reason(str(exc), path)}).",
                             "Check that it is an image or GeoTIFF and not damaged.") from exc


def _crs_text(crs: Any) -> str | None:
    if crs is None:
        return None
    try:
        epsg = crs.to_epsg()
    except Exception:  # noqa: BLE001 - a PROJ database that cannot be read: keep the WKT
        epsg = None
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _georeference(ds: Any) -> tuple[str | None, tuple[float, ...] | None]:
    if ds.crs is None or ds.transform.is_identity:
        return None, None
    return _crs_text(ds.crs), tuple(ds.transform)[:6]


def _metres_to_pixels(ds: Any, name: str, metres: float, what: str) -> tuple[int, int]:
    """``metres`` as a whole number of pixels along x and y of ``ds`` (the file ``name``)."""
    if ds.crs is None or ds.transform.is_identity:
        raise ConfigError(f"{name} has no georeference, so a {what} in metres cannot be used.",
                          f"Give the {what} in pixels instead.")
    if ds.crs.is_geographic:
        raise ConfigError(f"{name} is in a geographic CRS (degrees), so a {what} in metres cannot be used.",
                          f"Give the {what} in pixels, or reproject the scene to a projected CRS.")
    _, unit_m = ds.crs.linear_units_factor
    t = ds.transform
    res_x, res_y = math.hypot(t.a, t.d) * unit_m, math.hypot(t.b, t.e) * unit_m
    return max(1, round(metres / res_x)), max(1, round(metres / res_y))


def scene_grid(ds: Any, config: TilingConfig, default_tile: int, name: str | None = None) -> SceneGrid:
    """The window grid of the open dataset ``ds`` (the file ``name``) under ``config``.

    Raises ``ConfigError`` for metres without a projected CRS and for windows smaller than
    ``MIN_WINDOW_PX`` pixels.
    """
    name = name or display_path(ds.name)
    if config.tile_m is not None:
        tile_w, tile_h = _metres_to_pixels(ds, name, config.tile_m, "tile size")
    else:
        tile_w = tile_h = config.tile or default_tile
    if min(tile_w, tile_h) < MIN_WINDOW_PX:
        given = f"{config.tile_m:g} m" if config.tile_m is not None else f"{tile_w} px"
        raise ConfigError(f"Windows of {given} are {tile_w} x {tile_h} pixels in {name}, smaller than the "
                          f"minimum of {MIN_WINDOW_PX} pixels.",
                          "Give a larger tile size (--tile / --tile-m), at least a few tens of pixels.")
    if config.stride_m is not None:
        stride_x, stride_y = _metres_to_pixels(ds, name, config.stride_m, "stride")
    elif config.stride is not None:
        stride_x = stride_y = config.stride
    else:
        stride_x, stride_y = tile_w, tile_h
    return SceneGrid(ds.width, ds.height, tile_w, tile_h, stride_x, stride_y, config.edge)


def describe_input(path: Path, config: TilingConfig, default_tile: int,
                   bands: Sequence[int] | None = None) -> LabelInput:
    """Open ``path``, read its raster facts and decide whether it is labelled whole or cut.

    Raises ``ImageReadError`` for unreadable files and for files the band mapping ``bands``
    does not fit, and ``ConfigError`` when the grid cannot be built (e.g. metres on an image
    without georeference in ``mode="grid"``).
    """
    name = display_path(path)
    with open_raster(path) as ds:
        mapped_bands(ds, bands, name)
        crs, transform = _georeference(ds)
        grid: SceneGrid | None = None
        if config.mode != "whole":
            if _metric(config) and transform is None and config.mode == "auto":
                grid = None  # no georeference: metres cannot apply, label it whole (plan_inputs warns)
            else:
                candidate = scene_grid(ds, config, default_tile, name)
                fits_two = ds.width >= 2 * candidate.tile_w or ds.height >= 2 * candidate.tile_h
                if config.mode == "grid" or fits_two:
                    grid = candidate
        problem = wgs84_problem(crs, transform, ds.width, ds.height) if crs and transform else None
        return LabelInput(Path(path), ds.width, ds.height, ds.count, str(ds.dtypes[0]), crs, transform, grid,
                          problem)


def _metric(config: TilingConfig) -> bool:
    return config.tile_m is not None or config.stride_m is not None


def plan_inputs(paths: Sequence[str | os.PathLike[str]], config: TilingConfig, default_tile: int,
                cancel: CancelToken | None = None,
                bands: Sequence[int] | None = None) -> Generator[Progress, None, InputPlan]:
    """Find and describe every input (:func:`describe_input`); unreadable files and files the
    band mapping ``bands`` does not fit are skipped with the reason, never fatal. Yields
    ``Progress`` ("Reading inputs") while opening many files. ``InputPlan.warnings`` names inputs
    labelled whole because metres were given but they have no georeference, and inputs without
    WGS84 coordinates."""
    config.validate()
    files, skipped = find_input_files(paths)
    inputs: list[LabelInput] = []
    meter = RateMeter(total=len(files))
    last = time.perf_counter()
    for n, path in enumerate(files, 1):
        try:
            inputs.append(describe_input(path, config, default_tile, bands))
        except (ImageReadError, ConfigError) as exc:
            skipped.append(SkippedFile(display_path(path), str(exc)))
        except Exception as exc:  # noqa: BLE001 - whatever GDAL/PROJ raise for one file: skip it, go on
            skipped.append(SkippedFile(display_path(path), f"cannot be read ({clean_reason(str(exc), path)})"))
        if time.perf_counter() - last > 0.2 or n == len(files):
            last = time.perf_counter()
            if cancel is not None:
                cancel.raise_if_cancelled("Reading the inputs")
            yield meter.progress("Reading inputs", n, unit="files")
    notes = []
    unmetric = [i for i in inputs if config.mode == "auto" and _metric(config) and not i.georeferenced]
    if unmetric:
        notes.append(f"{len(unmetric)} input(s) such as {display_path(unmetric[0].path)} have no georeference, so the "
                     "tile size or stride in metres cannot apply: they are labelled whole. Give --tile / --stride "
                     "in pixels to cut them into windows.")
    for inp in inputs:
        if inp.wgs84_problem is not None:
            notes.append(f"{display_path(inp.path)}: {inp.wgs84_problem}. Its rows keep their bounds in its own CRS "
                         "with empty WGS84 columns (centroid_lon, centroid_lat), and the GeoJSON leaves it out.")
    return InputPlan(tuple(inputs), tuple(skipped), tuple(notes))


def has_mask(ds: Any) -> bool:
    """True when some pixels of ``ds`` may be nodata (nodata value, alpha band or mask band)."""
    from rasterio.enums import MaskFlags

    return any(flags != [MaskFlags.all_valid] for flags in ds.mask_flag_enums)


def data_bands(ds: Any) -> list[int]:
    """1-based numbers of the bands of ``ds`` that hold data (alpha bands left out), as import counts them."""
    from rasterio.enums import ColorInterp

    return [i + 1 for i, ci in enumerate(ds.colorinterp) if ci != ColorInterp.alpha] or list(range(1, ds.count + 1))


def mapped_bands(ds: Any, bands: Sequence[int] | None, name: str | None = None) -> tuple[list[int], list[int]]:
    """How to read R, G and B of ``ds`` under the band mapping ``bands`` (numbered among the data
    bands, as import numbers them; ``None``: ``imaging.default_bands``): the band numbers to
    read (each once) and, for R, G, B, the position of its band among them. Raises
    ``ImageReadError`` with import's reason when the mapping names a band ``ds`` lacks."""
    numbers = data_bands(ds)
    positions = select_bands(np.arange(len(numbers)).reshape(-1, 1, 1), bands, name or display_path(ds.name)).ravel()
    rgb = [numbers[int(p)] for p in positions]
    unique = sorted(set(rgb))
    return unique, [unique.index(b) for b in rgb]


def read_window(ds: Any, win: GridWindow, indexes: Sequence[int],
                masked: bool) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Read bands ``indexes`` (1-based) of window ``win`` from the open dataset ``ds``.

    Returns (array C x H x W of the full window, valid mask H x W or ``None`` when every pixel
    is valid, share of valid pixels). Invalid: nodata, masked, non-finite, and the parts of a
    padded window outside the scene (zeros). ``masked``: whether ``ds`` has nodata at all
    (:func:`has_mask`).
    """
    from rasterio.windows import Window

    col, row, w, h = clip_window(win, ds.width, ds.height)
    window = Window(col, row, w, h)
    data = ds.read(list(indexes), window=window)
    mask = ds.dataset_mask(window=window) > 0 if masked else None
    if np.issubdtype(data.dtype, np.floating):
        finite = np.isfinite(data).all(axis=0)
        if not finite.all():
            mask = finite if mask is None else mask & finite
    full = (w, h) == (win.width, win.height)
    if full:
        valid = 1.0 if mask is None else float(mask.mean())
        return data, mask, valid
    out = np.zeros((data.shape[0], win.height, win.width), dtype=data.dtype)
    out_mask = np.zeros((win.height, win.width), dtype=bool)
    ox, oy = col - win.x, row - win.y
    out[:, oy:oy + h, ox:ox + w] = data
    out_mask[oy:oy + h, ox:ox + w] = True if mask is None else mask
    return out, out_mask, float(out_mask.mean())


def image_rgb(path: Path, raster: RasterSettings, size: int) -> tuple[np.ndarray, float]:
    """A whole image prepared as import does (``imaging.read_rgb``), plus its valid share."""
    raw = read_raw(path, draft_size=size)
    try:
        rgb = apply_raster_settings(raw.data, raster, raw.mask)
    except UnreadableImage as exc:
        raise UnreadableImage(path, exc.reason, exc.hint) from exc
    valid = 1.0 if raw.mask is None else float(raw.mask.mean())
    return resize_square(rgb, size), valid


class WindowReader:
    """Reads windows of scenes as model input; keeps the last scene open (one reader per thread)."""

    def __init__(self, raster: RasterSettings, size: int, min_valid: float) -> None:
        self.raster, self.size, self.min_valid = raster, size, min_valid
        self._plain = replace(raster, bands=None)  # bands are picked when reading
        self._path: Path | None = None
        self._ds: Any = None
        self._bands: tuple[list[int], list[int]] = ([], [])
        self._masked = False

    def _open(self, inp: LabelInput) -> None:
        if self._path == inp.path:
            return
        self.close()
        self._ds = open_raster(inp.path)
        self._path = inp.path
        self._bands = mapped_bands(self._ds, self.raster.bands)
        self._masked = has_mask(self._ds)

    def read(self, inp: LabelInput, win: GridWindow) -> tuple[np.ndarray | None, float]:
        """(``size x size x 3`` uint8 or ``None`` when mostly nodata, valid share) of one window."""
        self._open(inp)
        indexes, order = self._bands
        data, mask, valid = read_window(self._ds, win, indexes, self._masked)
        if valid < self.min_valid or valid == 0.0:
            return None, valid
        rgb = apply_raster_settings(data[order], self._plain, mask)
        return resize_square(rgb, self.size), valid

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()
        self._ds, self._path = None, None
