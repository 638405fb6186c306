"""`scl mine`: rank new imagery for review to find more of the rare classes; or simulate the loop."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scl_desktop.commands.label import add_tiling_options, tiling_config

DESCRIPTION = """\
Score every image and window of the inputs with a trained run (read exactly as `scl label` reads
them) and write the candidates to review: DIR/candidates.csv (rank, file, window in pixels, map
bounds and CRS when georeferenced, predicted class, the probability of the class looked for, the
top-two margin, the entropy, the score) and an image chip per candidate, DIR/chips/<rank>_....png,
all written together or not at all.

--class NAME ranks by the probability of that class; --uncertain ranks by doubt (1 - margin
between the two most likely classes, or the normalised entropy with --uncertainty entropy). With
--diverse (the default) the list is spread over the encoder's feature space: among the --pool-factor
x --top best-scoring candidates, greedy farthest-point selection (cosine distance) picks the best
first and then, each time, the one farthest from all picked so far, so the top of the list is not
a row of neighbouring windows of one harbour; --no-diverse keeps plain score order.

--simulate measures the loop on a labelled POOL (a folder of class folders, a dataset manifest, or
the run's own dataset folder, whose images outside the split are then the pool); its labels play
the analyst and are never shown to the ranking. Round 0 is the run's stored test result; each
round ranks --top K pool images per minority class (not yet added, not shown for that class
before), accepts the true ones, adds them to the training part of a copy of the split (never to
validation or test; pool images that are images of the run's split are left out), refits stage 2
with the method's stored settings in a derived run that shares the encoder, and scores it on the
unchanged test set. The original run is never written. --json prints
{"rounds": [{"round", "added", "precision", "random_precision", "majority", "minority", "overall"}]}:
precision = true positives / list length per class; random_precision = the class's share of the
images the list was drawn from. The derived runs are deleted at the end unless --keep-runs.

`scl mine add DIR --out NEWDATA` writes a new dataset version from the review of DIR (the Review
page saves every decision to DIR/review.json): the accepted and relabelled chips in class folders
NEWDATA/<class>/, their provenance (NEWDATA/provenance.csv and .json: source file, window, CRS,
score, decision, when), NEWDATA/dataset.json (the run's dataset with the chips appended) and
NEWDATA/split.json (the run's split with the chips added to training only; validation and test
unchanged, the mined images listed in its config). The run is the one DIR/mine.json names.

Examples:
  scl mine RUN scenes/ --class harbor --top 50 --out mined/harbor
  scl mine add mined/harbor --out data/ucm-v2 --json
  scl mine RUN ../shared/data/ucmerced --simulate --rounds 2 --top 20 --json"""


def register(subparsers: Any) -> None:
    """Add `scl mine` to the CLI."""
    p = subparsers.add_parser("mine", help="rank new imagery to review for a rare class (or simulate the loop)",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="run id, name or unique id prefix (or the run folder); `add`: write "
                                            "a dataset version from a reviewed candidates folder")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="image files, GeoTIFF scenes or folders of them (with --simulate: one labelled POOL)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--class", dest="target", metavar="NAME", help="rank by the probability of this class")
    what.add_argument("--uncertain", action="store_true", help="rank by doubt (--uncertainty margin or entropy)")
    what.add_argument("--simulate", action="store_true",
                      help="simulate mining rounds on a labelled pool and report the accuracy after each")
    p.add_argument("--uncertainty", choices=("margin", "entropy"), default="margin",
                   help="how --uncertain measures doubt (default margin)")
    p.add_argument("--top", type=int, default=20, metavar="K", help="candidates per list (default 20)")
    p.add_argument("--diverse", action=argparse.BooleanOptionalAction, default=True,
                   help="spread the list over the encoder's feature space (default on)")
    p.add_argument("--pool-factor", type=int, default=4, metavar="F",
                   help="--diverse picks among the F x K best-scoring candidates (default 4)")
    p.add_argument("--out", metavar="DIR", help="folder for candidates.csv and chips/ (not with --simulate)")
    p.add_argument("--chip-size", type=int, metavar="PX", help="chip side in pixels (default: the run's working size)")
    p.add_argument("--rounds", type=int, default=2, metavar="R", help="--simulate: mining rounds (default 2)")
    p.add_argument("--keep-runs", action="store_true",
                   help="--simulate: keep each round's derived run in the runs folder (to compare with `scl runs`)")
    add_tiling_options(p)
    p.add_argument("--method", metavar="NAME", help="which model of the run; default: best overall accuracy")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default 64)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto; with --simulate the "
                                    "method's stored setting)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=run_mine)


def _rank_config(args: argparse.Namespace) -> Any:
    from scl_desktop.core.mining.ranking import RankConfig

    return RankConfig(top=args.top, diverse=args.diverse, pool_factor=args.pool_factor, uncertainty=args.uncertainty)


def run_mine(args: argparse.Namespace) -> int:
    from scl_desktop.core.errors import ConfigError

    if args.run == "add":
        return _add(args)
    if args.simulate:
        if len(args.inputs) != 1:
            raise ConfigError(f"--simulate takes one labelled POOL, not {len(args.inputs)} inputs.",
                              f"Give one folder of class folders, e.g. `scl mine {args.run} POOL --simulate`.")
        if args.out:
            raise ConfigError("--simulate writes no candidate files, so --out does not apply.",
                              "Leave out --out (use --json for the rounds).")
        return _simulate(args)
    if not (args.target or args.uncertain):
        raise ConfigError("Nothing to rank by was given.",
                          f"Add --class NAME or --uncertain, e.g. `scl mine {args.run} INPUT --uncertain --out DIR`.")
    if not args.out:
        raise ConfigError("No output folder was given.", "Add --out DIR (candidates.csv and chips/ go there).")
    return _mine(args)


def _mine(args: argparse.Namespace) -> int:
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.labelling.label import LabelConfig
    from scl_desktop.core.mining.candidates import MineConfig, find_candidates
    from scl_desktop.core.mining.export import write_candidates
    from scl_desktop.terminal import EventPrinter, ctrl_c_cancels, print_json

    label = LabelConfig(tiling=tiling_config(args), batch_size=args.batch_size, device=args.device or "auto",
                        method=args.method)
    config = MineConfig(target=args.target, rank=_rank_config(args), label=label)
    config.validate()
    token = CancelToken()
    printer = EventPrinter()
    with ctrl_c_cancels(token, lambda message: print(message, file=sys.stderr),
                        "\nstopping after the current batch (Ctrl-C again to abort) ..."):
        found = drive(find_candidates(args.run, args.inputs, config, token), printer)
        files = drive(write_candidates(found, args.out, args.chip_size, token), printer)
    print(f"wrote {files.csv} and {len(files.chips)} chips", file=sys.stderr)
    if args.json:
        print_json({**found.summary(), "csv": str(files.csv), "chips": [str(p) for p in files.chips]})
    else:
        for c in found.candidates[:10]:
            where = f" [col {c.row.col_off}, row {c.row.row_off}]" if c.row.cell_row is not None else ""
            print(f"{c.rank:4d}  {c.score:.3f}  {c.predicted:<20} {c.row.path}{where}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.mining.simulate import SimulationConfig, round_line, simulate
    from scl_desktop.core.runs.store import RunStore
    from scl_desktop.terminal import EventPrinter, ctrl_c_cancels, print_json

    config = SimulationConfig(rounds=args.rounds, rank=_rank_config(args), method=args.method, device=args.device,
                              batch_size=args.batch_size)
    config.validate()
    token = CancelToken()
    with ctrl_c_cancels(token, lambda message: print(message, file=sys.stderr),
                        "\nstopping after the current step (Ctrl-C again to abort) ..."):
        result = drive(simulate(args.run, args.inputs[0], config, token, RunStore() if args.keep_runs else None),
                       EventPrinter())
    if args.json:
        print_json(result.to_json())
    else:
        for r in result.rounds:
            print(round_line(r) + (f" [run {r.run}]" if args.keep_runs and r.run else ""))
    return 0


def _add(args: argparse.Namespace) -> int:
    from scl_desktop.core.errors import ConfigError
    from scl_desktop.core.events import drive
    from scl_desktop.core.mining.dataset_version import write_version
    from scl_desktop.core.mining.review import ReviewSession
    from scl_desktop.core.runs.store import RunStore
    from scl_desktop.terminal import EventPrinter, print_json

    if len(args.inputs) != 1 or not args.out:
        raise ConfigError("`scl mine add` takes one reviewed candidates folder and --out.",
                          "Run e.g. `scl mine add mined/harbor --out data/v2`.")
    review = ReviewSession.open(args.inputs[0])
    if not review.run_id:
        raise ConfigError(f"{args.inputs[0]} does not say which run its candidates came from (no mine.json).",
                          f"Write the list again with `scl mine RUN INPUT --class NAME --out {args.inputs[0]}`.")
    run = RunStore().open(review.run_id)
    version = drive(write_version(review, run.split, args.out), EventPrinter())
    print(f"{review.progress_text()}; wrote {version.folder}", file=sys.stderr)
    if args.json:
        print_json(version.to_json())
    else:
        print(version.split)
    return 0
