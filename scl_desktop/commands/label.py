"""`scl label`: label new imagery with a trained run; `scl export-model`: the model as ONNX."""

from __future__ import annotations

import argparse
import sys
from typing import Any

LABEL_DESCRIPTION = """\
Label images, GeoTIFF tiles and large GeoTIFF scenes with a trained run and write the results
as CSV, GeoJSON (window footprints in WGS84) and a classification GeoTIFF per scene.

Inputs are files or folders (searched recursively). An image is cut into a grid of windows
when at least two windows fit along one side (--grid / --whole change that); smaller images
are labelled whole. Windows are --tile pixels (or --tile-m metres of the scene's CRS) wide,
--stride apart (default: no overlap). By default the window size is that of the training
images. Edge windows are shifted back inside the scene (--edge shift, full-size windows that
overlap their neighbour) or padded with nodata (--edge pad). Windows with less than
--min-valid valid (not nodata) pixels are skipped and counted. The training band mapping and
stretch statistics are applied to every image and window. CSV rows and GeoJSON footprints give
the pixels each window really covered (shifted-back edge windows where they were read).

The classification raster covers exactly the scene (its bounds are the scene's, in the scene's
CRS): ceil(width / stride) x ceil(height / stride) cells from the scene origin, so a cell is the
stride when the scene is a multiple of it and a little smaller otherwise. Each cell takes the
mean class probabilities of the windows covering its centre (overlapping windows, with a stride
below the window size, are averaged; with a stride above it, each window stands for the
stride-wide block around it); the confidence raster holds that class's mean probability.
A smaller --stride gives a finer raster.

No output may be one of the inputs or another output (checked before labelling). All output
files are written together or not at all; existing files stay as they were when writing fails.
Ctrl-C stops after the current batch, reports how far it got and writes nothing (exit code 130);
a second Ctrl-C aborts at once. A scene whose CRS cannot be transformed to WGS84 keeps its own
coordinates in the CSV (empty WGS84 columns) and is left out of the GeoJSON.

Warnings: a georeferenced input whose windows (or whole image) cover more than twice or less
than half the ground of a training image (with the default windows: pixel sizes more than a
factor 2 apart from the training data's, recorded by `scl import`, or stated with `--gsd`) is
named with both resolutions; resample it or give --tile-m. A run trained on the synthetic demo
data labelling other imagery is warned about once.

Example:
  scl label 20250131-142233-scl-3fa9 scenes/ --out results.csv --geojson results.geojson \\
      --raster classes.tif --tile-m 75"""

EXPORT_DESCRIPTION = """\
Export a trained model (encoder + classifier as one graph) to ONNX. The graph takes uint8 RGB
images [batch, 3, S, S] at the run's working size (after the band mapping and stretch) and
returns class probabilities; class names, input size, normalisation and band mapping are in its
metadata. The file is checked with onnxruntime against the torch model on the run's test images."""


def register(subparsers: Any) -> None:
    """Add `scl label` and `scl export-model` to the CLI."""
    p = subparsers.add_parser("label", help="label new images or GeoTIFF scenes; write CSV, GeoJSON, GeoTIFF",
                              description=LABEL_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="run id, name or unique id prefix (or the run folder) from `scl runs list`")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="image files, GeoTIFF scenes or folders of them")
    p.add_argument("--out", metavar="CSV", help="results table, one row per image or window (UTF-8 with a "
                                                "byte-order mark, so spreadsheets show non-ASCII names)")
    p.add_argument("--csv-no-bom", action="store_true",
                   help="write the CSV as plain UTF-8, without the byte-order mark (for tools that do not expect one)")
    p.add_argument("--geojson", metavar="FILE", help="window footprints in WGS84 (RFC 7946) with the same columns")
    p.add_argument("--raster", metavar="TIF",
                   help="classification GeoTIFF covering exactly the scene, one pixel per stride (class index, "
                        "colour table, class names); with several scenes, one file per scene named "
                        "<TIF stem>_<scene>.tif")
    p.add_argument("--confidence", metavar="TIF",
                   help="also write the confidence of each raster cell (mean probability of its class) as a GeoTIFF")
    add_tiling_options(p)
    p.add_argument("--method", metavar="NAME",
                   help="which model of the run (SCL-CB, SCL-CSCE, SCL-CE, Plain, ...); default: best overall accuracy")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default 64)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA > MPS > CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--readers", type=int, metavar="N",
                   help="threads reading images ahead of the device (default: one per CPU, at most 4)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_label)

    e = subparsers.add_parser("export-model", help="export a trained model to ONNX (checked with onnxruntime)",
                              description=EXPORT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("run", metavar="RUN", help="run id, name or unique id prefix (or the run folder)")
    e.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    e.add_argument("--method", metavar="NAME", help="which model of the run; default: best overall accuracy")
    e.add_argument("--check", type=int, default=8, metavar="N",
                   help="test images to compare ONNX and torch on (default 8)")
    e.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    e.set_defaults(func=run_export)


def add_tiling_options(p: argparse.ArgumentParser) -> None:
    """The options that say how inputs are cut into windows (`scl label`, `scl mine`)."""
    size = p.add_mutually_exclusive_group()
    size.add_argument("--tile", type=int, metavar="N", help="window size in pixels (default: training image size)")
    size.add_argument("--tile-m", type=float, metavar="M", help="window size in metres of the scene's CRS")
    step = p.add_mutually_exclusive_group()
    step.add_argument("--stride", type=int, metavar="N", help="step between windows in pixels (default: window size); also the raster's "
                      "cell size, so a smaller stride gives a finer raster")
    step.add_argument("--stride-m", type=float, metavar="M",
                      help="step between windows (and raster cell size) in metres")
    p.add_argument("--edge", choices=("shift", "pad"), default="shift",
                   help="edge windows: shift back inside the scene (default) or pad with nodata")
    p.add_argument("--min-valid", type=float, default=0.5, metavar="F",
                   help="skip windows with a smaller share of valid (not nodata) pixels (default 0.5)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--grid", dest="mode", action="store_const", const="grid",
                      help="cut every input into windows, however small")
    mode.add_argument("--whole", dest="mode", action="store_const", const="whole",
                      help="label every input whole, never cut it")
    p.set_defaults(mode="auto")


def tiling_config(args: argparse.Namespace) -> Any:
    """The ``TilingConfig`` of the options ``add_tiling_options`` added."""
    from scl_desktop.core.labelling.tiling import TilingConfig

    return TilingConfig(tile=args.tile, stride=args.stride, tile_m=args.tile_m, stride_m=args.stride_m,
                        edge=args.edge, min_valid=args.min_valid, mode=args.mode)


def run_label(args: argparse.Namespace) -> int:
    from scl_desktop.core.errors import Cancelled, ConfigError
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.labelling import export as geo_export
    from scl_desktop.core.labelling.label import LabelConfig, label_inputs
    from scl_desktop.terminal import EventPrinter, ctrl_c_cancels, print_json

    if not (args.out or args.geojson or args.raster):
        raise ConfigError("No output was asked for.", "Give --out results.csv (and/or --geojson, --raster).")
    if args.confidence and not args.raster:
        raise ConfigError("--confidence needs --raster.", "Give a classification raster path too.")
    config = LabelConfig(tiling=tiling_config(args), batch_size=args.batch_size, device=args.device, method=args.method,
                         readers=args.readers)
    config.validate()
    outputs = geo_export.Outputs(args.out, args.geojson, args.raster, args.confidence)
    token = CancelToken()
    printer = EventPrinter()
    try:
        with ctrl_c_cancels(token, lambda message: print(message, file=sys.stderr),
                            "\nstopping after the current batch (Ctrl-C again to abort) ..."):
            result = drive(label_inputs(args.run, args.inputs, config, token, outputs), printer)
    except Cancelled as exc:
        partial = exc.kept
        done = f"after {partial.done} of {partial.total} tiles" if partial is not None else "while reading the inputs"
        print(f"cancelled {done}; no output files were written (existing files are unchanged)", file=sys.stderr)
        if args.json:
            summary = partial.summary() if partial is not None else {}
            print_json({**summary, "cancelled": True, "outputs": {"written": [], "not_written": _requested(args)}})
        return 130
    problems, dropped = [], []
    geojson, raster, confidence = args.geojson, args.raster, args.confidence
    if geojson and geo_export.geojson_feature_count(result) == 0:
        problems.append(f"{geojson} was not written: {geo_export.NO_FOOTPRINTS}.")
        dropped.append(geojson)
        geojson = None
    if raster and not result.scenes:
        problems.append(f"{raster} was not written: no input was cut into windows (use --grid to cut small images).")
        dropped += [p for p in (raster, confidence) if p]
        raster = confidence = None
    report = geo_export.export_outputs(result, args.out, geojson, raster, confidence, csv_bom=not args.csv_no_bom)
    print(report.describe(), file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if args.json:
        print_json({**result.summary(), "cancelled": False,
                    "outputs": {"written": [str(p) for p in report.written], "not_written": dropped,
                                "left_out_of_geojson": report.left_out}})
    return 2 if problems else 0


def _requested(args: argparse.Namespace) -> list[str]:
    return [str(p) for p in (args.out, args.geojson, args.raster, args.confidence) if p]


def run_export(args: argparse.Namespace) -> int:
    from scl_desktop.core.events import drive
    from scl_desktop.core.workflows.onnx_export import export_run
    from scl_desktop.terminal import EventPrinter, print_json

    result = drive(export_run(args.run, args.onnx, args.method, args.check), EventPrinter())
    if args.json:
        print_json(result.to_json())
    else:
        print(f"wrote {result.path}")
    return 0
