"""Reading images and rasters into 8-bit RGB: the one place that decodes image files.

An image is first read *raw*: a ``C x H x W`` array in its own data type (alpha removed) plus a
validity mask (nodata, alpha and non-finite pixels are invalid). ``apply_raster_settings`` then
turns it into ``H x W x 3`` uint8:

* **band mapping** -- ``RasterSettings.bands`` are 1-based numbers of the image's colour/data
  bands (an alpha band is not counted). Without a mapping: one band is replicated to grey, two
  bands become (1, 2, 1) so the network sees both, three or more bands use the first three.
* **stretch** -- 8-bit data is used as it is. Any other data type (16-bit, 32-bit, float) is
  stretched linearly to 0-255 between the per-channel percentile values in
  ``RasterSettings.stats`` (computed over the whole dataset at import); without stats the image's
  own percentiles are used.
* invalid pixels become 0 in all three channels.

Plain JPEG/PNG/BMP/WebP files are decoded with Pillow (fast). TIFF files are read with rasterio
when it is installed (any band count and data type, CRS and bounds kept), else with Pillow.
rasterio is imported lazily, so this module imports without it.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from scl_desktop.core.data.manifest import RasterSettings, display_path
from scl_desktop.core.errors import ConfigError, ImageReadError, describe_cause
from scl_desktop.core.events import CancelToken, Progress, RateMeter

SUPPORTED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})
"""File name extensions import looks at (compared in lower case)."""

_REPLACE_HINT = "Replace the file with a good copy, or remove it from the dataset."


class UnreadableImage(ImageReadError):
    """An image file that cannot be used; ``reason`` is the short reason an import report shows."""

    def __init__(self, path: str | os.PathLike[str], reason: str, hint: str = _REPLACE_HINT) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"Cannot use {display_path(path)}: {reason}.", hint)


@dataclass(frozen=True)
class RawImage:
    """An image as stored: ``data`` is ``C x H x W`` in the file's data type, alpha removed.

    ``mask`` is ``H x W`` bool, True where the pixel is valid, or None when all are valid.
    ``crs`` ("EPSG:n" or WKT) and ``bounds`` (minx, miny, maxx, maxy) are set for georeferenced
    rasters.
    """

    data: np.ndarray
    mask: np.ndarray | None = None
    crs: str | None = None
    bounds: tuple[float, float, float, float] | None = None

    @property
    def bands(self) -> int:
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    @property
    def dtype(self) -> str:
        return str(self.data.dtype)


def sniff_format(head: bytes) -> str | None:
    """The image format the first bytes of a file announce ("jpeg", "png", "tiff", "bmp", "webp") or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def read_raw(path: str | os.PathLike[str], data: bytes | None = None, draft_size: int | None = None) -> RawImage:
    """Decode an image file (or its bytes ``data``, already read) into a ``RawImage``.

    The decoder is chosen by content, not by extension. ``draft_size`` lets JPEG decoding skip
    detail that a later resize to that size would discard. Raises ``UnreadableImage`` with the
    reason (empty, unreadable, not an image, corrupt, unsupported data type).
    """
    path = Path(path)
    try:
        if data is None:
            with open(path, "rb") as fh:
                head = fh.read(16)
        else:
            head = data[:16]
    except OSError as exc:
        raise UnreadableImage(path, f"unreadable ({exc.strerror or exc})",
                              "Check that the file exists and that you may read it.") from exc
    if not head:
        raise UnreadableImage(path, "empty file (0 bytes)")
    fmt = sniff_format(head)
    if fmt is None:
        raise UnreadableImage(path, "not an image (its content is not JPEG, PNG, TIFF, BMP or WebP)",
                              "Remove the file from the dataset folder, or replace it with the real image.")
    try:
        if fmt == "tiff" and _rasterio() is not None:
            raw = _read_rasterio(path, data)
        else:
            raw = _read_pil(path, data, draft_size)
    except UnreadableImage:
        raise
    except MemoryError as exc:
        raise UnreadableImage(path, "too large to decode in memory", "Cut the image into smaller tiles.") from exc
    except Exception as exc:  # decoders raise many types for damaged files; a bad file never aborts
        raise UnreadableImage(path, f"corrupt or truncated image ({describe_cause(exc)})") from exc
    if not (np.issubdtype(raw.data.dtype, np.integer) or np.issubdtype(raw.data.dtype, np.floating)):
        raise UnreadableImage(path, f"unsupported pixel type {raw.data.dtype}",
                              "Convert the image to an integer or floating-point type.")
    if raw.width == 0 or raw.height == 0:
        raise UnreadableImage(path, "the image has no pixels")
    return raw


_PIL_TO_RGB = {"1": "L", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "RGBX": "RGB",
               "RGBa": "RGBA", "La": "LA", "PA": "RGBA"}


def _read_pil(path: Path, data: bytes | None, draft_size: int | None) -> RawImage:
    with Image.open(BytesIO(data) if data is not None else path) as img:
        if draft_size and img.format == "JPEG":
            img.draft(None, (draft_size, draft_size))
        img.load()
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode in ("L", "RGB") and "transparency" in img.info:
            img = img.convert("LA" if img.mode == "L" else "RGBA")
        elif img.mode in _PIL_TO_RGB:
            img = img.convert(_PIL_TO_RGB[img.mode])
        arr = np.array(img)  # a writable copy
        mode = img.mode
    if mode.startswith("I;16"):
        arr = arr.astype(np.uint16)  # big-endian variants to native order
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    mask = None
    if mode in ("RGBA", "LA"):
        alpha = arr[-1]
        arr = arr[:-1]
        if alpha.min() == 0:
            mask = alpha > 0
    return RawImage(data=arr, mask=mask)


@functools.cache
def _rasterio() -> Any:
    """The rasterio module, or None when it is not installed (TIFFs then go through Pillow)."""
    try:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning
    except ImportError:
        return None
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
    return rasterio


@functools.lru_cache(maxsize=256)
def _crs_string(wkt: str) -> str:
    """"EPSG:n" when the CRS is identifiable, else its WKT (looking it up is slow, hence the cache)."""
    from rasterio.crs import CRS

    epsg = CRS.from_wkt(wkt).to_epsg()
    return f"EPSG:{epsg}" if epsg else wkt


def _read_rasterio(path: Path, data: bytes | None) -> RawImage:
    rasterio = _rasterio()
    from rasterio.enums import ColorInterp, MaskFlags

    if data is None and display_path(path) != str(path):
        data = path.read_bytes()  # GDAL opens UTF-8 names only; a name that is not UTF-8 is read here
    with ExitStack() as stack:
        if data is not None:
            memory = rasterio.MemoryFile(data, filename=display_path(path.name))
            ds = stack.enter_context(stack.enter_context(memory).open())
        else:
            ds = stack.enter_context(rasterio.open(path))
        interp = ds.colorinterp
        band_numbers = [i + 1 for i, ci in enumerate(interp) if ci != ColorInterp.alpha] or list(range(1, ds.count + 1))
        arr = ds.read(band_numbers)
        valid = None
        if not all(MaskFlags.all_valid in flags for flags in ds.mask_flag_enums):
            valid = ds.dataset_mask() > 0
        if ds.count == 1 and interp[0] == ColorInterp.palette and arr.dtype == np.uint8:
            lut = np.zeros((256, 4), np.uint8)
            for index, colour in ds.colormap(1).items():
                lut[index] = colour
            rgba = lut[arr[0]]
            arr = rgba[..., :3].transpose(2, 0, 1)
            valid = rgba[..., 3] > 0 if valid is None else valid & (rgba[..., 3] > 0)
        crs = _crs_string(ds.crs.to_wkt()) if ds.crs else None
        georeferenced = crs is not None or not ds.transform.is_identity
        bounds = tuple(float(v) for v in ds.bounds) if georeferenced else None
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr).all(axis=0)
        if not finite.all():
            valid = finite if valid is None else valid & finite
    if valid is not None and valid.all():
        valid = None
    return RawImage(data=arr, mask=valid, crs=crs, bounds=bounds)  # type: ignore[arg-type]


def default_bands(count: int) -> tuple[int, int, int]:
    """The band mapping used without an explicit one: grey replicated, (1, 2, 1) for two bands, else (1, 2, 3)."""
    if count == 1:
        return (1, 1, 1)
    if count == 2:
        return (1, 2, 1)
    return (1, 2, 3)


def select_bands(data: np.ndarray, bands: Sequence[int] | None, path: str | os.PathLike[str] = "the image") -> np.ndarray:
    """The three channels ``bands`` (1-based; None = default mapping) of a ``C x H x W`` array.

    Raises ``UnreadableImage`` ("unsupported bands") when the mapping names a band the image lacks.
    """
    if data.ndim == 2:
        data = data[None]
    count = data.shape[0]
    mapping = tuple(bands) if bands else default_bands(count)
    missing = [b for b in mapping if not 1 <= b <= count]
    if missing:
        raise UnreadableImage(
            path,
            f"unsupported bands (the image has {count} band{'s' * (count != 1)}; "
            f"the band mapping asks for band {missing[0]})",
            f"Choose band numbers between 1 and {count}, or leave the band mapping out.",
        )
    if mapping == (1, 2, 3) and count == 3:
        return data
    return data[[b - 1 for b in mapping]]


def stretch_stats(samples: np.ndarray, stretch: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    """Per channel (low, high) values at the ``stretch`` percentiles of ``samples`` (``N x 3``)."""
    lo, hi = np.percentile(samples, list(stretch), axis=0)
    return tuple((float(a), float(b)) for a, b in zip(lo, hi, strict=True))


def sample_pixels(channels: np.ndarray, mask: np.ndarray | None, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` valid pixels (drawn at random) of a ``3 x H x W`` array, as ``N x 3`` float64."""
    flat = channels.reshape(channels.shape[0], -1)
    picks = rng.integers(0, flat.shape[1], size=min(count, flat.shape[1]))
    if mask is not None:
        picks = picks[mask.reshape(-1)[picks]]
    values = flat[:, picks].T.astype(np.float64)
    return values[np.isfinite(values).all(axis=1)]


def _stretch_to_uint8(channels: np.ndarray, stats: Sequence[Sequence[float]]) -> np.ndarray:
    out = np.empty(channels.shape, np.uint8)
    for c, (lo, hi) in enumerate(stats):
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 saturate below
            x = (channels[c].astype(np.float32) - np.float32(lo)) * np.float32(scale)
        if hi <= lo:
            x[channels[c] > lo] = 255.0
        np.nan_to_num(x, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(x, 0.0, 255.0, out=x)
        np.rint(x, out=x)
        out[c] = x
    return out


def apply_raster_settings(array: np.ndarray, raster: RasterSettings, mask: np.ndarray | None = None) -> np.ndarray:
    """Turn a ``C x H x W`` (or ``H x W``) array of any data type into ``H x W x 3`` uint8.

    Applies the band mapping, stretches non-8-bit data with the dataset statistics (the array's
    own percentiles when ``raster.stats`` is None) and sets pixels where ``mask`` is False to 0.
    Raises ``UnreadableImage`` when the band mapping does not fit the array.
    """
    channels = select_bands(array, raster.bands)
    if channels.dtype != np.uint8:
        stats = raster.stats
        if stats is None:
            samples = channels.reshape(3, -1)
            if mask is not None:
                samples = samples[:, mask.reshape(-1)]
            samples = samples.T.astype(np.float64)
            samples = samples[np.isfinite(samples).all(axis=1)]
            stats = stretch_stats(samples, raster.stretch) if len(samples) else ((0.0, 0.0),) * 3
        channels = _stretch_to_uint8(channels, stats)
    rgb = channels.transpose(1, 2, 0)
    if mask is not None:
        rgb = rgb.copy()
        rgb[~mask] = 0
    return np.ascontiguousarray(rgb)


def check_size(size: int) -> int:
    """A working resolution (pixels per side) as int; ``ConfigError`` outside 8-4096."""
    if not 8 <= int(size) <= 4096:
        raise ConfigError(f"The working size {size} px is out of range.", "Choose a size between 8 and 4096.")
    return int(size)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize ``H x W x 3`` uint8 to ``size x size`` (antialiased bilinear); unchanged if already that size."""
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return rgb
    return np.array(Image.fromarray(rgb, "RGB").resize((size, size), Image.Resampling.BILINEAR))


def read_rgb(path: str | os.PathLike[str], raster: RasterSettings, size: int | None = None) -> np.ndarray:
    """Read an image as a new ``H x W x 3`` uint8 array (``size x size`` when ``size`` is given).

    Applies the band mapping and the dataset stretch of ``raster``. Raises ``ImageReadError``
    (an ``UnreadableImage`` carrying the reason) when the file cannot be used.
    """
    raw = read_raw(path, draft_size=size)
    try:
        rgb = apply_raster_settings(raw.data, raster, raw.mask)
    except UnreadableImage as exc:
        raise UnreadableImage(path, exc.reason, exc.hint) from exc
    return resize_square(rgb, size) if size else rgb


def default_workers() -> int:
    """Threads used to decode images: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


T = TypeVar("T")
R = TypeVar("R")


def map_images(
    fn: Callable[[T], R],
    items: Sequence[T],
    task: str,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    unit: str = "images",
) -> Generator[Progress, None, list[R]]:
    """Run ``fn`` over ``items`` in a thread pool (decoders release the GIL), yielding ``Progress``.

    Returns the results in item order. Progress events are throttled to about ten per second;
    the cancel token is checked after every item. An exception from ``fn`` stops the pool and
    propagates.
    """
    workers = workers or default_workers()
    meter = RateMeter(total=len(items))
    results: list[R] = []
    last_yield = 0.0
    yield meter.progress(task, 0, unit)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scl-decode")
    pending: deque[Future[R]] = deque()
    try:
        queue = iter(items)
        for item in queue:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers * 4:
                break
        while pending:
            results.append(pending.popleft().result())
            for item in queue:
                pending.append(pool.submit(fn, item))
                break
            if cancel is not None:
                cancel.raise_if_cancelled(task)
            now = time.perf_counter()
            if now - last_yield >= 0.1 or len(results) == len(items):
                last_yield = now
                yield meter.progress(task, len(results), unit)
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
    return results
