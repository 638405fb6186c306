"""The labelled pool of a simulated mining loop: images the run has not seen, whose labels play the analyst.

A pool is a folder of class folders (imported like a dataset, with the run's band mapping and
stretch), a dataset manifest (JSON from `scl import`), or the run's own dataset folder (then its
images outside the split are the pool: the paper's CI protocol leaves the unused training images
there). Pool images that are train, validation or test images of the run (the same file, by
resolved path, or the same content, by sha256) are left out, and so are images of classes the run
does not know. The pool's images are appended to the run's dataset (:attr:`Pool.dataset`), so the
run's item indices, test set included, stay what they were and one decoded store serves every round.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from scl_desktop.core.data.importer import ImportConfig, import_dataset
from scl_desktop.core.data.manifest import DatasetManifest, ImageItem, SplitManifest, display_path
from scl_desktop.core.errors import DatasetError, SclError
from scl_desktop.core.events import CancelToken, Event, Log

POOL_HINT = ("Point POOL at a folder of class folders (POOL/<class>/<image>) or a dataset manifest holding images "
             "the run has not seen, then run `scl mine RUN POOL --simulate` again.")


@dataclass(frozen=True, eq=False)
class Pool:
    """The run's dataset with the pool's new images appended (``dataset``), the pool's item indices in it
    (``positions``), and what was left out: images of the run's split (``in_split``) and of classes the
    run does not know (``unknown``)."""

    source: str
    dataset: DatasetManifest
    positions: tuple[int, ...]
    in_split: int = 0
    unknown: int = 0

    def labels(self) -> np.ndarray:
        """Class index of each pool image (int64, in ``positions`` order): the analyst's answers."""
        index = {c: i for i, c in enumerate(self.dataset.classes)}
        return np.array([index[self.dataset.items[p].label] for p in self.positions], dtype=np.int64)


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _pool_dataset(split: SplitManifest, source: Path, cancel: CancelToken | None
                  ) -> Generator[Event, None, DatasetManifest]:
    if source.is_file() and source.suffix.lower() == ".json":
        try:
            return DatasetManifest.load(source)
        except SclError as exc:
            raise DatasetError(f"The pool {display_path(source)} cannot be used: {exc.what}", POOL_HINT) from exc
    if source.is_dir() and _key(str(source)) == _key(split.dataset.source):
        yield Log("The pool is the run's own dataset folder: its images outside the run's split are the pool.")
        return split.dataset
    raster = split.dataset.raster
    config = ImportConfig(source, bands=raster.bands, stretch=raster.stretch, min_classes=1)
    try:
        return (yield from import_dataset(config, cancel))
    except DatasetError as exc:
        raise DatasetError(f"The pool {display_path(source)} cannot be used: {exc.what}", POOL_HINT) from exc


def load_pool(split: SplitManifest, source: str | os.PathLike[str],
              cancel: CancelToken | None = None) -> Generator[Event, None, Pool]:
    """The pool at ``source`` for a run trained on ``split`` (module docstring); ``DatasetError`` naming the
    next step when it holds no usable image."""
    path = Path(os.path.abspath(source))
    if not path.exists():
        raise DatasetError(f"The pool {display_path(path)} does not exist.", POOL_HINT)
    found = yield from _pool_dataset(split, path, cancel)
    dataset = split.dataset
    used = [dataset.items[i] for part in ("train", "val", "test") for i in split.indices(part)]
    used_paths = {_key(item.path) for item in used}
    used_content = {item.sha256 for item in used}
    index = {_key(item.path): i for i, item in enumerate(dataset.items)}
    items: list[ImageItem] = list(dataset.items)
    positions: list[int] = []
    taken: set[int] = set()
    in_split = unknown = 0
    classes = set(dataset.classes)
    for item in found.items:
        key = _key(item.path)
        if item.label not in classes:
            unknown += 1
            continue
        if key in used_paths or item.sha256 in used_content:
            in_split += 1
            continue
        if key not in index:
            index[key] = len(items)
            items.append(item)
        if index[key] not in taken:
            taken.add(index[key])
            positions.append(index[key])
    if unknown:
        yield Log(f"{unknown} pool image(s) belong to classes the run does not know: left out.", "warning")
    if in_split:
        yield Log(f"{in_split} pool image(s) are train, validation or test images of the run (the same file or "
                  "content): left out.")
    if not positions:
        raise DatasetError(f"The pool {display_path(path)} holds no image the run has not seen "
                           f"({len(found.items)} found: {in_split} of the run's split, {unknown} of unknown classes).",
                           POOL_HINT)
    pool = Pool(str(path), replace(dataset, items=tuple(items)), tuple(positions), in_split, unknown)
    counts = np.bincount(pool.labels(), minlength=len(dataset.classes))
    yield Log(f"Pool: {len(positions)} images (" + ", ".join(
        f"{c} {n}" for c, n in zip(dataset.classes, counts.tolist(), strict=True) if n) + ").")
    return pool
