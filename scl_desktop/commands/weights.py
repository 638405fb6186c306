"""`scl weights list|get`: the published pretrained backbones training can start from, and their download cache."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

DESCRIPTION = """\
The published ResNet backbones (ImageNet from torchvision, remote sensing from torchgeo) that
training can start from. Files are downloaded once into the cache folder's weights/ folder,
resumed when a download was cut off, and used only when their SHA-256 is the published one.

Without a network, download the file in a browser and save it in that folder under its
published name (`scl weights list` shows both), or set SCL_WEIGHTS_MIRROR to the address of a
folder (http://, https:// or file://) that holds the files under the same names."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `scl weights list|get` (the engine is imported only when a command runs)."""
    weights = subparsers.add_parser("weights", help="list or download the published pretrained backbones",
                                    description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = weights.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    p = actions.add_parser("list", help="list the published backbones, their size and whether they are downloaded")
    p.add_argument("--json", action="store_true",
                   help='print JSON: [{"name", "arch", "source", "url", "sha256", "size", "cached", "path"}] '
                        "(url: where it would be downloaded from; size in bytes or null; path: null unless cached)")
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("get", help="download backbones into the cache (resumed, checked against their SHA-256)")
    p.add_argument("names", metavar="NAME", nargs="+", help="a name from `scl weights list`")
    p.add_argument("--json", action="store_true", help='print JSON: [{"name", "path"}]')
    p.add_argument("--quiet", action="store_true", help="print errors only (no progress)")
    p.set_defaults(func=cmd_get)


def listing() -> list[dict[str, Any]]:
    """One row per catalogue entry: what ``scl weights list --json`` prints."""
    from scl_desktop.core.weights import catalogue
    from scl_desktop.core.weights.download import cached_file, source_url

    rows = []
    for entry in catalogue.CATALOGUE:
        path = cached_file(entry)
        rows.append({"name": entry.name, "arch": entry.arch, "source": entry.source, "url": source_url(entry),
                     "sha256": entry.sha256, "size": entry.size, "cached": path is not None,
                     "path": str(path) if path is not None else None, "file_name": entry.file_name})
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    from scl_desktop.commands.runs import format_table
    from scl_desktop.core.weights.download import MIRROR_ENV, weights_dir
    from scl_desktop.terminal import print_json

    rows = listing()
    if args.json:
        print_json(rows)
        return 0
    folder = weights_dir()

    def cached(row: dict[str, Any]) -> str:
        if row["cached"]:
            return "yes"
        return "wrong file" if (folder / row["file_name"]).is_file() else "no"

    table = [[r["name"], r["arch"], r["source"], f"{r['size'] / 2**20:.1f}" if r["size"] else "?", cached(r),
              r["path"] or ""] for r in rows]
    print(format_table(["name", "arch", "source", "MB", "cached", "path"], table))
    print(f"\nFolder: {folder}")
    if any(row[4] == "wrong file" for row in table):
        print("A file marked 'wrong file' is not the published one: delete it and run `scl weights get NAME`.")
    if os.environ.get(MIRROR_ENV):
        print(f"Downloads come from {MIRROR_ENV}={os.environ[MIRROR_ENV]}.")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.weights.catalogue import entry_named
    from scl_desktop.core.weights.download import fetch_weights
    from scl_desktop.terminal import EventPrinter, ctrl_c_cancels, print_json

    entries = [entry_named(name) for name in dict.fromkeys(args.names)]  # an unknown name stops before any download
    printer = EventPrinter(quiet=args.quiet)  # not printer_for: that reads torchrun's rank through torch
    token = CancelToken()
    done = []

    def out(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    with ctrl_c_cancels(token, out, "Stopping the download; what was received is kept for the next `scl weights get` "
                        "(press Ctrl-C again to abort at once)."):
        for entry in entries:
            path = drive(fetch_weights(entry, cancel=token), printer)
            done.append({"name": entry.name, "path": str(path)})
            if not args.json:
                print(path)
    if args.json:
        print_json(done)
    return 0
