"""GIS-ready exports of labelling results: CSV, GeoJSON (WGS84, RFC 7946), classification GeoTIFF.

* **CSV**: one row per image or window (columns ``labelling.CSV_FIELDS``).
* **GeoJSON**: one Feature per georeferenced row, its window footprint as a Polygon in WGS84
  longitude/latitude (RFC 7946: no ``crs`` member, exterior ring counter-clockwise), with the
  CSV columns as properties. Rows without georeference have no footprint and are left out.
* **Classification GeoTIFF** per scene cut into windows: one pixel per grid cell
  (``tiling.SceneGrid``), uint8 class index, nodata 255 (windows skipped or not labelled), a
  colour table, the scene's CRS. Class names go into a ``.aux.xml`` beside it (GDAL category
  names, which ``gdalinfo`` lists) and a ``.qml`` style that QGIS loads automatically (a paletted
  renderer with the class names as labels). Optionally a float32 confidence raster (nodata -1).

Every file is written atomically; :func:`export_outputs` writes several and, when stopped or
failing part-way, says which files are complete and which were not written (no partial files
are ever left).

Footprints are transformed corner by corner (a window is small against the curvature of any
projection); windows crossing the antimeridian are not split.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from scl_desktop.core.atomic import atomic_path, write_text
from scl_desktop.core.errors import Cancelled, ConfigError, SclError

if TYPE_CHECKING:
    from scl_desktop.core.labelling.label import LabelResult, SceneMap

NODATA_CLASS = 255
NODATA_CONFIDENCE = -1.0
WGS84 = "EPSG:4326"
COORD_DECIMALS = 8  # about 1 mm

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
# geometry


@functools.lru_cache(maxsize=64)
def _crs(text: str) -> Any:
    from rasterio.crs import CRS

    return CRS.from_user_input(text)


def to_wgs84(crs: str, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (WGS84) of points ``xs``, ``ys`` given in ``crs``."""
    from rasterio.warp import transform

    if len(xs) == 0:
        return np.zeros(0), np.zeros(0)
    lon, lat = transform(_crs(crs), _crs(WGS84), np.asarray(xs, float).ravel(), np.asarray(ys, float).ravel())
    return np.asarray(lon).reshape(np.shape(xs)), np.asarray(lat).reshape(np.shape(ys))


def window_corners(transform: Sequence[float], windows: np.ndarray) -> np.ndarray:
    """Corners [N, 4, 2] in CRS coordinates of pixel windows ``windows`` [N, 4] = (col, row, w, h).

    Order: bottom-left, bottom-right, top-right, top-left (counter-clockwise for north-up rasters).
    """
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    col, row, w, h = (np.asarray(windows, float)[:, i] for i in range(4))
    px = np.stack([col, col + w, col + w, col], axis=1)
    py = np.stack([row + h, row + h, row, row], axis=1)
    return np.stack([a * px + b * py + c, d * px + e * py + f], axis=2)


@dataclass(frozen=True)
class WindowGeo:
    """Bounds (in the scene CRS) and WGS84 centroids of a set of windows, one array entry each."""

    minx: np.ndarray
    miny: np.ndarray
    maxx: np.ndarray
    maxy: np.ndarray
    centroid_lon: np.ndarray
    centroid_lat: np.ndarray


def window_geo(crs: str, transform: Sequence[float], windows: np.ndarray) -> WindowGeo:
    """Bounds and WGS84 centroids of pixel windows [N, 4] = (col, row, w, h) of one scene."""
    windows = np.asarray(windows, float).reshape(-1, 4)
    corners = window_corners(transform, windows)
    centre = window_corners(transform, np.stack([windows[:, 0] + windows[:, 2] / 2,
                                                 windows[:, 1] + windows[:, 3] / 2,
                                                 np.zeros(len(windows)), np.zeros(len(windows))], axis=1))[:, 0]
    lon, lat = to_wgs84(crs, centre[:, 0], centre[:, 1])
    return WindowGeo(corners[..., 0].min(1), corners[..., 1].min(1), corners[..., 0].max(1), corners[..., 1].max(1),
                     lon, lat)


def footprints_wgs84(crs: str, transform: Sequence[float], windows: np.ndarray) -> np.ndarray:
    """Closed counter-clockwise lon/lat rings [N, 5, 2] of pixel windows [N, 4] of one scene."""
    corners = window_corners(transform, np.asarray(windows, float).reshape(-1, 4))
    lon, lat = to_wgs84(crs, corners[..., 0], corners[..., 1])
    ring = np.stack([lon, lat], axis=2)
    # shoelace: negative area = clockwise (e.g. a south-up CRS); reverse those rings
    x, y = ring[..., 0], ring[..., 1]
    area = (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)
    ring[area < 0] = ring[area < 0, ::-1]
    return np.concatenate([ring, ring[:, :1]], axis=1)


# ---------------------------------------------------------------------------------------------
# CSV and GeoJSON


def write_csv(result: LabelResult, path: str | os.PathLike[str]) -> Path:
    """One row per labelled image or window (header ``labelling.CSV_FIELDS``); atomic."""
    from scl_desktop.core.labelling.label import CSV_FIELDS

    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for row in result.rows:
                writer.writerow({k: "" if v is None else v for k, v in row.as_dict().items()})
    return Path(path)


def _rows_by_input(result: LabelResult) -> Iterable[tuple[Any, list[Any]]]:
    """(LabelInput, its rows) for every georeferenced input, in row order."""
    by_path = {str(i.path): i for i in result.inputs}
    groups: dict[str, list[Any]] = {}
    for row in result.rows:
        groups.setdefault(row.path, []).append(row)
    for path, rows in groups.items():
        inp = by_path.get(path)
        if inp is not None and inp.georeferenced:
            yield inp, rows


def geojson_feature_count(result: LabelResult) -> int:
    """How many rows have a footprint (rows of georeferenced inputs)."""
    return sum(len(rows) for _, rows in _rows_by_input(result))


def write_geojson(result: LabelResult, path: str | os.PathLike[str]) -> Path:
    """Window footprints in WGS84 as an RFC 7946 FeatureCollection with the CSV columns as properties.

    Raises ``ConfigError`` (before writing) when no row is georeferenced.
    """
    if geojson_feature_count(result) == 0:
        raise ConfigError("None of the labelled inputs is georeferenced, so there are no footprints for a GeoJSON.",
                          "Leave out the GeoJSON output, or label GeoTIFFs that have a CRS.")
    with atomic_path(path, suffix=".geojson") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write('{"type": "FeatureCollection", "features": [\n')
            first = True
            for inp, rows in _rows_by_input(result):
                windows = np.array([(r.col_off, r.row_off, r.width, r.height) for r in rows], float)
                rings = np.round(footprints_wgs84(inp.crs, inp.transform, windows), COORD_DECIMALS)
                for row, ring in zip(rows, rings, strict=True):
                    feature = {"type": "Feature",
                               "geometry": {"type": "Polygon", "coordinates": [ring.tolist()]},
                               "properties": row.as_dict()}
                    fh.write(("" if first else ",\n") + json.dumps(feature, ensure_ascii=False))
                    first = False
            fh.write("\n]}\n")
    return Path(path)


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
    """The files :func:`write_class_raster` writes for ``path``: the GeoTIFF, its .aux.xml and .qml."""
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
        profile["crs"] = _crs(inp.crs)
    if array.shape[0] >= 512 and array.shape[1] >= 512:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with atomic_path(path, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array, 1)
            dst.set_band_description(1, description)
            if colours is not None:
                table = {i: (*rgb, 255) for i, rgb in enumerate(colours)}
                table[NODATA_CLASS] = (0, 0, 0, 0)
                dst.write_colormap(1, table)
        Path(str(tmp) + ".aux.xml").unlink(missing_ok=True)  # nothing may go to PAM; never leave a stray one


def write_class_raster(scene: SceneMap, classes: Sequence[str], path: str | os.PathLike[str],
                       confidence_path: str | os.PathLike[str] | None = None) -> list[Path]:
    """The classification GeoTIFF of one scene (+ .aux.xml category names + .qml style) and,
    when ``confidence_path`` is given, a float32 confidence GeoTIFF. Returns the files written."""
    if len(classes) > NODATA_CLASS:
        raise ConfigError(f"A classification raster holds at most {NODATA_CLASS} classes; this model has {len(classes)}.",
                          "Use the CSV or GeoJSON output instead.")
    tif, aux, qml = class_raster_files(path)
    _write_geotiff(tif, scene.classes, scene, NODATA_CLASS, class_colours(len(classes)), "class")
    write_text(aux, _aux_xml(classes))
    write_text(qml, _qml(classes))
    written = [tif, aux, qml]
    if confidence_path is not None:
        conf = np.where(np.isnan(scene.confidence), NODATA_CONFIDENCE, scene.confidence).astype(np.float32)
        _write_geotiff(Path(confidence_path), conf, scene, NODATA_CONFIDENCE, None, "confidence")
        written.append(Path(confidence_path))
    return written


def scene_targets(result: LabelResult, path: str | os.PathLike[str]) -> list[tuple[SceneMap, Path]]:
    """Where each scene's raster goes: ``path`` itself for one scene; ``<stem>_<scene stem><suffix>``
    beside it for several."""
    path = Path(path)
    scenes = result.scenes
    if len(scenes) == 1:
        return [(scenes[0], path)]
    targets, used = [], set()
    for scene in scenes:
        name = f"{path.stem}_{scene.input.path.stem}"
        n = 2
        candidate = name
        while candidate in used:
            candidate, n = f"{name}_{n}", n + 1
        used.add(candidate)
        targets.append((scene, path.with_name(candidate + (path.suffix or ".tif"))))
    return targets


# ---------------------------------------------------------------------------------------------
# all outputs


@dataclass
class ExportReport:
    """Files written completely, and files that were asked for but not written."""

    written: list[Path] = field(default_factory=list)
    not_written: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"written: {', '.join(map(str, self.written)) or 'none'}"]
        if self.not_written:
            parts.append(f"not written: {', '.join(map(str, self.not_written))}")
        return "; ".join(parts)


def export_outputs(result: LabelResult, csv_path: str | os.PathLike[str] | None = None,
                   geojson: str | os.PathLike[str] | None = None, raster: str | os.PathLike[str] | None = None,
                   confidence: str | os.PathLike[str] | None = None) -> ExportReport:
    """Write the requested outputs one after the other, each atomically.

    ``confidence`` (a path) also needs ``raster``; with several scenes it is named like the class
    rasters. Checks everything that could refuse (no georeferenced rows for GeoJSON, no scene
    for a raster) before writing. If writing stops part-way (an error, Ctrl-C), raises an
    ``SclError`` (``Cancelled`` for an interrupt) that lists the complete files and the missing ones.
    """
    if geojson is not None and geojson_feature_count(result) == 0:
        write_geojson(result, geojson)  # raises the explanation, writes nothing
    if confidence is not None and raster is None:
        raise ConfigError("A confidence raster was asked for without a classification raster.",
                          "Give a classification raster path too (--raster).")
    if raster is not None and not result.scenes:
        raise ConfigError("A classification raster was asked for, but no input was cut into windows "
                          "(rasters are made for scenes).",
                          "Leave out the raster output, or label a scene larger than two tiles (or use --grid).")
    jobs: list[tuple[list[Path], Any]] = []
    if csv_path is not None:
        jobs.append(([Path(csv_path)], lambda: [write_csv(result, csv_path)]))
    if geojson is not None:
        jobs.append(([Path(geojson)], lambda: [write_geojson(result, geojson)]))
    if raster is not None:
        conf_targets = [t for _, t in scene_targets(result, confidence)] if confidence is not None else None
        for i, (scene, target) in enumerate(scene_targets(result, raster)):
            conf = conf_targets[i] if conf_targets is not None else None
            files = class_raster_files(target) + ([Path(conf)] if conf is not None else [])
            jobs.append((files, functools.partial(write_class_raster, scene, result.classes, target, conf)))
    report = ExportReport()
    for i, (files, job) in enumerate(jobs):
        try:
            report.written += job()
        except BaseException as exc:
            report.not_written = [f for f in files if f not in report.written]
            report.not_written += [f for later, _ in jobs[i + 1:] for f in later]
            if isinstance(exc, KeyboardInterrupt):
                raise Cancelled(f"Writing the outputs was interrupted ({report.describe()}).",
                                "No partial files were left; run again to write the missing ones.") from exc
            if isinstance(exc, SclError):
                raise type(exc)(f"{exc.what} Outputs {report.describe()}.", exc.hint) from exc
            raise
    return report
