"""Footprint geometry of labelled windows: bounds in the scene CRS, WGS84 centroids and rings.

Footprints are transformed corner by corner (a window is small against the curvature of any
projection); windows crossing the antimeridian are not split. A scene whose CRS cannot be
transformed to WGS84 (engineering/local CRSs, other planets, a broken PROJ database, an invalid
geotransform that gives latitudes beyond +-90) is found by :func:`wgs84_problem` before labelling.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

WGS84 = "EPSG:4326"


@functools.lru_cache(maxsize=64)
def crs_object(text: str) -> Any:
    """The rasterio CRS of ``text`` ("EPSG:n" or WKT), cached."""
    from rasterio.crs import CRS

    return CRS.from_user_input(text)


def to_wgs84(crs: str, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (WGS84) of points ``xs``, ``ys`` given in ``crs``."""
    from rasterio.warp import transform

    if len(xs) == 0:
        return np.zeros(0), np.zeros(0)
    lon, lat = transform(crs_object(crs), crs_object(WGS84), np.asarray(xs, float).ravel(),
                         np.asarray(ys, float).ravel())
    return np.asarray(lon).reshape(np.shape(xs)), np.asarray(lat).reshape(np.shape(ys))


def window_corners(transform: Sequence[float], windows: np.ndarray) -> np.ndarray:
    """Corners [N, 4, 2] in CRS coordinates of pixel windows ``windows`` [N, 4] = (col, row, w, h).

    Order: bottom-left, bottom-right, top-right, top-left (counter-clockwise for north-up rasters).
    """
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    col, row, w, h = (np.asarray(windows, float)[:, i] for i in range(4))
    px = np.stack([col, col + w, col + w, col], axis=1)
    py = np.stack([row + h, row + h, row, row], axis=1)
    return np.stack([a * px + b * py + c, d * px + e * py + f], axis=2)


@dataclass(frozen=True)
class WindowGeo:
    """Bounds (in the scene CRS) and WGS84 centroids of a set of windows, one array entry each."""

    minx: np.ndarray
    miny: np.ndarray
    maxx: np.ndarray
    maxy: np.ndarray
    centroid_lon: np.ndarray | None
    centroid_lat: np.ndarray | None


def window_geo(crs: str | None, transform: Sequence[float], windows: np.ndarray) -> WindowGeo:
    """Bounds and WGS84 centroids of pixel windows [N, 4] = (col, row, w, h) of one scene.

    ``crs=None`` (a scene whose CRS has no way to WGS84): bounds only, centroids ``None``.
    """
    windows = np.asarray(windows, float).reshape(-1, 4)
    corners = window_corners(transform, windows)
    centre = window_corners(transform, np.stack([windows[:, 0] + windows[:, 2] / 2,
                                                 windows[:, 1] + windows[:, 3] / 2,
                                                 np.zeros(len(windows)), np.zeros(len(windows))], axis=1))[:, 0]
    lon, lat = to_wgs84(crs, centre[:, 0], centre[:, 1]) if crs is not None else (None, None)
    return WindowGeo(corners[..., 0].min(1), corners[..., 1].min(1), corners[..., 0].max(1), corners[..., 1].max(1),
                     lon, lat)


def footprints_wgs84(crs: str, transform: Sequence[float], windows: np.ndarray) -> np.ndarray:
    """Closed counter-clockwise lon/lat rings [N, 5, 2] of pixel windows [N, 4] of one scene."""
    corners = window_corners(transform, np.asarray(windows, float).reshape(-1, 4))
    lon, lat = to_wgs84(crs, corners[..., 0], corners[..., 1])
    ring = np.stack([lon, lat], axis=2)
    # shoelace: negative area = clockwise (e.g. a south-up CRS); reverse those rings
    x, y = ring[..., 0], ring[..., 1]
    area = (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)
    ring[area < 0] = ring[area < 0, ::-1]
    return np.concatenate([ring, ring[:, :1]], axis=1)


def wgs84_problem(crs: str, transform: Sequence[float], width: int, height: int) -> str | None:
    """Why points of a ``width`` x ``height`` scene cannot be given in WGS84, or ``None`` when they can.

    Transforms the scene's corners and centre: PROJ errors, non-finite results and latitudes
    beyond +-90 (an invalid geotransform) are reasons.
    """
    corners = window_corners(transform, np.array([[0, 0, width, height], [width / 2, height / 2, 0, 0]], float))
    try:
        lon, lat = to_wgs84(crs, corners[..., 0], corners[..., 1])
    except Exception as exc:  # noqa: BLE001 - CRSError, PROJ/GDAL errors: all mean "no WGS84 here"
        detail = " ".join(str(exc).split(" from '")[0].split())[:160] or type(exc).__name__
        return f"its CRS cannot be transformed to WGS84 ({detail})"
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        return "its CRS cannot be transformed to WGS84 (the transformation gives no finite coordinates)"
    if np.abs(lat).max() > 90.0:
        return (f"its geotransform puts it at latitude {float(lat.ravel()[np.abs(lat).argmax()]):.6g}, outside +-90 "
                "(the georeference is invalid)")
    return None
