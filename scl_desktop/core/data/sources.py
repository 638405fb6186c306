"""What a user may name as a dataset: a folder of class folders (or GeoTIFF tiles), a dataset
manifest from `scl import`, or a split manifest (its dataset). One function reads them all."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

from scl_desktop.core.atomic import read_json
from scl_desktop.core.data.importer import ImportConfig, default_manifest_path, import_dataset
from scl_desktop.core.data.manifest import DatasetManifest
from scl_desktop.core.errors import DatasetError
from scl_desktop.core.events import CancelToken, Event, Log


def load_dataset_source(source: str | os.PathLike[str], cancel: CancelToken | None = None,
                        keep: Path | None = None) -> Generator[Event, None, tuple[DatasetManifest, Path]]:
    """The dataset named by ``source`` and the manifest path that stands for it.

    A folder is imported; with ``keep`` its manifest is saved there, and a manifest kept there
    earlier for the same folder is reused (so a resumed job sees exactly the same images).
    Without ``keep`` the path is where `scl import` would save it. A JSON file is a dataset
    manifest or a split manifest (whose dataset is returned, with the JSON's own path).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        if keep is not None and keep.is_file():
            dataset = DatasetManifest.load(keep)
            if dataset.source == os.path.abspath(path):
                yield Log(f"Using the dataset imported earlier ({keep}).")
                return dataset, keep
        dataset = yield from import_dataset(ImportConfig(source=path), cancel)
        if keep is None:
            return dataset, default_manifest_path(dataset)
        dataset.save(keep)
        return dataset, keep
    if not path.is_file():
        raise DatasetError(f"{path} does not exist.",
                           "Pass a folder of class folders, a dataset manifest from `scl import` or a split JSON.")
    data = read_json(path)
    if isinstance(data, dict) and data.get("kind") == "scl-split":
        data = data.get("dataset")
    if not isinstance(data, dict) or data.get("kind") != "scl-dataset":
        raise DatasetError(f"{path} is neither a dataset nor a split manifest.",
                           "Pass a folder of class folders, or a JSON written by `scl import` or `scl split`.")
    return DatasetManifest.from_json(data), path
