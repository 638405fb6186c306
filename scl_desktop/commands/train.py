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
explicitly to keep your value. Every --probe-every epochs (and after the last) a kNN probe of
the encoder prints majority / minority / overall accuracy on the split's validation images (the
test images are left for the final result). Press Ctrl-C once to stop after the current step with
a checkpoint; continue later with --resume RUN.

Example:  scl train splits/aid_ci_seed0.json --epochs 200
Next:     scl fit RUN --balance cb"""

FIT_DESCRIPTION = """\
Stage 2: freeze the run's encoder and train one linear classifier on top, with a re-balancing
strategy: the paper's cb (class-balanced sampling, its best), csce (cost-sensitive cross-entropy)
or none (plain instance sampling), or a long-tail classifier beyond the paper: tau-norm
(tau-normalised class weights, Kang et al. 2020), logit-adj (post-hoc logit adjustment) and
la-loss (the logit-adjusted loss, both Menon et al. 2021), balanced-softmax (Ren et al. 2020).
--tau sets the strength of tau-norm, logit-adj and la-loss (default 1). auto fits all of them,
with a few tau values each, and keeps the one with the best balanced accuracy on the split's
validation images (the test images are scored once, for the kept classifier); it prints its choice.

Paper defaults: 100 epochs, batch 128, lr 0.01 cosine, SGD momentum 0.9, weight decay 5e-5; small
splits get longer epochs, for at least --min-steps steps in all. The encoder's features are
computed once and cached, so this takes a fraction of one stage-1 epoch; --feature-views V caches
V views per image, drawn with stage 2's own light policy (crop and flip). The test-set result is
stored in the run under the strategy's method: SCL-CB, SCL-CSCE, SCL-CE, SCL-TauNorm,
SCL-LogitAdj, SCL-LALoss, SCL-BalSoftmax or SCL-Auto.

Example:  scl fit 20250131-142233-scl-3fa9 --balance all
          scl fit 20250131-142233-scl-3fa9 --balance auto"""

BASELINE_DESCRIPTION = """\
Train the paper's "Plain" baseline on a split: the same encoder and a linear layer trained end to
end with cross-entropy, same augmentation; optionally re-balanced (--balance cb or csce). The
test-set result is stored as Plain, Plain-CB or Plain-CSCE, to compare with the two-stage method.
Defaults: the encoder's (ResNet-50, 224 px, batch 128, 500 epochs) with lr 0.1; scaled down on a
CPU like `scl train`.

Example:  scl baseline splits/aid_ci_seed0.json --balance none"""



def register(subparsers: Any) -> None:
    """Add `scl train`, `scl fit` and `scl baseline` to the CLI (option help read from the config classes)."""
    from scl_desktop.core.methods import BALANCES, CLASSIFIER_BALANCES
    from scl_desktop.core.options import help_text as h
    from scl_desktop.core.training.config import SAMPLERS, BaselineConfig, ClassifierConfig, EncoderConfig

    formatter = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("train", help="stage 1: train the encoder with the supervised contrastive loss",
                              description=TRAIN_DESCRIPTION, formatter_class=formatter)
    p.add_argument("split", metavar="SPLIT", nargs="?",
                   help="split manifest JSON written by `scl split` (not needed with --resume)")
    _image_model_options(p, EncoderConfig)
    p.add_argument("--temperature", type=float, help=h(EncoderConfig, "temperature"))
    p.add_argument("--sampler", choices=SAMPLERS, help=h(EncoderConfig, "sampler"))
    p.add_argument("--cs-scl", action="store_true", default=None, help=h(EncoderConfig, "cs_scl"))
    p.add_argument("--proj-dim", type=int, help=h(EncoderConfig, "proj_dim"))
    p.add_argument("--probe-every", type=int, metavar="N", help=h(EncoderConfig, "probe_every"))
    p.add_argument("--probe-k", type=int, metavar="K", help=h(EncoderConfig, "probe_k"))
    p.add_argument("--resume", metavar="RUN",
                   help="continue a stopped stage-1 run (id or folder) with its own settings")
    p.set_defaults(func=run_train)

    f = subparsers.add_parser("fit", help="stage 2: train a re-balanced linear classifier on a run's frozen encoder",
                              description=FIT_DESCRIPTION, formatter_class=formatter)
    f.add_argument("run", metavar="RUN", help="run id, name or unique id prefix (or its folder) from `scl train`")
    f.add_argument("--balance", choices=(*CLASSIFIER_BALANCES, "all"), default=ClassifierConfig.balance,
                   help=h(ClassifierConfig, "balance") + "; all: fit each strategy but auto one after the other")
    f.add_argument("--tau", type=float, help=h(ClassifierConfig, "tau") + "; with all: for the strategies that take it")
    _sgd_options(f, ClassifierConfig)
    f.add_argument("--no-cached-features", dest="cached_features", action="store_false", default=None,
                   help="run the encoder on freshly augmented images every step instead of on cached features "
                        "(slower)")
    f.add_argument("--feature-views", type=int, metavar="V", help=h(ClassifierConfig, "feature_views"))
    f.add_argument("--min-steps", type=int, metavar="N", help=h(ClassifierConfig, "min_steps"))
    f.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="compute the encoder features in float32 even on a GPU")
    f.set_defaults(func=run_fit)

    b = subparsers.add_parser("baseline", help="train the Plain end-to-end cross-entropy baseline (optionally CB/CSCE)",
                              description=BASELINE_DESCRIPTION, formatter_class=formatter)
    b.add_argument("split", metavar="SPLIT", nargs="?",
                   help="split manifest JSON written by `scl split` (not needed with --resume)")
    b.add_argument("--balance", choices=BALANCES, help=h(BaselineConfig, "balance"))
    _image_model_options(b, BaselineConfig)
    b.add_argument("--eval-every", type=int, metavar="N", help=h(BaselineConfig, "eval_every"))
    b.add_argument("--resume", metavar="RUN", help="continue a stopped baseline run (id or folder)")
    b.set_defaults(func=run_baseline)


def _sgd_options(p: argparse.ArgumentParser, cls: type) -> None:
    from scl_desktop.core.options import help_text as h

    p.add_argument("--epochs", type=int, help=h(cls, "epochs"))
    p.add_argument("--batch-size", type=int, metavar="B", help=h(cls, "batch_size"))
    p.add_argument("--lr", type=float, help=h(cls, "lr"))
    p.add_argument("--momentum", type=float, help=h(cls, "momentum"))
    p.add_argument("--weight-decay", type=float, help=h(cls, "weight_decay"))
    p.add_argument("--warmup-epochs", type=int, metavar="N", help=h(cls, "warmup_epochs"))
    p.add_argument("--device", help=h(cls, "device") + "; `scl doctor` shows what auto picks")
    p.add_argument("--seed", type=int, help=h(cls, "seed"))
    p.add_argument("--threads", dest="num_threads", type=int, metavar="N", help=h(cls, "num_threads"))
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="print errors only (no progress)")


def _image_model_options(p: argparse.ArgumentParser, cls: type) -> None:
    from scl_desktop.core.model.settings import ROTATE_MODES, AugmentConfig
    from scl_desktop.core.options import help_of
    from scl_desktop.core.options import help_text as h

    p.add_argument("--arch", metavar="ARCH", help=h(cls, "arch"))
    p.add_argument("--image-size", type=int, metavar="PX", help=h(cls, "image_size"))
    p.add_argument("--store-size", type=int, metavar="PX", help=h(cls, "store_size"))
    p.add_argument("--weights", dest="weights_path", metavar="NAME|FILE", help=h(cls, "weights_path"))
    p.add_argument("--freeze-epochs", type=int, metavar="N", help=h(cls, "freeze_epochs"))
    _sgd_options(p, cls)
    for part in ("crop", "flip", "rotate", "color"):
        what = help_of(AugmentConfig, part).rstrip(".")
        p.add_argument(f"--no-{part}", action="store_true", help=f"switch off {what[:1].lower()}{what[1:]} (on by default)")
    p.add_argument("--rotate-mode", choices=ROTATE_MODES, help=h(AugmentConfig, "rotate_mode"))
    p.add_argument("--checkpoint-every", type=int, metavar="N", help=h(cls, "checkpoint_every"))
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="train in float32 even on a GPU (default: mixed precision where the device computes it fast)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=None,
                   help="keep the default memory layout on CUDA")
    p.add_argument("--compile", action="store_true", default=None, help=h(cls, "compile"))
    p.add_argument("--name", help="a name for the run, usable instead of its id (names are unique)")


_NOT_CONFIG = {"split", "resume", "json", "quiet", "func", "command", "run", "name", "no_crop", "no_flip",
               "no_rotate", "no_color", "rotate_mode"}


def _given(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """Config fields the user set on the command line (options left at None were not given)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {k: v for k, v in vars(args).items() if k in names and k not in _NOT_CONFIG and v is not None}
    augment = _augment_changes(args)
    if augment:
        from scl_desktop.core.model.settings import AugmentConfig

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
    store = RunStore()
    if args.resume:
        if args.split:
            out("Note: SPLIT is ignored with --resume; the run's own split is used.")
        step = train(None, None, run=store.open(args.resume), resume=True, cancel=token, run_store=store)
    else:
        config = _build_config(config_cls, args, out)
        step = train(_load_split(args.split), config, cancel=token, name=args.name, run_store=store)
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
    """`scl fit`: stage 2 with one strategy, or all but auto one after the other."""
    from scl_desktop.core.events import CancelToken, drive
    from scl_desktop.core.methods import CLASSIFIER_BALANCES, method_for
    from scl_desktop.core.runs.store import RunStore
    from scl_desktop.core.training.classifier import fit_classifier
    from scl_desktop.core.training.config import ClassifierConfig
    from scl_desktop.core.training.strategies import DEFAULT_TAU
    from scl_desktop.terminal import ctrl_c_cancels, print_json, printer_for

    printer, out = printer_for(args)
    run = RunStore().open(args.run)
    balances = tuple(b for b in CLASSIFIER_BALANCES if b != "auto") if args.balance == "all" else (args.balance,)
    given = {k: v for k, v in _given(args, ClassifierConfig).items() if k != "balance"}
    token = CancelToken()
    with ctrl_c_cancels(token, out):
        for balance in balances:
            takes_tau = len(balances) == 1 or balance in DEFAULT_TAU
            config = ClassifierConfig(**{k: v for k, v in given.items() if k != "tau" or takes_tau}, balance=balance)
            drive(fit_classifier(run, config, cancel=token), printer)
    if args.json:
        fitted = {method_for("scl", b).name for b in balances}
        auto = method_for("scl", "auto").name
        print_json({"results": [row for row in run.result_rows() if row["method"] in fitted],
                    **({"auto": run.result_extra(auto)["auto"]} if auto in fitted else {})})
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
