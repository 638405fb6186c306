"""The side of the decoded image store: given, or chosen from the images and the training views.

The store holds every image once as an ``S x S`` uint8 square (``cache.build_store``). When no
size is given (neither the training's ``store_size`` nor a working size at import), ``S`` is the
smallest of three bounds:

* **native**: the images' own size, so that no typical image is upsampled: the 5th percentile of
  the images' shorter sides (a robust minimum: one odd thumbnail does not shrink the store for
  all). The few images below it (at most 5 %) are upsampled to ``S``, as every image was before.
* **views**: what the training views need. A random crop of the smallest allowed area
  ``crop_scale[0]`` of the image, resized to ``image_size``, is never upsampled when
  ``S = ceil(image_size / sqrt(crop_scale[0]))`` (144 px for 64 px views cropped down to 20 %,
  501 px for 224 px views); without random crops the views are the whole image: ``S = image_size``.
* **cap**: ``MAX_STORE_SIZE`` (512 px), for memory: the store costs ``N * S * S * 3`` bytes on
  disk, memory-mapped (the OS keeps in RAM what fits). AID's 10,000 images of 600 px take
  7.0 GiB at 501 px (224 px views), 0.58 GiB at 144 px (64 px views), 1.8 GiB at 256 px.

So a dataset of 150 px images is stored at 150 px (not upsampled to 256), a dataset of 600 px
images at what the views can use. Stage 2 and labelling use the store size of their run
(recorded at its creation, ``Run.store_size``), so all stages of a run see the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from scl_desktop.core.data.manifest import DatasetManifest
from scl_desktop.core.model.settings import AugmentConfig

MAX_STORE_SIZE = 512
"""Largest side chosen automatically, in pixels (an explicit size may be larger)."""

NATIVE_PERCENTILE = 5
"""Percentile of the images' shorter sides taken as the dataset's native size."""


@dataclass(frozen=True)
class StoreSize:
    """A store side in pixels and the sentence saying why."""

    size: int
    reason: str


def native_size(dataset: DatasetManifest) -> int:
    """The dataset's native side: the ``NATIVE_PERCENTILE``-th percentile of the images' shorter sides."""
    sides = np.array([min(item.width, item.height) for item in dataset.items], dtype=np.int64)
    return int(np.percentile(sides, NATIVE_PERCENTILE, method="lower"))


def views_size(image_size: int, crop: bool, crop_low: float) -> int:
    """The side from which a crop of ``crop_low`` of the area, resized to ``image_size``, is not upsampled."""
    return math.ceil(image_size / math.sqrt(crop_low) - 1e-9) if crop else int(image_size)


def choose(dataset: DatasetManifest, image_size: int, crop: bool, crop_low: float,
           explicit: int | None = None) -> StoreSize:
    """The store side for views of ``image_size`` px (random crops of at least ``crop_low`` of the area when
    ``crop``): ``explicit`` when given, else the dataset's working size from import when it has one, else
    the smallest of the native, views and cap bounds (module docstring)."""
    if explicit:
        return StoreSize(int(explicit), f"{explicit} px, the store size set for this run")
    if dataset.size:
        return StoreSize(int(dataset.size), f"{dataset.size} px, the working size given at import")
    native, views = native_size(dataset), views_size(image_size, crop, crop_low)
    size = min(native, views, MAX_STORE_SIZE)
    need = (f"{image_size} px views cropped down to {crop_low:.0%} of the area need {views} px" if crop
            else f"{image_size} px views of whole images need {views} px")
    have = f"the images are {native} px ({NATIVE_PERCENTILE}th percentile of their shorter sides)"
    if size == native and native < views:
        why = f"{size} px, the images' native size: {need}, but {have} and are not upsampled"
    elif size == views:
        why = f"{size} px: {need}; {have}"
    else:
        why = f"{size} px, the largest size chosen automatically: {need}; {have}"
    smaller = sum(min(item.width, item.height) < size for item in dataset.items)
    if smaller:
        why += f"; {smaller} smaller image(s) are upsampled to it"
    return StoreSize(size, why)


def for_settings(dataset: DatasetManifest, settings: Mapping[str, Any]) -> StoreSize | None:
    """``choose`` for a training configuration as JSON (``ImageModelSettings.to_json()``, a run's config.json);
    ``None`` for settings without views (no ``image_size``)."""
    if not settings.get("image_size"):
        return None
    augment = AugmentConfig.from_json(settings.get("augment") or {})
    return choose(dataset, int(settings["image_size"]), augment.crop, augment.crop_scale[0], settings.get("store_size"))
