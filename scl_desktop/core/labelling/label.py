"""Batch labelling of new imagery with a trained run: folders, GeoTIFF tiles, large scenes.

``label_inputs(run, paths, config, cancel)`` is a step generator (like every long step): it
yields ``Progress`` (tiles/s and ETA), ``Log`` and :class:`LabelBatch` events (the rows of each
finished batch, for a live results table) and returns a :class:`LabelResult` whose ``rows``
are one :class:`LabelRow` per labelled image or window (result types: ``labelling.types``).
Cancelling makes it stop at the next batch and raise ``Cancelled`` whose ``kept`` is the result
so far (nothing is written by labelling; ``export.export_outputs`` writes the files).

Images are prepared exactly as for training and evaluation: the training data's band mapping
and stretch statistics (``DatasetManifest.raster`` of the run's split) are re-applied with
``imaging.apply_raster_settings``, every image or window is resized to the run's working size
with ``imaging.resize_square`` (whole images go through the same ``imaging.read_raw`` path
import used), and the model's ``Predictor`` resizes and normalises with ``augment.prepare_eval``.

Before labelling it logs warnings about labels not to trust (``labelling.trust``: inputs far from
the training data's ground resolution, a demo model on real imagery) and, when ``outputs`` are
given, the files that will be written (per-scene raster names included).

For a front end (the GUI's Label page): run ``label_inputs(run_id, paths, LabelConfig(...), token)``
in a worker; fill the results table from ``LabelBatch.rows`` as they come (or from
``LabelResult.rows`` at the end); ``LabelResult.counts()`` gives the class histogram,
``LabelResult.thumbnails(rows, size)`` the images as the model saw them, ``LabelResult.preview(scene)``
a downsampled scene to draw ``SceneMap.classes`` over (cells at ``SceneGrid.cell_geometry()``,
which cover exactly the scene; ``SceneGrid.window_at`` finds the window of a point; colours
``export.class_colours``), and ``export.export_outputs(result, ...)`` writes files.

Throughput: reader threads (``LabelConfig.readers``) read windows and build uint8 batches
ahead of the device through a bounded queue, so the device stays busy and memory stays bounded
(one batch per reader, a queue of as many, and two at the device: a few tens of MB; GDAL's block
cache is capped at ``GDAL_CACHE_MB`` while reading). Inference runs without gradients, with
autocast (bf16/fp16) and channels_last on CUDA; while the device works on a batch, the previous
one's probabilities (copied back asynchronously) become rows.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scl_desktop.core.data.demo import demo_data_of
from scl_desktop.core.data.gsd import dataset_gsd
from scl_desktop.core.data.imaging import default_workers
from scl_desktop.core.data.manifest import RasterSettings, SkippedFile, SplitManifest, display_path
from scl_desktop.core.errors import Cancelled, ConfigError, DatasetError, ImageReadError, describe_cause
from scl_desktop.core.events import CancelToken, Event, Log, RateMeter
from scl_desktop.core.labelling.export import Outputs
from scl_desktop.core.labelling.geometry import WindowGeo, window_geo
from scl_desktop.core.labelling.tiling import (
    GridWindow,
    InputPlan,
    TilingConfig,
    WindowReader,
    clean_reason,
    clip_window,
    image_rgb,
    plan_inputs,
)
from scl_desktop.core.labelling.trust import demo_warning, scale_warnings
from scl_desktop.core.labelling.types import TOP_K, LabelResult, LabelRow, SceneMap

GDAL_CACHE_MB = 128
MAX_LOGGED_FAILURES = 5  # per input; the rest are only counted


@dataclass(frozen=True)
class LabelConfig:
    """Options of :func:`label_inputs`.

    ``method``: which model of the run ("SCL-CB", "Plain", ...); ``None`` takes the one with the
    best overall test accuracy. ``device``: "auto", "cpu", "cuda", "cuda:N" or "mps".
    ``readers``: threads that read and prepare images ahead of the device (``None``: up to 4,
    one per CPU). ``amp``: autocast on CUDA.
    """

    tiling: TilingConfig = field(default_factory=TilingConfig)
    batch_size: int = 64
    device: str = "auto"
    method: str | None = None
    readers: int | None = None
    amp: bool = True

    def validate(self) -> None:
        """Raise ``ConfigError`` for out-of-range values."""
        self.tiling.validate()
        if self.batch_size < 1:
            raise ConfigError(f"The batch size must be at least 1, not {self.batch_size}.", "Use e.g. --batch-size 64.")
        if self.readers is not None and not 1 <= self.readers <= 32:
            raise ConfigError(f"The number of reader threads must be 1..32, not {self.readers}.", "Use e.g. 2.")



@dataclass(frozen=True, eq=False)
class LabelBatch:
    """Event: the rows of one finished batch (in no particular order across batches).

    ``outputs`` (float32 [len(rows), n]) is the model's whole output for each row, in row order: the
    class probabilities, then any extra columns the model gives (mining's model adds the encoder
    features, ``mining.candidates``).
    """

    rows: tuple[LabelRow, ...]
    outputs: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class LabelModel:
    """What labelling needs of a trained model.

    ``predictor`` maps uint8 images [B, 3, size, size] to class probabilities [B, C] (e.g.
    ``model.predictor.Predictor``); it may return more columns, which labelling passes on in
    ``LabelBatch.outputs`` and otherwise ignores; ``raster`` holds the training band mapping and stretch;
    ``default_tile`` is the window size in pixels when none is given (the training images' median
    side). ``training_gsd``: the training data's ground resolution in metres per pixel (``None``:
    unknown); ``demo_data``: the demo data folder when the model was trained on the synthetic demo
    dataset (``None``: it was not). Both only steer warnings (``labelling.trust``).
    """

    predictor: nn.Module
    classes: tuple[str, ...]
    size: int
    raster: RasterSettings
    default_tile: int
    run_id: str | None = None
    method: str | None = None
    training_gsd: float | None = None
    demo_data: Path | None = None


def training_tile(split: SplitManifest) -> int:
    """Median side (pixels) of the training images: the default window size for scenes."""
    items = [split.dataset.items[i] for i in split.train] or list(split.dataset.items)
    if not items:
        return split.dataset.size
    return int(round(float(np.median([(i.width + i.height) / 2 for i in items]))))


def best_method(run: Any) -> str:
    """The stored method of ``run`` with the best overall test accuracy (ties: the later one in the paper's order)."""
    from scl_desktop.core.errors import CheckpointError

    methods = run.methods()
    if not methods:
        raise CheckpointError(f"Run {run.id} has no trained classifier yet.",
                              f"Fit one with `scl fit {run.id} --balance cb` (or label with a baseline run).")
    scores = {m: run.evaluation(m).overall or 0.0 for m in methods}
    return max(reversed(methods), key=lambda m: scores[m])


def load_label_model(run: Any, method: str | None = None, device: torch.device | str = "cpu") -> LabelModel:
    """The model of ``method`` (``None``: :func:`best_method`) of ``run`` (a ``runs.Run``, id or folder)."""
    from scl_desktop.core.model.predictor import load_predictor
    from scl_desktop.core.runs import folder as runs
    from scl_desktop.core.runs.store import RunStore

    if not isinstance(run, runs.Run):
        run = RunStore().open(run)
    method = method or best_method(run)
    predictor = load_predictor(run, method, device)
    split = run.split
    return LabelModel(predictor, tuple(predictor.classes) or split.classes, run.store_size, split.dataset.raster,
                      training_tile(split), run.id, method, dataset_gsd(split.dataset), demo_data_of(split.dataset))


# ---------------------------------------------------------------------------------------------
# reading (in reader threads)



@dataclass
class _Unit:
    """One labelled image or window of a batch."""

    input_index: int
    window: GridWindow | None
    valid: float


@dataclass
class _Batch:
    images: np.ndarray  # uint8 [n, 3, S, S]
    units: list[_Unit]
    consumed: int  # units taken from the plan (labelled + skipped)
    skipped_nodata: int = 0
    failed: list[tuple[int, SkippedFile]] = field(default_factory=list)  # (input index, what and why)


def _chunks(plan: InputPlan, batch_size: int) -> Iterator[list[tuple[int, GridWindow | None]]]:
    """Work in batches: windows of one scene together; whole images gathered across inputs."""
    whole: list[tuple[int, GridWindow | None]] = []
    for i, inp in enumerate(plan.inputs):
        if inp.grid is None:
            whole.append((i, None))
            if len(whole) == batch_size:
                yield whole
                whole = []
            continue
        chunk: list[tuple[int, GridWindow | None]] = []
        for win in inp.grid.windows():
            chunk.append((i, win))
            if len(chunk) == batch_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    if whole:
        yield whole


_DONE = object()


class _Readers:
    """Reader threads that turn chunks of work into ready uint8 batches on a bounded queue."""

    def __init__(self, plan: InputPlan, model: LabelModel, config: LabelConfig) -> None:
        self.plan, self.model, self.config = plan, model, config
        self._chunks = _chunks(plan, config.batch_size)
        self._lock = threading.Lock()
        self.stop = threading.Event()
        count = config.readers or min(4, default_workers())
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(2, count))
        self.threads = [threading.Thread(target=self._run, name=f"scl-label-reader-{n}", daemon=True)
                        for n in range(count)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _next(self) -> list[tuple[int, GridWindow | None]] | None:
        with self._lock:
            return next(self._chunks, None)

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        import rasterio

        size = self.model.size
        reader = WindowReader(self.model.raster, size, self.config.tiling.min_valid)
        try:
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20):
                while not self.stop.is_set():
                    chunk = self._next()
                    if chunk is None:
                        break
                    self._put(self._read_chunk(chunk, reader, size))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(exc)
        finally:
            reader.close()
            self._put(_DONE)

    def _read_chunk(self, chunk: list[tuple[int, GridWindow | None]], reader: WindowReader, size: int) -> _Batch:
        images = np.empty((len(chunk), 3, size, size), np.uint8)
        batch = _Batch(images, [], len(chunk))
        min_valid = self.config.tiling.min_valid
        for input_index, win in chunk:
            if self.stop.is_set():
                break
            inp = self.plan.inputs[input_index]
            try:
                if win is None:
                    rgb, valid = image_rgb(inp.path, self.model.raster, size)
                    if valid < min_valid or valid == 0.0:
                        rgb = None
                else:
                    rgb, valid = reader.read(inp, win)
            except Exception as exc:  # noqa: BLE001 - GDAL errors for damaged blocks: skip, report, go on
                where = "" if win is None else f" [window col {win.x}, row {win.y}]"
                if isinstance(exc, ImageReadError):
                    reason = clean_reason(getattr(exc, "reason", str(exc)), inp.path)
                else:
                    reason = f"cannot be read ({clean_reason(describe_cause(exc), inp.path)})"
                batch.failed.append((input_index, SkippedFile(f"{display_path(inp.path)}{where}", reason)))
                continue
            if rgb is None:
                batch.skipped_nodata += 1
                continue
            images[len(batch.units)] = rgb.transpose(2, 0, 1)
            batch.units.append(_Unit(input_index, win, valid))
        batch.images = images[:len(batch.units)]
        return batch

    def close(self) -> None:
        """Stop the threads and wait for them (batches still queued are dropped)."""
        self.stop.set()
        for t in self.threads:
            while t.is_alive():
                try:
                    while True:
                        self.queue.get_nowait()
                except queue.Empty:
                    pass
                t.join(timeout=0.05)


# ---------------------------------------------------------------------------------------------
# labelling


def _rows_for(batch: _Batch, probs: torch.Tensor, plan: InputPlan, classes: tuple[str, ...]) -> list[LabelRow]:
    k = min(TOP_K, len(classes))
    top_p, top_i = probs.topk(k, dim=1)
    top_p, top_i = top_p.tolist(), top_i.tolist()
    # geometry, one transform call per input of the batch
    windows = []
    for unit in batch.units:
        inp = plan.inputs[unit.input_index]
        windows.append((0, 0, inp.width, inp.height) if unit.window is None
                       else clip_window(unit.window, inp.width, inp.height))
    geo: dict[int, tuple[list[int], WindowGeo]] = {}
    by_input: dict[int, list[int]] = {}
    for n, unit in enumerate(batch.units):
        if plan.inputs[unit.input_index].georeferenced:
            by_input.setdefault(unit.input_index, []).append(n)
    for input_index, members in by_input.items():
        inp = plan.inputs[input_index]
        assert inp.crs is not None and inp.transform is not None
        geo[input_index] = (members, window_geo(inp.crs if inp.wgs84 else None, inp.transform,
                                                np.array([windows[m] for m in members], float)))
    position = {n: (i, j) for i, (members, _) in geo.items() for j, n in enumerate(members)}
    rows = []
    for n, unit in enumerate(batch.units):
        inp = plan.inputs[unit.input_index]
        col, row, w, h = windows[n]
        top = tuple((classes[c], round(float(p), 6)) for c, p in zip(top_i[n], top_p[n], strict=True))
        extra: dict[str, Any] = {}
        if n in position:
            i, j = position[n]
            g = geo[i][1]
            extra = {"minx": float(g.minx[j]), "miny": float(g.miny[j]), "maxx": float(g.maxx[j]),
                     "maxy": float(g.maxy[j]), "crs": inp.crs}
            if g.centroid_lon is not None and g.centroid_lat is not None:
                extra.update(centroid_lon=float(g.centroid_lon[j]), centroid_lat=float(g.centroid_lat[j]))
        rows.append(LabelRow(
            path=str(inp.path), col_off=col, row_off=row, width=w, height=h,
            cell_row=None if unit.window is None else unit.window.cell_row,
            cell_col=None if unit.window is None else unit.window.cell_col,
            class_index=top_i[n][0], predicted=top[0][0], confidence=top[0][1], top=top,
            valid_fraction=round(unit.valid, 4), **extra))
    return rows


def _row_key(row: LabelRow, order: dict[str, int]) -> tuple[int, int, int]:
    return order[row.path], row.cell_row or 0, row.cell_col or 0


def label_with_model(model: LabelModel, paths: Sequence[Any], config: LabelConfig | None = None,
                     cancel: CancelToken | None = None, device: torch.device | str | None = None,
                     outputs: Outputs | None = None) -> Generator[Event, None, LabelResult]:
    """Label ``paths`` with an already loaded ``model`` (see :func:`label_inputs`)."""
    from scl_desktop.core import devices
    from scl_desktop.core.devices import configure_backends, prepare_model, to_device

    config = config or LabelConfig()
    config.validate()
    device = torch.device(device) if device is not None else devices.resolve_device(config.device)
    plan = yield from plan_inputs(paths, config.tiling, model.default_tile, cancel, model.raster.bands)
    for skipped in plan.skipped:
        yield Log(f"Skipped {skipped.path}: {skipped.reason}", "warning")
    for warning in plan.warnings:
        yield Log(warning, "warning")
    if outputs is not None:
        outputs.check(plan.inputs)
    if not plan.inputs:
        raise DatasetError("There is no image to label among the inputs given.",
                           "Give image files, GeoTIFF scenes or folders that contain images (.tif, .jpg, .png ...).")
    demo = demo_warning(plan.inputs, model.demo_data)
    if demo is not None:
        yield Log(demo, "warning")
    for warning in scale_warnings(plan.inputs, model.training_gsd, model.default_tile):
        yield Log(warning, "warning")
    scenes = sum(1 for i in plan.inputs if i.grid is not None)
    whole = len(plan.inputs) - scenes
    parts = ([f"{whole} whole image(s)"] if whole else []) + (
        [f"{scenes} scene(s) cut into {plan.total - whole} windows"] if scenes else [])
    yield Log(f"Labelling {' and '.join(parts)} with {model.method or 'the model'} on {device} "
              f"(batch {config.batch_size}, working size {model.size} px).")
    if outputs is not None:
        scene_inputs = [i for i in plan.inputs if i.grid is not None]
        yield Log(f"Outputs, written when labelling ends: {outputs.describe(scene_inputs)}.")
    if model.raster.stats is None and any(i.dtype != "uint8" for i in plan.inputs):
        yield Log("The model was trained on 8-bit images, so inputs with more than 8 bits are stretched with "
                  "their own percentiles (per image or window).", "warning")

    result = LabelResult(classes=model.classes, raster=model.raster, size=model.size, inputs=plan.inputs,
                         skipped_files=list(plan.skipped), total=plan.total, device=str(device),
                         run_id=model.run_id, method=model.method)
    scene_maps: dict[int, SceneMap] = {}
    failures: dict[int, int] = {}  # unreadable windows per input
    configure_backends(device)
    predictor = prepare_model(model.predictor, device, bool(getattr(model.predictor, "channels_last", False))).eval()
    amp = devices.amp_policy(device) if config.amp else devices.AmpPolicy(False, None, False)
    meter = RateMeter(total=plan.total)

    def launch(batch: _Batch) -> tuple[_Batch, torch.Tensor | None, Any]:
        """Start inference on ``batch``; on CUDA the result is copied back asynchronously."""
        if not batch.units:
            return batch, None, None
        with torch.inference_mode(), amp.autocast(device):
            probs = predictor(to_device(torch.from_numpy(batch.images), device)).float()
            if device.type != "cuda":
                return batch, probs, None
            host = torch.empty(probs.shape, dtype=probs.dtype, pin_memory=True)
            host.copy_(probs, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return batch, host, done

    def finish(batch: _Batch, probs: torch.Tensor | None, done: Any) -> Generator[Event, None, None]:
        """Turn a finished batch into rows, scene cells and events."""
        if done is not None:
            done.synchronize()
        outputs = probs.cpu().numpy().copy() if probs is not None else None
        if probs is not None:
            probs = probs[:, :len(model.classes)]  # extra columns (mining's features) ride along in ``outputs``
        rows = _rows_for(batch, probs, plan, model.classes) if probs is not None else []
        unit_probs = outputs[:, :len(model.classes)] if outputs is not None else None
        for n, unit in enumerate(batch.units):
            if unit.window is not None and unit_probs is not None:
                smap = scene_maps.get(unit.input_index)
                if smap is None:
                    smap = scene_maps[unit.input_index] = SceneMap.empty(plan.inputs[unit.input_index],
                                                                         len(model.classes))
                smap.add(unit.window, unit_probs[n])
        result.rows.extend(rows)
        result.done += batch.consumed
        result.skipped_nodata += batch.skipped_nodata
        for input_index, failed in batch.failed:
            result.skipped_files.append(failed)
            failures[input_index] = failures.get(input_index, 0) + 1
            if failures[input_index] <= MAX_LOGGED_FAILURES:
                yield Log(f"Skipped {failed.path}: {failed.reason}", "warning")
            if failures[input_index] == MAX_LOGGED_FAILURES:
                yield Log(f"Further unreadable windows of {display_path(plan.inputs[input_index].path)} are skipped "
                          "without a message (see the result's skipped files).", "warning")
        if rows:
            yield LabelBatch(tuple(rows), outputs)
        yield meter.progress("Labelling", result.done, unit="tiles")

    started = time.perf_counter()
    readers = _Readers(plan, model, config)
    readers.start()
    finished = 0
    in_flight: tuple[_Batch, torch.Tensor | None, Any] | None = None  # launched, not yet turned into rows
    try:
        with devices.oom_guard(config.batch_size, device, "labelling"):
            while finished < len(readers.threads):
                if cancel is not None and cancel.cancelled:
                    break
                try:
                    item = readers.queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _DONE:
                    finished += 1
                    continue
                if isinstance(item, BaseException):
                    raise item
                launched = launch(item)  # the device works on this batch while the previous one is finished
                if in_flight is not None:
                    yield from finish(*in_flight)
                in_flight = launched
            if in_flight is not None:
                yield from finish(*in_flight)
    finally:
        readers.close()
    result.seconds = time.perf_counter() - started
    order = {str(inp.path): i for i, inp in enumerate(plan.inputs)}
    result.rows.sort(key=lambda r: _row_key(r, order))
    result.scenes = [scene_maps.get(i) or SceneMap.empty(inp, len(model.classes))
                     for i, inp in enumerate(plan.inputs) if inp.grid is not None]
    nodata = f", {result.skipped_nodata} skipped as mostly nodata" if result.skipped_nodata else ""
    cancelled = cancel is not None and cancel.cancelled and result.done < result.total
    yield Log(f"{'Cancelled after' if cancelled else 'Labelled'} {result.done} of {result.total} tiles in "
              f"{result.seconds:.1f} s ({result.tiles_per_s:.1f} tiles/s): {len(result.rows)} rows{nodata}.")
    if cancelled:
        raise Cancelled(f"Labelling was cancelled after {result.done} of {result.total} tiles.",
                        "The rows so far were kept; label again to get the rest.", kept=result)
    return result


def label_inputs(run: Any, paths: Sequence[Any], config: LabelConfig | None = None,
                 cancel: CancelToken | None = None,
                 outputs: Outputs | None = None) -> Generator[Event, None, LabelResult]:
    """Label images, GeoTIFF tiles and scenes (``paths``: files or folders) with a trained run.

    ``run``: a ``runs.Run``, run id or run folder. Yields ``Progress`` ("Labelling", unit
    "tiles", with rate and ETA), ``Log`` and ``LabelBatch`` events; returns the ``LabelResult``.
    On cancel it stops at the next batch and raises ``Cancelled`` with the partial result as
    ``kept`` (while the inputs are still being read: ``kept=None``).
    Unreadable inputs are skipped and reported, never fatal. Nothing is written to disk: pass the
    result to ``export.export_outputs``. ``outputs``: the files that will be written from the result;
    they are checked against the inputs and each other right after the inputs are read
    (``ConfigError`` before any image is labelled).
    """
    from scl_desktop.core import devices

    config = config or LabelConfig()
    config.validate()
    choice = devices.choose_device(config.device)
    model = load_label_model(run, config.method, choice.device)
    yield Log(f"Model {model.method} of run {model.run_id}; device {choice.reason}")
    return (yield from label_with_model(model, paths, config, cancel, choice.device, outputs))
