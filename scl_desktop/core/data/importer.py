"""Dataset import: class folders or a CSV list become a ``DatasetManifest`` with an import report.

Sources:

* a folder of class folders, ``ROOT/<class>/...`` (nested folders inside a class are fine; a
  folder holding a single wrapper folder, such as ``UCMerced_LandUse/Images/<class>``, is
  looked through). Files with the extensions in ``imaging.SUPPORTED_EXTENSIONS`` in any letter
  case are images; hidden files and folders are ignored. A linked folder is followed only when
  it leads out of the dataset folder (a link into it, or above it, would import images twice or
  under another class's label): such links and folders that cannot be listed are reported.
* a CSV file with ``path,label[,split]`` rows (RFC 4180: ``"``-quoted cells, ``""`` inside them;
  comma, semicolon or tab between cells; an optional header row; paths relative to the CSV's
  folder or absolute; split is train, val or test).

File names that are not UTF-8 are kept exactly (Python's surrogate escapes), so the manifest
opens the same files again; reports and class names show them with ``display_path``.

Every file is read once: hashed (sha256, for duplicates and the cache key), fully decoded (so a
corrupt file is found now, not in the middle of training) and, when it is not 8-bit, sampled
for the dataset-wide percentile stretch. A bad file never aborts the import: it is listed in
the report with its reason. Images of all classes are kept in the stated class order (sorted
names unless ``class_order`` is given).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scl_desktop.core import paths
from scl_desktop.core.data import imaging
from scl_desktop.core.data.gsd import far_apart, format_gsd, item_gsd, median_gsd
from scl_desktop.core.data.manifest import (
    DatasetManifest,
    ImageItem,
    ImportReport,
    RasterSettings,
    SkippedFile,
    display_path,
)
from scl_desktop.core.errors import ConfigError, DatasetError
from scl_desktop.core.events import CancelToken, Event, Log

SAMPLE_BUDGET = 1_000_000
"""Pixels sampled over the whole dataset for the stretch statistics (bounds memory to ~24 MB)."""

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test", "testing": "test"}

_LAYOUT_HINT = ("Point at a folder with one sub-folder per class (ROOT/<class>/<image>; jpg, jpeg, png, tif, "
                "tiff, bmp or webp), or at a CSV file with path,label[,split] rows.")


@dataclass(frozen=True)
class ImportConfig:
    """What to import and how rasters become 8-bit RGB.

    ``source``: folder of class folders or CSV file. ``bands``: 1-based band numbers for R, G, B
    (one number is replicated; None = first three bands, a single band replicated). ``stretch``:
    low and high percentile for non-8-bit data. ``size``: working resolution of the decoded cache for
    every training on the dataset (None: each training chooses it, ``store_size.choose``).
    ``class_order``: classes in this order (and only these); None = sorted class names.
    ``gsd``: the images' ground resolution in metres per pixel, for images that do not say it
    (plain JPEG/PNG folders: UC Merced is 0.3 m); None = the median over the georeferenced images
    (``data.gsd``), unknown without any. Labelling warns when a scene's resolution is far from it.
    ``min_classes``: fewest classes a usable import holds (2 for training; mining's pool takes 1).
    """

    source: str | os.PathLike[str]
    bands: tuple[int, ...] | None = None
    stretch: tuple[float, float] = (2.0, 98.0)
    size: int | None = None
    class_order: tuple[str, ...] | None = None
    gsd: float | None = None
    min_classes: int = 2

    def validated(self) -> ImportConfig:
        """A copy with ``bands`` expanded to three numbers; ``ConfigError`` for values out of range."""
        bands = tuple(int(b) for b in self.bands) if self.bands else None
        if bands is not None:
            if len(bands) == 1:
                bands = bands * 3
            if len(bands) != 3 or min(bands) < 1:
                raise ConfigError(f"The band mapping {list(self.bands or ())} is not valid.",
                                  "Give three band numbers counted from 1 for red, green, blue (e.g. 3,2,1), or one.")
        lo, hi = (float(v) for v in self.stretch)
        if not 0.0 <= lo < hi <= 100.0:
            raise ConfigError(f"The stretch {lo:g}-{hi:g} % is not valid.",
                              "Give a low and a high percentile with 0 <= low < high <= 100, e.g. 2,98.")
        size = None if self.size is None else imaging.check_size(self.size)
        order = tuple(self.class_order) if self.class_order else None
        if order is not None and len(set(order)) != len(order):
            raise ConfigError("The class order names a class twice.", "List each class once.")
        gsd = self.gsd
        if gsd is not None and not (isinstance(gsd, (int, float)) and math.isfinite(gsd) and gsd > 0):
            raise ConfigError(f"The ground resolution must be a positive number of metres per pixel, not {gsd!r}.",
                              "Give e.g. --gsd 0.3 (UC Merced), or leave it out when it is not known.")
        return ImportConfig(Path(self.source).expanduser(), bands, (lo, hi), size, order,
                            None if gsd is None else float(gsd), self.min_classes)


@dataclass(frozen=True)
class _Candidate:
    path: Path
    label: str
    split: str | None = None


@dataclass(frozen=True)
class _Examined:
    item: ImageItem | None
    skipped: SkippedFile | None
    samples: np.ndarray | None = None


def import_dataset(config: ImportConfig, cancel: CancelToken | None = None) -> Generator[Event, None, DatasetManifest]:
    """Import a dataset; yields ``Progress`` (with ETA) and ``Log`` events, returns the manifest.

    The manifest is not written: the caller saves it (``DatasetManifest.save`` is atomic).
    Raises ``DatasetError`` when the source holds no usable classes, ``Cancelled`` when cancelled.
    """
    config = config.validated()
    source = Path(os.path.abspath(config.source))
    shown = display_path(source)
    if not source.exists():
        raise DatasetError(f"{shown} does not exist.", _LAYOUT_HINT)
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise DatasetError(f"{shown} is a single file, not a dataset.", _LAYOUT_HINT)
        candidates, skipped = _csv_candidates(source)
    else:
        root = _dataset_root(source)
        if root != source:
            yield Log(f"Using {display_path(root)} as the dataset folder (it holds the class folders).")
        candidates, skipped = _folder_candidates(root)
    if config.class_order is not None:
        candidates = yield from _restrict_classes(candidates, config.class_order)
    if not candidates:
        loose = sum(s.reason.startswith("not inside a class folder") for s in skipped)
        if loose:
            found = f"{shown} holds {loose} images but no class folders."
        else:
            found = f"No images found in {shown}" + (f" ({_reasons(skipped)})." if skipped else ".")
        raise DatasetError(found, _LAYOUT_HINT)

    yield Log(f"Found {len(candidates)} image files in {len({c.label for c in candidates})} classes.")
    per_image = max(1, SAMPLE_BUDGET // len(candidates))
    examined = yield from imaging.map_images(
        lambda job: _examine(job[1], job[0], config.bands, per_image), list(enumerate(candidates)),
        "Reading images", cancel,
    )

    items = [e.item for e in examined if e.item is not None]
    skipped = sorted(skipped + [e.skipped for e in examined if e.skipped is not None], key=lambda s: s.path)
    if not items:
        raise DatasetError(f"None of the {len(candidates)} image files in {shown} could be used "
                           f"({_reasons(skipped)}).", "Check the files; the import report lists every reason.")
    classes = _class_list(items, config.class_order)
    if len(classes) < config.min_classes:
        raise DatasetError(f"Only one class ({classes[0]!r}) was found in {shown}.",
                           "Classification needs at least two classes: " + _LAYOUT_HINT)
    empty = sorted({c.label for c in candidates} - set(classes))
    if empty:
        yield Log(f"No usable images in class folder(s) {', '.join(empty)}: left out.", "warning")
    rank = {c: i for i, c in enumerate(classes)}
    items.sort(key=lambda it: rank[it.label])  # stable: file order within a class

    stats = None
    samples = [e.samples for e in examined if e.samples is not None and len(e.samples)]
    if samples:
        pixels = np.concatenate(samples)
        stats = imaging.stretch_stats(pixels, config.stretch)
        lo, hi = config.stretch
        yield Log(f"Stretch {lo:g}-{hi:g} % over {len(pixels)} pixels of {len(samples)} non-8-bit images: "
                  + ", ".join(f"[{a:.6g}, {b:.6g}]" for a, b in stats))

    gsd = yield from _ground_resolution(items, config.gsd)
    counts = Counter(it.label for it in items)
    report = ImportReport(
        skipped=tuple(skipped),
        duplicates=_duplicates(items),
        small_classes=tuple(c for c in classes if counts[c] < 2),
    )
    manifest = DatasetManifest(
        source=str(source),
        classes=tuple(classes),
        items=tuple(items),
        size=config.size,
        raster=RasterSettings(bands=config.bands, stretch=config.stretch, stats=stats),
        report=report,
        gsd=gsd,
    )
    yield Log(f"Imported {len(items)} images in {len(classes)} classes; {len(skipped)} files skipped, "
              f"{len(report.duplicates)} groups of identical files, {len(report.small_classes)} classes "
              "with fewer than 2 images.", "warning" if skipped or report.small_classes else "info")
    return manifest


def _ground_resolution(items: Sequence[ImageItem], stated: float | None) -> Generator[Event, None, float | None]:
    """The dataset's ground resolution: ``stated`` (said so when the georeferenced images measure
    something far from it), else the median of the georeferenced images (logged), else ``None``."""
    measured = median_gsd(items)
    georeferenced = sum(item_gsd(i) is not None for i in items)
    if stated is not None:
        if measured is not None and far_apart(stated, measured):
            yield Log(f"The stated ground resolution ({format_gsd(stated)} per pixel) is far from the "
                      f"{format_gsd(measured)} the {georeferenced} georeferenced images measure; "
                      "the stated one is recorded.", "warning")
        return stated
    if measured is not None:
        yield Log(f"Ground resolution: {format_gsd(measured)} per pixel (median of {georeferenced} georeferenced "
                  "images); labelling warns about scenes far from it.")
    return measured


def _reasons(skipped: Sequence[SkippedFile], shown: int = 3) -> str:
    """The first ``shown`` skip reasons as "name: reason; ...", with how many more there are."""
    text = "; ".join(f"{display_path(Path(s.path).name)}: {s.reason}" for s in skipped[:shown])
    return text + (f"; and {len(skipped) - shown} more" if len(skipped) > shown else "")


def _examine(candidate: _Candidate, index: int, bands: tuple[int, ...] | None, sample_count: int) -> _Examined:
    """Hash, decode and (for non-8-bit data) sample one file; never raises for a bad file."""
    path = candidate.path

    def skip(reason: str) -> _Examined:
        return _Examined(None, SkippedFile(str(path), reason))

    try:
        stat = path.stat()
        if stat.st_size == 0:
            return skip("empty file (0 bytes)")
        data = path.read_bytes()
    except OSError as exc:
        return skip(f"unreadable ({exc.strerror or exc})")
    try:
        raw = imaging.read_raw(path, data)
        channels = imaging.select_bands(raw.data, bands, path)
    except imaging.UnreadableImage as exc:
        return skip(exc.reason)
    if raw.mask is not None and not raw.mask.any():
        return skip("empty image: every pixel is nodata, NaN or transparent")
    samples = None
    if raw.data.dtype != np.uint8:
        samples = imaging.sample_pixels(channels, raw.mask, sample_count, np.random.default_rng(index))
    item = ImageItem(
        path=str(path), label=candidate.label, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns,
        sha256=hashlib.sha256(data).hexdigest(), width=raw.width, height=raw.height, bands=raw.bands,
        dtype=raw.dtype, split=candidate.split, crs=raw.crs, bounds=raw.bounds,
    )
    return _Examined(item, None, samples)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in ("thumbs.db", "desktop.ini", "__macosx")


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in imaging.SUPPORTED_EXTENSIONS


def _dataset_root(folder: Path) -> Path:
    """Look through wrapper folders: descend while a folder holds exactly one sub-folder and no images."""
    seen: set[str] = set()
    while os.path.realpath(folder) not in seen:
        seen.add(os.path.realpath(folder))
        try:
            entries = [e for e in folder.iterdir() if not _hidden(e.name)]
        except OSError as exc:
            raise DatasetError(f"Cannot list {display_path(folder)} ({exc.strerror or exc}).",
                               "Check that you may read it.") from exc
        subfolders = [e for e in entries if e.is_dir()]
        if len(subfolders) != 1 or any(e.is_file() and _is_image_name(e) for e in entries):
            return folder
        inner = subfolders[0]
        try:
            if not any(e.is_dir() and not _hidden(e.name) for e in inner.iterdir()):
                return folder  # a single class folder: nothing to look through
        except OSError:
            return folder  # an unreadable single class folder: the walk reports it
        folder = inner
    return folder


def _folder_candidates(root: Path) -> tuple[list[_Candidate], list[SkippedFile]]:
    """Image files below each class folder of ``root``; files that cannot be candidates are reported."""
    candidates: list[_Candidate] = []
    skipped: list[SkippedFile] = []
    dataset = os.path.realpath(root)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            if entry.is_symlink() and (problem := _link_problem(entry, dataset)) is not None:
                skipped.append(SkippedFile(str(entry), problem))
                continue
            label = display_path(entry.name)
            for path in _walk_files(entry, dataset, skipped):
                if _is_image_name(path):
                    candidates.append(_Candidate(path, label))
                else:
                    skipped.append(SkippedFile(str(path), f"not an image file type ({path.suffix or 'no extension'})"))
        elif _is_image_name(entry):
            skipped.append(SkippedFile(str(entry), "not inside a class folder (put it in ROOT/<class>/)"))
    return candidates, skipped


def _link_problem(link: Path, dataset: str) -> str | None:
    """Why the folder link ``link`` is not followed (it leads into or above the dataset folder), or None."""
    target = os.path.realpath(link)
    try:
        common = os.path.commonpath([target, dataset])
    except ValueError:  # on another drive
        return None
    if common in (target, dataset):
        return (f"link to {display_path(target)}, inside or above the dataset folder: not followed, so that no "
                "image is imported twice or under another class")
    return None


def _walk_files(folder: Path, dataset: str, skipped: list[SkippedFile]) -> list[Path]:
    """Every non-hidden file below the class folder ``folder``, in sorted order (files before sub-folders).

    Linked folders are followed once each, unless ``_link_problem`` says why not; those links and
    folders that cannot be listed are added to ``skipped``.
    """
    found: list[Path] = []
    followed = {os.path.realpath(folder)}
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted((e for e in listing if not _hidden(e.name)), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(SkippedFile(str(current), f"folder cannot be listed ({exc.strerror or exc}): "
                                                     "the images in it are left out"))
            continue
        subfolders = []
        for entry in entries:
            path = current / entry.name
            if not _is_folder(entry):
                found.append(path)
            elif not entry.is_symlink():
                subfolders.append(path)
            elif (problem := _link_problem(path, dataset)) is not None:
                skipped.append(SkippedFile(str(path), problem))
            elif os.path.realpath(path) in followed:
                skipped.append(SkippedFile(str(path), "link to a folder already walked: not followed again"))
            else:
                followed.add(os.path.realpath(path))
                subfolders.append(path)
        stack.extend(reversed(subfolders))
    return found


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _csv_candidates(csv_path: Path) -> tuple[list[_Candidate], list[SkippedFile]]:
    """Rows of a ``path,label[,split]`` CSV; bad rows and missing files are reported, not fatal.

    The text is UTF-8; other bytes are kept as surrogate escapes, so a path listed with the raw
    bytes of a file name that is not UTF-8 names that file.
    """
    try:
        text = csv_path.read_bytes().decode("utf-8-sig", "surrogateescape")
    except OSError as exc:
        raise DatasetError(f"Cannot read the CSV file {display_path(csv_path)} ({exc.strerror or exc}).",
                           "Check that the file exists and that you may read it.") from exc
    rows = _csv_rows(text)
    if rows and rows[0][1] and rows[0][1][0].strip().lower() in ("path", "file", "filename", "image"):
        rows[0] = (rows[0][0], [])  # header row
    candidates: list[_Candidate] = []
    skipped: list[SkippedFile] = []
    listed: set[Path] = set()
    for lineno, row in rows:
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            skipped.append(SkippedFile(f"{csv_path}:{lineno}", f"CSV line {lineno} needs a path and a label"))
            continue
        path = Path(os.path.normpath(csv_path.parent / Path(cells[0]).expanduser()))
        split = cells[2].lower() if len(cells) > 2 and cells[2] else None
        if split is not None and split not in SPLIT_NAMES:
            skipped.append(SkippedFile(str(path), f"CSV line {lineno}: unknown split {cells[2]!r} (use train, val or test)"))
        elif not path.is_file():
            skipped.append(SkippedFile(str(path), f"file not found (CSV line {lineno})"))
        elif path in listed:
            skipped.append(SkippedFile(str(path), f"listed twice in the CSV (again on line {lineno})"))
        else:
            listed.add(path)
            candidates.append(_Candidate(path, display_path(cells[1]), SPLIT_NAMES[split] if split else None))
    return candidates, skipped


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of RFC 4180 ``text``, split at the delimiter (comma, semicolon or tab)
    that gives the most rows of 2 or 3 cells (ties: in that order).

    Quoting is fixed (``"``, doubled inside a cell) rather than guessed: ``csv.Sniffer``
    guesses it wrong for some files, which silently merges or splits rows.
    """
    best: list[tuple[int, list[str]]] = []
    best_score = -1
    for delimiter in (",", ";", "\t"):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
        try:
            rows = [(reader.line_num, row) for row in reader]
        except csv.Error:
            continue
        score = sum(2 <= len(row) <= 3 for _, row in rows)
        if score > best_score:
            best, best_score = rows, score
    return best


def _restrict_classes(candidates: list[_Candidate], order: Sequence[str]) -> Generator[Event, None, list[_Candidate]]:
    """Keep only the classes of ``order``; ``DatasetError`` when it names a class that is not there."""
    found = {c.label for c in candidates}
    unknown = [c for c in order if c not in found]
    if unknown:
        raise DatasetError(f"The class order names classes that are not in the dataset: {', '.join(unknown)}.",
                           f"Choose among: {', '.join(sorted(found))}.")
    left_out = sorted(found - set(order))
    if left_out:
        yield Log(f"Classes not in the class order are left out: {', '.join(left_out)}.", "warning")
    wanted = set(order)
    return [c for c in candidates if c.label in wanted]


def _class_list(items: Sequence[ImageItem], order: Sequence[str] | None) -> list[str]:
    present = {it.label for it in items}
    if order is not None:
        return [c for c in order if c in present]
    return sorted(present)


def _duplicates(items: Sequence[ImageItem]) -> tuple[tuple[str, ...], ...]:
    """Groups (2 or more) of items whose files have identical content."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    for it in items:
        by_hash[it.sha256].append(it.path)
    return tuple(sorted(tuple(sorted(g)) for g in by_hash.values() if len(g) > 1))


def default_manifest_path(manifest: DatasetManifest) -> Path:
    """Where a manifest is saved when no path is given: ``<data dir>/datasets/<source name>.json``.

    A different source with the same name gets a short suffix so it does not overwrite it.
    """
    source = Path(manifest.source)
    stem = source.stem if source.is_file() else source.name
    name = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "dataset"
    folder = paths.data_dir() / "datasets"
    target = folder / f"{name}.json"
    if target.exists():
        try:
            same = DatasetManifest.load(target).source == manifest.source
        except Exception:  # an unreadable old file is simply replaced
            same = True
        if not same:
            target = folder / f"{name}-{hashlib.sha256(os.fsencode(manifest.source)).hexdigest()[:6]}.json"
    return target
