"""`scl reproduce`: the paper's tables (Huang et al., ICASSP 2022) on a CI split of a real dataset.

Runs the real engine (``train_baseline``, ``train_encoder``, ``fit_classifier``) over several
seeds and minority sizes ``s`` and writes a Markdown report with mean +- standard deviation per
cell, a JSON file with every raw result, and a state file that makes the whole thing resumable.

What runs, per (seed, s); every seed draws its own split *and* initialises its own training:

* Table 1: the Plain CE baseline, and one stage-1 encoder with the full aerial augmentation
  policy, on which one classifier per strategy of ``classifiers`` is fitted: by default every
  one, the paper's SCL-CE (no re-balancing), SCL-CB, SCL-CSCE, then the long-tail classifiers
  SCL-TauNorm, SCL-LogitAdj, SCL-LALoss, SCL-BalSoftmax and SCL-Auto (stage 2 on cached
  features takes seconds; SCL-Auto's choice per seed and s is listed in the report). With
  ``weights_path`` every encoder and Plain start from those weights, and the same classifiers
  are also fitted on the pretrained encoder as it is ("Probe only" rows: no stage 1).
* Table 2 (augmentation ablation): stage-1 encoders with only RCR, RCR+RF, RCR+RF+RR; the last
  row (+RF+RR+RCD, the full policy) *is* the Table-1 encoder. Each row is scored with one
  classifier strategy, ``ablation_balance`` (default CB).
* Table 3 (representation-stage ablation): the Table-1 encoder (plain SCL) beside CS-SCL
  (cost-weighted SupCon) and CB sampling in stage 1, scored with the same classifier strategy.
* Table 4 (what each change of this release buys): SCL-CB and SCL-CSCE with one change undone per
  row: stage 2 on one plain view per image, on 8 views, on views drawn with stage 1's policy,
  without the step floor, CSCE divided by the batch size, stage 1 without its warm-up, and all of
  them undone. Stage-2 variants refit the Table-1 encoder without saving into its run.
* Table 5 (resolution and stem): one stage-1 encoder per ``resolutions`` entry (architecture and
  view size), scored with ``ablation_balance``, with its stage-1 training minutes.

Work is shared wherever the tables share it: a (job, method) result is computed once and shown
in every row that uses it. Finished cells are recorded in ``state.json`` in the output folder
after each one; a re-run with the same folder skips them and resumes a stopped encoder or
baseline from its last checkpoint.

The paper reports AID and NWPU-RESISC45, not UC Merced (or the user's data), so there is no
published number to put beside these cells; ``PAPER_FIGURES`` stays empty until someone enters
figures checked against the paper, and the report says so instead of guessing.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from scl_desktop.core import devices
from scl_desktop.core.atomic import read_json, write_json, write_text
from scl_desktop.core.data.manifest import DatasetManifest, SplitManifest
from scl_desktop.core.data.sources import load_dataset_source
from scl_desktop.core.data.split import CI_PRESETS, SplitConfig, build_split
from scl_desktop.core.errors import Cancelled, CheckpointError, ConfigError, SclError, TrainingError
from scl_desktop.core.events import CancelToken, Event, Log
from scl_desktop.core.methods import CLASSIFIER_BALANCES, method_for, method_named
from scl_desktop.core.metrics import Evaluation
from scl_desktop.core.model.settings import ARCHS, AugmentConfig
from scl_desktop.core.runs import folder as runs
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.baseline import STAGE as BASELINE_STAGE
from scl_desktop.core.training.baseline import train_baseline
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig, cpu_defaults
from scl_desktop.core.training.encoder import STAGE as ENCODER_STAGE
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.core.training.strategies import DEFAULT_TAU
from scl_desktop.core.workflows.reproduce_tables import DEFAULT_RESOLUTIONS, DEFAULT_TABLES, TABLES

STATE_FILE = "state.json"
REPORT_FILE = "report.md"
RESULTS_FILE = "results.json"
DATASET_FILE = "dataset.json"
STATE_FORMAT = 1
RESOLUTION_PREFIX = "res-"
METRICS = ("majority", "minority", "overall")


@dataclass(frozen=True)
class Job:
    """One training run per (seed, s): the Plain baseline or a stage-1 encoder variant."""

    name: str
    kind: str  # "baseline" or "encoder"
    what: str
    encoder_changes: dict[str, Any] = field(default_factory=dict)


JOBS = {job.name: job for job in (
    Job("plain", "baseline", "Plain CE baseline (end-to-end cross-entropy)"),
    Job("scl", "encoder", "stage-1 encoder, full policy RCR+RF+RR+RCD"),
    Job("aug-rcr", "encoder", "stage-1 encoder, RCR only",
        {"augment": AugmentConfig(flip=False, rotate=False, color=False)}),
    Job("aug-rcr-rf", "encoder", "stage-1 encoder, RCR+RF", {"augment": AugmentConfig(rotate=False, color=False)}),
    Job("aug-rcr-rf-rr", "encoder", "stage-1 encoder, RCR+RF+RR", {"augment": AugmentConfig(color=False)}),
    Job("cs-scl", "encoder", "stage-1 encoder with CS-SCL", {"cs_scl": True}),
    Job("cb-stage1", "encoder", "stage-1 encoder with CB sampling", {"sampler": "cb"}),
    Job("scl-no-warmup", "encoder", "stage-1 encoder, full policy, no learning-rate warm-up", {"warmup_epochs": 0}),
    Job("probe", "encoder", "the pretrained encoder as it is (no stage 1: probe only)", {"epochs": 0}),
)}


def resolution_job(arch: str, image_size: int) -> str:
    """The name of Table 5's stage-1 job for ``arch`` at ``image_size`` px views."""
    return f"{RESOLUTION_PREFIX}{arch}-{image_size}px"  # a valid run-name part


def job_named(name: str) -> Job:
    """A job of ``JOBS``, or one of Table 5's resolution jobs by its ``resolution_job`` name."""
    if name.startswith(RESOLUTION_PREFIX):
        arch, px = name[len(RESOLUTION_PREFIX):].removesuffix("px").rsplit("-", 1)
        return Job(name, "encoder", f"stage-1 encoder {arch} at {px} px", {"arch": arch, "image_size": int(px)})
    return JOBS[name]


ABLATION = "ablation"  # placeholder for the classifier strategy of tables 2, 3 and 5


@dataclass(frozen=True)
class Row:
    """One table row: the result of classifier ``balance`` on ``job``'s run (None: the baseline's own result;
    ``ABLATION``: the ablation strategy), refitted with ``variant``'s stage-2 settings when given."""

    label: str
    job: str
    balance: str | None
    variant: str | None = None


STAGE2_VARIANTS: dict[str, dict[str, Any]] = {
    "1-view": {"feature_views": 1},
    "8-views": {"feature_views": 8},
    "stage1-policy": {"augment": AugmentConfig()},
    "no-step-floor": {"min_steps": 0},
    "count-norm": {"loss_norm": "count"},
    "before": {"feature_views": 1, "min_steps": 0, "loss_norm": "count"},
}
"""Table 4's stage-2 settings with one change of this release undone (``before``: all of them)."""

TABLE_ROWS: dict[int, tuple[Row, ...]] = {
    # Table 1 is Plain and one row per strategy of ``classifiers``, Table 5 one per resolution: see ``rows_of``
    2: (Row("RCR", "aug-rcr", ABLATION), Row("+RF", "aug-rcr-rf", ABLATION), Row("+RF+RR", "aug-rcr-rf-rr", ABLATION),
        Row("+RF+RR+RCD", "scl", ABLATION)),
    3: (Row("SCL (instance sampling, no cost weights)", "scl", ABLATION), Row("CS-SCL", "cs-scl", ABLATION),
        Row("CB sampling in stage 1", "cb-stage1", ABLATION)),
    4: (Row("SCL-CB as released", "scl", "cb"),
        Row("stage 2 on 1 plain view per image", "scl", "cb", "1-view"),
        Row("stage 2 on 8 views per image", "scl", "cb", "8-views"),
        Row("stage-2 views drawn with stage 1's policy", "scl", "cb", "stage1-policy"),
        Row("no step floor (one pass per epoch)", "scl", "cb", "no-step-floor"),
        Row("no stage-1 warm-up", "scl-no-warmup", "cb"),
        Row("all of these undone (the previous release)", "scl-no-warmup", "cb", "before"),
        Row("SCL-CSCE as released", "scl", "csce"),
        Row("CSCE divided by the batch size", "scl", "csce", "count-norm"),
        Row("SCL-CSCE, all undone (the previous release)", "scl-no-warmup", "csce", "before")),
}
TABLE_TITLES = {1: "Table 1: two-stage method vs. the Plain baseline",
                2: "Table 2: augmentation ablation (stage 1)",
                3: "Table 3: re-balancing in the representation stage",
                4: "Table 4: what each change buys (one undone per row)",
                5: "Table 5: resolution and stem"}

PLAIN_METHOD = method_for("baseline", "none").name
AUTO_METHOD = method_for("scl", "auto").name

PAPER_DATASETS = "AID and NWPU-RESISC45"
PAPER_FIGURES: dict[tuple[int, str, int], dict[str, Any]] = {}
"""Published figures keyed by (table, row label, s): {"dataset": ..., "majority"/"minority"/"overall": %}.

Empty on purpose: the paper's numbers are for AID and NWPU-RESISC45 only and were not available
to check when this was written. Enter a figure only after checking it against the paper.
"""


@dataclass(frozen=True)
class ReproduceConfig:
    """What to reproduce and how big. ``None`` settings take the engine's defaults for the device.

    On a GPU those are the paper's (ResNet-50, 224 px, 500 epochs); on a CPU ``cpu_defaults``
    scales them (ResNet-18, 64 px, 30 epochs, batch 64). ``majority`` None: two thirds of the
    classes (14 of UC Merced's 21). The CI split follows ``protocol_preset`` (a key of
    ``CI_PRESETS``: aid, nwpu, ucm); ``major_frac`` / ``major_count`` / ``test_per_class`` replace
    its numbers (a fraction replaces the preset's count and vice versa). ``classifiers``: the
    stage-2 strategies of Table 1's SCL rows (default all); ``ablation_balance`` the one that
    scores tables 2 and 3. ``command`` is quoted in the report.
    """

    source: str | os.PathLike[str]
    out: str | os.PathLike[str]
    seeds: tuple[int, ...] = (0, 1, 2)
    s_values: tuple[int, ...] = (10, 5)
    tables: tuple[int, ...] = DEFAULT_TABLES
    majority: int | None = None
    protocol_preset: str = "ucm"
    major_frac: float | None = None
    major_count: int | None = None
    test_per_class: int | None = None
    arch: str | None = None
    image_size: int | None = None
    store_size: int | None = None
    epochs: int | None = None
    warmup_epochs: int | None = None
    classifier_epochs: int | None = None
    weights_path: str | None = None
    device: str = "auto"
    classifiers: tuple[str, ...] = CLASSIFIER_BALANCES
    ablation_balance: str = "cb"
    resolutions: tuple[tuple[str, int], ...] = DEFAULT_RESOLUTIONS
    command: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolutions", tuple(dict.fromkeys((str(a), int(px)) for a, px in self.resolutions)))
        bad = [f"{a}@{px}" for a, px in self.resolutions if a not in ARCHS or not 16 <= px <= 1024]
        if not self.resolutions or bad:
            raise ConfigError(f"Table 5's encoders {', '.join(bad) or '(none)'} are not valid.",
                              f"Give ARCH@PX entries, comma-separated, ARCH one of {', '.join(ARCHS)} and PX "
                              "16..1024, e.g. --resolutions resnet18@64,resnet18-small@32.")
        for name in ("seeds", "s_values", "tables"):
            object.__setattr__(self, name, tuple(dict.fromkeys(int(v) for v in getattr(self, name))))
        object.__setattr__(self, "classifiers", tuple(dict.fromkeys(self.classifiers)))
        unknown_classifiers = [c for c in self.classifiers if c not in CLASSIFIER_BALANCES]
        if not self.classifiers or unknown_classifiers:
            raise ConfigError(f"Unknown or no classifier strategies {', '.join(unknown_classifiers) or '(none)'} "
                              "for Table 1.", f"Give a comma-separated selection of {', '.join(CLASSIFIER_BALANCES)}.")
        if not self.seeds or min(self.seeds) < 0:
            raise ConfigError(f"seeds {list(self.seeds)} are not valid.", "Give whole numbers >= 0, e.g. --seeds 0,1,2.")
        if not self.s_values or min(self.s_values) < 1:
            raise ConfigError(f"s values {list(self.s_values)} are not valid.",
                              "Give minority training sizes >= 1, e.g. --s 10,5.")
        unknown = sorted(set(self.tables) - set(TABLES))
        if not self.tables or unknown:
            raise ConfigError(f"tables {list(self.tables)} are not valid.",
                              f"Give a selection of {', '.join(map(str, TABLES))}.")
        if self.protocol_preset not in CI_PRESETS:
            raise ConfigError(f"Unknown protocol preset {self.protocol_preset!r}.",
                              f"Use one of {', '.join(CI_PRESETS)}.")
        if self.major_frac is not None and self.major_count is not None:
            raise ConfigError("Both a majority training fraction and a count were given.", "Give only one of them.")
        if self.ablation_balance not in CLASSIFIER_BALANCES:
            raise ConfigError(f"Unknown classifier strategy {self.ablation_balance!r} for tables 2 and 3.",
                              f"Use one of {', '.join(CLASSIFIER_BALANCES)}.")


@dataclass(frozen=True)
class Cell:
    """One number source: the result of ``method`` on ``job``'s run for one (s, seed)."""

    s: int
    seed: int
    job: str
    method: str
    variant: str | None = None

    @property
    def key(self) -> str:
        return f"s{self.s}/seed{self.seed}/{self.job}/{self.method}" + (f"/{self.variant}" if self.variant else "")

    @property
    def job_key(self) -> str:
        return f"s{self.s}/seed{self.seed}/{self.job}"


@dataclass(frozen=True)
class ReproduceResult:
    """Where the report, raw results and state went; how many cells are finished."""

    report: Path
    results: Path
    state: Path
    cells_done: int
    cells_total: int
    skipped: int
    failed: dict[str, str]


def rows_of(table: int, config: ReproduceConfig, on_cpu: bool = True) -> tuple[Row, ...]:
    """The rows of ``table``; Table 1: Plain, then one per ``classifiers``; Table 5: one per ``resolutions``
    (the one that is the Table-1 encoder's setting reads the Table-1 encoder)."""
    if table == 1:
        probes = tuple(Row(f"Probe only + {method_for('scl', b).name}", "probe", b)
                       for b in config.classifiers) if config.weights_path else ()
        return (Row("Plain CE", "plain", None), *(Row(method_for("scl", b).name, "scl", b) for b in config.classifiers),
                *probes)
    if table == 5:
        default = encoder_config(config, "scl", 0, on_cpu)
        return tuple(Row(f"{arch} at {px} px", "scl" if (arch, px) == (default.arch, default.image_size)
                         else resolution_job(arch, px), ABLATION) for arch, px in config.resolutions)
    return TABLE_ROWS[table]


def row_method(row: Row, config: ReproduceConfig) -> str:
    """The stored method name a table row reads (``Plain`` or an SCL-* classifier)."""
    if row.balance is None:
        return PLAIN_METHOD
    return method_for("scl", config.ablation_balance if row.balance == ABLATION else row.balance).name


def row_cell(row: Row, config: ReproduceConfig, s: int, seed: int) -> Cell:
    """The cell a row shows for one (s, seed)."""
    return Cell(s, seed, row.job, row_method(row, config), row.variant)


def plan_cells(config: ReproduceConfig, on_cpu: bool = True) -> list[Cell]:
    """Every distinct cell the requested tables need, in the order they are computed.

    Seeds are the outer loop so that an interrupted run already has every row for the first seeds;
    within one (seed, s) the jobs follow ``JOBS`` (Table 5's resolution jobs last).
    """
    order = list(JOBS)
    cells: dict[str, Cell] = {}
    for seed in config.seeds:
        for s in config.s_values:
            wanted = [row_cell(row, config, s, seed) for t in config.tables for row in rows_of(t, config, on_cpu)]
            rank = {job: order.index(job) if job in JOBS else len(order) + i
                    for i, job in enumerate(dict.fromkeys(c.job for c in wanted))}
            for cell in sorted(wanted, key=lambda c: (rank[c.job], c.variant is not None)):
                cells.setdefault(cell.key, cell)
    return list(cells.values())


# --- settings ---------------------------------------------------------------------------------

def _given(config: ReproduceConfig) -> dict[str, Any]:
    names = ("arch", "image_size", "store_size", "epochs", "warmup_epochs", "weights_path")
    return {n: getattr(config, n) for n in names if getattr(config, n) is not None}


def encoder_config(config: ReproduceConfig, job: str, seed: int, on_cpu: bool) -> EncoderConfig:
    """The stage-1 configuration of an encoder job (CPU-scaled like `scl train` when ``on_cpu``)."""
    given = {**_given(config), **job_named(job).encoder_changes}
    encoder = EncoderConfig(device=config.device, seed=seed, **given)
    return cpu_defaults(encoder, explicit=given)[0] if on_cpu else encoder


def baseline_config(config: ReproduceConfig, seed: int, on_cpu: bool) -> BaselineConfig:
    """The Plain baseline's configuration: the encoder's arch, size and epochs; scored once, at the end."""
    given = _given(config)
    baseline = BaselineConfig(device=config.device, seed=seed, balance="none", **given)
    if on_cpu:
        baseline = cpu_defaults(baseline, explicit=given)[0]
    return baseline.replace(eval_every=baseline.epochs)


def classifier_config(config: ReproduceConfig, balance: str, seed: int, variant: str | None = None) -> ClassifierConfig:
    """Stage 2 on cached features with the engine's settings (epochs from ``classifier_epochs``), changed as
    ``variant`` (a key of ``STAGE2_VARIANTS``) says."""
    extra = {} if config.classifier_epochs is None else {"epochs": config.classifier_epochs}
    return ClassifierConfig(device=config.device, seed=seed, balance=balance, **extra,
                            **STAGE2_VARIANTS.get(variant or "", {}))


def ci_protocol(config: ReproduceConfig) -> dict[str, Any]:
    """The CI numbers ``config`` asks for: its preset's, with the numbers it gives itself in their place."""
    return CI_PRESETS[config.protocol_preset].numbers(config.major_frac, config.major_count, config.test_per_class)


def split_config(config: ReproduceConfig, s: int, seed: int) -> SplitConfig:
    """The CI split of one (s, seed): the first ``majority`` classes keep the majority share, the rest ``s``."""
    return SplitConfig(protocol="ci", majority=config.majority, s=s, seed=seed, **ci_protocol(config))


NOT_IN_IDENTITY = ("seed", "probe_every", "probe_k")
"""Settings left out of ``setting_identity``: the seed (cells differ in it) and stage 1's kNN probe, which
only watches training (folders begun before the probe existed, or with other probe settings, still resume)."""


def _identity_part(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in NOT_IN_IDENTITY}


def setting_identity(config: ReproduceConfig, dataset: DatasetManifest, on_cpu: bool) -> dict[str, Any]:
    """Everything that must match for cells of two invocations to be mixed in one report."""
    return {
        "source": dataset.source,
        "split": _split_identity(config),
        "encoder": _identity_part(encoder_config(config, "scl", 0, on_cpu).to_json()),
        "baseline": _identity_part(baseline_config(config, 0, on_cpu).to_json()),
        "classifier": _identity_part({k: v for k, v in classifier_config(config, "cb", 0).to_json().items()
                                      if k not in ("balance", "tau", "loss_norm")}),  # per row; tau and loss_norm
        # are never set but for Table 4's variants, which name their changes in their rows
    }


def _split_identity(config: ReproduceConfig) -> dict[str, Any]:
    protocol = ci_protocol(config)
    # major_frac only when set, so that folders written before it existed (count-based) still resume
    fraction = {} if protocol["major_frac"] is None else {"major_frac": protocol["major_frac"]}
    return {"protocol": "ci", "majority": config.majority, "major_count": protocol["major_count"],
            "test_per_class": protocol["test_per_class"], **fraction}


# --- dataset ----------------------------------------------------------------------------------

# --- state ------------------------------------------------------------------------------------

class State:
    """``state.json``: the setting, the run of every job, every finished cell, failed jobs."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def open(cls, out: Path, identity: dict[str, Any]) -> State:
        """The state of ``out`` (new when absent); ``ConfigError`` if it was made with other settings."""
        path = out / STATE_FILE
        if path.is_file():
            data = read_json(path)
            if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
                raise ConfigError(f"{path} is not a reproduce state file.",
                                  "Use an empty --out folder, or delete that file to start over.")
            if data.get("identity") != _json_roundtrip(identity):
                changed = sorted(k for k in identity if data.get("identity", {}).get(k) != _json_roundtrip(identity[k]))
                raise ConfigError(
                    f"{out} holds a reproduction with other settings (different: {', '.join(changed)}).",
                    "Re-run with the settings of the first invocation (see its report.md), or use another --out.")
            return cls(path, data)
        return cls(path, {"format": STATE_FORMAT, "identity": identity, "jobs": {}, "cells": {}, "failed": {},
                          "tag": secrets.token_hex(2)})

    @property
    def tag(self) -> str:
        """A short tag of this output folder in its runs' names (run names are unique)."""
        return str(self.data.setdefault("tag", secrets.token_hex(2)))

    @property
    def cells(self) -> dict[str, dict[str, Any]]:
        return self.data["cells"]

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return self.data["jobs"]

    @property
    def failed(self) -> dict[str, str]:
        return self.data["failed"]

    def save(self) -> None:
        write_json(self.path, self.data)


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


# --- the run ----------------------------------------------------------------------------------

def reproduce(config: ReproduceConfig, cancel: CancelToken | None = None) -> Generator[Event, None, ReproduceResult]:
    """Compute every missing cell of the requested tables, then write the report; returns where it went.

    The report and the raw results are rewritten after every training job, so a long run shows
    its progress. ``Cancelled`` is raised when ``cancel`` is set (the state and any checkpoint are kept;
    the same call continues from them).
    """
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    choice = devices.choose_device(config.device)
    on_cpu = choice.device.type == "cpu"
    dataset, _ = yield from load_dataset_source(config.source, cancel, keep=out / DATASET_FILE)
    state = State.open(out, setting_identity(config, dataset, on_cpu))
    store = RunStore()
    cells = plan_cells(config, on_cpu)
    device_text = f"{choice.device} ({choice.reason})"
    todo = [c for c in cells if c.key not in state.cells]
    yield Log(f"Reproduce: {len(cells)} cells for tables {', '.join(map(str, config.tables))}, seeds "
              f"{', '.join(map(str, config.seeds))}, s = {', '.join(map(str, config.s_values))}; "
              f"{len(cells) - len(todo)} already finished. Training on {device_text}.")

    def write_outputs() -> None:
        write_report(out, config, state, cells, device_text, on_cpu)

    write_outputs()
    jobs = list(dict.fromkeys(c.job_key for c in todo))
    costs = {key: _job_cost(config, key, on_cpu) for key in jobs}
    spent, done_cost, started = 0.0, 0.0, time.perf_counter()
    for number, job_key in enumerate(jobs, 1):
        job_cells = [c for c in todo if c.job_key == job_key]
        first = job_cells[0]
        left = sum(costs[k] for k in jobs[number - 1:])
        eta = f"; about {_minutes(spent / done_cost * left)} left" if done_cost else ""
        yield Log(f"[{number}/{len(jobs)}] s = {first.s}, seed {first.seed}: {job_named(first.job).what} "
                  f"-> {', '.join(c.method for c in job_cells)}{eta}.")
        try:
            yield from _run_job(store, config, dataset, state, job_cells, choice.device, cancel)
        except Cancelled as exc:
            write_outputs()
            raise Cancelled(f"The reproduction was cancelled ({exc.what})",
                            f"Finished cells are kept in {out}; run the same command again to continue.",
                            kept=exc.kept) from exc
        except TrainingError as exc:
            state.failed[job_key] = str(exc)
            state.save()
            yield Log(f"{job_key} failed and is left out of the report: {exc}", "error")
        write_outputs()
        done_cost += costs[job_key]
        spent = time.perf_counter() - started
        if cancel is not None and cancel.cancelled:
            raise Cancelled("The reproduction was cancelled.",
                            f"Finished cells are kept in {out}; run the same command again to continue.")
    finished = sum(c.key in state.cells for c in cells)
    yield Log(f"Reproduce: {finished} of {len(cells)} cells finished; report in {out / REPORT_FILE}.")
    return ReproduceResult(out / REPORT_FILE, out / RESULTS_FILE, state.path, finished, len(cells),
                           len(cells) - len(todo), dict(state.failed))


def _job_cost(config: ReproduceConfig, job_key: str, on_cpu: bool) -> float:
    """Relative cost of a job for the time estimate: epochs x views per image (SupCon uses two)."""
    job = job_named(job_key.rsplit("/", 1)[1])
    if job.kind == "baseline":
        return float(baseline_config(config, 0, on_cpu).epochs)
    return 2.0 * encoder_config(config, job.name, 0, on_cpu).epochs


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _run_job(store: RunStore, config: ReproduceConfig, dataset: DatasetManifest, state: State, cells: Sequence[Cell],
             device: torch.device, cancel: CancelToken | None) -> Generator[Event, None, None]:
    """Train (or resume, or reuse) one job's run and record its cells."""
    on_cpu = device.type == "cpu"
    first = cells[0]
    job = job_named(first.job)
    split = build_split(dataset, split_config(config, first.s, first.seed))
    name = f"reproduce-{state.tag}-s{first.s}-seed{first.seed}-{job.name}"
    if job.kind == "baseline":
        run = yield from _baseline_run(store, state, first.job_key, split, baseline_config(config, first.seed, on_cpu),
                                       name, device, cancel)
        evaluations = {first.key: run.evaluation(PLAIN_METHOD)}
    else:
        run = yield from _encoder_run(store, state, first.job_key, split,
                                      encoder_config(config, job.name, first.seed, on_cpu), name, device, cancel)
        evaluations = {}
        for cell in cells:  # a variant's fit is an ablation: it leaves the run's own classifiers and results alone
            classifier = classifier_config(config, method_named(cell.method, "scl").balance, cell.seed, cell.variant)
            evaluations[cell.key] = yield from fit_classifier(run, classifier, cancel, save=cell.variant is None)
    for cell in cells:
        state.cells[cell.key] = _cell_record(cell, run, evaluations[cell.key])
        if cell.method == AUTO_METHOD and cell.variant is None:
            state.cells[cell.key]["auto"] = run.result_extra(AUTO_METHOD).get("auto")
    state.failed.pop(first.job_key, None)
    state.save()


def _cell_record(cell: Cell, run: runs.Run, evaluation: Evaluation) -> dict[str, Any]:
    return {"s": cell.s, "seed": cell.seed, "job": cell.job, "method": cell.method, "variant": cell.variant,
            "run": run.id, "path": str(run.path), **evaluation.summary(),
            "per_class": {c: v for c, v in evaluation.per_class.items() if v is not None}}


def _stored_run(store: RunStore, state: State, job_key: str) -> runs.Run | None:
    entry = state.jobs.get(job_key)
    if not entry:
        return None
    try:
        return store.open(entry["path"])
    except CheckpointError:  # a deleted or damaged run folder: train again
        return None


def _remember(state: State, job_key: str, run: runs.Run) -> None:
    state.jobs[job_key] = {"run": run.id, "path": str(run.path)}
    state.save()


def _encoder_run(store: RunStore, state: State, job_key: str, split: SplitManifest, config: EncoderConfig, name: str,
                 device: torch.device, cancel: CancelToken | None) -> Generator[Event, None, runs.Run]:
    """A finished stage-1 run for this job: reused, resumed from its checkpoint, or trained."""
    run = _stored_run(store, state, job_key)
    if run is not None and run.status == "done":
        yield Log(f"Reusing the finished encoder of run {run.id}.")
        return run
    if run is not None and run.checkpoint_file.is_file():
        run = yield from train_encoder(None, None, run=run, resume=True, cancel=cancel)
    else:
        if run is not None:
            store.delete(run)  # stopped before its first checkpoint: nothing to resume
        run = store.create("scl", split, config.to_json(), config.seed, name=name, device=device)
        _remember(state, job_key, run)
        run = yield from train_encoder(split, config, run=run, cancel=cancel)
    return run


def _baseline_run(store: RunStore, state: State, job_key: str, split: SplitManifest, config: BaselineConfig,
                  name: str, device: torch.device, cancel: CancelToken | None) -> Generator[Event, None, runs.Run]:
    """A finished Plain baseline run for this job: reused, resumed from its checkpoint, or trained."""
    run = _stored_run(store, state, job_key)
    if run is not None and run.status == "done" and PLAIN_METHOD in run.methods():
        yield Log(f"Reusing the finished baseline of run {run.id}.")
        return run
    if run is not None and run.checkpoint_file.is_file():
        run, _ = yield from train_baseline(None, None, cancel=cancel, run=run, resume=True)
        return run
    if run is not None:
        store.delete(run)
    run = store.create("baseline", split, config.to_json(), config.seed, name=name, device=device)
    _remember(state, job_key, run)
    run, _ = yield from train_baseline(split, config, cancel=cancel, run=run)
    return run


# --- report -----------------------------------------------------------------------------------

def _variant_text(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k} {'stage-1 policy' if isinstance(v, AugmentConfig) else v}" for k, v in changes.items())


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (None for fewer than two values) of percentages."""
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values)}


def _fmt(summary: dict[str, Any]) -> str:
    if summary["mean"] is None:
        return "-"
    std = "" if summary["std"] is None else f" ± {summary['std']:.1f}"
    return f"{summary['mean']:.1f}{std}"


def table_rows(config: ReproduceConfig, state: State, on_cpu: bool = True) -> list[dict[str, Any]]:
    """Every (table, row, s) with its cells' mean/std per metric and the seeds it covers; Table 5's rows
    also with their stage-1 training minutes (read from the runs' epoch records)."""
    rows = []
    for t in config.tables:
        for s in config.s_values:
            for row in rows_of(t, config, on_cpu):
                cells = [row_cell(row, config, s, seed) for seed in config.seeds]
                records = [state.cells[c.key] for c in cells if c.key in state.cells]
                timing = {"minutes": summarise([m for r in records if (m := _train_minutes(r)) is not None])} \
                    if t == 5 else {}
                rows.append({"table": t, "row": row.label, "s": s, "job": row.job, "method": cells[0].method,
                             "variant": row.variant, "seeds": [r["seed"] for r in records],
                             **{m: summarise([r[m] for r in records if r[m] is not None]) for m in METRICS},
                             **timing, "paper": PAPER_FIGURES.get((t, row.label, s))})
    return rows


def _train_minutes(record: dict[str, Any]) -> float | None:
    """Minutes the training of a cell's run took (the sum of its epochs' seconds); None when unknown."""
    stage = BASELINE_STAGE if record["job"] == "plain" else ENCODER_STAGE
    try:
        seconds = [row.get("seconds") for row in runs.Run(record["path"]).read_metrics(stage)]
    except (OSError, SclError):
        return None
    return sum(seconds) / 60 if seconds and None not in seconds else None


def _paired_gain(config: ReproduceConfig, state: State, s: int, method: str) -> dict[str, Any] | None:
    """Minority accuracy of ``method`` minus Plain's, paired by seed; with both rows' spread."""
    pairs = []
    for seed in config.seeds:
        a, b = state.cells.get(Cell(s, seed, "scl", method).key), state.cells.get(Cell(s, seed, "plain", PLAIN_METHOD).key)
        if a and b and a["minority"] is not None and b["minority"] is not None:
            pairs.append((a["minority"], b["minority"]))
    if not pairs:
        return None
    gain = summarise([a - b for a, b in pairs])
    spreads = [summarise([p[i] for p in pairs])["std"] for i in (0, 1)]
    spread = max((v for v in spreads if v is not None), default=None)
    return {"method": method, "s": s, "gain": gain, "spread": spread,
            "beats_spread": None if spread is None else gain["mean"] > spread}


def write_report(out: Path, config: ReproduceConfig, state: State, cells: Sequence[Cell], device_text: str,
                 on_cpu: bool) -> None:
    """Write ``report.md`` and ``results.json`` (both atomically) from the finished cells."""
    rows = table_rows(config, state, on_cpu)
    gains = [g for s in config.s_values for m in (method_for("scl", b).name for b in config.classifiers)
             if 1 in config.tables and (g := _paired_gain(config, state, s, m)) is not None]
    choices = [state.cells[c.key] for c in cells if c.method == AUTO_METHOD and c.key in state.cells]
    identity = state.data["identity"]
    finished = [state.cells[c.key] for c in cells if c.key in state.cells]
    write_json(out / RESULTS_FILE, {
        "format": 1, "command": config.command, "device": device_text, "setting": identity,
        "seeds": list(config.seeds), "s": list(config.s_values), "tables": list(config.tables),
        "ablation_classifier": method_for("scl", config.ablation_balance).name,
        "classifiers": [method_for("scl", b).name for b in config.classifiers],
        "cells_finished": len(finished), "cells_total": len(cells),
        "rows": rows, "minority_gain_over_plain": gains, "failed": state.failed, "cells": finished,
    })
    write_text(out / REPORT_FILE, format_report(config, identity, rows, gains, len(finished), len(cells),
                                                device_text, on_cpu, state.failed, choices))


def format_report(config: ReproduceConfig, identity: dict[str, Any], rows: Sequence[dict[str, Any]],
                  gains: Sequence[dict[str, Any]], finished: int, total: int, device_text: str, on_cpu: bool,
                  failed: dict[str, str], choices: Sequence[dict[str, Any]] = ()) -> str:
    """The Markdown report; ``choices``: the finished SCL-Auto cells (with what each chose)."""
    enc, base, clf = identity["encoder"], identity["baseline"], identity["classifier"]
    source = Path(identity["source"]).name or identity["source"]
    split = identity["split"]
    majority = split["majority"] if split["majority"] is not None else "the first two thirds of the"
    n = len(config.seeds)
    lines = [
        f"# Reproducing Huang et al. (ICASSP 2022) on {source}",
        "",
        f"Command: `{config.command or 'reproduce() called from Python'}`",
        "",
        f"Progress: {finished} of {total} cells finished" + (" (the report is complete)." if finished == total else
                                                              "; re-run the same command to continue."),
        "",
        "## Setting",
        "",
        f"* Data: `{identity['source']}`; CI split: {majority} classes (sorted order) are majority classes with "
        + (f"{split['major_frac']:.0%} of their images" if split.get("major_frac") is not None
           else f"{split['major_count']} training images each")
        + ", the others minority classes with s training images; "
        f"{split['test_per_class']} test images per class from the rest. Each seed draws its own split and "
        "initialises its own training.",
        f"* Device: {device_text}" + ("; CPU-sized setting (the paper's GPU defaults scaled down)." if on_cpu else "."),
        f"* Stage 1 and Plain: {enc['arch']}, {enc['image_size']} px views"
        + (f" of a {enc['store_size']} px store" if enc.get("store_size") else "")
        + f", {enc['epochs']} epochs ({min(enc.get('warmup_epochs', 0), enc['epochs'] // 4)} of learning-rate warm-up), batch {enc['batch_size']}; SupCon lr {enc['lr']:g}, temperature "
        f"{enc['temperature']:g}; Plain lr {base['lr']:g}"
        + (f"; initial weights {enc['weights_path']}" if enc.get("weights_path") else "; random initialisation")
        + ".",
        f"* Stage 2: linear classifier on the frozen encoder's cached features ({clf['feature_views']} "
        f"view(s) per image), {clf['epochs']} epochs of at least {clf['min_steps']} steps in all, "
        f"batch {clf['batch_size']}, lr {clf['lr']:g}.",
        f"* Seeds: {', '.join(map(str, config.seeds))}. Cells show mean ± sample standard deviation over the "
        "seeds (accuracy in %); a count in brackets means fewer seeds have finished.",
        f"* Tables 2, 3 and 5 score every encoder with the {method_for('scl', config.ablation_balance).name} "
        "classifier. Table 4's stage-2 rows refit the Table-1 encoder with one setting changed "
        f"({', '.join(f'{k}: {_variant_text(v)}' for k, v in STAGE2_VARIANTS.items())}); its warm-up rows train "
        "stage 1 without the warm-up. Table 5's minutes are stage 1's training epochs (decoding and probes "
        "excluded), on this device, with whatever else ran beside it.",
        *([f"* Long-tail classifiers take the papers' tau ({', '.join(f'{k} {v:g}' for k, v in DEFAULT_TAU.items())}); "
           f"{AUTO_METHOD} picks strategy and tau by balanced accuracy on each split's validation images."]
          if set(config.classifiers) & {*DEFAULT_TAU, "auto"} else []),
        f"* Paper column: the paper reports {PAPER_DATASETS}, not this dataset, so no published figure can "
        "stand beside these cells; it shows n/a rather than a number from another dataset.",
        "",
    ]
    if failed:
        lines += ["## Failed jobs", ""] + [f"* {k}: {v}" for k, v in failed.items()] + [""]
    for t in config.tables:
        for s in config.s_values:
            timed = t == 5
            lines += [f"## {TABLE_TITLES[t]}, s = {s}", "",
                      "| Row | Majority % | Minority % | Overall % | " + ("Stage-1 minutes | " if timed else "")
                      + "Paper |", "|---|---|---|---|" + ("---|" if timed else "") + "---|"]
            for r in (r for r in rows if r["table"] == t and r["s"] == s):
                count = "" if len(r["seeds"]) == n else f" ({len(r['seeds'])}/{n})"
                paper = r["paper"]
                paper_text = (" / ".join(f"{paper[m]:.1f}" for m in METRICS) + f" ({paper['dataset']})"
                              if paper else "n/a (AID/NWPU only)")
                minutes = f"{_fmt(r['minutes'])} | " if timed else ""
                lines.append(f"| {r['row']}{count} | {_fmt(r['majority'])} | {_fmt(r['minority'])} | "
                             f"{_fmt(r['overall'])} | {minutes}{paper_text} |")
            lines.append("")
    if gains:
        lines += ["## Minority accuracy over Plain (paired by seed)", "",
                  "| s | Method | Gain (points) | Seed spread | Gain > spread |", "|---|---|---|---|---|"]
        for g in gains:
            spread = "-" if g["spread"] is None else f"{g['spread']:.1f}"
            verdict = "-" if g["beats_spread"] is None else ("yes" if g["beats_spread"] else "no")
            lines.append(f"| {g['s']} | {g['method']} | {_fmt(g['gain'])} | {spread} | {verdict} |")
        lines += ["", "Seed spread: the larger standard deviation of the two rows' minority accuracy.", ""]
    if choices:
        lines += [f"## What {AUTO_METHOD} chose (by validation balanced accuracy)", "",
                  "| s | Seed | Strategy | tau | Validation balanced % |", "|---|---|---|---|---|"]
        for c in sorted(choices, key=lambda c: (config.s_values.index(c["s"]), c["seed"])):
            auto = c.get("auto") or {}
            tau = "-" if auto.get("tau") is None else f"{auto['tau']:g}"
            value = auto.get("validation_balanced_accuracy")
            lines.append(f"| {c['s']} | {c['seed']} | {auto.get('strategy', '?')} | {tau} | "
                         + ("-" if value is None else f"{value:.1f}") + " |")
        lines.append("")
    return "\n".join(lines)
