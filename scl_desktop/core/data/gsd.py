"""Ground resolution (ground sample distance, metres per pixel) of georeferenced images.

A pixel's ground size is the mean of its width and height on the ground. In a projected CRS
that is the geotransform's pixel size times the CRS's linear unit (metres, feet ...). In a
geographic CRS (degrees) it is converted at the image centre on a sphere of the Earth's mean
radius: a degree of latitude is taken as 111.2 km (the real 110.6-111.7 km) and a degree of
longitude as that times cos(latitude), so the figure is good to about 1 %. Images without a CRS,
or whose CRS has no usable unit, have no ground resolution (``None``).

``dataset_gsd`` is the training data's: the one stated at import (``scl import --gsd``) or the
median over the dataset's georeferenced images; ``None`` for plain JPEG/PNG folders.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), for degrees -> metres."""
FAR_FACTOR = 2.0
"""Two ground sizes more than this factor apart are "far apart" (:func:`far_apart`)."""


@functools.lru_cache(maxsize=64)
def _units(crs: str) -> tuple[str, float] | None:
    """("projected", metres per CRS unit) or ("geographic", radians per CRS unit) of ``crs``, or ``None``."""
    try:
        from rasterio.crs import CRS

        parsed = CRS.from_user_input(crs)
        if parsed.is_geographic:
            return "geographic", float(parsed.units_factor[1])
        return "projected", float(parsed.linear_units_factor[1])
    except Exception:  # noqa: BLE001 - no rasterio, an unknown CRS or one without units: no ground resolution
        return None


def pixel_size_m(crs: str | None, size_x: float, size_y: float, centre_y: float = 0.0) -> float | None:
    """Mean ground size in metres of a pixel ``size_x`` x ``size_y`` CRS units in ``crs``;
    ``centre_y`` is the latitude (in CRS units) at which degrees are converted. ``None`` without
    a usable CRS or for a degenerate pixel."""
    units = _units(crs) if crs else None
    if units is None or not (size_x > 0 and size_y > 0):
        return None
    kind, factor = units
    if kind == "projected":
        metres = (size_x + size_y) / 2 * factor
    else:
        lat = centre_y * factor
        if not abs(lat) < math.pi / 2:
            return None
        metres = (size_x * math.cos(lat) + size_y) / 2 * factor * EARTH_RADIUS_M
    return metres if math.isfinite(metres) and metres > 0 else None


def transform_gsd(crs: str | None, transform: Sequence[float] | None, width: int, height: int) -> float | None:
    """Ground resolution (m per pixel) of a ``width`` x ``height`` raster with the affine ``transform``
    (a, b, c, d, e, f) in ``crs``."""
    if crs is None or transform is None:
        return None
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    centre_y = d * width / 2 + e * height / 2 + f
    return pixel_size_m(crs, math.hypot(a, d), math.hypot(b, e), centre_y)


def item_gsd(item: Any) -> float | None:
    """Ground resolution of an ``ImageItem`` from its CRS and bounds (``None`` when not georeferenced)."""
    if item.crs is None or item.bounds is None or item.width < 1 or item.height < 1:
        return None
    minx, miny, maxx, maxy = item.bounds
    return pixel_size_m(item.crs, (maxx - minx) / item.width, (maxy - miny) / item.height, (miny + maxy) / 2)


def median_gsd(items: Iterable[Any]) -> float | None:
    """Median ground resolution of the georeferenced ``items`` (``ImageItem``), ``None`` when none is."""
    values = [g for g in map(item_gsd, items) if g is not None]
    return float(np.median(values)) if values else None


def dataset_gsd(dataset: Any) -> float | None:
    """The training data's ground resolution: ``DatasetManifest.gsd`` (recorded or stated at import),
    else (manifests written before it was recorded) the median over its georeferenced items."""
    return dataset.gsd if dataset.gsd is not None else median_gsd(dataset.items)


def far_apart(a: float, b: float, factor: float = FAR_FACTOR) -> bool:
    """Whether ``a`` and ``b`` (> 0) differ by more than ``factor`` (either way)."""
    return max(a, b) > factor * min(a, b)


def format_number(value: float) -> str:
    """``0.3``, ``1.25``, ``76.8``, ``2560``: three significant digits, whole numbers from 100 on."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_gsd(metres: float) -> str:
    """A ground size in metres for messages: ``0.3 m``, ``76.8 m``, ``2560 m``."""
    return f"{format_number(metres)} m"
