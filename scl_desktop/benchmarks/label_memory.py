"""Peak memory while labelling a synthetic 20,000 x 20,000 3-band GeoTIFF scene.

    python -m scl_desktop.benchmarks.label_memory [--size 20000] [--tile 256] [--arch resnet18]

Writes the scene (tiled, deflate-compressed, EPSG:32633, 0.5 m pixels, a nodata corner) block by
block into a temporary folder (or ``--scene PATH``, kept and reused), then labels it in a child
process with a randomly initialised ``model.predictor.Predictor`` (the same code path as a trained
run: reader threads, window reads, band mapping, resize, batched inference) and writes CSV,
GeoJSON and the classification raster. The child's peak resident memory (``ru_maxrss``) is the
number reported; the scene is never held in memory whole.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK = 512


def write_scene(path: Path, size: int) -> Path:
    """A ``size`` x ``size`` 3-band uint8 GeoTIFF of colour patches with texture; the top-left
    eighth is nodata (0). Written strip by strip; compressible, so it stays small on disk."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(0)
    palette = rng.integers(30, 230, (16, 3)).astype(np.int16)
    cells = rng.integers(0, 16, (size // 1000 + 2, size // 1000 + 2))
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", nodata=0, crs="EPSG:32633",
                   transform=Affine(0.5, 0, 400000.0, 0, -0.5, 5000000.0), tiled=True, blockxsize=BLOCK,
                   blockysize=BLOCK, compress="deflate", predictor=2, BIGTIFF="IF_SAFER")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.tif")
    yy, xx = np.mgrid[0:BLOCK, 0:BLOCK]
    texture = (8 * np.sin(xx / 7.0) * np.cos(yy / 5.0)).astype(np.int16)
    with rasterio.open(tmp, "w", **profile) as ds:
        for row in range(0, size, BLOCK):
            h = min(BLOCK, size - row)
            strip = np.empty((3, h, size), np.uint8)
            for col in range(0, size, BLOCK):
                w = min(BLOCK, size - col)
                colour = palette[cells[row // 1000, col // 1000]]
                block = colour[:, None, None] + texture[None, :h, :w]
                strip[:, :, col:col + w] = np.clip(block, 1, 255)
            if row < size // 8:
                strip[:, :, : size // 8] = 0
            ds.write(strip, window=Window(0, row, size, h))
    os.replace(tmp, path)
    return path


def label_child(scene: Path, out: Path, tile: int, arch: str, batch_size: int) -> dict:
    """Label ``scene`` in this process and return the measurements (run in the child)."""
    import torch

    from scl_desktop.core.data.manifest import RasterSettings
    from scl_desktop.core.events import drive
    from scl_desktop.core.labelling.export import export_outputs
    from scl_desktop.core.labelling.label import LabelConfig, LabelModel, label_with_model
    from scl_desktop.core.labelling.tiling import TilingConfig
    from scl_desktop.core.model.networks import LinearClassifier, build_encoder
    from scl_desktop.core.model.predictor import Predictor

    torch.manual_seed(0)
    encoder, dim = build_encoder(arch)
    classes = tuple(f"class{i}" for i in range(10))
    predictor = Predictor(encoder, LinearClassifier(dim, len(classes)), 64, classes).eval()
    model = LabelModel(predictor, classes, 256, RasterSettings(), tile, None, "benchmark")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.perf_counter(), time.process_time()
    config = LabelConfig(tiling=TilingConfig(tile=tile), batch_size=batch_size, device="cpu")
    result = drive(label_with_model(model, [scene], config))
    label_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    report = export_outputs(result, out / "results.csv", out / "results.geojson", out / "classes.tif")
    return {
        "windows": result.total, "rows": len(result.rows), "skipped_nodata": result.skipped_nodata,
        "label_seconds": round(label_s, 1), "tiles_per_s": round(result.tiles_per_s, 1),
        "cpu_seconds": round(cpu_s, 1), "cpu_threads": torch.get_num_threads(),
        "rss_before_labelling_mb": round(rss_before / 1024, 1),
        "files": {str(p.name): p.stat().st_size for p in report.written},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scl_desktop.benchmarks.label_memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20000, help="scene width and height in pixels (default 20000)")
    parser.add_argument("--tile", type=int, default=256, help="window size in pixels (default 256)")
    parser.add_argument("--arch", default="resnet18", help="encoder architecture (default resnet18)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--scene", type=Path, help="keep the synthetic scene here (reused when present)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:  # the measured process
        info = label_child(args.child, args.out, args.tile, args.arch, args.batch_size)
        info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(info))
        return 0

    with tempfile.TemporaryDirectory(prefix="scl-label-memory-") as tmp:
        scene = args.scene or Path(tmp) / "scene.tif"
        if not scene.exists():
            started = time.perf_counter()
            write_scene(scene, args.size)
            print(f"wrote {scene} ({scene.stat().st_size / 2**20:.0f} MiB on disk) in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "scl_desktop.benchmarks.label_memory", "--child", str(scene), "--out", str(out),
               "--tile", str(args.tile), "--arch", args.arch, "--batch-size", str(args.batch_size)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            return done.returncode
        info = json.loads(done.stdout.strip().splitlines()[-1])
        info.update(scene=f"{args.size} x {args.size} x 3 uint8", tile=args.tile, arch=args.arch,
                    command=" ".join(["python -m scl_desktop.benchmarks.label_memory", *(argv or sys.argv[1:])]))
        print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
