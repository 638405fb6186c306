"""A run report as one self-contained HTML page: inline style, no scripts, pictures as data: URIs.

Every name (run, class, setting, dataset path) is HTML-escaped. Numbers are shown rounded and carry
their exact value in ``data-value`` (empty where undefined) for programs that read the page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from scl_desktop import __version__
from scl_desktop.core.metrics import Evaluation
from scl_desktop.core.reports.confusion_png import confusion_png
from scl_desktop.core.reports.content import MethodResult, RunReport, per_class_rows
from scl_desktop.core.reports.palette import MAJORITY, MINORITY, NEUTRAL, hex_rgb, role_hex, shade
from scl_desktop.core.runs.record import now_text

STYLE = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #202020; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.majority {{ color: {MAJORITY}; }} .minority {{ color: {MINORITY}; }} .norole {{ color: {NEUTRAL}; }}
tr.reference td {{ color: #606060; font-style: italic; }}
.note {{ color: #606060; }} .stale {{ color: #b00020; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
table.confusion td, table.confusion th {{ font-size: 0.8em; padding: 0.1em 0.3em; }}
img {{ max-width: 100%; height: auto; }}
"""

TABLE1_KEYS = (("majority", "majority %"), ("minority", "minority %"), ("overall", "overall %"),
               ("balanced_accuracy", "balanced %"), ("macro_f1", "macro-F1 %"))
PER_CLASS_KEYS = (("precision", "precision %"), ("recall", "recall %"), ("f1", "F1 %"), ("accuracy", "accuracy %"))


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _num(value: float | int | None, digits: int = 2, klass: str = "num") -> str:
    """A right-aligned cell: ``value`` rounded, its exact value in ``data-value``; "—" when undefined."""
    if value is None:
        return f'<td class="{klass}" data-value="">—</td>'
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return f'<td class="{klass}" data-value="{_e(repr(value))}">{text}</td>'


def _role_class(role: str | None) -> str:
    return role if role in ("majority", "minority") else "norole"


def _facts(rows: Iterable[tuple[str, Any]], table_id: str) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table id="{table_id}">{body}</table>'


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as ("encoder.epochs", 100) pairs; lists and other values as JSON text."""
    out: list[tuple[str, Any]] = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_flatten(value, f"{name}."))
        else:
            out.append((name, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    return out


def _table1(report: RunReport) -> str:
    rows = list(report.results) + ([report.plain] if report.plain is not None else [])
    head = "".join(f"<th>{label}</th>" for _, label in TABLE1_KEYS)
    body = []
    for r in rows:
        ev, summary = r.evaluation, r.evaluation.summary()
        reference = r is report.plain
        method = r.method + (" (stale)" if r.stale else "")
        cells = "".join(_num(summary[k]) for k, _ in TABLE1_KEYS) + _num(ev.kappa, 3)
        body.append(f'<tr class="{"reference" if reference else "result"}" data-method="{_e(r.method)}" '
                    f'data-run="{_e(r.run_id)}"><td>{_e(method)}</td><td>{_e(r.run_id)}</td>{cells}</tr>')
    return (f'<table id="table1"><tr><th>method</th><th>run</th>{head}<th>Cohen\'s kappa</th></tr>'
            f'{"".join(body)}</table><p class="note" id="plain-note">{_e(report.plain_note)}</p>')


def _split(report: RunReport) -> str:
    def group(part: str, role: str | None) -> int:
        return sum(n for c, n in report.counts[part].items() if role is None or report.roles.get(c) == role)

    body = "".join(f'<tr data-part="{p}"><td>{p}</td>' + _num(group(p, None)) + _num(group(p, "majority"))
                   + _num(group(p, "minority")) + "</tr>" for p in report.counts)
    counts = ('<table id="split-counts"><tr><th>part</th><th>images</th><th class="majority">majority classes</th>'
              f'<th class="minority">minority classes</th></tr>{body}</table>')
    roles = [report.roles.get(c) for c in report.classes]
    facts = _facts([("dataset", report.dataset), ("protocol", report.protocol), ("split seed", report.split_seed),
                    ("classes", f"{len(roles)} ({roles.count('majority')} majority, {roles.count('minority')} "
                                "minority)")], "split-facts")
    return facts + counts


def _per_class(report: RunReport, result: MethodResult) -> str:
    head = "".join(f"<th>{label}</th>" for _, label in PER_CLASS_KEYS)
    body = []
    for row in per_class_rows(report):
        if row["method"] != result.method:
            continue
        role = row["role"]
        body.append(f'<tr data-class="{_e(row["class"])}"><td class="{_role_class(role)}">{_e(row["class"])}</td>'
                    f"<td>{_e(role or '—')}</td>" + _num(row["train_n"]) + _num(row["test_n"])
                    + _num(row["predicted_n"]) + "".join(_num(row[k]) for k, _ in PER_CLASS_KEYS) + "</tr>")
    return (f'<table class="per-class"><tr><th>class</th><th>role</th><th>train n</th><th>test n</th>'
            f'<th>predicted n</th>{head}</tr>{"".join(body)}</table>')


def _confusion_table(ev: Evaluation) -> str:
    head = "".join(f'<th class="{_role_class(ev.roles.get(c))}">{_e(c)}</th>' for c in ev.classes)
    body = []
    for i, (c, row) in enumerate(zip(ev.classes, ev.confusion, strict=True)):
        total = sum(row) or 1
        cells = "".join(f'<td class="num" style="background:{hex_rgb(shade(n / total, i == j))}'
                        f'{";color:white" if n / total > 0.55 else ""}">{n}</td>' for j, n in enumerate(row))
        body.append(f'<tr data-class="{_e(c)}"><th class="{_role_class(ev.roles.get(c))}">{_e(c)}</th>{cells}</tr>')
    return (f'<div class="scroll"><table class="confusion"><tr><th>true \\ predicted</th>{head}</tr>'
            f'{"".join(body)}</table></div>')


def _method(report: RunReport, result: MethodResult) -> str:
    ev = result.evaluation
    parts = [f'<section class="method" data-method="{_e(result.method)}"><h2>{_e(result.method)}</h2>']
    if result.stale:
        parts.append(f'<p class="stale">Stale: {_e(result.stale)}.</p>')
    parts.append('<table class="summary"><tr><th>test images</th><th>Cohen\'s kappa</th><th>macro-F1 %</th>'
                 f'<th>balanced accuracy %</th></tr><tr>{_num(ev.n)}{_num(ev.kappa, 3)}{_num(ev.macro_f1)}'
                 f'{_num(ev.balanced_accuracy)}</tr></table>')
    parts.append("<h3>Per class</h3>" + _per_class(report, result))
    parts.append("<h3>Confusion matrix</h3>")
    if ev.has_confusion:
        png = base64.b64encode(confusion_png(ev.classes, ev.confusion, ev.roles)).decode("ascii")
        parts.append(f'<p><img class="confusion" alt="{_e(f"Confusion matrix of {result.method}")}" '
                     f'src="data:image/png;base64,{png}"></p>' + _confusion_table(ev))
    else:
        parts.append(f'<p class="note">This result was stored without its confusion matrix; re-evaluate it with '
                     f'<code>scl evaluate {_e(result.run_id)} --recompute</code> to add it.</p>')
    parts.append("</section>")
    return "".join(parts)


def _legend(names: Sequence[tuple[str, str]]) -> str:
    return " ".join(f'<span style="color:{role_hex(role)}">{_e(text)}</span>' for role, text in names)


def report_html(report: RunReport) -> str:
    """The whole page for ``report``."""
    run_facts = _facts([("id", report.run_id), ("name", report.run_name or "—"), ("kind", report.kind),
                        ("status", report.status), ("created", report.created or "—"), ("seed", report.seed),
                        ("encoder start", report.start)], "run-facts")
    settings = _facts(_flatten(report.settings), "settings") if report.settings else '<p class="note">None recorded.</p>'
    legend = _legend([("majority", "majority classes"), ("minority", "minority classes")])
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(report.title)}: scl report</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="note">Report written {_e(now_text())} by scl_desktop {_e(__version__)}. Accuracies are '
        f"top-1 test accuracies in percent; class names: {legend}.</p>",
        "<h2>Run</h2>", run_facts,
        "<h2>Dataset and split</h2>", _split(report),
        "<h2>Table 1: majority, minority and overall accuracy</h2>",
        '<p class="note">Majority / minority: over the test images of those classes; overall: over all test '
        "images; beside the Plain baseline (end-to-end cross-entropy) on the same split where one exists.</p>",
        _table1(report),
        *(_method(report, r) for r in report.results),
        "<h2>Settings</h2>", settings,
        "</body></html>\n",
    ])
