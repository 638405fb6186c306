"""Warnings about labels not to trust: imagery at another scale than the training data, and a model
trained on the synthetic demo data labelling real imagery. ``label.label_with_model`` logs them.

**Ground resolution.** Every window (or image labelled whole) is resized to the model's working
size, as the training images were, so what matters is the ground it covers against the ground a
training image covers (the training images' median side x the training data's ground resolution,
``data.gsd.dataset_gsd``). When the two are more than a factor 2 apart (``gsd.FAR_FACTOR``), the
model sees objects at a scale it never learned and the input is named in a warning with both
pixel sizes and what to do. With windows of the training image size in pixels (the default)
this is exactly "the pixel sizes are more than a factor 2 apart"; windows given in metres that
cover the training images' ground (``--tile-m``) label such a scene at the right scale, and
then nothing is said. Inputs without georeference, or a training data resolution that is not
known (plain JPEG/PNG folders imported without ``--gsd``), are not compared.

**Demo model.** A model of a run whose dataset is the built-in demo data (``demo.demo_data_of``)
learned synthetic patterns: labelling anything but the demo's own images gives one warning per job.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scl_desktop.core.data.demo import is_demo_file
from scl_desktop.core.data.gsd import FAR_FACTOR, far_apart, format_gsd, format_number, transform_gsd
from scl_desktop.core.data.manifest import display_path
from scl_desktop.core.labelling.geometry import crs_object
from scl_desktop.core.labelling.tiling import LabelInput

MAX_SCALE_WARNINGS = 5
"""Inputs named one by one; the rest are counted in one more warning."""


def _projected(crs: str) -> bool:
    try:
        return not crs_object(crs).is_geographic
    except Exception:  # noqa: BLE001 - an unreadable CRS: metres cannot be given for it either
        return False


def scale_warning(inp: LabelInput, training_gsd: float, training_tile: int) -> str | None:
    """Why ``inp``'s labels are at the wrong scale (see the module docstring), or ``None``."""
    gsd = transform_gsd(inp.crs, inp.transform, inp.width, inp.height)
    if gsd is None:
        return None
    side = (inp.grid.tile_w + inp.grid.tile_h) / 2 if inp.grid is not None else (inp.width + inp.height) / 2
    ground, training_ground = side * gsd, training_tile * training_gsd
    if not far_apart(ground, training_ground):
        return None
    ratio = ground / training_ground
    objects = (f"{format_number(ratio)} times smaller" if ratio > 1 else f"{format_number(1 / ratio)} times larger")
    what = (f"its windows of {inp.grid.tile_w} px cover {format_gsd(ground)}" if inp.grid is not None
            else f"labelled whole, its {inp.width} x {inp.height} px cover {format_gsd(ground)}")
    metres = format_number(training_ground)
    windows = (f"windows in metres, --tile-m {metres} (Label page: Units metres, Window {metres} m)"
               if _projected(inp.crs or "") else f"windows of --tile {max(1, round(training_ground / gsd))} px")
    how = f"label it with {windows}" if inp.grid is not None else f"cut it (--grid; Label page: Mode grid) into {windows}"
    return (f"{display_path(inp.path)} has {format_gsd(gsd)} per pixel, the training images {format_gsd(training_gsd)}: "
            f"{what} where a training image covers {format_gsd(training_ground)} (more than a factor "
            f"{FAR_FACTOR:g} apart), so the model sees objects {objects} than it learned them and its labels are "
            f"unreliable. Resample the image to about {format_gsd(training_gsd)} per pixel, or {how}.")


def scale_warnings(inputs: Sequence[LabelInput], training_gsd: float | None, training_tile: int) -> list[str]:
    """:func:`scale_warning` of every input that has one (at most ``MAX_SCALE_WARNINGS``, then a count)."""
    if training_gsd is None:
        return []
    found = [w for w in (scale_warning(i, training_gsd, training_tile) for i in inputs) if w is not None]
    if len(found) <= MAX_SCALE_WARNINGS:
        return found
    return [*found[:MAX_SCALE_WARNINGS],
            f"{len(found) - MAX_SCALE_WARNINGS} more input(s) differ from the training data's ground resolution "
            f"({format_gsd(training_gsd)} per pixel) by more than a factor {FAR_FACTOR:g} as well."]


def demo_warning(inputs: Sequence[LabelInput], demo_data: Path | None) -> str | None:
    """The warning for a model trained on the demo data (``demo_data``: its folder; ``None``: not the demo)
    labelling inputs that are not the demo's own images, or ``None``."""
    if demo_data is None:
        return None
    real = [i for i in inputs if not is_demo_file(i.path, demo_data)]
    if not real:
        return None
    others = f" and {len(real) - 1} other input(s)" if len(real) > 1 else ""
    return (f"This model was trained on the built-in demo data, which is synthetic (patterns drawn by a program, "
            f"not aerial imagery): its labels of {display_path(real[0].path)}{others} mean nothing. Train on your own "
            "data first: import it (`scl import FOLDER`, or drop it on the Dataset page), split it and train a run.")
