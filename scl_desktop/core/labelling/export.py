"""GIS-ready exports of labelling results: CSV, GeoJSON (WGS84, RFC 7946), classification GeoTIFF.

* **CSV**: one row per image or window (columns ``types.CSV_FIELDS``). Text cells that a
  spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR: class
  or file names) get a leading ``'``; numbers never do. File names that are not valid UTF-8 are
  written with ``\\xNN`` for the bytes that are not (``data.manifest.display_path``). The file is
  UTF-8 with a byte-order mark (``CSV_ENCODING``) so that spreadsheet programs show non-ASCII
  class and file names as they are; ``csv_bom=False`` leaves the mark out (plain UTF-8).
* **GeoJSON**: one Feature per row of an input with WGS84 coordinates, its window footprint as a
  Polygon in WGS84 longitude/latitude (RFC 7946: no ``crs`` member, exterior ring
  counter-clockwise), with the CSV columns as properties. Rows without georeference, or of a
  scene whose CRS cannot be transformed to WGS84 (``LabelInput.wgs84_problem``), have no
  footprint and are left out; the report says so.
* **Classification GeoTIFF** per scene cut into windows: one pixel per cell of the scene's cell
  grid (``tiling.SceneGrid``: ceil(scene / stride) cells, the raster's bounds exactly the
  scene's, each cell the mean probabilities of the windows covering its centre), uint8 class
  index, nodata 255 (no labelled window covers the cell), a colour table, the scene's CRS.
  Class names go into a ``.aux.xml`` beside it (GDAL category names, which ``gdalinfo`` lists)
  and a ``.qml`` style that QGIS loads automatically (a paletted renderer with the class names
  as labels). Optionally a float32 confidence raster on the same grid (the mean probability of
  each cell's class; nodata -1).

:func:`export_outputs` first checks the requested paths (:meth:`Outputs.check`: no output may be
an input or another output, side files and per-scene names included), then writes every file to
a temporary beside its target and moves them all into place together (``atomic.StagedFiles``):
all files of one export appear, or none and the previous files stay as they were. Its
:class:`ExportReport` (and the message of an error) says exactly which files are on disk.
"""

from __future__ import annotations

import csv
import errno
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from scl_desktop.core.atomic import StagedFiles
from scl_desktop.core.data.manifest import display_path
from scl_desktop.core.errors import Cancelled, ConfigError, DiskFullError, SclError
from scl_desktop.core.labelling.geometry import crs_object, footprints_wgs84
from scl_desktop.core.labelling.tiling import LabelInput
from scl_desktop.core.labelling.types import CSV_FIELDS, NODATA_CLASS, LabelResult, LabelRow, SceneMap

NODATA_CONFIDENCE = -1.0
COORD_DECIMALS = 8  # about 1 mm
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a text cell as a formula (CSV injection)."""
CSV_ENCODING = "utf-8-sig"
"""The CSV's encoding: UTF-8 with a byte-order mark, which spreadsheet programs need to read it as UTF-8."""
NO_FOOTPRINTS = ("none of the labelled inputs is georeferenced with a CRS that converts to WGS84, "
                 "so there are no footprints")

#: distinct colours for classes 0, 1, 2, ... (cycled when there are more classes)
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
    (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
    (219, 219, 141), (158, 218, 229), (0, 0, 128), (128, 0, 0), (0, 128, 128), (128, 128, 0),
)


def class_colours(n: int) -> list[tuple[int, int, int]]:
    """RGB colour of each of ``n`` classes."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


# ---------------------------------------------------------------------------------------------
# CSV and GeoJSON


def csv_cell(value: Any) -> Any:
    """A CSV cell: ``None`` empty, text as valid UTF-8 with a ``'`` before formula characters."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = display_path(value)
        return "'" + value if value.startswith(FORMULA_START) else value
    return value


def _write_csv_file(result: LabelResult, path: Path, bom: bool = True) -> None:
    with open(path, "w", newline="", encoding=CSV_ENCODING if bom else "utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_FIELDS)
        for row in result.rows:
            writer.writerow([csv_cell(v) for v in row.as_dict().values()])


def _rows_by_input(result: LabelResult) -> Iterable[tuple[LabelInput, list[LabelRow]]]:
    """(LabelInput, its rows) for every input with WGS84 coordinates, in row order."""
    by_path = {str(i.path): i for i in result.inputs}
    groups: dict[str, list[LabelRow]] = {}
    for row in result.rows:
        groups.setdefault(row.path, []).append(row)
    for path, rows in groups.items():
        inp = by_path.get(path)
        if inp is not None and inp.wgs84:
            yield inp, rows


def geojson_feature_count(result: LabelResult) -> int:
    """How many rows have a footprint (rows of inputs with WGS84 coordinates)."""
    return sum(len(rows) for _, rows in _rows_by_input(result))


def geojson_left_out(result: LabelResult) -> list[str]:
    """Georeferenced inputs the GeoJSON leaves out, each with the reason (their CRS has no way to WGS84)."""
    return [f"{display_path(i.path)} ({i.wgs84_problem})" for i in result.inputs if i.georeferenced and not i.wgs84]


def _write_geojson_file(result: LabelResult, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        first = True
        for inp, rows in _rows_by_input(result):
            assert inp.crs is not None and inp.transform is not None
            windows = np.array([(r.col_off, r.row_off, r.width, r.height) for r in rows], float)
            rings = np.round(footprints_wgs84(inp.crs, inp.transform, windows), COORD_DECIMALS)
            for row, ring in zip(rows, rings, strict=True):
                properties = {k: display_path(v) if isinstance(v, str) else v for k, v in row.as_dict().items()}
                feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring.tolist()]},
                           "properties": properties}
                fh.write(("" if first else ",\n") + json.dumps(feature, ensure_ascii=False))
                first = False
        fh.write("\n]}\n")


# ---------------------------------------------------------------------------------------------
# classification rasters


def _aux_xml(classes: Sequence[str]) -> str:
    names = "\n".join(f"      <Category>{escape(c)}</Category>" for c in classes)
    return ("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n"
            f"{names}\n    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n")


def _qml(classes: Sequence[str]) -> str:
    entries = "\n".join(
        f'        <paletteEntry value="{i}" color="#{r:02x}{g:02x}{b:02x}" alpha="255" label={quoteattr(name)}/>'
        for i, (name, (r, g, b)) in enumerate(zip(classes, class_colours(len(classes)), strict=True)))
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.28.0" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation colorizeOn="0" saturation="0" grayscaleMode="0" invertColors="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def class_raster_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files of the classification raster ``path``: the GeoTIFF, its .aux.xml and .qml."""
    path = Path(path)
    return [path, path.with_name(path.name + ".aux.xml"), path.with_suffix(".qml")]


def _write_geotiff(path: Path, array: np.ndarray, scene: SceneMap, nodata: float,
                   colours: list[tuple[int, int, int]] | None, description: str) -> None:
    import rasterio

    inp = scene.input
    profile: dict[str, Any] = {
        "driver": "GTiff", "width": array.shape[1], "height": array.shape[0], "count": 1, "dtype": array.dtype.name,
        "nodata": nodata, "transform": scene.grid.cell_transform(inp.transform or (1, 0, 0, 0, 1, 0)),
        "compress": "deflate",
    }
    if inp.crs is not None:
        profile["crs"] = crs_object(inp.crs)
    if array.shape[0] >= 512 and array.shape[1] >= 512:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    try:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(array, 1)
            dst.set_band_description(1, description)
            if colours is not None:
                table = {i: (*rgb, 255) for i, rgb in enumerate(colours)}
                table[NODATA_CLASS] = (0, 0, 0, 0)
                dst.write_colormap(1, table)
    finally:
        Path(str(path) + ".aux.xml").unlink(missing_ok=True)  # nothing may go to PAM; never leave a stray one


def _write_text_file(text: str, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def scene_paths(path: str | os.PathLike[str], scenes: Sequence[LabelInput]) -> list[Path]:
    """Where each scene's raster goes: ``path`` itself for one scene; ``<stem>_<scene stem><suffix>``
    beside it for several."""
    path = Path(path)
    if len(scenes) == 1:
        return [path]
    targets, used = [], set()
    for scene in scenes:
        name = f"{path.stem}_{scene.path.stem}"
        n = 2
        candidate = name
        while candidate in used:
            candidate, n = f"{name}_{n}", n + 1
        used.add(candidate)
        targets.append(path.with_name(candidate + (path.suffix or ".tif")))
    return targets


# ---------------------------------------------------------------------------------------------
# all outputs


def _same_file_key(path: Path) -> tuple[Any, ...]:
    """What makes two paths one file: the same inode when it exists, else the same resolved path."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.normcase(os.path.realpath(path)))


@dataclass(frozen=True)
class Outputs:
    """The files an export is asked to write (``None``: not wanted). ``confidence`` needs ``raster``."""

    csv: str | os.PathLike[str] | None = None
    geojson: str | os.PathLike[str] | None = None
    raster: str | os.PathLike[str] | None = None
    confidence: str | os.PathLike[str] | None = None

    def files(self, scenes: Sequence[LabelInput]) -> list[tuple[str, Path]]:
        """Every file written for the scenes ``scenes``, as (what, path), side files and per-scene names included."""
        out = [(kind, Path(p)) for kind, p in (("CSV", self.csv), ("GeoJSON", self.geojson)) if p is not None]
        if self.raster is not None:
            confidence = scene_paths(self.confidence, scenes) if self.confidence is not None else None
            for i, (scene, target) in enumerate(zip(scenes, scene_paths(self.raster, scenes), strict=True)):
                what = f"classification raster of {display_path(scene.path.name)}"
                out += [(what, f) for f in class_raster_files(target)]
                if confidence is not None:
                    out.append((f"confidence raster of {display_path(scene.path.name)}", confidence[i]))
        return out

    def describe(self, scenes: Sequence[LabelInput]) -> str:
        """The files written for the scenes ``scenes``, for messages: each path, and per-scene rasters as
        the list of their real names (``scene_paths``), or "N ... like X" when there are many."""
        parts = [display_path(p) for p in (self.csv, self.geojson) if p is not None]
        if self.raster is not None:
            parts.append(_scene_files("classification raster", scene_paths(self.raster, scenes), scenes,
                                      " with .aux.xml and .qml"))
        if self.confidence is not None:
            parts.append(_scene_files("confidence raster", scene_paths(self.confidence, scenes), scenes))
        return ", ".join(parts) or "nothing"

    def check(self, inputs: Sequence[LabelInput]) -> None:
        """Raise ``ConfigError`` when an output would overwrite one of ``inputs`` or two outputs are one
        file (before anything is written)."""
        if self.confidence is not None and self.raster is None:
            raise ConfigError("A confidence raster was asked for without a classification raster.",
                              "Give a classification raster path too (--raster).")
        sources = {_same_file_key(i.path): i.path for i in inputs}
        seen: dict[tuple[Any, ...], tuple[str, Path]] = {}
        for what, path in self.files([i for i in inputs if i.grid is not None]):
            key = _same_file_key(path)
            if key in sources:
                raise ConfigError(f"The {what} would be written to {display_path(path)}, which is an input being "
                                  "labelled: it would be overwritten.",
                                  "Choose an output path that is not one of the inputs.")
            if key in seen:
                other, other_path = seen[key]
                raise ConfigError(f"The {what} and the {other} would both be written to {display_path(path)}"
                                  + (f" (as {display_path(other_path)})" if other_path != path else "") + ".",
                                  "Give each output its own path.")
            seen[key] = (what, path)


MAX_LISTED_SCENES = 3
"""Per-scene files named one by one in messages; more are described as "N files like X"."""


def _scene_files(what: str, paths: Sequence[Path], scenes: Sequence[LabelInput], side: str = "") -> str:
    if not paths:
        return f"no {what} (no input is cut into windows)"
    if len(paths) == 1:
        return f"{what} {display_path(paths[0])}" + (f" ({side.strip()} beside it)" if side else "")
    each = f", each{side}" if side else ""
    if len(paths) <= MAX_LISTED_SCENES:
        return f"{len(paths)} {what}s, one per scene: {', '.join(map(display_path, paths))}{each}"
    return (f"{len(paths)} {what}s, one per scene, named like {display_path(paths[0])} (for "
            f"{display_path(scenes[0].path.name)}){each}")


@dataclass
class ExportReport:
    """The files on disk after an export (``written``), those asked for that are not (``not_written``),
    and inputs the GeoJSON left out, with the reason (``left_out``)."""

    written: list[Path] = field(default_factory=list)
    not_written: list[Path] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"written: {', '.join(map(display_path, self.written)) or 'none'}"]
        if self.not_written:
            parts.append(f"not written: {', '.join(map(display_path, self.not_written))} "
                         "(files of those names that were there before are unchanged)")
        if self.left_out:
            parts.append(f"left out of the GeoJSON: {'; '.join(self.left_out)}")
        return "; ".join(parts)


def _raster_jobs(scene: SceneMap, classes: Sequence[str], target: Path,
                 confidence: Path | None) -> list[tuple[Path, str, Callable[[Path], None]]]:
    tif, aux, qml = class_raster_files(target)
    jobs: list[tuple[Path, str, Callable[[Path], None]]] = [
        (tif, ".tif", lambda p: _write_geotiff(p, scene.classes, scene, NODATA_CLASS, class_colours(len(classes)),
                                               "class")),
        (aux, ".xml", lambda p: _write_text_file(_aux_xml(classes), p)),
        (qml, ".qml", lambda p: _write_text_file(_qml(classes), p)),
    ]
    if confidence is not None:
        conf = np.where(np.isnan(scene.confidence), NODATA_CONFIDENCE, scene.confidence).astype(np.float32)
        jobs.append((confidence, ".tif", lambda p: _write_geotiff(p, conf, scene, NODATA_CONFIDENCE, None,
                                                                  "confidence")))
    return jobs


def _failure(exc: BaseException, target: Path | None, report: ExportReport) -> BaseException:
    """The error to raise for ``exc`` (stopped while writing ``target``), naming what is on disk."""
    state = f"Outputs {report.describe()}."
    where = f" {display_path(target)}" if target is not None else " the outputs"
    if isinstance(exc, KeyboardInterrupt):
        return Cancelled(f"Writing the outputs was interrupted. {state}", "Run the export again to write them.")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return DiskFullError(f"The disk is full while writing{where}. {state}",
                             "Free some space (or choose another folder) and export again.")
    if isinstance(exc, SclError):
        return type(exc)(f"{exc.what} {state}", exc.hint)
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())[:200]
    return SclError(f"Could not write{where}: {detail or type(exc).__name__}. {state}",
                    "Check that the folder is writable and has space, then export again.")


def export_outputs(result: LabelResult, csv_path: str | os.PathLike[str] | None = None,
                   geojson: str | os.PathLike[str] | None = None, raster: str | os.PathLike[str] | None = None,
                   confidence: str | os.PathLike[str] | None = None, *, csv_bom: bool = True) -> ExportReport:
    """Write the requested outputs, all together or none (see the module docstring).

    ``confidence`` (a path) also needs ``raster``; with several scenes it is named like the class
    rasters. ``csv_bom``: start the CSV with a UTF-8 byte-order mark (for spreadsheets; False:
    plain UTF-8). Refuses with ``ConfigError`` before writing anything: an output that is an input
    or another output, no row with WGS84 coordinates for GeoJSON, no scene for a raster, more
    classes than a raster holds. If writing fails or is interrupted, raises an ``SclError`` (``DiskFullError``
    for a full disk, ``Cancelled`` for Ctrl-C) whose message says which files are on disk.
    """
    outputs = Outputs(csv_path, geojson, raster, confidence)
    if geojson is not None and geojson_feature_count(result) == 0:
        raise ConfigError(f"No GeoJSON: {NO_FOOTPRINTS}.",
                          "Leave out the GeoJSON output, or label GeoTIFFs that have a CRS.")
    if raster is not None and not result.scenes:
        raise ConfigError("A classification raster was asked for, but no input was cut into windows "
                          "(rasters are made for scenes).",
                          "Leave out the raster output, or label a scene larger than two tiles (or use --grid).")
    if raster is not None and len(result.classes) > NODATA_CLASS:
        raise ConfigError(f"A classification raster holds at most {NODATA_CLASS} classes; this model has "
                          f"{len(result.classes)}.", "Use the CSV or GeoJSON output instead.")
    outputs.check(result.inputs)
    jobs: list[tuple[Path, str, Callable[[Path], None]]] = []
    if csv_path is not None:
        jobs.append((Path(csv_path), ".csv", lambda p: _write_csv_file(result, p, csv_bom)))
    if geojson is not None:
        jobs.append((Path(geojson), ".geojson", lambda p: _write_geojson_file(result, p)))
    if raster is not None:
        scenes = [s.input for s in result.scenes]
        conf_paths = scene_paths(confidence, scenes) if confidence is not None else [None] * len(scenes)
        for scene, target, conf in zip(result.scenes, scene_paths(raster, scenes), conf_paths, strict=True):
            jobs += _raster_jobs(scene, result.classes, target, conf)
    report = ExportReport(left_out=geojson_left_out(result) if geojson is not None else [])
    current: Path | None = None
    with StagedFiles() as staged:
        try:
            for target, suffix, write in jobs:
                current = target
                write(staged.stage(target, suffix))
            current = None
            report.written = staged.commit()
        except BaseException as exc:
            report.written = staged.in_place
            report.not_written = [t for t, _, _ in jobs if t not in report.written]
            raise _failure(exc, current, report) from exc
    return report
