"""`scl import`: turn a folder of class folders or a CSV list into a dataset manifest and cache."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from scl_desktop.terminal import EventPrinter, print_json

DESCRIPTION = """\
Import a dataset and write its manifest (JSON).

PATH is a folder with one sub-folder per class (ROOT/<class>/<image>; nested folders inside a
class are fine; jpg, jpeg, png, tif, tiff, bmp, webp in any letter case) or a CSV file with
path,label[,split] rows (paths relative to the CSV's folder or absolute).

Every file is checked; files that cannot be used are skipped and reported with the reason,
never fatal. GeoTIFFs keep their CRS and bounds. Non-8-bit data (16-bit, float) is stretched to
8 bits between dataset-wide percentiles.

With --size N every image is then decoded once into the cache at N x N, and every training on
the dataset uses that size. Without it (the default) each training chooses the size from the
images' native size and its view size (never upsampling a typical image, at most 512 px) and
decodes the cache once at its first run; `scl train --store-size` overrides both.

The ground resolution (metres per pixel) of georeferenced images is recorded (their median);
for images that do not carry it (plain JPEG/PNG folders) give it with --gsd (UC Merced: 0.3).
`scl label` warns when a scene's resolution is far (more than a factor 2) from it; when it is
unknown there is no such warning.
"""


def _numbers(kind: type, count: tuple[int, ...], what: str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(kind(v) for v in text.replace(" ", "").split(",") if v)
        except ValueError:
            values = ()
        if len(values) not in count:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return values

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `import` command."""
    p = subparsers.add_parser("import", help="import a folder of class folders or a CSV as a dataset",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", help="folder of class folders, or CSV file with path,label[,split] rows")
    p.add_argument("--bands", type=_numbers(int, (1, 3), "one or three band numbers like 3,2,1"), metavar="R,G,B",
                   help="1-based raster bands for red, green, blue (e.g. 3,2,1; one number gives grey). "
                        "Default: the first three bands; a single band is replicated; two bands become 1,2,1")
    p.add_argument("--stretch", type=_numbers(float, (2,), "two percentiles like 2,98"), default=(2.0, 98.0),
                   metavar="LOW,HIGH",
                   help="percentiles (over the whole dataset) mapped to 0 and 255 for non-8-bit data (default 2,98)")
    p.add_argument("--size", type=int, metavar="N",
                   help="working resolution in pixels for every training on this dataset: images are decoded "
                        "now, once, to N x N (default: each training chooses it, see above)")
    p.add_argument("--class-order", type=lambda s: tuple(c.strip() for c in s.split(",") if c.strip()),
                   metavar="A,B,...", help="use only these classes, in this order (default: all, sorted by name)")
    p.add_argument("--gsd", type=float, metavar="METRES",
                   help="ground resolution of the images in metres per pixel, for images that do not carry it "
                        "(default: the median of the georeferenced images; unknown without any)")
    p.add_argument("--out", type=Path, metavar="MANIFEST",
                   help="where to write the manifest (default: <data dir>/datasets/<name>.json)")
    p.add_argument("--no-cache", action="store_true", help="with --size: only write the manifest; do not decode "
                                                            "images into the cache")
    p.add_argument("--time-read", action="store_true",
                   help="with --size: after the cache is ready, read every image back from it once and report how "
                        "long that took")
    p.add_argument("--json", action="store_true", help="print one JSON object with the report on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import, save the manifest, build the cache, report."""
    from scl_desktop.core.data.importer import ImportConfig, default_manifest_path, import_dataset
    from scl_desktop.core.data.manifest import display_path
    from scl_desktop.core.events import drive

    printer = EventPrinter()
    started = time.perf_counter()
    config = ImportConfig(source=args.path, bands=args.bands, stretch=args.stretch, size=args.size,
                          class_order=args.class_order, gsd=args.gsd)
    manifest = drive(import_dataset(config), printer)
    import_s = time.perf_counter() - started
    out = args.out or default_manifest_path(manifest)
    manifest.save(out)
    cache = None if args.no_cache or manifest.size is None else _cache(manifest, printer, args.time_read)
    report = {
        "classes": [{"name": c, "count": n} for c, n in manifest.counts().items()],
        "skipped": [{"path": display_path(s.path), "reason": s.reason} for s in manifest.report.skipped],
        "duplicates": [[display_path(p) for p in g] for g in manifest.report.duplicates],
        "small_classes": list(manifest.report.small_classes),
        "images": len(manifest.items),
        "raster": manifest.raster.to_json(),
        "gsd": manifest.gsd,
        "manifest": str(Path(out).absolute()),
        "import_s": round(import_s, 3),
        "cache": cache,
    }
    if args.json:
        print_json(report)
    else:
        _print_summary(report, display_path(manifest.source))
    return 0


def _cache(manifest: Any, printer: EventPrinter, time_read: bool) -> dict[str, Any]:
    """Open or build the decoded store and time it; with ``time_read`` also one full pass over it."""
    from scl_desktop.core.data.cache import build_store, open_store
    from scl_desktop.core.events import drive

    started = time.perf_counter()
    store = open_store(manifest)
    hit = store is not None
    if store is None:
        store = drive(build_store(manifest), printer)
    info = {"path": str(store.path), "hit": hit, "size": store.size, "images": len(store), "bytes": store.nbytes,
            "ready_s": round(time.perf_counter() - started, 3), "read_all_s": None}
    if time_read:
        started = time.perf_counter()
        for first in range(0, len(store), 256):
            store.batch(range(first, min(first + 256, len(store))))
        info["read_all_s"] = round(time.perf_counter() - started, 3)
    return info


def _print_summary(report: dict[str, Any], source: str) -> None:
    classes = report["classes"]
    width = max(len(c["name"]) for c in classes)
    print(f"Imported {report['images']} images in {len(classes)} classes from {source}")
    for c in classes:
        print(f"  {c['name']:<{width}}  {c['count']:>6}")
    if report["skipped"]:
        print(f"Skipped {len(report['skipped'])} files:")
        for s in report["skipped"]:
            print(f"  {s['path']}: {s['reason']}")
    if report["duplicates"]:
        print(f"Identical files ({len(report['duplicates'])} groups):")
        for group in report["duplicates"]:
            print("  " + "  ==  ".join(group))
    if report["small_classes"]:
        print(f"Classes with fewer than 2 images: {', '.join(report['small_classes'])}")
    if report["gsd"] is not None:
        print(f"Ground resolution: {report['gsd']:.3g} m per pixel")
    print(f"Manifest: {report['manifest']}")
    cache = report["cache"]
    if not cache:
        print("Cache: not decoded now; the first training decodes it once, at the size it needs.")
    else:
        how = "found in the cache" if cache["hit"] else "decoded"
        read = f"; reading them all back took {cache['read_all_s']:.2f} s" if cache["read_all_s"] is not None else ""
        print(f"Cache: {cache['path']} ({cache['images']} images at {cache['size']} px {how} in "
              f"{cache['ready_s']:.1f} s{read})")
