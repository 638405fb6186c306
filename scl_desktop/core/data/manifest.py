"""Dataset and split manifests: the JSON artifacts that import and split produce.

A ``DatasetManifest`` lists every usable image with its label and file identity, the raster
settings (band mapping, stretch statistics) that turn it into 8-bit RGB, and the import
report. A ``SplitManifest`` embeds the dataset manifest and says which items are train,
validation and test, and which classes are majority or minority.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scl_desktop import __version__
from scl_desktop.core.atomic import read_json, write_json
from scl_desktop.core.errors import DatasetError

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class RasterSettings:
    """How raster bands become the 3 input channels.

    ``bands``: 1-based band indices for R, G, B; ``None`` means the first three (a single band
    replicated). ``stretch``: low and high percentiles. ``stats``: per output channel the
    (low, high) values of those percentiles computed over the whole dataset; ``None`` for
    plain 8-bit images, which are not stretched.
    """

    bands: tuple[int, ...] | None = None
    stretch: tuple[float, float] = (2.0, 98.0)
    stats: tuple[tuple[float, float], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands) if self.bands else None,
            "stretch": list(self.stretch),
            "stats": [list(s) for s in self.stats] if self.stats else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RasterSettings:
        return cls(
            bands=tuple(d["bands"]) if d.get("bands") else None,
            stretch=tuple(d.get("stretch", (2.0, 98.0))),  # type: ignore[arg-type]
            stats=tuple(tuple(s) for s in d["stats"]) if d.get("stats") else None,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class ImageItem:
    """One image: absolute ``path``, class ``label``, file identity and raster facts.

    ``split`` is set only when a CSV manifest named one. ``crs`` (WKT or "EPSG:n") and
    ``bounds`` (minx, miny, maxx, maxy in that CRS) are set for georeferenced rasters.
    """

    path: str
    label: str
    size_bytes: int
    mtime_ns: int
    sha256: str
    width: int
    height: int
    bands: int
    dtype: str
    split: str | None = None
    crs: str | None = None
    bounds: tuple[float, float, float, float] | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImageItem:
        d = dict(d)
        if d.get("bounds") is not None:
            d["bounds"] = tuple(d["bounds"])
        return cls(**d)


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: bytes of a file name that are not UTF-8 shown as ``\\xNN``.

    Paths themselves keep such bytes as Python's surrogate escapes, so they open the same file;
    JSON keeps them as ``\\udcNN`` escapes (``atomic.write_json``).
    """
    text = os.fspath(path)
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # lone surrogates that are not escaped bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class SkippedFile:
    """A file import did not use, and why (a sentence a user understands)."""

    path: str
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """What import found besides the usable images."""

    skipped: tuple[SkippedFile, ...] = ()
    duplicates: tuple[tuple[str, ...], ...] = ()
    small_classes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "skipped": [asdict(s) for s in self.skipped],
            "duplicates": [list(group) for group in self.duplicates],
            "small_classes": list(self.small_classes),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImportReport:
        return cls(
            skipped=tuple(SkippedFile(**s) for s in d.get("skipped", [])),
            duplicates=tuple(tuple(g) for g in d.get("duplicates", [])),
            small_classes=tuple(d.get("small_classes", [])),
        )


@dataclass(frozen=True)
class DatasetManifest:
    """The result of import: classes (in their stated order), items, raster settings, report.

    ``size``: the working resolution (pixels per side) given at import, which every training on
    this dataset decodes the images to; ``None`` (the default): each training chooses it from the
    images' native size and its views (``store_size.choose``). Manifests written before the
    choice existed say 256, the import default then, and keep it. ``gsd``: the images' ground
    resolution in metres per pixel, stated at import (``scl import --gsd``) or the median over its
    georeferenced images; ``None`` when unknown (plain JPEG/PNG folders, and manifests written
    before it was recorded: ``gsd.dataset_gsd`` measures those from their items).
    """

    source: str
    classes: tuple[str, ...]
    items: tuple[ImageItem, ...]
    size: int | None = None
    raster: RasterSettings = field(default_factory=RasterSettings)
    report: ImportReport = field(default_factory=ImportReport)
    version: str = __version__
    gsd: float | None = None

    def counts(self) -> dict[str, int]:
        """Images per class, in class order."""
        out = {c: 0 for c in self.classes}
        for item in self.items:
            out[item.label] += 1
        return out

    def labels(self) -> list[int]:
        """Class index of every item."""
        index = {c: i for i, c in enumerate(self.classes)}
        return [index[item.label] for item in self.items]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "scl-dataset",
            "manifest_version": MANIFEST_VERSION,
            "version": self.version,
            "source": self.source,
            "classes": list(self.classes),
            "size": self.size,
            "gsd": self.gsd,
            "raster": self.raster.to_json(),
            "report": self.report.to_json(),
            "items": [asdict(i) for i in self.items],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DatasetManifest:
        if not isinstance(d, dict) or d.get("kind") != "scl-dataset":
            raise DatasetError("This JSON file is not a dataset manifest.", "Create one with `scl import FOLDER`.")
        size = d.get("size", 256)  # a manifest without the key predates the automatic choice: 256 then
        return cls(
            source=d["source"],
            classes=tuple(d["classes"]),
            items=tuple(ImageItem.from_json(i) for i in d["items"]),
            size=None if size is None else int(size),
            raster=RasterSettings.from_json(d.get("raster", {})),
            report=ImportReport.from_json(d.get("report", {})),
            version=d.get("version", "unknown"),
            gsd=None if d.get("gsd") is None else float(d["gsd"]),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically as JSON."""
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DatasetManifest:
        """Read a manifest written by ``save``."""
        return cls.from_json(read_json(path))


MAJORITY = "majority"
MINORITY = "minority"


@dataclass(frozen=True)
class SplitManifest:
    """Which dataset items are train / val / test (indices into ``dataset.items``) and class roles.

    ``protocol`` is "ci" (the paper's imbalance protocol) or "stratified"; ``config`` holds the
    options that built it and ``seed`` its seed, so the split can be rebuilt exactly.
    """

    dataset: DatasetManifest
    protocol: str
    seed: int
    config: dict[str, Any]
    roles: dict[str, str]
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    version: str = __version__

    @property
    def classes(self) -> tuple[str, ...]:
        return self.dataset.classes

    def indices(self, part: str) -> tuple[int, ...]:
        """Item indices of "train", "val" or "test"."""
        if part not in ("train", "val", "test"):
            raise ValueError(f"unknown split part {part!r}")
        return getattr(self, part)

    def labels(self, part: str) -> list[int]:
        """Class index of each item of ``part``."""
        all_labels = self.dataset.labels()
        return [all_labels[i] for i in self.indices(part)]

    def counts(self, part: str) -> dict[str, int]:
        """Images per class in ``part``, in class order."""
        out = {c: 0 for c in self.classes}
        for i in self.indices(part):
            out[self.dataset.items[i].label] += 1
        return out

    def fingerprint(self, parts: tuple[str, ...] = ("train", "test")) -> str:
        """A short hash of the dataset source, the classes and the images of ``parts``.

        Two splits with the same (default) fingerprint train and are scored on the same images, so
        their results can be compared (the validation part only steers curves); ``parts=("test",)``
        compares test sets only.
        """
        digest = hashlib.sha256(json.dumps([self.dataset.source, list(self.classes)]).encode())
        for part in parts:
            paths = sorted(str(self.dataset.items[i].path) for i in self.indices(part))
            digest.update(json.dumps([part, paths], ensure_ascii=False).encode("utf-8", "surrogateescape"))
        return digest.hexdigest()[:16]

    def majority_classes(self) -> list[str]:
        return [c for c in self.classes if self.roles.get(c) == MAJORITY]

    def minority_classes(self) -> list[str]:
        return [c for c in self.classes if self.roles.get(c) == MINORITY]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "scl-split",
            "manifest_version": MANIFEST_VERSION,
            "version": self.version,
            "protocol": self.protocol,
            "seed": self.seed,
            "config": self.config,
            "roles": self.roles,
            "counts": {p: self.counts(p) for p in ("train", "val", "test")},
            "train": list(self.train),
            "val": list(self.val),
            "test": list(self.test),
            "dataset": self.dataset.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SplitManifest:
        if not isinstance(d, dict) or d.get("kind") != "scl-split":
            raise DatasetError("This JSON file is not a split manifest.", "Create one with `scl split MANIFEST`.")
        return cls(
            dataset=DatasetManifest.from_json(d["dataset"]),
            protocol=d["protocol"],
            seed=int(d["seed"]),
            config=dict(d.get("config", {})),
            roles=dict(d["roles"]),
            train=tuple(d["train"]),
            val=tuple(d.get("val", [])),
            test=tuple(d["test"]),
            version=d.get("version", "unknown"),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically as JSON."""
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SplitManifest:
        """Read a split written by ``save``."""
        return cls.from_json(read_json(path))
