"""`scl demo-data`: generate (or reuse) the built-in synthetic demo dataset and GeoTIFF scene."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from typing import Any

DESCRIPTION = """\
Generate the built-in demo data, or reuse it when it is already there: a small SYNTHETIC,
class-imbalanced aerial-like dataset (ten classes of 64 x 64 px PNG patches in class folders;
seven majority classes, three minority classes that look like a majority class) and a synthetic
1024 x 1024 px GeoTIFF scene with a real CRS for trying the labelling workflow. Nothing is
downloaded; everything is drawn from a fixed seed in a few seconds. `scl demo` and the app use
it by default."""


def register(subparsers: Any) -> None:
    """Add `scl demo-data` to the CLI."""
    p = subparsers.add_parser("demo-data", help="generate the synthetic demo dataset and GeoTIFF scene",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR",
                   help="folder to write the demo data to (default: the demo folder in the app's data folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scl_desktop.core.data import demo as demo_data
    from scl_desktop.terminal import EventPrinter

    start = time.perf_counter()
    printer = EventPrinter()
    dataset = demo_data.ensure_demo_dataset(args.out, on_event=printer)
    scene = None
    if importlib.util.find_spec("rasterio") is None:
        print("warning: rasterio is not installed, so the demo GeoTIFF scene was not written "
              "(install it with `pip install rasterio`).", file=sys.stderr)
    else:
        scene = demo_data.ensure_demo_scene(args.out, on_event=printer)
    root = demo_data.demo_root(args.out)
    roles = demo_data.demo_roles()
    split_cfg = demo_data.demo_split_config()
    info = {
        "synthetic": True,
        "root": str(root),
        "dataset": str(dataset),
        "scene": str(scene) if scene else None,
        "scene_labels": str(scene.with_name("demo_scene_labels.json")) if scene else None,
        "readme": str(root / "README.txt"),
        "classes": [{"name": c, "count": demo_data.DEMO_COUNTS[c], "role": roles[c]} for c in demo_data.DEMO_CLASSES],
        "split_config": split_cfg.to_json(),
        "seconds": round(time.perf_counter() - start, 2),
    }
    if args.json:
        from scl_desktop.terminal import print_json

        print_json(info)
        return 0
    n_images = sum(demo_data.DEMO_COUNTS.values())
    print(f"demo dataset (synthetic): {dataset}  ({len(roles)} classes, {n_images} images)")
    for c in info["classes"]:
        print(f"  {c['name']:<20} {c['count']:>4}  {c['role']}")
    if scene:
        print(f"demo scene (synthetic GeoTIFF, {demo_data.SCENE_CRS}, {demo_data.SCENE_PIXEL_M:g} m/px): {scene}")
    print(f"about this data: {info['readme']}")
    majority = ",".join(split_cfg.majority_classes or ())
    print("split it as the demo does:  scl import DATASET, then  scl split MANIFEST --protocol ci "
          f"--majority-classes {majority} --major-count {split_cfg.major_count} --s {split_cfg.s} "
          f"--test-per-class {split_cfg.test_per_class}")
    return 0
