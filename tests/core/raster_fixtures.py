"""Tiny images and GeoTIFFs generated at test time (no image files are committed).

Test modules using ``write_geotiff(crs=None)`` add ``NOT_GEOREFERENCED_OK`` to ``pytestmark``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

NOT_GEOREFERENCED_OK = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def write_image(path: Path, array: np.ndarray, mode: str | None = None, **save_args: object) -> Path:
    """Save ``array`` (H x W or H x W x C) with Pillow; the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **save_args)
    return path


def rgb(seed: int, size: int = 24) -> np.ndarray:
    """A random 8-bit RGB image, different for each seed."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def write_geotiff(
    path: Path,
    array: np.ndarray,
    crs: str | None = "EPSG:32631",
    nodata: float | None = None,
    origin: tuple[float, float] = (500000.0, 5700000.0),
    pixel: float = 1.0,
    photometric: str | None = None,
) -> Path:
    """Write a ``C x H x W`` array as a GeoTIFF; ``crs=None`` writes no georeference at all."""
    import rasterio
    from affine import Affine

    path.parent.mkdir(parents=True, exist_ok=True)
    count, height, width = array.shape
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=array.dtype.name)
    if crs is not None:
        profile.update(crs=crs, transform=Affine(pixel, 0.0, origin[0], 0.0, -pixel, origin[1]))
    if nodata is not None:
        profile["nodata"] = nodata
    if photometric:
        profile["photometric"] = photometric
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(array)
    return path


def class_tree(root: Path, classes: dict[str, int], size: int = 20, ext: str = ".png", seed: int = 0) -> Path:
    """``root/<class>/<class>_<i><ext>`` with distinct random RGB images; returns ``root``."""
    for c, (name, count) in enumerate(classes.items()):
        for i in range(count):
            write_image(root / name / f"{name}_{i}{ext}", rgb(seed + 1000 * c + i, size))
    return root
