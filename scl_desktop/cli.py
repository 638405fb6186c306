"""`scl`: the headless command line over the same engine the desktop app uses.

Each command group lives in a module of ``scl_desktop.commands`` with a ``register(subparsers)``
function; every such module is registered. Errors from the engine are printed as one clear message and exit with status 2; a
cancelled step (Ctrl-C) exits with 130 whatever the command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from scl_desktop import __version__, configure_process


def build_parser() -> argparse.ArgumentParser:
    """The full `scl` argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="scl",
        description="Two-stage supervised-contrastive learning for imbalanced aerial scene recognition.",
    )
    parser.add_argument("--version", action="version", version=f"scl_desktop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from scl_desktop import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"scl_desktop.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `scl` console script."""
    configure_process()
    from scl_desktop.core.errors import Cancelled, SclError
    from scl_desktop.logging_setup import setup_logging
    from scl_desktop.terminal import quiet_broken_pipe

    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("scl")
    try:
        return quiet_broken_pipe(lambda: int(args.func(args) or 0))  # `scl runs list | head` exits quietly
    except Cancelled as exc:  # every command: Ctrl-C / cancel stops cleanly, keeps the work, exits 130
        logging.getLogger("scl").info("%s cancelled: %s", args.command, exc)
        print(f"cancelled: {exc}", file=sys.stderr)
        kept = getattr(exc.kept, "id", None)  # a run: scripts with --json still learn which one
        if getattr(args, "json", False) and kept is not None:
            from scl_desktop.terminal import print_json

            print_json({"status": "cancelled", "run": kept, "path": str(exc.kept.path)})
        return 130
    except SclError as exc:
        logging.getLogger("scl").info("%s failed: %s", args.command, exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: work done so far was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
