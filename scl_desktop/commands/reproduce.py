"""`scl reproduce`: the paper's Tables 1-3 and this project's ablations (4, 5) on a CI split, over seeds, resumable."""

from __future__ import annotations

import argparse
import shlex
import textwrap
from typing import Any

DESCRIPTION = """\
Repeat the paper's experiments (Huang et al., ICASSP 2022) on your data with the real engine:

  Table 1  Plain CE, then one row per --classifiers strategy (default all: SCL-CE, SCL-CB,
           SCL-CSCE, SCL-TauNorm, SCL-LogitAdj, SCL-LALoss, SCL-BalSoftmax, SCL-Auto)
  Table 2  stage-1 augmentation ablation: RCR, +RF, +RF+RR, +RF+RR+RCD
  Table 3  stage-1 re-balancing ablation: SCL, CS-SCL, CB sampling in stage 1
  Table 4  what each change of this release buys: SCL-CB and SCL-CSCE with one undone per row
           (stage 2 on 1 plain view, on 8 views, views with stage 1's policy, no step floor,
           CSCE divided by the batch size, no stage-1 warm-up, all undone)
  Table 5  resolution and stem: one encoder per --resolutions entry, with its training minutes

for every seed and every minority size s, on the paper's class-imbalance (CI) split: the first
--majority classes in sorted order keep --major-frac of their images or --major-count of them,
the others s, and --test-per-class images per class form a balanced test set. Tables 2 and 3
score each encoder with one classifier strategy (--ablation-classifier). Shared work is done
once: the Table-1 encoder serves every SCL row of Table 1, the last row of Table 2 and the first
of Table 3; stage 2 on its cached features takes seconds per strategy. SCL-Auto picks strategy
and tau by validation balanced accuracy; the report lists what it chose per seed and s.

Tables 1-3 run by default; ask for 4 and 5 with --tables. Table 4's stage-2 rows refit the
Table-1 encoder (seconds each); its warm-up rows train one more encoder per seed and s. Table 5
trains one encoder per --resolutions entry (resnet18-small at 64 px costs about 16 times
resnet18 at 64 px). With --weights, "Probe only" rows fit the classifiers on the pretrained
encoder as it is (no stage 1).

--protocol-preset names the CI numbers of a dataset (the flags above replace them):
{presets}

Writes OUT/report.md (mean +- std per cell), OUT/results.json (every raw result) and
OUT/state.json. Stopped (Ctrl-C, killed, power cut)? Run the same command again: finished cells
are skipped and a stopped training continues from its last checkpoint.

Defaults follow the device: on a GPU the paper's (ResNet-50, 224 px, 500 epochs); on a CPU the
scaled-down defaults of `scl train` (ResNet-18, 64 px, 30 epochs). Every run also appears in
`scl runs list`.

Example:  scl reproduce ../shared/data/ucmerced --out reproduce/ucmerced --seeds 0,1,2 --s 10,5
          scl reproduce ../shared/data/ucmerced --out reproduce/quick --tables 1 --epochs 10
          scl reproduce ../shared/data/ucmerced --out reproduce/ucmerced --tables 1,4
          scl reproduce path/to/AID --out reproduce/aid --protocol-preset aid"""


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one number")
    return values


def _names(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("give at least one strategy")
    return values


def _resolutions(text: str) -> tuple[tuple[str, int], ...]:
    entries = []
    for entry in (v.strip() for v in text.split(",") if v.strip()):
        arch, _, px = entry.rpartition("@")
        if not arch or not px.isdigit():
            raise argparse.ArgumentTypeError(f"{entry!r} is not ARCH@PX, e.g. resnet18-small@32")
        entries.append((arch, int(px)))
    if not entries:
        raise argparse.ArgumentTypeError("give at least one ARCH@PX")
    return tuple(entries)


def register(subparsers: Any) -> None:
    """Add `scl reproduce` to the CLI."""
    from scl_desktop.core.data.split import CI_PRESETS
    from scl_desktop.core.methods import CLASSIFIER_BALANCES
    from scl_desktop.core.workflows.reproduce_tables import DEFAULT_RESOLUTIONS, DEFAULT_TABLES, TABLES

    presets = "\n".join(textwrap.fill(preset.source, 96, initial_indent=f"  {name:<5} ", subsequent_indent=" " * 8)
                         for name, preset in CI_PRESETS.items())
    p = subparsers.add_parser("reproduce", help="reproduce the paper's tables on a dataset (several seeds, resumable)",
                              description=DESCRIPTION.format(presets=presets),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="DATASET",
                   help="folder of class folders, or a dataset manifest (`scl import`) or split JSON (`scl split`)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for report.md, results.json and state.json (re-use it to continue)")
    p.add_argument("--seeds", type=_ints, default=(0, 1, 2), metavar="LIST",
                   help="seeds, comma-separated; each draws its own split and training (default 0,1,2)")
    p.add_argument("--s", dest="s_values", type=_ints, default=(10, 5), metavar="LIST",
                   help="training images per minority class, comma-separated (default 10,5, the paper's)")
    p.add_argument("--tables", type=_ints, default=DEFAULT_TABLES, metavar="LIST",
                   help=f"which tables to compute: {', '.join(map(str, TABLES))}, comma-separated "
                        f"(default {','.join(map(str, DEFAULT_TABLES))})")
    p.add_argument("--majority", type=int, metavar="K",
                   help="the first K classes (sorted) are majority classes (default: two thirds, 14 of 21)")
    p.add_argument("--protocol-preset", choices=tuple(CI_PRESETS), default="ucm",
                   help="the CI numbers of one of the paper's datasets (see above; default ucm)")
    share = p.add_mutually_exclusive_group()
    share.add_argument("--major-frac", type=float, metavar="F",
                       help="fraction of each majority class used for training (default: the preset's)")
    share.add_argument("--major-count", type=int, metavar="N",
                       help="training images per majority class (default: the preset's)")
    p.add_argument("--test-per-class", type=int, metavar="N", help="test images per class (default: the preset's)")
    p.add_argument("--arch", help="encoder of stage 1 and Plain (default resnet50 on a GPU, resnet18 on a CPU)")
    p.add_argument("--image-size", type=int, metavar="PX", help="training image size (default 224 GPU, 64 CPU)")
    p.add_argument("--store-size", type=int, metavar="PX",
                   help="side of the decoded image cache (default: chosen per encoder from the images' native "
                        "size and its view size, at most 512; see `scl train --help`)")
    p.add_argument("--epochs", type=int, help="epochs of stage 1 and of Plain (default 500 GPU, 30 CPU)")
    p.add_argument("--warmup-epochs", type=int, metavar="N",
                   help="learning-rate warm-up epochs of stage 1 and of Plain, at most a quarter of the epochs (default: 5 for stage 1, none for Plain)")
    p.add_argument("--classifier-epochs", type=int, metavar="N", help="epochs of stage 2 (default 100)")
    p.add_argument("--weights", dest="weights_path", metavar="NAME|FILE",
                   help="start every encoder (and Plain) from published weights (`scl weights list`) or a local "
                        ".pth, and add Table 1 rows for stage 2 on the pretrained encoder as it is (probe only); "
                        "default: random initialisation, as in the paper")
    p.add_argument("--classifiers", type=_names, default=CLASSIFIER_BALANCES, metavar="LIST",
                   help="stage-2 strategies of Table 1's SCL rows, comma-separated, from "
                        f"{', '.join(CLASSIFIER_BALANCES)} (default all; `scl fit --help` explains each)")
    p.add_argument("--ablation-classifier", dest="ablation_balance", choices=CLASSIFIER_BALANCES, default="cb",
                   help="classifier strategy that scores the encoders of tables 2, 3 and 5 (default cb)")
    p.add_argument("--resolutions", type=_resolutions, default=DEFAULT_RESOLUTIONS, metavar="LIST",
                   help="Table 5's encoders as ARCH@PX, comma-separated (default "
                        f"{_resolutions_text(DEFAULT_RESOLUTIONS)})")
    p.add_argument("--device", default="auto",
                   help="auto (default: CUDA GPU, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true", help="print where the outputs are and every table row as JSON")
    p.add_argument("--quiet", action="store_true", help="print errors only (no progress)")
    p.set_defaults(func=run)


def _resolutions_text(entries: tuple[tuple[str, int], ...]) -> str:
    return ",".join(f"{arch}@{px}" for arch, px in entries)


def command_line(args: argparse.Namespace) -> str:
    """The complete `scl reproduce` command of these options (every default spelt out), for the report."""
    def join(values: tuple[int, ...]) -> str:
        return ",".join(map(str, values))

    parts = ["scl", "reproduce", args.source, "--out", args.out, "--seeds", join(args.seeds),
             "--s", join(args.s_values), "--tables", join(args.tables), "--classifiers", ",".join(args.classifiers)]
    if 5 in args.tables:
        parts += ["--resolutions", _resolutions_text(args.resolutions)]
    options = (("--majority", args.majority), ("--protocol-preset", args.protocol_preset),
               ("--major-frac", args.major_frac), ("--major-count", args.major_count),
               ("--test-per-class", args.test_per_class), ("--arch", args.arch), ("--image-size", args.image_size),
               ("--store-size", args.store_size), ("--epochs", args.epochs),
               ("--warmup-epochs", args.warmup_epochs),
               ("--classifier-epochs", args.classifier_epochs), ("--weights", args.weights_path),
               ("--ablation-classifier", args.ablation_balance), ("--device", args.device))
    for flag, value in options:
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Run (or continue) the reproduction and print where the report is."""
    from scl_desktop.core.atomic import read_json
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.workflows.reproduce import ReproduceConfig, reproduce
    from scl_desktop.terminal import ctrl_c_cancels, print_json, printer_for

    config = ReproduceConfig(
        source=args.source, out=args.out, seeds=args.seeds, s_values=args.s_values, tables=args.tables,
        majority=args.majority, protocol_preset=args.protocol_preset, major_frac=args.major_frac,
        major_count=args.major_count, test_per_class=args.test_per_class, arch=args.arch,
        image_size=args.image_size, store_size=args.store_size, epochs=args.epochs, warmup_epochs=args.warmup_epochs,
        classifier_epochs=args.classifier_epochs, weights_path=args.weights_path, device=args.device,
        classifiers=args.classifiers, ablation_balance=args.ablation_balance, resolutions=args.resolutions,
        command=command_line(args))
    printer, out = printer_for(args)
    token = CancelToken()
    with ctrl_c_cancels(token, out):
        result = drive(reproduce(config, cancel=token), printer)
    if args.json:
        print_json({"report": str(result.report), "results": str(result.results), "state": str(result.state),
                    "cells_finished": result.cells_done, "cells_total": result.cells_total,
                    "cells_skipped": result.skipped, "failed": result.failed,
                    "rows": read_json(result.results)["rows"]})
    else:
        print(result.report.read_text(encoding="utf-8"))
        print(f"report written to {result.report}")
    return 0 if not result.failed else 1
