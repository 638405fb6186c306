"""Built-in demo data: a small synthetic, class-imbalanced aerial-like dataset and a GeoTIFF scene.

Nothing here is real imagery. Every image is drawn with numpy from a seed, in seconds, the first
time it is needed, into ``paths.data_dir()/demo/<DEMO_VERSION>/``:

* ``demo_dataset/<class>/<class>_NNN.png`` -- 64 x 64 px RGB patches of ten land-cover classes. Seven
  majority classes have 72-84 images each, three minority classes 38-40. The demo split
  (:func:`demo_split_config`, the paper's ci protocol) keeps 40 training images per majority
  class and only 8 per minority class, and a balanced test set of 30 per class.
* ``scene/demo_scene.tif`` -- a 1024 x 1024 px, 3-band uint8 GeoTIFF mosaic of 64 px cells (one
  demo patch each, drawn like the dataset's, in regions of 2 x 2 cells of one class), in UTM zone 33N (EPSG:32633) at 1 m per pixel, for the labelling demo, with
  ``demo_scene_labels.json`` giving each cell's class.
* ``README.txt`` -- says all of this is synthetic.

Each minority class is built to look like a majority class in colour and to differ in structure
(orchard ~ farmland, sparse residential ~ meadow / dense residential, runway ~ highway), so a
model trained with plain cross-entropy on the imbalanced data tends to predict the majority
look-alike, which is what re-balancing must fix. Patterns have random orientation, scale, colour
and noise, so the task is learnable but not trivial.
"""

from __future__ import annotations

import io
import math
import os
import zlib
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from scl_desktop.core import paths
from scl_desktop.core.atomic import atomic_path, read_json, write_bytes, write_json, write_text
from scl_desktop.core.data.manifest import MAJORITY, MINORITY, DatasetManifest
from scl_desktop.core.data.split import SplitConfig
from scl_desktop.core.errors import SclError
from scl_desktop.core.events import CancelToken, Event, RateMeter, drive

DEMO_VERSION = "v1"
DEMO_SEED = 0
PATCH_SIZE = 64
DATASET_FOLDER = "demo_dataset"  # also the name `scl import` gives its manifest

DEMO_MAJORITY = ("dense_residential", "farmland", "forest", "highway", "meadow", "parking_lot", "water")
DEMO_MINORITY = ("orchard", "runway", "sparse_residential")
#: every class, sorted (the order the importer gives class folders)
DEMO_CLASSES = tuple(sorted(DEMO_MAJORITY + DEMO_MINORITY))
#: images generated per class
DEMO_COUNTS = {
    "dense_residential": 80, "farmland": 84, "forest": 78, "highway": 76, "meadow": 82, "parking_lot": 72,
    "water": 74, "orchard": 40, "runway": 38, "sparse_residential": 39,
}
#: the minority class each one is designed to be confused with
LOOKALIKES = {"orchard": "farmland", "runway": "highway", "sparse_residential": "meadow"}

SCENE_SIZE = 1024
SCENE_CELL = PATCH_SIZE
SCENE_CRS = "EPSG:32633"
SCENE_ORIGIN = (448_000.0, 5_411_000.0)  # upper-left corner, metres (Lower Austria, UTM 33N)
SCENE_PIXEL_M = 1.0


def demo_roles() -> dict[str, str]:
    """The role each demo class has in the demo split."""
    return {c: MAJORITY if c in DEMO_MAJORITY else MINORITY for c in DEMO_CLASSES}


def demo_split_config(seed: int = 0) -> SplitConfig:
    """The split `scl demo` uses: the ci protocol, 40 vs 8 training images, 30 test images per class."""
    return SplitConfig(protocol="ci", majority_classes=DEMO_MAJORITY, major_count=40, s=8, test_per_class=30,
                       seed=seed)


def demo_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder the demo data lives in: ``root`` or ``data_dir()/demo/<DEMO_VERSION>``."""
    return Path(root) if root is not None else paths.data_dir() / "demo" / DEMO_VERSION


def demo_data_of(dataset: DatasetManifest) -> Path | None:
    """The demo data folder (holding ``demo_dataset/`` and ``scene/``) when ``dataset`` is the
    imported demo dataset, else ``None``.

    The demo dataset is recognised by its source, a folder named ``DATASET_FOLDER``, holding only
    demo classes; this needs no file on disk, so a run keeps being recognised after the demo data
    was deleted, and manifests written before this check existed are recognised too.
    """
    source = Path(dataset.source)
    if source.name != DATASET_FOLDER or not dataset.classes or not set(dataset.classes) <= set(DEMO_CLASSES):
        return None
    return source.parent


def is_demo_file(path: str | os.PathLike[str], demo_data: Path | None = None) -> bool:
    """Whether ``path`` is part of the demo data: inside ``demo_data`` (a folder from :func:`demo_data_of`)
    or the demo folder of this data folder (:func:`demo_root`), or a demo scene (``demo_scene.tif``
    beside its ``demo_scene_labels.json``) copied elsewhere."""
    path = Path(os.path.abspath(path))
    for folder in (demo_data, demo_root()):
        if folder is not None and path.is_relative_to(Path(os.path.abspath(folder))):
            return True
    return path.name == "demo_scene.tif" and (path.parent / "demo_scene_labels.json").is_file()


def ensure_demo_dataset(root: str | os.PathLike[str] | None = None, seed: int = DEMO_SEED,
                        on_event: Callable[[Event], Any] | None = None) -> Path:
    """Path of the demo class folders, generating them first when missing or incomplete.

    Idempotent and cheap when the data is there (a marker file, written last, records what was
    generated). ``on_event`` receives progress events while images are drawn.
    """
    return drive(generate_demo_dataset(root, seed), on_event)


def generate_demo_dataset(root: str | os.PathLike[str] | None = None, seed: int = DEMO_SEED,
                          cancel: CancelToken | None = None) -> Generator[Event, None, Path]:
    """Write the demo images (a step generator yielding progress); returns the dataset folder.

    Every image is written (atomically) unless the completion marker for this seed is present,
    in which case only missing images are (nothing at all when none is missing); the marker is
    rewritten last.
    """
    base = demo_root(root)
    folder = base / DATASET_FOLDER
    todo = _missing_images(folder, seed)
    if not todo:
        return folder
    marker = _marker_path(folder)
    marker.unlink(missing_ok=True)
    _write_readme(base, seed)
    meter = RateMeter(len(todo))
    for done, (name, index) in enumerate(todo, 1):
        if cancel is not None:
            cancel.raise_if_cancelled("Generating the demo data")
        write_bytes(folder / name / _file_name(name, index), _png_bytes(render_demo_image(name, index, seed)))
        if done % 20 == 0 or done == len(todo):
            yield meter.progress("demo data", done, unit="images")
    write_json(marker, _marker(seed))
    return folder


def render_demo_image(name: str, index: int, seed: int = DEMO_SEED, size: int = PATCH_SIZE) -> np.ndarray:
    """The ``index``-th demo image of class ``name``: HxWx3 uint8, a pure function of its arguments."""
    if name not in RENDERERS:
        raise SclError(f"There is no demo class {name!r}.", f"The demo classes are: {', '.join(DEMO_CLASSES)}.")
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), index])
    return _finish(rng, RENDERERS[name](rng, size))


def ensure_demo_scene(root: str | os.PathLike[str] | None = None, seed: int = DEMO_SEED,
                      on_event: Callable[[Event], Any] | None = None) -> Path:
    """Path of the synthetic GeoTIFF scene (written first when missing), with a real CRS.

    A ``SCENE_SIZE`` square, 3-band uint8 mosaic of ``SCENE_CELL`` px cells of the demo classes,
    in ``SCENE_CRS`` at ``SCENE_PIXEL_M`` m per pixel. The cell classes are written beside it as
    ``demo_scene_labels.json`` (written last: its presence marks the scene complete).
    """
    folder = demo_root(root) / "scene"
    tif = folder / "demo_scene.tif"
    labels_path = folder / "demo_scene_labels.json"
    if tif.exists() and labels_path.exists():
        try:
            if read_json(labels_path).get("marker") == _marker(seed):
                return tif
        except SclError:
            pass  # a damaged label file: write the scene again
    return drive(_generate_scene(folder, seed), on_event)


# --- generation plumbing --------------------------------------------------------------------


def _file_name(name: str, index: int) -> str:
    return f"{name}_{index:03d}.png"


def _marker_path(folder: Path) -> Path:
    return folder.parent / f"{DATASET_FOLDER}.complete.json"


def _marker(seed: int) -> dict[str, Any]:
    return {"version": DEMO_VERSION, "seed": seed, "size": PATCH_SIZE, "counts": DEMO_COUNTS}


def _missing_images(folder: Path, seed: int) -> list[tuple[str, int]]:
    """(class, index) of the images to write: all without a matching marker, else those missing."""
    everything = [(n, i) for n in DEMO_CLASSES for i in range(DEMO_COUNTS[n])]
    try:
        marker_ok = read_json(_marker_path(folder)) == _marker(seed)
    except SclError:
        marker_ok = False
    if not marker_ok:
        return everything
    return [(n, i) for n, i in everything if not (folder / n / _file_name(n, i)).is_file()]


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _write_readme(base: Path, seed: int) -> None:
    counts = "\n".join(
        f"  {c:<20} {DEMO_COUNTS[c]:>3} images  ({'majority' if c in DEMO_MAJORITY else 'minority'})"
        for c in DEMO_CLASSES)
    write_text(base / "README.txt", f"""\
scl_desktop demo data ({DEMO_VERSION}, seed {seed}) -- SYNTHETIC, NOT REAL IMAGERY

Every image here was drawn by a program (scl_desktop.core.data.demo) from random numbers to
look roughly like aerial imagery at about 1 m per pixel. It exists so that the app and
`scl demo` can be tried at once without downloading anything. Do not use it to judge how well
the method works on real data. Delete this folder at any time; it is generated again on use.

{DATASET_FOLDER}/<class>/  {PATCH_SIZE} x {PATCH_SIZE} px PNG patches:
{counts}

The demo split (the paper's class-imbalance protocol) keeps 40 training images per majority
class, only 8 per minority class, and a balanced test set of 30 images per class. Each
minority class resembles a majority class in colour but differs in structure:
orchard ~ farmland, runway ~ highway, sparse_residential ~ meadow.

scene/demo_scene.tif  a {SCENE_SIZE} x {SCENE_SIZE} px mosaic of {SCENE_CELL} px cells of these classes, as a
GeoTIFF in {SCENE_CRS} (UTM zone 33N) at {SCENE_PIXEL_M:g} m per pixel. The place is made up; the
coordinates only make it open in the right spot of a GIS. demo_scene_labels.json names the class
of each cell.
""")


def _generate_scene(folder: Path, seed: int) -> Generator[Event, None, Path]:
    try:
        import rasterio
        from rasterio.transform import Affine
    except ImportError as exc:
        raise SclError("rasterio is not installed, so the demo GeoTIFF scene cannot be written.",
                       "Install it with `pip install rasterio`.") from exc
    _write_readme(folder.parent, seed)
    cells = SCENE_SIZE // SCENE_CELL
    grid = _scene_layout(seed, cells)
    mosaic = np.zeros((SCENE_SIZE, SCENE_SIZE, 3), np.uint8)
    meter = RateMeter(cells * cells)
    for r in range(cells):
        for c in range(cells):
            rng = np.random.default_rng([seed, 7919, r, c])
            block = _finish(rng, RENDERERS[grid[r][c]](rng, SCENE_CELL))
            mosaic[r * SCENE_CELL:(r + 1) * SCENE_CELL, c * SCENE_CELL:(c + 1) * SCENE_CELL] = block
        yield meter.progress("demo scene", (r + 1) * cells, unit="cells")
    transform = Affine(SCENE_PIXEL_M, 0.0, SCENE_ORIGIN[0], 0.0, -SCENE_PIXEL_M, SCENE_ORIGIN[1])
    tif = folder / "demo_scene.tif"
    with atomic_path(tif, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", width=SCENE_SIZE, height=SCENE_SIZE, count=3, dtype="uint8",
                           crs=SCENE_CRS, transform=transform, tiled=True, blockxsize=256, blockysize=256,
                           compress="deflate", photometric="RGB") as dst:
            dst.write(np.moveaxis(mosaic, -1, 0))
    write_json(folder / "demo_scene_labels.json", {
        "marker": _marker(seed), "synthetic": True, "crs": SCENE_CRS, "transform": list(transform)[:6],
        "cell_size": SCENE_CELL, "classes": list(DEMO_CLASSES), "cells": grid,
    })
    return tif


def _scene_layout(seed: int, cells: int) -> list[list[str]]:
    """Class of each scene cell: 2 x 2 cell regions of one class, every class at least once,
    majority classes three times as often as minority classes."""
    rng = np.random.default_rng([seed, 104729])
    regions = cells // 2
    weights = np.array([3.0 if c in DEMO_MAJORITY else 1.0 for c in DEMO_CLASSES])
    picks = list(DEMO_CLASSES) + list(rng.choice(DEMO_CLASSES, regions * regions - len(DEMO_CLASSES),
                                                 p=weights / weights.sum()))
    order = rng.permutation(len(picks))
    return [[str(picks[order[(r // 2) * regions + c // 2]]) for c in range(cells)] for r in range(cells)]


# --- drawing helpers (float RGB images, 0-255) ----------------------------------------------


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) relative to the image centre."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    half = size / 2 - 0.5
    return x - half, y - half


def _rotate(x: np.ndarray, y: np.ndarray, theta: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(theta), math.sin(theta)
    return x * c + y * s, -x * s + y * c


def _smooth(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Smooth random field (about unit variance) varying on a scale of ``cell`` pixels."""
    from PIL import Image

    n = max(2, int(size / cell) + 2)
    coarse = rng.standard_normal((n, n)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)


def _jitter(rng: np.random.Generator, rgb: tuple[float, float, float], spread: float = 10.0) -> np.ndarray:
    """``rgb`` varied mostly in brightness (``spread``) and a little in hue (a third of it)."""
    shift = rng.normal(0, spread) + rng.normal(0, spread / 3, 3)
    return (np.asarray(rgb, np.float32) + shift).astype(np.float32)


def _pick(rng: np.random.Generator, palette: list[tuple[float, float, float]], spread: float = 10.0) -> np.ndarray:
    return _jitter(rng, palette[int(rng.integers(len(palette)))], spread)


def _blend(img: np.ndarray, alpha: np.ndarray, color: np.ndarray) -> None:
    """Paint ``color`` (RGB or HxWx3) over ``img`` with per-pixel ``alpha`` in place."""
    img += alpha[..., None] * (color - img)


def _soft(d: np.ndarray) -> np.ndarray:
    """Anti-aliased inside mask from a signed distance (positive inside)."""
    return np.clip(d + 0.5, 0.0, 1.0)


def _box(u: np.ndarray, v: np.ndarray, half_u: float, half_v: float) -> np.ndarray:
    return _soft(half_u - np.abs(u)) * _soft(half_v - np.abs(v))


def _fill(size: int, color: np.ndarray) -> np.ndarray:
    return np.broadcast_to(color, (size, size, 3)).astype(np.float32)


def _crowns(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, pu: float, pv: float, jitter: float,
            radius: tuple[float, float], missing: float = 0.0,
            shift: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """Round tree crowns on a jittered lattice of periods (pu, pv) in the (u, v) frame.

    Returns (crown alpha, distance from the crown centre / radius, per-crown tone, shadow alpha);
    the shadow is the same crowns displaced by ``shift`` (a (du, dv) pair of coordinate arrays).
    """
    k = 64
    ju, jv = rng.uniform(-jitter, jitter, (2, k, k))
    rad = rng.uniform(radius[0], radius[1], (k, k))
    keep = rng.random((k, k)) >= missing
    tone = rng.standard_normal((k, k))

    def draw(uu: np.ndarray, vv: np.ndarray) -> tuple[np.ndarray, ...]:
        iu0, iv0 = np.floor(uu / pu), np.floor(vv / pv)
        best = np.full(uu.shape, -np.inf, np.float32)
        alpha = np.zeros(uu.shape, np.float32)
        rel = np.ones(uu.shape, np.float32)
        tones = np.zeros(uu.shape, np.float32)
        for du in (-1, 0, 1):
            for dv in (-1, 0, 1):
                a = ((iu0 + du) % k).astype(np.intp)
                b = ((iv0 + dv) % k).astype(np.intp)
                cu = (iu0 + du + 0.5 + ju[a, b]) * pu
                cv = (iv0 + dv + 0.5 + jv[a, b]) * pv
                d = np.hypot(uu - cu, vv - cv)
                r = rad[a, b]
                score = np.where(keep[a, b], r - d, -np.inf)
                better = score > best
                best = np.where(better, score, best)
                rel = np.where(better, d / r, rel)
                tones = np.where(better, tone[a, b], tones)
                alpha = np.maximum(alpha, _soft(r - d) * keep[a, b])
        return alpha, rel, tones

    alpha, rel, tones = draw(u, v)
    shadow = draw(u + shift[0], v + shift[1])[0] if shift is not None else np.zeros_like(alpha)
    return alpha, rel, tones, shadow


def _paint_crowns(img: np.ndarray, crowns: tuple[np.ndarray, ...], green: np.ndarray, tone_spread: float = 0.15) -> None:
    """Shadows first, then dome-shaded crowns of colour ``green``."""
    alpha, rel, tones, shadow = crowns
    _blend(img, 0.55 * shadow * (1 - alpha), img * 0.45)
    shade = (1 + tone_spread * tones) * (1.12 - 0.45 * np.clip(rel, 0, 1) ** 2)
    _blend(img, alpha, green * shade[..., None])


def _shadow_shift(x: np.ndarray, y: np.ndarray, theta: float, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate offsets that move a drawing by ``dist`` px down-right, in a frame rotated by theta."""
    du, dv = _rotate(np.full_like(x, -dist), np.full_like(y, -dist), theta)
    return du, dv


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Colour jitter, a gentle illumination gradient and sensor noise; to uint8."""
    size = img.shape[0]
    gain = rng.normal(1.0, 0.025, 3) * rng.normal(1.0, 0.07)
    light = 1 + 0.04 * _smooth(rng, size, size / 2)
    img = img * gain[None, None, :].astype(np.float32) * light[..., None]
    img += rng.normal(0, rng.uniform(2.0, 5.0), img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --- palettes --------------------------------------------------------------------------------

GRASS = [(95, 130, 60), (115, 140, 70), (135, 145, 85), (85, 120, 55)]
CROPS = [(80, 125, 55), (185, 165, 95), (135, 105, 75), (120, 150, 80), (160, 140, 90)]
SOIL = [(135, 105, 75), (150, 125, 90), (115, 95, 70)]
TREE_GREEN = [(45, 80, 40), (60, 95, 45), (40, 70, 45), (70, 105, 50)]
WATER = [(35, 60, 95), (35, 75, 85), (50, 85, 75), (75, 85, 70), (30, 50, 70)]
ROOFS = [(150, 60, 50), (120, 85, 65), (125, 125, 130), (180, 110, 70), (75, 75, 80), (190, 185, 175), (160, 80, 60)]
CARS = [(220, 220, 225), (30, 30, 35), (160, 160, 165), (170, 40, 40), (40, 60, 140), (200, 200, 190)]


def _grass_base(rng: np.random.Generator, size: int) -> np.ndarray:
    """Grass of two tones mixed at a random scale, with fine texture."""
    a, b = _pick(rng, GRASS), _pick(rng, GRASS)
    mix = np.clip(0.5 + 0.35 * _smooth(rng, size, rng.uniform(10, 24)), 0, 1)[..., None]
    img = a * mix + b * (1 - mix)
    return img + 6 * _smooth(rng, size, 2.0)[..., None]


# --- majority classes ------------------------------------------------------------------------


def _farmland(rng: np.random.Generator, size: int) -> np.ndarray:
    """2-4 parcels (a Voronoi partition), each with crop rows of its own period and direction."""
    x, y = _coords(size)
    seeds = rng.uniform(-0.7 * size, 0.7 * size, (int(rng.integers(2, 5)), 2))
    dist = np.stack([np.hypot(x - sx, y - sy) for sx, sy in seeds])
    order = np.sort(dist, axis=0)
    owner = np.argmin(dist, axis=0)
    img = np.zeros((size, size, 3), np.float32)
    theta0 = rng.uniform(0, math.pi)
    for p in range(len(seeds)):
        theta = theta0 + rng.normal(0, 0.08) if rng.random() < 0.5 else rng.uniform(0, math.pi)
        _, v = _rotate(x, y, theta)
        period = rng.uniform(4.0, 8.0)
        rows = 0.5 + 0.5 * np.sin(2 * math.pi * v / period + rng.uniform(0, 2 * math.pi))
        base = _pick(rng, CROPS, 12)
        dark = base * rng.uniform(0.6, 0.8)
        parcel = base * (1 - rows[..., None]) + dark * rows[..., None]
        parcel += 5 * _smooth(rng, size, 12)[..., None]
        img = np.where((owner == p)[..., None], parcel, img)
    track = _soft(1.2 - (order[1] - order[0])) if len(seeds) > 1 else np.zeros_like(x)
    _blend(img, track, _pick(rng, SOIL + GRASS[:1]))
    return img


def _forest(rng: np.random.Generator, size: int) -> np.ndarray:
    """Dense, irregular tree crowns with dark gaps, sometimes a clearing."""
    x, y = _coords(size)
    theta = rng.uniform(0, math.pi)
    u, v = _rotate(x, y, theta)
    period = rng.uniform(4.5, 7.0)
    img = _fill(size, _jitter(rng, (30, 45, 28), 5))
    if rng.random() < 0.35:
        clearing = _soft(6 * (_smooth(rng, size, 20) - 0.8))
        _blend(img, clearing, _grass_base(rng, size))
    crowns = _crowns(rng, u, v, period, period, 0.35, (0.55 * period, 0.8 * period), 0.04,
                     _shadow_shift(x, y, theta, 1.2))
    _paint_crowns(img, crowns, _pick(rng, TREE_GREEN, 8), tone_spread=0.2)
    return img


def _water(rng: np.random.Generator, size: int) -> np.ndarray:
    """Open water: a smooth colour field with faint ripples and the odd glint."""
    x, y = _coords(size)
    img = _fill(size, _pick(rng, WATER, 8)) + 8 * _smooth(rng, size, 16)[..., None]
    _, v = _rotate(x, y, rng.uniform(0, math.pi))
    ripples = np.sin(2 * math.pi * v / rng.uniform(3, 6)) * (0.5 + 0.5 * _smooth(rng, size, 10))
    img = img + rng.uniform(2, 5) * ripples[..., None]
    if rng.random() < 0.25:
        glint = np.clip(_smooth(rng, size, 2.5) - 2.2, 0, 1)
        _blend(img, glint, np.float32(230))
    return img


def _meadow(rng: np.random.Generator, size: int) -> np.ndarray:
    """Grass with patches, a few bushes, sometimes a dirt path."""
    x, y = _coords(size)
    img = _grass_base(rng, size)
    if rng.random() < 0.35:
        u, v = _rotate(x, y, rng.uniform(0, math.pi))
        path = v - rng.uniform(-size / 3, size / 3) - rng.uniform(2, 6) * np.sin(u / rng.uniform(8, 20))
        _blend(img, _soft(rng.uniform(0.8, 1.4) - np.abs(path)), _pick(rng, SOIL))
    _bushes(rng, img, x, y, int(rng.integers(0, 5)))
    return img


def _bushes(rng: np.random.Generator, img: np.ndarray, x: np.ndarray, y: np.ndarray, n: int) -> None:
    half = x.shape[0] / 2
    for _ in range(n):
        cx, cy = rng.uniform(-half, half, 2)
        r = rng.uniform(1.5, 3.2)
        d = np.hypot(x - cx, y - cy)
        _blend(img, 0.5 * _soft(r - np.hypot(x - cx - 1.2, y - cy - 1.2)), img * 0.45)
        _blend(img, _soft(r - d), _pick(rng, TREE_GREEN, 8) * (1.1 - 0.4 * np.clip(d / r, 0, 1) ** 2)[..., None])


def _dense_residential(rng: np.random.Generator, size: int) -> np.ndarray:
    """A street grid with blocks packed with small houses of varied roof colours."""
    x, y = _coords(size)
    theta = rng.uniform(0, math.pi)
    u, v = _rotate(x, y, theta)
    u = u + rng.uniform(0, 40)
    v = v + rng.uniform(0, 40)
    block_u, block_v = rng.uniform(14, 22), rng.uniform(14, 24)
    street = rng.uniform(2.0, 3.5)
    img = _fill(size, _jitter(rng, (90, 90, 92), 8))  # asphalt
    fu, fv = np.mod(u, block_u), np.mod(v, block_v)
    inside = _soft(np.minimum(fu - street, fv - street))
    bu, bv = np.floor(u / block_u), np.floor(v / block_v)
    n_u, n_v = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    cell_u, cell_v = (block_u - street) / n_u, (block_v - street) / n_v
    hu, hv = np.floor((fu - street) / cell_u), np.floor((fv - street) / cell_v)
    lu = (fu - street) - (hu + 0.5) * cell_u
    lv = (fv - street) - (hv + 0.5) * cell_v
    yard = _grass_base(rng, size) * 0.9
    _blend(img, inside, yard)
    roof_table = np.stack([_pick(rng, ROOFS, 12) for _ in range(97)])
    key = ((bu * 31 + bv * 17 + hu * 7 + hv * 3) % 97).astype(np.intp)
    roofs = roof_table[key]
    margin = rng.uniform(0.6, 1.3)
    house = _box(lu, lv, cell_u / 2 - margin, cell_v / 2 - margin) * inside
    ridge = np.where(lu > 0, 0.82, 1.0)[..., None] if rng.random() < 0.5 else np.where(lv > 0, 0.82, 1.0)[..., None]
    shadow = _box(lu + 1.0, lv + 1.0, cell_u / 2 - margin, cell_v / 2 - margin) * inside
    _blend(img, 0.5 * shadow, img * 0.4)
    _blend(img, house, roofs * ridge)
    return img


def _highway(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (gently curving) dual carriageway with lane dashes and cars over grass or soil."""
    x, y = _coords(size)
    img = _grass_base(rng, size) if rng.random() < 0.7 else _fill(size, _pick(rng, SOIL))
    u, v = _rotate(x, y, rng.uniform(0, math.pi))
    vv = v - rng.uniform(-size / 6, size / 6) - rng.uniform(-0.005, 0.005) * u**2
    half = rng.uniform(5.0, 9.0)
    median = rng.uniform(0.8, 2.0) if rng.random() < 0.6 else 0.0
    _blend(img, _soft(half + 1.2 - np.abs(vv)), _jitter(rng, (140, 135, 120), 8))  # shoulder
    road = _soft(half - np.abs(vv)) * _soft(np.abs(vv) - median)
    _blend(img, road, _jitter(rng, (80, 80, 85), 8))
    lane_mid = (half + median) / 2
    dash_period = rng.uniform(6, 10)
    dashes = _soft(0.5 - np.abs(np.abs(vv) - lane_mid)) * (np.mod(u + rng.uniform(0, 10), dash_period) < dash_period / 2)
    _blend(img, dashes * road, np.float32(205))
    for _ in range(int(rng.integers(0, 7))):
        side = rng.choice([-1.0, 1.0]) * (lane_mid + rng.choice([-1.0, 1.0]) * (half - median) / 4)
        cu = rng.uniform(-size / 2, size / 2)
        _blend(img, _box(u - cu, vv - side, 2.0, 1.0), _pick(rng, CARS, 10))
    return img


def _parking_lot(rng: np.random.Generator, size: int) -> np.ndarray:
    """Asphalt with rows of marked stalls, many of them holding cars."""
    x, y = _coords(size)
    u, v = _rotate(x, y, rng.uniform(0, math.pi))
    u = u + rng.uniform(0, 30)
    v = v + rng.uniform(0, 30)
    img = _fill(size, _jitter(rng, (95, 95, 98), 10)) + 4 * _smooth(rng, size, 8)[..., None]
    row, stall_len, stall_w = rng.uniform(11, 15), rng.uniform(4.5, 6.0), rng.uniform(2.6, 3.4)
    fv = np.mod(v, row)
    in_stall = fv < stall_len
    across = np.mod(u, stall_w)
    lines = _soft(0.4 - np.minimum(across, stall_w - across)) * in_stall
    _blend(img, 0.8 * lines, np.float32(200))
    occupancy = rng.uniform(0.3, 0.9)
    car_table = np.stack([_pick(rng, CARS, 12) for _ in range(101)])
    occupied_table = rng.random(101) < occupancy
    su, sv = np.floor(u / stall_w), np.floor(v / row)
    key = ((su * 13 + sv * 7) % 101).astype(np.intp)
    lu = across - stall_w / 2
    car = _box(lu, fv - stall_len / 2, stall_w / 2 - 0.7, stall_len / 2 - 0.6) * occupied_table[key]
    _blend(img, car, car_table[key])
    if rng.random() < 0.4:
        edge = _soft(v - rng.uniform(5, size / 2))
        _blend(img, edge, _grass_base(rng, size))
    return img


# --- minority classes ------------------------------------------------------------------------


def _orchard(rng: np.random.Generator, size: int) -> np.ndarray:
    """Rows of evenly spaced round trees over strip-tilled ground (looks like farmland rows)."""
    x, y = _coords(size)
    theta = rng.uniform(0, math.pi)
    u, v = _rotate(x, y, theta)
    pu, pv = rng.uniform(6.0, 8.5), rng.uniform(7.0, 10.0)
    ground, strip = _pick(rng, CROPS, 12), _pick(rng, CROPS + GRASS, 12)
    rows = 0.5 + 0.5 * np.cos(2 * math.pi * v / pv)
    img = ground * (1 - rows[..., None]) + strip * rows[..., None] + 5 * _smooth(rng, size, 12)[..., None]
    crowns = _crowns(rng, u, v, pu, pv, 0.06, (1.8, 3.0), 0.07, _shadow_shift(x, y, theta, 1.0))
    _paint_crowns(img, crowns, _pick(rng, TREE_GREEN, 10))
    return img


def _runway(rng: np.random.Generator, size: int) -> np.ndarray:
    """A straight, wide strip with edge lines and a dashed centre line over mown grass."""
    x, y = _coords(size)
    theta = rng.uniform(0, math.pi)
    u, v = _rotate(x, y, theta)
    img = _grass_base(rng, size)
    if rng.random() < 0.5:  # mowing stripes
        _blend(img, 0.5 * (np.sin(2 * math.pi * u / rng.uniform(8, 14)) > 0), img * 1.12)
    vv = v - rng.uniform(-size / 8, size / 8)
    half = rng.uniform(8.0, 13.0)
    surface = _jitter(rng, (130, 130, 128), 12) if rng.random() < 0.5 else _jitter(rng, (88, 88, 92), 8)
    strip = _soft(half - np.abs(vv))
    _blend(img, strip, surface)
    white = np.float32(215)
    _blend(img, _soft(0.6 - np.abs(np.abs(vv) - (half - 1.2))), white)  # edge lines
    period = rng.uniform(10, 14)
    centre = _soft(0.7 - np.abs(vv)) * (np.mod(u + rng.uniform(0, period), period) < 0.55 * period)
    _blend(img, centre, white)
    if rng.random() < 0.3:  # threshold "piano keys" at the runway's end
        start = rng.uniform(-size / 3, size / 4)
        keys = (np.abs(u - start - 4) < 4) & (np.mod(vv, 3.0) < 1.4) & (np.abs(vv) < half - 2.5)
        _blend(img, keys.astype(np.float32), white)
    if rng.random() < 0.4:  # a parallel taxiway with a yellow centre line
        tv = np.abs(vv) - (half + rng.uniform(8, 13))
        _blend(img, _soft(2.8 - np.abs(tv)), surface * 0.95)
        _blend(img, _soft(0.4 - np.abs(tv)), np.asarray((200, 170, 60), np.float32))
    return img


def _sparse_residential(rng: np.random.Generator, size: int) -> np.ndarray:
    """A few detached houses with gardens and trees on grass, sometimes along a street."""
    x, y = _coords(size)
    theta = rng.uniform(0, math.pi)
    u, v = _rotate(x, y, theta)
    img = _grass_base(rng, size)
    street_at = None
    if rng.random() < 0.6:
        street_at = rng.uniform(-size / 4, size / 4)
        _blend(img, _soft(rng.uniform(1.5, 2.3) - np.abs(v - street_at)), _jitter(rng, (92, 92, 95), 8))
    scale = size / PATCH_SIZE
    centres: list[tuple[float, float]] = []
    for _ in range(int(rng.integers(3, 7) * scale**2)):
        for _attempt in range(10):
            cu, cv = rng.uniform(-size / 2 + 4, size / 2 - 4, 2)
            if street_at is not None and abs(cv - street_at) < 9:
                cv = street_at + math.copysign(rng.uniform(9, 13), cv - street_at)
            if all(math.hypot(cu - a, cv - b) > 13 for a, b in centres):
                centres.append((cu, cv))
                break
    for cu, cv in centres:
        hu, hv = rng.uniform(3.0, 5.0), rng.uniform(2.5, 4.0)
        lu, lv = _rotate(u - cu, v - cv, rng.normal(0, 0.1))
        _blend(img, 0.5 * _box(lu + 1.2, lv + 1.2, hu, hv), img * 0.4)
        ridge = np.where(lv > 0, 0.82, 1.0)[..., None]
        _blend(img, _box(lu, lv, hu, hv), _pick(rng, ROOFS, 12) * ridge)
    _bushes(rng, img, x, y, int(rng.integers(2, 8) * scale**2))
    return img


RENDERERS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "dense_residential": _dense_residential,
    "farmland": _farmland,
    "forest": _forest,
    "highway": _highway,
    "meadow": _meadow,
    "orchard": _orchard,
    "parking_lot": _parking_lot,
    "runway": _runway,
    "sparse_residential": _sparse_residential,
    "water": _water,
}
