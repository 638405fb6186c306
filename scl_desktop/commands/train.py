"""`scl train` (stage 1), `scl fit` (stage 2) and `scl baseline` (the Plain end-to-end models)."""

from __future__ import annotations

import argparse
from typing import Any

TRAIN_DESCRIPTION = """\
Stage 1 of the two-stage method: train a ResNet encoder with the supervised contrastive (SupCon)
loss on the split's training images, as they are (not re-balanced). Two augmented views per image
(random crop and resize, flips, rotation, colour distortion; each can be switched off).

Defaults are the paper's: ResNet-50, 224 px, batch 128, lr 0.5 with a cosine schedule, SGD
momentum 0.9, weight decay 1e-4, temperature 0.1, 500 epochs. On a CPU the costly defaults are
scaled down (resnet18, 64 px, 30 epochs, batch 64) and the command says so; set an option
explicitly to keep your value. Press Ctrl-C once to stop after the current step with a
checkpoint; continue later with --resume RUN.

Example:  scl train splits/aid_ci_seed0.json --epochs 200
Next:     scl fit RUN --balance cb"""

FIT_DESCRIPTION = """\
Stage 2: freeze the run's encoder and train one linear classifier on top, with a re-balancing
strategy: cb (class-balanced sampling, the paper's best), csce (cost-sensitive cross-entropy)
or none (plain instance sampling). Paper defaults: 100 epochs, batch 128, lr 0.01 cosine, SGD
momentum 0.9, weight decay 5e-5. The encoder's features are computed once and cached, so this
takes a fraction of one stage-1 epoch. The test-set result is stored in the run as SCL-CB,
SCL-CSCE or SCL-CE.

Example:  scl fit 20250131-142233-scl-3fa9 --balance all"""

BASELINE_DESCRIPTION = """\
Train the paper's "Plain" baseline on a split: the same encoder and a linear layer trained end to
end with cross-entropy, same augmentation; optionally re-balanced (--balance cb or csce). The
test-set result is stored as Plain, Plain-CB or Plain-CSCE, to compare with the two-stage method.
Defaults: the encoder's (ResNet-50, 224 px, batch 128, 500 epochs) with lr 0.1; scaled down on a
CPU like `scl train`.

Example:  scl baseline splits/aid_ci_seed0.json --balance none"""

BALANCE_HELP = {"cb": "class-balanced sampling", "csce": "cost-sensitive cross-entropy", "none": "no re-balancing"}


def register(subparsers: Any) -> None:
    """Add `scl train`, `scl fit` and `scl baseline` to the CLI."""
    formatter = argparse.RawDescriptionHelpFormatter

    p = subparsers.add_parser("train", help="stage 1: train the encoder with the supervised contrastive loss",
                              description=TRAIN_DESCRIPTION, formatter_class=formatter)
    p.add_argument("split", metavar="SPLIT", nargs="?",
                   help="split manifest JSON written by `scl split` (not needed with --resume)")
    _image_model_options(p, epochs=500, lr=0.5)
    p.add_argument("--temperature", type=float, help="SupCon temperature tau (default 0.1, the paper's)")
    p.add_argument("--sampler", choices=("instance", "cb"),
                   help="instance: every image once per epoch (default, the paper's); cb: classes drawn uniformly "
                        "(the paper's Table 3 ablation)")
    p.add_argument("--cs-scl", action="store_true", default=None,
                   help="weight each image's contrastive loss by n_min/n_class (CS-SCL, Table 3 ablation)")
    p.add_argument("--proj-dim", type=int, help="size of the projection head's output (default 128)")
    p.add_argument("--resume", metavar="RUN",
                   help="continue a stopped stage-1 run (id or folder) with its own settings")
    p.set_defaults(func=run_train)

    f = subparsers.add_parser("fit", help="stage 2: train a re-balanced linear classifier on a run's frozen encoder",
                              description=FIT_DESCRIPTION, formatter_class=formatter)
    f.add_argument("run", metavar="RUN", help="run id (or unique part of it, or its folder) from `scl train`")
    f.add_argument("--balance", choices=("cb", "csce", "none", "all"), default="cb",
                   help="cb: class-balanced sampling (default); csce: cost-sensitive cross-entropy; none: plain; "
                        "all: fit all three one after the other")
    _sgd_options(f, epochs=100, lr=0.01, weight_decay=5e-5)
    f.add_argument("--no-cached-features", dest="cached_features", action="store_false", default=None,
                   help="run the encoder on freshly augmented images every step instead of on cached features "
                        "(slower)")
    f.add_argument("--feature-views", type=int, metavar="V",
                   help="cache V augmented views of every training image (default 1: the plain image)")
    f.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="compute the encoder features in float32 even on a GPU")
    f.set_defaults(func=run_fit)

    b = subparsers.add_parser("baseline", help="train the Plain end-to-end cross-entropy baseline (optionally CB/CSCE)",
                              description=BASELINE_DESCRIPTION, formatter_class=formatter)
    b.add_argument("split", metavar="SPLIT", nargs="?",
                   help="split manifest JSON written by `scl split` (not needed with --resume)")
    b.add_argument("--balance", choices=("none", "cb", "csce"),
                   help="none: Plain (default); cb: class-balanced sampling; csce: cost-sensitive cross-entropy")
    _image_model_options(b, epochs=500, lr=0.1)
    b.add_argument("--eval-every", type=int, metavar="N",
                   help="measure per-class accuracy on the validation (or test) images every N epochs (default 1)")
    b.add_argument("--resume", metavar="RUN", help="continue a stopped baseline run (id or folder)")
    b.set_defaults(func=run_baseline)


def _sgd_options(p: argparse.ArgumentParser, epochs: int, lr: float, weight_decay: float) -> None:
    p.add_argument("--epochs", type=int, help=f"training epochs (default {epochs})")
    p.add_argument("--batch-size", type=int, metavar="B", help="images per step (default 128)")
    p.add_argument("--lr", type=float, help=f"peak learning rate of the cosine schedule (default {lr:g})")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, help=f"SGD weight decay (default {weight_decay:g})")
    p.add_argument("--warmup-epochs", type=int, metavar="N",
                   help="raise the learning rate linearly over the first N epochs (default 0)")
    p.add_argument("--device", help="auto (default: CUDA GPU, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps; "
                                    "`scl doctor` shows what auto picks")
    p.add_argument("--seed", type=int, help="random seed; the same seed repeats the same run (default 0)")
    p.add_argument("--threads", dest="num_threads", type=int, metavar="N",
                   help="CPU threads torch may use (default: torch's choice)")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="print errors only (no progress)")


def _image_model_options(p: argparse.ArgumentParser, epochs: int, lr: float) -> None:
    p.add_argument("--arch", metavar="ARCH",
                   help="encoder: resnet50 (default, the paper's), resnet18, resnet34; resnet18-small for 32-64 px "
                        "images; tiny for smoke tests (CPU default: resnet18)")
    p.add_argument("--image-size", type=int, metavar="PX",
                   help="side of the augmented training images in pixels (default 224; CPU default 64)")
    p.add_argument("--store-size", type=int, metavar="PX",
                   help="resolution of the decoded image cache (default: the dataset's working size from import)")
    p.add_argument("--weights", dest="weights_path", metavar="PTH",
                   help="start the encoder from this local .pth file (e.g. ImageNet ResNet weights); "
                        "default: random initialisation")
    _sgd_options(p, epochs=epochs, lr=lr, weight_decay=1e-4)
    p.add_argument("--no-crop", action="store_true", help="switch off random crop and resize (RCR)")
    p.add_argument("--no-flip", action="store_true", help="switch off random horizontal and vertical flips (RF)")
    p.add_argument("--no-rotate", action="store_true", help="switch off random rotation (RR)")
    p.add_argument("--no-color", action="store_true", help="switch off random colour distortion (RCD)")
    p.add_argument("--rotate-mode", choices=("90", "any", "both"),
                   help="rotation by multiples of 90 degrees (default), by any angle, or both")
    p.add_argument("--checkpoint-every", type=int, metavar="N",
                   help="save a resumable checkpoint every N epochs (default 10; also saved at the end and on Ctrl-C)")
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="train in float32 even on a GPU (default: bf16/fp16 mixed precision on CUDA)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=None,
                   help="keep the default memory layout on CUDA")
    p.add_argument("--compile", action="store_true", default=None,
                   help="compile the model with torch.compile (slower start, often faster steps on a GPU)")
    p.add_argument("--name", help="a name for the run, usable instead of its id")


_NOT_CONFIG = {"split", "resume", "json", "quiet", "func", "command", "run", "name", "no_crop", "no_flip",
               "no_rotate", "no_color", "rotate_mode"}


def _given(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """Config fields the user set on the command line (options left at None were not given)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {k: v for k, v in vars(args).items() if k in names and k not in _NOT_CONFIG and v is not None}
    augment = _augment_changes(args)
    if augment:
        from scl_desktop.core.model.augment import AugmentConfig

        values["augment"] = AugmentConfig(**augment)
    return values


def _augment_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for part in ("crop", "flip", "rotate", "color"):
        if getattr(args, f"no_{part}", False):
            changes[part] = False
    if getattr(args, "rotate_mode", None):
        changes["rotate_mode"] = args.rotate_mode
    return changes


def _build_config(config_cls: type, args: argparse.Namespace, out: Any) -> Any:
    """The configuration from the options; CPU-scaled (with a note on stderr) when training on the CPU."""
    from scl_desktop.core import devices
    from scl_desktop.core.training.config import cpu_defaults

    given = _given(args, config_cls)
    config = config_cls(**given)
    if devices.resolve_device(config.device).type == "cpu":
        config, message = cpu_defaults(config, explicit=given)
        if message:
            out(message)
    return config


def _load_split(path: str | None) -> Any:
    from scl_desktop.core.data.manifest import SplitManifest
    from scl_desktop.core.errors import ConfigError

    if not path:
        raise ConfigError("No split was given.", "Pass the split JSON written by `scl split`, or --resume RUN.")
    return SplitManifest.load(path)


def _train_or_resume(args: argparse.Namespace, train: Any, config_cls: type) -> Any:
    """Drive ``train`` (``train_encoder`` or ``train_baseline``) on a new run of SPLIT with the options'
    configuration, or continue the --resume run; the first Ctrl-C stops it cleanly. Returns what it returns."""
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.runs.store import RunStore
    from scl_desktop.terminal import ctrl_c_cancels, printer_for

    printer, out = printer_for(args)
    token = CancelToken()
    if args.resume:
        if args.split:
            out("Note: SPLIT is ignored with --resume; the run's own split is used.")
        step = train(None, None, run=RunStore().open(args.resume), resume=True, cancel=token)
    else:
        config = _build_config(config_cls, args, out)
        step = train(_load_split(args.split), config, cancel=token, name=args.name)
    with ctrl_c_cancels(token, out):
        return drive(step, printer)


def run_train(args: argparse.Namespace) -> int:
    """`scl train`: stage 1."""
    from scl_desktop.core.training.config import EncoderConfig
    from scl_desktop.core.training.distributed import DistContext
    from scl_desktop.core.training.encoder import train_encoder
    from scl_desktop.terminal import print_json

    run = _train_or_resume(args, train_encoder, EncoderConfig)
    if not DistContext.from_env().is_main:
        return 0  # under torchrun rank 0 reports; the others' view of the run record may be stale
    rows = run.read_metrics("encoder")
    if args.json:
        print_json({"run": run.id, "path": str(run.path), "status": run.status,
                    "epochs": rows[-1]["epoch"] if rows else 0, "loss": rows[-1]["loss"] if rows else None})
    return 0


def run_fit(args: argparse.Namespace) -> int:
    """`scl fit`: stage 2 with one or all balance strategies."""
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.methods import BALANCES, method_for
    from scl_desktop.core.runs.store import RunStore
    from scl_desktop.core.training.classifier import fit_classifier
    from scl_desktop.core.training.config import ClassifierConfig
    from scl_desktop.terminal import ctrl_c_cancels, print_json, printer_for

    printer, out = printer_for(args)
    run = RunStore().open(args.run)
    balances = BALANCES if args.balance == "all" else (args.balance,)
    token = CancelToken()
    with ctrl_c_cancels(token, out):
        for balance in balances:
            args.balance = balance
            config = ClassifierConfig(**_given(args, ClassifierConfig))
            drive(fit_classifier(run, config, cancel=token), printer)
    if args.json:
        fitted = {method_for("scl", b).name for b in balances}
        print_json({"results": [row for row in run.result_rows() if row["method"] in fitted]})
    return 0


def run_baseline(args: argparse.Namespace) -> int:
    """`scl baseline`: Plain / Plain-CB / Plain-CSCE."""
    from scl_desktop.core.training.baseline import train_baseline
    from scl_desktop.core.training.config import BaselineConfig
    from scl_desktop.terminal import print_json

    run, _evaluation = _train_or_resume(args, train_baseline, BaselineConfig)
    if args.json:
        print_json({"results": run.result_rows()})
    return 0
