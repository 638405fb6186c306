"""Run reports: `scl evaluate RUN --report FILE.html --report-csv FILE.csv` on stored results (nothing trained).

The page is read back with html.parser: its Table-1 rows (beside the Plain baseline found by split
fingerprint), per-class precision / recall / F1 / accuracy, kappa and macro-F1 equal what
`scl evaluate --json` prints; hostile class names stay text; the page needs no other file; the CSV holds
the per-class table; unwritable targets give a clear error.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from html.parser import HTMLParser

import pytest
from PIL import Image

from scl_desktop.cli import main
from scl_desktop.core.data.manifest import DatasetManifest, ImageItem, SplitManifest
from scl_desktop.core.errors import CheckpointError, SclError
from scl_desktop.core.metrics import evaluate
from scl_desktop.core.reports import build_report, per_class_csv, write_report
from scl_desktop.core.reports.confusion_png import confusion_png
from scl_desktop.core.runs.store import RunStore

HOSTILE = ('<b>field</b> & "co"', "forêt l'été", "river<script>alert(1)</script>")
ROLES = {HOSTILE[0]: "majority", HOSTILE[1]: "majority", HOSTILE[2]: "minority"}
TRAIN = (6, 4, 2)  # training images per class (imbalanced)
TEST = 4  # test images per class


def make_split(source: str = "/data/hostile") -> SplitManifest:
    """Train TRAIN[i] and TEST test images of each class (the files need not exist)."""
    items, train, test = [], [], []
    for c, n_train in zip(HOSTILE, TRAIN, strict=True):
        for i in range(n_train + TEST):
            (train if i < n_train else test).append(len(items))
            items.append(ImageItem(path=f"{source}/{len(items)}.png", label=c, size_bytes=1, mtime_ns=0,
                                   sha256=f"{len(items)}", width=16, height=16, bands=3, dtype="uint8"))
    dataset = DatasetManifest(source=source, classes=HOSTILE, items=tuple(items), size=16)
    return SplitManifest(dataset=dataset, protocol="ci", seed=3, config={}, roles=ROLES, train=tuple(train),
                         val=(), test=tuple(test))


def result(wrong: list[tuple[int, int]]):
    """An evaluation on the TEST images per class where the (true, predicted) pairs in ``wrong`` were missed."""
    y_true = [c for c in range(3) for _ in range(TEST)]
    y_pred = list(y_true)
    for slot, (true, pred) in enumerate(wrong):
        y_pred[true * TEST + slot % TEST] = pred
    return evaluate(y_true, y_pred, HOSTILE, ROLES)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCL_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def runs(home):
    """An scl run (SCL-CE, SCL-CB), the Plain baseline on its split, and a Plain run on another split."""
    store = RunStore()
    other = store.create("baseline", make_split("/data/elsewhere"), {}, seed=0)
    other.save_result("Plain", result([]))
    plain = store.create("baseline", make_split(), {"arch": "tiny", "balance": "none"}, seed=0)
    plain.save_result("Plain", result([(2, 0), (2, 0), (2, 1), (1, 0)]))
    plain.set_status("done")
    run = store.create("scl", make_split(), {"encoder": {"arch": "tiny", "epochs": 2, "note": "<i>x</i>"},
                                             "classifier": {"balance": "cb"}}, seed=7, name="hostile")
    run.save_result("SCL-CE", result([(2, 0), (2, 0), (1, 2)]))
    run.save_result("SCL-CB", result([(0, 2), (2, 1)]))
    run.set_status("done")
    return run, plain, other


class Page(HTMLParser):
    """Tags, attribute values and tables (with the data-method of the section around them) of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.tables: list[dict] = []
        self.open_tables: list[dict] = []
        self.sections: list[str | None] = []
        self.cell: dict | None = None
        self.texts: dict[str, str] = {}
        self._text_id: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "section":
            self.sections.append(a.get("data-method"))
        elif tag == "table":
            table = {"attrs": a, "method": next((m for m in reversed(self.sections) if m), None), "rows": []}
            self.tables.append(table)
            self.open_tables.append(table)
        elif tag == "tr" and self.open_tables:
            self.open_tables[-1]["rows"].append({"attrs": a, "cells": []})
        elif tag in ("td", "th") and self.open_tables:
            self.cell = {"tag": tag, "attrs": a, "text": ""}
            self.open_tables[-1]["rows"][-1]["cells"].append(self.cell)
        if a.get("id"):
            self._text_id = a["id"]
            self.texts[a["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "section":
            self.sections.pop()
        elif tag == "table":
            self.open_tables.pop()
        elif tag in ("td", "th"):
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data
        if self._text_id is not None:
            self.texts[self._text_id] += data

    def table(self, *, id: str | None = None, klass: str | None = None, method: str | None = None) -> dict:
        found = [t for t in self.tables if (id is None or t["attrs"].get("id") == id)
                 and (klass is None or t["attrs"].get("class") == klass) and (method is None or t["method"] == method)]
        assert len(found) == 1, (id, klass, method, len(found))
        return found[0]


def value(cell: dict) -> float | None:
    raw = cell["attrs"]["data-value"]
    return None if raw == "" else float(raw)


def cli_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_report_matches_evaluate_json(runs, home, capsys):
    run, plain, other = runs
    html, table_csv = home / "out" / "report.html", home / "out" / "per_class.csv"
    assert main(["evaluate", run.id, "--report", str(html), "--report-csv", str(table_csv)]) == 0
    assert f"Report written: {html}" in capsys.readouterr().out
    rows = {r["method"]: r for r in cli_json(capsys, run.id)["results"]}
    plain_row = cli_json(capsys, plain.id)["results"][0]
    text = html.read_text(encoding="utf-8")
    page = Page(text)

    # Table 1: the run's methods, then Plain of the baseline run on the same split (not the other split's)
    table1 = page.table(id="table1")["rows"][1:]
    assert [(r["attrs"]["data-method"], r["attrs"]["data-run"]) for r in table1] == [
        ("SCL-CE", run.id), ("SCL-CB", run.id), ("Plain", plain.id)]
    for r in table1:
        want = rows.get(r["attrs"]["data-method"], plain_row)
        got = [value(c) for c in r["cells"][2:]]
        assert got == [want[k] for k in ("majority", "minority", "overall", "balanced_accuracy", "macro_f1", "kappa")]
        assert r["cells"][4]["text"] == f"{want['overall']:.2f}"
    assert plain.id in page.texts["plain-note"] and other.id not in text

    # per method: kappa and macro-F1, then per class: role, training count, precision / recall / F1 / accuracy
    for method, want in rows.items():
        summary = page.table(klass="summary", method=method)["rows"][1]["cells"]
        assert [value(c) for c in summary] == [3 * TEST, want["kappa"], want["macro_f1"], want["balanced_accuracy"]]
        per_class = page.table(klass="per-class", method=method)["rows"][1:]
        assert [r["attrs"]["data-class"] for r in per_class] == list(HOSTILE)  # names come back unchanged
        for r, c, n_train in zip(per_class, HOSTILE, TRAIN, strict=True):
            cells = r["cells"]
            assert cells[0]["text"] == c and cells[1]["text"] == ROLES[c] and value(cells[2]) == n_train
            scores = want["per_class_scores"][c]
            assert value(cells[3]) == scores["support"] == TEST and value(cells[4]) == scores["predicted"]
            assert [value(x) for x in cells[5:9]] == [scores[k] for k in ("precision", "recall", "f1", "accuracy")]
            assert value(cells[8]) == want["per_class"][c]
        confusion = page.table(klass="confusion", method=method)["rows"]
        assert [c["text"] for c in confusion[0]["cells"][1:]] == list(HOSTILE)
        assert [[int(c["text"]) for c in r["cells"][1:]] for r in confusion[1:]] == [
            list(row) for row in run.evaluation(method).confusion]

    # dataset and split: counts per part
    counts = {r["attrs"]["data-part"]: [value(c) for c in r["cells"][1:]]
              for r in page.table(id="split-counts")["rows"][1:]}
    assert counts == {"train": [sum(TRAIN), 10, 2], "val": [0, 0, 0], "test": [3 * TEST, 2 * TEST, TEST]}
    assert "/data/hostile" in page.texts["split-facts"]
    settings = {r["cells"][0]["text"]: r["cells"][1]["text"] for r in page.table(id="settings")["rows"]}
    assert settings["encoder.epochs"] == "2" and settings["encoder.note"] == "<i>x</i>"

    # the CSV holds the per-class table (4 decimals), row for row
    with open(table_csv, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["method"], r["class"]) for r in table] == [(m, c) for m in rows for c in HOSTILE]
    for r in table:
        scores = rows[r["method"]]["per_class_scores"][r["class"]]
        assert (r["role"], int(r["train_n"]), int(r["test_n"]), int(r["predicted_n"])) == (
            ROLES[r["class"]], TRAIN[HOSTILE.index(r["class"])], TEST, scores["predicted"])
        for k in ("precision", "recall", "f1", "accuracy"):
            assert r[k] == ("" if scores[k] is None else f"{scores[k]:.4f}")


def test_hostile_names_are_escaped_and_the_page_stands_alone(runs, home):
    run, _, _ = runs
    html = home / "report.html"
    write_report(run, RunStore(), html=html)
    text = html.read_text(encoding="utf-8")
    page = Page(text)
    assert page.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "table",
                         "tr", "th", "td", "section", "div", "img", "code"}  # no <b>, <script>, <i> from a name
    assert "<script" not in text and "<b>field" not in text and "<i>x" not in text
    assert "&lt;b&gt;field&lt;/b&gt; &amp; &quot;co&quot;" in text and "forêt l&#x27;été" in text
    images = page.urls
    assert len(images) == 2 and all(u.startswith("data:image/png;base64,") for u in images)  # nothing external
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].split(",", 1)[1])))
    assert picture.format == "PNG" and picture.width > 3 * 8


def test_without_a_plain_baseline_the_report_says_so(home, capsys):
    store = RunStore()
    run = store.create("scl", make_split("/data/alone"), {}, seed=0)
    run.save_result("SCL-CB", result([]))
    report = build_report(run, store)
    assert report.plain is None and "No Plain baseline" in report.plain_note and "scl baseline" in report.plain_note
    assert [r.method for r in report.results] == ["SCL-CB"]
    base = store.create("baseline", make_split("/data/alone"), {}, seed=0)
    base.save_result("Plain", result([]))
    assert "is the Plain baseline" in build_report(base, store).plain_note
    assert build_report(run, store).plain.run_id == base.id


def test_old_result_without_confusion_matrix_still_reports(home):
    store = RunStore()
    run = store.create("scl", make_split(), {}, seed=0)
    folder = run.save_result("SCL-CB", result([(0, 1)]))
    data = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    del data["confusion"]
    (folder / "evaluation.json").write_text(json.dumps(data), encoding="utf-8")
    html = home / "old.html"
    write_report(run, store, html=html)
    page = Page(html.read_text(encoding="utf-8"))
    assert not page.urls and "without its confusion matrix" in html.read_text(encoding="utf-8")
    per_class = page.table(klass="per-class")["rows"][1:]
    assert [value(r["cells"][8]) for r in per_class] == [75.0, 100.0, 100.0]  # accuracy is stored
    assert all(value(r["cells"][5]) is None for r in per_class)  # precision needs the matrix


def test_report_errors(runs, home, capsys):
    run, plain, _ = runs
    blocker = home / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(SclError) as info:
        write_report(run, RunStore(), html=blocker / "report.html")
    assert "is a file" in info.value.what and "--report" in info.value.hint
    assert main(["evaluate", run.id, "--report", str(blocker / "r.html")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["evaluate", run.id, plain.id, "--report", str(home / "two.html")]) == 2
    assert "one run" in capsys.readouterr().err and not (home / "two.html").exists()
    empty = RunStore().create("scl", make_split(), {}, seed=0)
    with pytest.raises(CheckpointError, match="nothing to report"):
        write_report(empty, RunStore(), csv=home / "x.csv")


def test_per_class_csv_follows_the_report(runs):
    run, _, _ = runs
    report = build_report(run, RunStore(), methods=["SCL-CB"])
    lines = per_class_csv(report).splitlines()
    assert lines[0] == "method,class,role,train_n,test_n,predicted_n,precision,recall,f1,accuracy"
    assert len(lines) == 1 + len(HOSTILE) and all(line.startswith("SCL-CB,") for line in lines[1:])


def test_confusion_picture_of_45_classes_keeps_every_name_readable():
    names = [f"class {i} " + "with a long name" * (i % 5 == 0) for i in range(45)]
    matrix = [[5 if i == j else (i + j) % 2 for j in range(45)] for i in range(45)]
    image = Image.open(io.BytesIO(confusion_png(names, matrix, {n: "minority" for n in names[30:]})))
    # cells of at least 16 px, so a 12 px label fits each row and (rotated) each column
    assert image.width >= 45 * 16 and image.height >= 45 * 16 and image.width < 1400
