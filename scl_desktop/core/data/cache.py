"""Decode-once cache: every image of a dataset decoded once to uint8 at a working resolution.

The resolution is the caller's (a training's choice: ``store_size.choose``); stores of one
dataset at different sizes live side by side.

A store is one folder ``<cache dir>/stores/<key>/`` holding ``images.npy`` (``N x S x S x 3``
uint8, opened memory-mapped) and ``meta.json``. The key is a hash of every file's identity
(path, size, modification time, sha256), the band mapping, the stretch statistics and the size,
so any change to those gives a new store. A store is built in a temporary folder and renamed
into place only when complete: an interrupted build never leaves a store that is later trusted.
Loading batches from a store reads the memory map only; no image file is decoded.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scl_desktop.core import paths
from scl_desktop.core.atomic import write_json
from scl_desktop.core.data import imaging
from scl_desktop.core.data.manifest import DatasetManifest, display_path
from scl_desktop.core.errors import DatasetError, DiskFullError, ImageReadError
from scl_desktop.core.events import CancelToken, Event, Log

if TYPE_CHECKING:
    import torch

STORE_FORMAT = 1
"""Bump when the decoding (resize method, layout) changes, so old stores are not reused."""

_STALE_TMP_S = 24 * 3600
_DISK_RESERVE = 64 << 20
"""Bytes left free on the cache disk after a store is allocated (for the manifest, logs, the OS)."""


def stores_dir() -> Path:
    """Folder holding one sub-folder per decoded store (safe to delete)."""
    path = paths.cache_dir() / "stores"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_key(dataset: DatasetManifest, size: int) -> str:
    """Content key of the store for ``dataset`` at ``size``: file identities, raster settings, size."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": STORE_FORMAT, "size": size, "raster": dataset.raster.to_json()},
                        sort_keys=True).encode())
    for item in dataset.items:
        h.update(f"{item.path}\0{item.size_bytes}\0{item.mtime_ns}\0{item.sha256}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def verify_files(dataset: DatasetManifest) -> None:
    """Check (by size and modification time) that every file is as it was at import.

    Raises ``DatasetError`` naming the files that vanished or changed, with the hint to re-import.
    """
    problems = []
    for item in dataset.items:
        try:
            stat = os.stat(item.path)
        except OSError:
            problems.append(f"{display_path(item.path)} (missing)")
            continue
        if stat.st_size != item.size_bytes or stat.st_mtime_ns != item.mtime_ns:
            problems.append(f"{display_path(item.path)} (changed)")
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise DatasetError(
            f"{len(problems)} of the {len(dataset.items)} images vanished or changed since the dataset was "
            f"imported: {', '.join(problems[:5])}{more}.",
            f"Re-import the dataset (`scl import {display_path(dataset.source)}`) so that its manifest matches the files.",
        )


@dataclass(frozen=True, eq=False)
class DecodedStore:
    """Decoded images of a dataset: ``images`` is a read-only memory map ``N x S x S x 3`` uint8."""

    path: Path
    key: str
    images: np.ndarray

    @property
    def size(self) -> int:
        """Working resolution (pixels per side)."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.images.nbytes)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        """Pickle as the folder (worker processes re-open the memory map; no pixels are copied)."""
        return (_reopen, (str(self.path), self.key))

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Images ``indices`` as a contiguous uint8 tensor ``B x 3 x S x S`` (ready for ``pin_memory``)."""
        import torch

        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return torch.from_numpy(np.asarray(self.images[idx])).permute(0, 3, 1, 2).contiguous()


def _reopen(path: str, key: str) -> DecodedStore:
    return DecodedStore(path=Path(path), key=key, images=np.load(Path(path) / "images.npy", mmap_mode="r"))


def _open_folder(folder: Path, key: str, count: int, size: int) -> DecodedStore | None:
    """The complete store in ``folder`` if it matches; None when absent, incomplete or foreign."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != STORE_FORMAT or meta.get("key") != key:
            return None
        images = np.load(folder / "images.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    if images.dtype != np.uint8 or images.shape != (count, size, size, 3):
        return None
    return DecodedStore(path=folder, key=key, images=images)


def _size(dataset: DatasetManifest, size: int | None) -> int:
    """``size``, else the dataset's working size from import; ``ValueError`` when there is neither."""
    if not (size or dataset.size):
        raise ValueError("the store size must be given for a dataset imported without a working size")
    return imaging.check_size(size or dataset.size)


def open_store(dataset: DatasetManifest, size: int | None = None) -> DecodedStore | None:
    """The cached store of ``dataset`` at ``size`` (default ``dataset.size``), or None if not built.

    Raises ``DatasetError`` when files vanished or changed since import.
    """
    size = _size(dataset, size)
    verify_files(dataset)
    key = store_key(dataset, size)
    return _open_folder(stores_dir() / key, key, len(dataset.items), size)


def build_store(
    dataset: DatasetManifest,
    size: int | None = None,
    cancel: CancelToken | None = None,
    workers: int | None = None,
) -> Generator[Event, None, DecodedStore]:
    """Return the store of ``dataset`` at ``size``, decoding every image once if it is not cached.

    Yields ``Progress`` (with ETA) while decoding in a thread pool of ``workers`` threads.
    Raises ``DatasetError`` when a file vanished, changed or became unreadable since import,
    ``DiskFullError`` when the cache disk is too small, ``Cancelled`` when cancelled (nothing is
    left behind).
    """
    size = _size(dataset, size)
    store = open_store(dataset, size)
    if store is not None:
        yield Log(f"Using decoded images from the cache ({store.path}).")
        return store
    key = store_key(dataset, size)
    final = stores_dir() / key
    shutil.rmtree(final, ignore_errors=True)  # an incomplete or foreign folder under this key
    _remove_stale_builds()
    count = len(dataset.items)
    tmp = stores_dir() / f"{key}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        images = _allocate(tmp / "images.npy", (count, size, size, 3))
        started = time.perf_counter()
        decode = functools.partial(_decode_into, images, dataset, size)
        yield from imaging.map_images(decode, range(count), "Decoding images", cancel, workers)
        images.flush()
        del images, decode  # release the memory map before the folder is renamed
        write_json(tmp / "meta.json", {
            "format": STORE_FORMAT, "key": key, "count": count, "size": size, "source": dataset.source,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "decode_s": round(time.perf_counter() - started, 3),
        })
        try:
            os.rename(tmp, final)
        except OSError:
            pass  # another process finished the same store first; use it when complete
        store = _open_folder(final, key, count, size)
        if store is None:
            raise DatasetError(f"The decoded-image cache {final} could not be completed.",
                               f"Check that {stores_dir()} is writable, then try again.")
        yield Log(f"Decoded {count} images at {size} px into the cache ({final}).")
        return store
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _decode_into(images: np.ndarray, dataset: DatasetManifest, size: int, index: int) -> None:
    """Decode item ``index`` of ``dataset`` into row ``index`` of ``images``."""
    item = dataset.items[index]
    try:
        images[index] = imaging.read_rgb(item.path, dataset.raster, size)
    except ImageReadError as exc:
        reason = getattr(exc, "reason", str(exc))
        raise DatasetError(f"{display_path(item.path)} cannot be decoded any more ({reason}).",
                           f"Re-import the dataset (`scl import {display_path(dataset.source)}`).") from exc


def _allocate(path: Path, shape: tuple[int, ...]) -> Any:
    """Create the ``.npy`` memory map with its disk space reserved (a full disk fails here, not later)."""
    needed = int(np.prod(shape))
    free = shutil.disk_usage(path.parent).free
    if needed + _DISK_RESERVE > free:
        raise DiskFullError(
            f"The decoded-image cache needs {_amount(needed)}, and {_amount(_DISK_RESERVE)} is kept free besides, "
            f"but {path.parent} has {_amount(free)} free.",
            "Free some disk space, choose a smaller store size (--store-size), or point SCL_HOME at a larger disk.",
        )
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    if hasattr(os, "posix_fallocate"):
        with open(path, "r+b") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DiskFullError(f"The disk holding {path.parent} is full.",
                                        "Free some disk space or choose a smaller store size (--store-size).") from exc
    return images


def _amount(size: int) -> str:
    """A byte count in GiB (2 decimals) from 1 GiB up, else in MiB (1 decimal)."""
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def _remove_stale_builds() -> None:
    """Delete temporary build folders left by processes that were killed (older than a day)."""
    cutoff = time.time() - _STALE_TMP_S
    for folder in stores_dir().glob("*.tmp-*"):
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
