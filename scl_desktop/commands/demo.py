"""`scl demo`: the whole two-stage method and the Plain baseline on the built-in synthetic demo data."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scl_desktop.core.workflows.pipeline import PipelineResult

DESCRIPTION = """\
Run the whole method once on the built-in demo data, to see what it does before using your own:
generate the synthetic demo images (first time only; ten aerial-like classes, seven majority and
three minority classes that look like a majority class), import them, split them as the paper
does (40 training images per majority class, 8 per minority class, 30 test images per class),
train stage 1 (supervised contrastive encoder), stage 2 (a linear classifier per re-balancing
strategy: SCL-CB, SCL-CSCE, SCL-CE) and the paper's Plain baseline (end-to-end cross-entropy),
and print the paper's Table-1 breakdown: accuracy on the majority classes, on the minority
classes and overall, plus per-class accuracy.

Plain and stage 1 get the same network (ResNet-18 on 32 px views), augmentation, batch and
number of epochs. Takes one to two minutes on two CPU cores, less on a GPU. The runs are kept:
look at them again with `scl runs list` and `scl evaluate RUN`.

Example:  scl demo --seed 1"""

STAGE2_TITLE = "Stage 2"
"""How stage 2's progress tasks begin (``fit_classifier`` titles them "Stage 2 (METHOD) ...")."""


def register(subparsers: Any) -> None:
    """Add `scl demo` to the CLI (the engine is imported only when the command runs)."""
    p = subparsers.add_parser("demo", help="run the whole method and the Plain baseline on the built-in demo data",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the split and of training; the same seed repeats the same demo (default 0)")
    p.add_argument("--epochs", type=int, metavar="N",
                   help="epochs of stage 1 and of the Plain baseline, the same for both (default 30); "
                        "more epochs take longer and usually score higher")
    p.add_argument("--device", default="auto",
                   help="auto (default: CUDA GPU, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", dest="num_threads", type=int, metavar="N",
                   help="CPU threads torch may use (default: torch's choice, one per core). On a busy computer "
                        "--threads 1 can be much faster")
    p.add_argument("--json", action="store_true",
                   help='print the outcome as one JSON object on stdout: {"results": [{method, run, majority, '
                        'minority, overall, per_class}], ...} with accuracies in percent')
    p.add_argument("--quiet", action="store_true", help="print errors only (no progress)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`scl demo`: drive ``pipeline.run_demo`` with a progress printer, then print the results."""
    from scl_desktop.core.errors import ConfigError
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.workflows.pipeline import run_demo
    from scl_desktop.terminal import ctrl_c_cancels, print_json, printer_for

    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs} must be at least 1.", "Leave it out to use the demo's default.")
    printer, out = printer_for(args)
    token = CancelToken()
    with ctrl_c_cancels(token, out):
        result = drive(run_demo(args.seed, args.epochs, args.device, args.num_threads, cancel=token),
                       thinned(printer))
    if args.json:
        print_json({"synthetic": True, "seed": args.seed, **result.summary()})
    else:
        print(format_results(result))
    return 0


def thinned(printer: Callable[[Any], Any], lines_per_stage: int = 10) -> Callable[[Any], Any]:
    """``printer`` with stage 2 kept short: about ``lines_per_stage`` epoch lines and no per-epoch bars.

    Stage 2 runs three times for a hundred quick epochs each; every other event passes unchanged.
    """
    from scl_desktop.core.events import EpochMetrics, Progress

    def on_event(event: Any) -> None:
        if isinstance(event, Progress) and event.task.startswith(STAGE2_TITLE):
            return
        if isinstance(event, EpochMetrics) and event.stage == "classifier":
            every = max(1, -(-event.epochs // lines_per_stage))
            if event.epoch % every and event.epoch != event.epochs:
                return
        printer(event)

    return on_event


def format_results(result: PipelineResult) -> str:
    """The Table-1 breakdown, per-class accuracy, the minority gain of SCL-CB over Plain, the runs and the time."""
    from scl_desktop.commands.runs import TABLE1_HEADERS, _table1_row, format_table
    from scl_desktop.terminal import format_seconds

    evals = result.evaluations
    split = result.split
    lines = [f"Demo results on SYNTHETIC data (split seed {split.seed}; {len(split.test)} test images, "
             f"{min(split.counts('test').values())} per class):", ""]
    lines.append(format_table(TABLE1_HEADERS, [_table1_row(m, ev.summary()) for m, ev in evals.items()]))
    counts = split.counts("train")
    rows = [[c, split.roles.get(c, ""), counts[c], *(ev.per_class.get(c) for ev in evals.values())]
            for c in split.classes]
    lines += ["", "Per-class test accuracy:",
              format_table(["class", "role", "train n", *(f"{m} %" for m in evals)], rows)]
    if "Plain" in evals and "SCL-CB" in evals:
        plain, scl = evals["Plain"].minority, evals["SCL-CB"].minority
        if plain is not None and scl is not None:
            lines += ["", f"Minority classes: SCL-CB {scl:.1f}% vs Plain {plain:.1f}% ({scl - plain:+.1f} points)."]
    methods_of: dict[str, list[str]] = {}
    for method in evals:
        methods_of.setdefault(result.run_of(method).id, []).append(method)
    lines += ["", "Runs (see them again with `scl evaluate RUN`):"]
    lines += [f"  {run_id}  {', '.join(methods)}" for run_id, methods in methods_of.items()]
    if result.split_path is not None:
        lines.append(f"Split: {result.split_path} (train on it with `scl train` / `scl baseline`)")
    lines.append(f"Took {format_seconds(result.seconds.get('total'))}.")
    return "\n".join(lines)
