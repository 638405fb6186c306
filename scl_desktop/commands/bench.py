"""`scl bench`: how fast training and labelling run on this machine, against their references."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
Measure, on synthetic data, how many images per second this machine trains and labels with the
built-in code, side by side with two references on the same device:

  stage 1   the built-in pipeline (decoded store -> device -> batched augmentation -> SupCon step),
            the model-only ceiling (same model, loss and optimizer fed from a tensor already on the
            device) and the usual PIL/torchvision pipeline in DataLoader workers (one per CPU core);
  stage 2   100 epochs of the linear classifier on cached features against one stage-1 epoch;
  labelling windows of a GeoTIFF scene against the model-only inference ceiling.

Defaults follow the device: ResNet-50, 224 px, batch 128 on a CUDA GPU; the CPU training
defaults of `scl train` (resnet18, 64 px, batch 64) and a few steps on a CPU, about two minutes.
Nothing is written outside a temporary folder.

`scl bench --gui` measures instead how long the desktop app's window freezes (the worst gap of a
5 ms timer) while stage 1 trains in its worker, alone and with every core busy with other work.

Example:  scl bench --json
          scl bench --device cuda --compile"""


def register(subparsers: Any) -> None:
    """Add `scl bench` to the CLI."""
    p = subparsers.add_parser("bench", help="measure training and labelling speed on this machine",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto",
                   help="auto (default: CUDA GPU, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--arch", help="encoder (default resnet50 on a GPU, resnet18 on a CPU)")
    p.add_argument("--size", type=int, metavar="PX", help="image size the model sees (default 224 GPU, 64 CPU)")
    p.add_argument("--store-size", type=int, metavar="PX",
                   help="size of the decoded images the pipeline reads, of the reference's JPEGs and of the "
                        "label windows (default 256, the import default)")
    p.add_argument("--batch", type=int, metavar="B", help="images per step (default 128 GPU, 64 CPU)")
    p.add_argument("--steps", type=int, metavar="N", help="timed steps per measurement (default 50 GPU, 5 CPU)")
    p.add_argument("--warmup", type=int, metavar="N", help="untimed steps before each measurement (default 15 GPU, 2 CPU)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="DataLoader workers of the PIL reference (default: one per CPU core)")
    p.add_argument("--images", type=int, metavar="N",
                   help="training images for the stage-2 comparison (default 5000 GPU, 1000 CPU)")
    p.add_argument("--compile", action="store_true", help="also measure stage 1 with torch.compile (slow to start)")
    p.add_argument("--repeat", type=int, metavar="N",
                   help="run the stage-1 measurements N times, interleaved, and report the best of each "
                        "(steadier figures on a machine busy with other work; default 1 GPU, 2 CPU)")
    p.add_argument("--parts", default="stage1,stage2,label",
                   help="comma-separated parts to run: stage1, stage2, label (default all)")
    p.add_argument("--gui", action="store_true",
                   help="instead: the worst stall of the desktop app's GUI thread while stage 1 trains in its "
                        "worker, alone and with every CPU core loaded by competing processes "
                        "(python -m scl_desktop.benchmarks.gui_stall --help for its options)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="print errors only (no progress)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table (or JSON)."""
    if args.gui:
        import os

        from scl_desktop.benchmarks import gui_stall

        return gui_stall.main(["--contend", f"0,{os.cpu_count() or 1}", *(["--json"] if args.json else [])])
    from scl_desktop.core.events import drive
    from scl_desktop.core.workflows.bench import BenchConfig, format_report, run_bench
    from scl_desktop.terminal import EventPrinter, print_json

    config = BenchConfig(device=args.device, arch=args.arch, size=args.size, store_size=args.store_size,
                         batch=args.batch, steps=args.steps, warmup=args.warmup, workers=args.workers,
                         images=args.images, compile=args.compile, repeat=args.repeat,
                         parts=tuple(p.strip() for p in args.parts.split(",") if p.strip()))
    result = drive(run_bench(config), EventPrinter(quiet=args.quiet))
    if args.json:
        print_json(result)
    else:
        print(format_report(result))
    return 0
