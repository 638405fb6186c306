"""`scl split`: build a train / validation / test split with majority and minority classes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scl_desktop.core.errors import ConfigError

DESCRIPTION = """\
Split an imported dataset into training, validation and test images and mark each class as a
majority or minority class. The roles travel with every later run and result.

Protocols:
  ci          the paper's class-imbalance protocol: the first K classes (in the dataset's class
              order) or the named ones are majority classes and keep many training images
              (--major-frac of each class, or --major-count images); all others are minority
              classes with only --s training images. A balanced test set of --test-per-class
              images per class comes from the images left over. --protocol-preset aid, nwpu or
              ucm sets --major-frac/--major-count and --test-per-class as for the paper's AID
              (50 %, 100) and NWPU-RESISC45 (140, 400) or the README's UC Merced (50, 40);
              flags given beside it replace its numbers.
  stratified  for data that is already imbalanced: each class is split by --test-frac, then
              --val-frac of its training images go to validation; classes whose training count is below the geometric mean of all counts
              and at most half of the largest are minority classes (or use --majority-threshold,
              --majority, --majority-classes).
  predefined  keep the split column of a CSV manifest (train / val / test per row).
Without --protocol: predefined when every image has a split value, ci otherwise.
The same --seed always picks the same images."""

CI_ONLY = ("protocol_preset", "major_frac", "major_count", "s", "test_per_class")


def register(subparsers: Any) -> None:
    """Add `scl split` to the CLI."""
    from scl_desktop.core.data import split as split_mod

    p = subparsers.add_parser("split", help="split a dataset into train/val/test with majority and minority classes",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", metavar="MANIFEST",
                   help="dataset manifest JSON written by `scl import` (a split JSON or an image folder also work)")
    p.add_argument("--protocol", choices=("ci", "stratified", "predefined"), default=None,
                   help="how to split (see above); default: predefined if the manifest has a split column, else ci")
    roles = p.add_mutually_exclusive_group()
    roles.add_argument("--majority", type=int, metavar="K",
                       help="the first K classes in the dataset's class order are majority classes "
                            "(ci default: two thirds of the classes)")
    roles.add_argument("--majority-classes", metavar="A,B,...",
                       help="comma-separated names of the majority classes; all others are minority classes")
    share = p.add_mutually_exclusive_group()
    share.add_argument("--major-frac", type=float, metavar="F",
                       help="ci: fraction of each majority class used for training (default 0.5, as for AID)")
    share.add_argument("--major-count", type=int, metavar="N",
                       help="ci: training images per majority class (NWPU: 140, UC Merced: 50)")
    p.add_argument("--protocol-preset", choices=tuple(split_mod.CI_PRESETS),
                   help="ci: the majority share and test size of a dataset's protocol (see above)")
    p.add_argument("--s", type=int, metavar="N", help="ci: training images per minority class (default 10; paper: 5 or 10)")
    p.add_argument("--test-per-class", type=int, metavar="N",
                   help=f"ci: test images per class, the same for every class (default: the paper's "
                        f"{split_mod.PAPER_TEST_PER_CLASS} when every class can give it, else as many as every class "
                        "can give, and the split says so)")
    p.add_argument("--test-frac", type=float, metavar="F", help="stratified: fraction of each class for testing (default 0.3)")
    p.add_argument("--val-frac", type=float, metavar="F", default=split_mod.VAL_FRAC,
                   help="validation share, scored after every epoch so that the test images are used once, at the "
                        "end: ci takes it from the images left after train and test (at least one per class that "
                        "has any left), stratified from each class's training images (at least one, always "
                        f"keeping {split_mod.MIN_TRAIN_KEPT} for training; a smaller class gets none and the "
                        f"split says so); 0: no validation set (default {split_mod.VAL_FRAC:g})")
    p.add_argument("--majority-threshold", type=int, metavar="N",
                   help="stratified/predefined: a class with at least N training images is a majority class")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed picks the same images (default 0)")
    p.add_argument("--out", metavar="SPLIT",
                   help="where to write the split JSON (default: beside MANIFEST, named after protocol and seed)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scl_desktop.core.data import split as split_mod
    from scl_desktop.core.data.sources import load_dataset_source
    from scl_desktop.core.events import drive
    from scl_desktop.terminal import EventPrinter

    dataset, beside = drive(load_dataset_source(Path(args.manifest)), EventPrinter())
    protocol = args.protocol or (
        "predefined" if dataset.items and all(item.split for item in dataset.items) else "ci")
    options: dict[str, Any] = {
        "protocol": protocol, "majority": args.majority, "seed": args.seed, "val_frac": args.val_frac,
        "majority_threshold": args.majority_threshold,
        "major_frac": args.major_frac, "major_count": args.major_count, "test_per_class": args.test_per_class,
    }
    if args.protocol_preset is not None:
        options.update(split_mod.CI_PRESETS[args.protocol_preset].numbers(
            args.major_frac, args.major_count, args.test_per_class))
    if args.majority_classes is not None:
        options["majority_classes"] = tuple(c.strip() for c in args.majority_classes.split(",") if c.strip())
    if args.s is not None:
        options["s"] = args.s
    if args.test_frac is not None:
        options["test_frac"] = args.test_frac
    if protocol != "ci":
        given = [name for name in CI_ONLY if getattr(args, name) is not None]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ConfigError(f"{flags} only apply to the ci protocol.", "Drop them or use --protocol ci.")
    elif args.test_frac is not None:
        raise ConfigError("--test-frac only applies to the stratified protocol.",
                          "With ci, set the balanced test size with --test-per-class.")
    split = split_mod.build_split(dataset, split_mod.SplitConfig(**options))

    out = Path(args.out) if args.out else beside.with_name(f"{beside.stem}.split-{protocol}-seed{args.seed}.json")
    path = split.save(out)

    info = split_mod.summary(split)
    if args.json:
        from scl_desktop.terminal import print_json

        print_json({**info, "split": str(path)})
    else:
        print(format_table(info))
        print(f"split written to {path}")
    for warning in info["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def format_table(info: dict[str, Any]) -> str:
    """Readable table of images per class and part, with each class's role."""
    counts = info["counts"]
    roles = info["roles"]
    width = max([len("class")] + [len(c) for c in roles])
    lines = [f"{'class':<{width}}  {'role':<8}  {'train':>6}  {'val':>5}  {'test':>5}"]
    totals = {part: 0 for part in counts}
    for c, role in roles.items():
        lines.append(f"{c:<{width}}  {role:<8}  {counts['train'][c]:>6}  {counts['val'][c]:>5}  {counts['test'][c]:>5}")
        for part in counts:
            totals[part] += counts[part][c]
    lines.append(f"{'total':<{width}}  {'':<8}  {totals['train']:>6}  {totals['val']:>5}  {totals['test']:>5}")
    n_major = sum(1 for r in roles.values() if r == "majority")
    lines.append(f"{info['protocol']} split, seed {info['seed']}: {n_major} majority and "
                 f"{len(roles) - n_major} minority classes")
    return "\n".join(lines)
