"""Property test of import: damaged JPEG/PNG/GeoTIFF bytes never raise, every file is accounted for.

Seeds are small images generated here (random band counts, data types and nodata for GeoTIFFs)
plus a few real files from ../shared/data when present; hypothesis mutates their bytes
(truncation, overwritten bytes, inserted bytes). Deterministic (``derandomize``) and sized to
run in seconds.
"""

from __future__ import annotations

import functools
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from scl_desktop.core.data.cache import build_store
from scl_desktop.core.data.importer import ImportConfig, import_dataset
from scl_desktop.core.events import drive
from tests.conftest import SHARED_DATA
from tests.core.raster_fixtures import NOT_GEOREFERENCED_OK, class_tree

pytestmark = NOT_GEOREFERENCED_OK

DTYPES = ("uint8", "uint16", "int16", "float32", "float64")


def _pil_bytes(fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    mode = ("RGB", "L", "RGBA")[seed % 3] if fmt == "PNG" else ("RGB", "L")[seed % 2]
    shape = (12, 10) if mode == "L" else (12, 10, len(mode))
    buffer = BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buffer, fmt)
    return buffer.getvalue()


def _geotiff_bytes(bands: int, dtype: str, nodata: bool, seed: int) -> bytes:
    from affine import Affine
    from rasterio.io import MemoryFile

    rng = np.random.default_rng(seed)
    data = (rng.random((bands, 10, 12)) * 200).astype(dtype)
    if np.issubdtype(data.dtype, np.floating):
        data[:, 0, :3] = np.nan
    data[:, 1, :2] = 0
    profile = dict(driver="GTiff", width=12, height=10, count=bands, dtype=dtype, crs="EPSG:32631",
                   transform=Affine(1.0, 0.0, 500000.0, 0.0, -1.0, 5700000.0), nodata=0 if nodata else None)
    with MemoryFile() as memory:
        with memory.open(**profile) as ds:
            ds.write(data)
        return memory.read()


@functools.cache
def _shared_seeds() -> tuple[tuple[str, bytes], ...]:
    """The smallest real JPEG and GeoTIFF of ../shared/data (none when it is absent)."""
    seeds = []
    for folder, pattern in (("rsi_cb_sample5", "*.jpg"), ("geotiff", "*.tif")):
        files = sorted((SHARED_DATA / folder).rglob(pattern), key=lambda p: (p.stat().st_size, str(p)))
        if files:
            seeds.append((files[0].suffix.lower(), files[0].read_bytes()))
    return tuple(seeds)


@st.composite
def seed_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(extension, bytes) of one intact image."""
    kinds = ["jpeg", "png", "tiff"] + ["shared"] * bool(_shared_seeds())
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 1000))
    if kind == "jpeg":
        return ".jpg", _pil_bytes("JPEG", seed)
    if kind == "png":
        return ".png", _pil_bytes("PNG", seed)
    if kind == "tiff":
        return ".tif", _geotiff_bytes(draw(st.integers(1, 5)), draw(st.sampled_from(DTYPES)), draw(st.booleans()), seed)
    return draw(st.sampled_from(_shared_seeds()))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed file with a few random mutations (or none)."""
    ext, data = draw(seed_files())
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["truncate", "overwrite", "insert", "zero"]))
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "truncate":
            del buf[at:]
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            buf[at:at + len(chunk)] = chunk
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            buf[at:at + draw(st.integers(1, 64))] = bytes(min(64, len(buf) - at))
    return ext, bytes(buf)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=st.lists(mutated(), min_size=1, max_size=3), bands=st.sampled_from([None, (1,), (3, 2, 1)]))
def test_damaged_images_are_imported_or_skipped_never_raised(files, bands):
    with tempfile.TemporaryDirectory() as tmp:
        root = class_tree(Path(tmp) / "d", {"a": 1, "b": 1}, size=8)
        written = set()
        for i, (ext, data) in enumerate(files):
            path = root / "ab"[i % 2] / f"m{i}{ext}"
            path.write_bytes(data)
            written.add(str(path))
        good = {str(p) for p in root.rglob("*_0.png")}
        manifest = drive(import_dataset(ImportConfig(root, bands=bands, size=8)))
        imported = {item.path for item in manifest.items}
        skipped = {s.path: s.reason for s in manifest.report.skipped}
        assert imported | set(skipped) == written | good and not imported & set(skipped)
        assert all(reason for reason in skipped.values()) and good <= imported
        store = drive(build_store(manifest))  # what was imported also decodes
        assert len(store) == len(manifest.items)
