"""`scl runs list|show|compare|rename|note|delete` and `scl evaluate`: look at stored runs and their results."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scl_desktop.core.errors import CheckpointError, ConfigError
from scl_desktop.core.runs.store import RunStore
from scl_desktop.terminal import EventPrinter, print_json

if TYPE_CHECKING:
    from scl_desktop.core.runs.folder import Run

RUN_HELP = "a run id, a run name, a unique prefix of an id, or the run's folder"


def register(sub: argparse._SubParsersAction) -> None:
    runs = sub.add_parser("runs", help="list, show, compare, rename, annotate or delete training runs",
                          description="Look at the training runs stored on this computer.")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    p = runs_sub.add_parser("list", help="list all runs, newest first")
    p.add_argument("--kind", choices=("scl", "baseline"), help="show only two-stage (scl) or baseline runs")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_list)

    p = runs_sub.add_parser("show", help="show one run: dataset, settings, environment, metrics and results")
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_show)

    p = runs_sub.add_parser("compare", help="compare the results (majority/minority/overall accuracy) of runs",
                            description="Put the results of runs side by side and name the best minority and "
                                        "overall accuracy; runs of different datasets or splits get a warning "
                                        "instead (their numbers are not comparable).")
    p.add_argument("runs", metavar="RUN", nargs="+", help=RUN_HELP)
    p.add_argument("--json", action="store_true",
                   help="print JSON: {results, comparable, best (null when not comparable), notes}")
    p.set_defaults(func=cmd_compare)

    p = runs_sub.add_parser("rename", help="give a run a (new) name, unique among the runs")
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("name", metavar="NAME", help="letters, digits and - _ . + (at most 64 characters)")
    p.set_defaults(func=cmd_rename)

    p = runs_sub.add_parser("note", help="write a free-text note on a run (shown by `scl runs show`)")
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("text", metavar="TEXT", help='the note (quote it); "" removes the note')
    p.set_defaults(func=cmd_note)

    p = runs_sub.add_parser("delete", help="delete runs (their folders with checkpoints and results)")
    p.add_argument("runs", metavar="RUN", nargs="+", help=RUN_HELP)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("evaluate", help="print the test results of runs (Table 1: majority, minority, overall)",
                       description="Print the stored test-set results of a run: per method the accuracy on the "
                                   "majority classes, the minority classes and overall, and per-class accuracy.")
    p.add_argument("runs", metavar="RUN", nargs="+", help=RUN_HELP)
    p.add_argument("--method", action="append",
                   help="only this method (e.g. SCL-CB, Plain); may be given several times")
    p.add_argument("--json", action="store_true",
                   help="print JSON: {\"results\": [{method, run, majority, minority, overall, balanced_accuracy, "
                        "macro_f1, kappa, per_class, per_class_scores, stale}]} with accuracies in percent (kappa: a "
                        "fraction; per_class_scores: precision, recall, f1, accuracy per class)")
    p.add_argument("--recompute", action="store_true",
                   help="evaluate again from the saved checkpoints instead of reporting the stored results")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write a report to keep, for one RUN: one self-contained HTML page (no other files "
                        "needed) with the run, its dataset, split and settings, Table 1 beside the Plain baseline "
                        "on the same split, per-class precision, recall, F1 and accuracy, Cohen's kappa, macro-F1 "
                        "and the confusion matrix (picture and table)")
    p.add_argument("--report-csv", metavar="FILE.csv",
                   help="also write the per-class table of the report as CSV, one row per method and class "
                        "(method, class, role, train_n, test_n, predicted_n, precision, recall, f1, accuracy)")
    p.set_defaults(func=cmd_evaluate)


# --- text formatting -----------------------------------------------------------------------

def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: numbers right-aligned, floats with one decimal, ``None`` as "-"."""
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)
               for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in text)])


TABLE1_HEADERS = ["method", "majority %", "minority %", "overall %", "balanced %", "macro-F1 %"]


def _table1_row(method: str, summary: dict[str, Any]) -> list[Any]:
    return [method, *(summary.get(k) for k in ("majority", "minority", "overall", "balanced_accuracy", "macro_f1"))]


def format_run_results(run: Run, methods: Sequence[str] | None = None) -> str:
    """The Table-1 breakdown of every method of a run, then per-class accuracy per method."""
    wanted = methods
    methods = [m for m in run.methods() if not wanted or m in wanted]
    if not methods:
        which = f"no {' or '.join(wanted)} result" if wanted else "no results"
        if run.kind == "baseline":
            return f"Run {run.id} has {which} yet; a baseline run holds the one model it was trained as."
        return f"Run {run.id} has {which} yet. Fit a classifier with `scl fit {run.id} --balance cb`."
    evals = {m: run.evaluation(m) for m in methods}
    table1 = format_table(TABLE1_HEADERS, [_table1_row(m + (" (stale)" if m in run.stale_results else ""),
                                                       ev.summary()) for m, ev in evals.items()])
    first = next(iter(evals.values()))
    rows = [[c, first.roles.get(c, ""), first.support[c], *(evals[m].per_class.get(c) for m in methods)]
            for c in first.classes]
    per_class = format_table(["class", "role", "test n", *(f"{m} %" for m in methods)], rows)
    return f"{table1}{_stale_notes(run, methods)}\n\nPer-class accuracy:\n{per_class}"


def _stale_notes(run: Run, methods: Sequence[str]) -> str:
    """Lines under the table for results that no longer match the run's models, each saying how to refit."""
    from scl_desktop.core.methods import method_named

    stale = run.stale_results
    return "".join(f"\nSTALE {m}: {stale[m]}; refit with `scl fit {run.id} --balance {method_named(m).balance}`."
                   for m in methods if m in stale)


# --- commands ------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    rows = RunStore().list(kind=args.kind)
    if args.json:
        print_json({"runs": [r.to_json() for r in rows]})
        return 0
    if not rows:
        print("No runs yet. Train one with `scl train SPLIT` or try `scl demo`.")
        return 0
    table = []
    for r in rows:
        best = r.best("overall")
        best_text = (f"{best[0]} {_pct(best[1]['majority'])}/{_pct(best[1]['minority'])}/{_pct(best[1]['overall'])}"
                     if best else "-")
        table.append([r.id, r.name or "", r.kind, r.status_label, r.dataset_name, r.arch or "-", best_text])
    print(format_table(["id", "name", "kind", "status", "dataset", "arch", "best (majority/minority/overall %)"], table))
    return 0


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def cmd_show(args: argparse.Namespace) -> int:
    from scl_desktop.core.weights.start import describe_start

    run = RunStore().open(args.run)
    env = _safe(lambda: run.environment, {})
    split = run.split
    if args.json:
        print_json({
            "run": {**run.record, "status": run.status_label, "path": str(run.path)},
            "config": run.config, "environment": env,
            "split": {"source": split.dataset.source, "protocol": split.protocol, "seed": split.seed,
                      "roles": split.roles, "counts": {p: split.counts(p) for p in ("train", "val", "test")}},
            "metrics": {s: run.read_metrics(s) for s in run.metrics_stages()},
            "results": run.result_rows(),
        })
        return 0
    versions = env.get("versions", {})
    git = env.get("git") or {}
    device = env.get("device") or {}
    lines = [
        f"Run {run.id}" + (f" ({run.name})" if run.name else ""),
        f"  folder:   {run.path}",
        f"  kind:     {run.kind}    status: {run.status_label}" + (f" ({run.message})" if run.message else ""),
        f"  created:  {run.created}    seed: {run.seed}",
        *([f"  note:     {run.note}"] if run.note else []),
        f"  dataset:  {split.dataset.source} ({len(split.classes)} classes, {split.protocol} split, "
        f"train {len(split.train)}, val {len(split.val)}, test {len(split.test)})",
        f"  code:     scl_desktop {versions.get('scl_desktop', '?')}"
        + (f", git {git['commit'][:10]}{' (modified)' if git.get('dirty') else ''}" if git.get("commit") else ""),
        f"  versions: python {versions.get('python', '?')}, torch {versions.get('torch', '?')}, "
        f"torchvision {versions.get('torchvision', '?')}, numpy {versions.get('numpy', '?')}",
    ]
    if device:
        lines.append(f"  device:   {device.get('device')} ({device.get('name', '?')}), AMP {device.get('amp', '?')}")
    lines.append(f"  start:    {describe_start(run.start_weights)}")
    counts = split.counts("train")
    lines.append("\nClasses:")
    lines.append(format_table(["class", "role", "train n", "test n"],
                              [[c, split.roles.get(c, ""), counts[c], split.counts("test")[c]] for c in split.classes]))
    lines.append("\nSettings:")
    lines.append(json.dumps(run.config, indent=2))
    stages = run.metrics_stages()
    if stages:
        lines.append("\nTraining metrics:")
        for stage in stages:
            rows = run.read_metrics(stage)
            last = rows[-1] if rows else {}
            shown = ", ".join(f"{k} {_fmt(v)}" for k, v in last.items())
            lines.append(f"  {stage}: {len(rows)} rows; last: {shown}  ({run.metrics_path(stage).name})")
    lines.append("\nResults:")
    lines.append(format_run_results(run))
    print("\n".join(lines))
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _safe(get: Callable[[], Any], default: Any) -> Any:
    try:
        return get()
    except CheckpointError:
        return default


def cmd_compare(args: argparse.Namespace) -> int:
    from scl_desktop.core.runs.compare import comparison_warning

    store = RunStore()
    runs = [store.open(r) for r in args.runs]
    rows = [row for run in runs for row in run.result_rows()]
    warning = comparison_warning(store.rows(runs))
    best = None if warning or not rows else _best(rows)
    if args.json:
        print_json({"results": rows, "comparable": warning is None, "best": best, "notes": [warning] if warning else []})
        return 0
    if not rows:
        print("None of these runs has results yet.")
        return 0
    table = [[r["run"], *_table1_row(r["method"], r)] for r in rows]
    print(format_table(["run", *TABLE1_HEADERS], table))
    if warning:
        print(f"WARNING: {warning}")
    elif best:
        print("best: " + "; ".join(f"{key} {b['method']} of {b['run']} ({b['value']:.1f} %)"
                                   for key, b in best.items() if b))
    return 0


def _best(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """The (first) result with the highest minority and overall accuracy: {key: {run, method, value} or None}."""
    out: dict[str, dict[str, Any] | None] = {}
    for key in ("minority", "overall"):
        scored = [r for r in rows if r.get(key) is not None]
        top = max(scored, key=lambda r, key=key: r[key]) if scored else None
        out[key] = {"run": top["run"], "method": top["method"], "value": top[key]} if top else None
    return out


def cmd_rename(args: argparse.Namespace) -> int:
    store = RunStore()
    run = store.open(args.run)
    old = run.name
    store.rename(run, args.name)
    print(f"renamed {run.id}: {old or '(no name)'} -> {run.name}")
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    run = RunStore().open(args.run)
    run.set_note(args.text)
    print(f"note on {run.id}: {run.note}" if run.note else f"note on {run.id} removed")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store = RunStore()
    runs = [store.open(r) for r in args.runs]
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("Deleting runs needs confirmation.", "Add --yes to delete without asking.")
        for run in runs:
            print(f"  {run.id}  {run.status_label}  {run.path}")
        answer = input("Delete these runs and their folders? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    for run in runs:
        store.delete(run)
        print(f"deleted {run.id} ({run.path})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from scl_desktop.core.methods import method_named

    for method in args.method or ():
        method_named(method)  # an unknown name is refused with the list of methods
    store = RunStore()
    runs = [store.open(r) for r in args.runs]
    if args.recompute:
        for run in runs:
            _recompute(run, args.method or run.methods(), quiet=args.json)
    written = _write_report(store, runs, args) if args.report or args.report_csv else []
    rows = [r for run in runs for r in run.result_rows() if not args.method or r["method"] in args.method]
    if args.json:
        print_json({"results": rows,
                    "runs": [{"id": run.id, "kind": run.kind, "status": run.status_label, "path": str(run.path)}
                             for run in runs],
                    **({"reports": [str(p) for p in written]} if written else {})})
        return 0
    for i, run in enumerate(runs):
        if i:
            print()
        print(f"Run {run.id} ({run.kind}, {run.status_label})")
        print(format_run_results(run, args.method))
    for path in written:
        print(f"Report written: {path}")
    return 0


def _write_report(store: RunStore, runs: Sequence[Run], args: argparse.Namespace) -> list[Path]:
    """Write the --report HTML and --report-csv CSV of the one run given."""
    from scl_desktop.core.reports import write_report

    if len(runs) != 1:
        raise ConfigError(f"A report is of one run, but {len(runs)} runs were given.",
                          "Name one run, e.g. `scl evaluate RUN --report report.html`.")
    return write_report(runs[0], store, args.report, args.report_csv, args.method)


def _recompute(run: Run, methods: Sequence[str], quiet: bool) -> None:
    """Re-evaluate ``methods`` of ``run`` from its checkpoints and store the results."""
    from scl_desktop.core.events import drive
    from scl_desktop.core.model import predictor

    if not methods:
        raise ConfigError(f"Run {run.id} has no results to recompute.", "Name one with --method, e.g. --method SCL-CB.")
    printer = EventPrinter(quiet=quiet)
    for method in methods:
        run.save_result(method, drive(predictor.evaluate_run(run, method), printer))
