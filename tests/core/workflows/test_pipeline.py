"""The demo pipeline end to end: data -> import -> split -> stage 1 -> stage 2 -> Plain -> Table 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from scl_desktop.cli import main as cli_main
from scl_desktop.core.data.demo import DEMO_CLASSES, DEMO_MINORITY
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken, EpochMetrics, Log, drive
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig
from scl_desktop.core.workflows import pipeline

TINY = {"arch": "tiny", "image_size": 16, "batch_size": 32, "epochs": 2, "device": "cpu", "num_threads": 1,
        "checkpoint_every": 0, "amp": False}
METHODS = ["Plain", "SCL-CB", "SCL-CSCE", "SCL-CE"]


def tiny_config(seed: int = 0) -> pipeline.PipelineConfig:
    return pipeline.PipelineConfig(
        encoder=EncoderConfig(lr=0.1, seed=seed, **TINY),
        classifier=ClassifierConfig(epochs=3, lr=0.05, device="cpu", num_threads=1, seed=seed, amp=False),
        baseline=BaselineConfig(lr=0.05, seed=seed, eval_every=1, **TINY))


@pytest.fixture(scope="module")
def tiny_demo() -> tuple[pipeline.PipelineResult, list]:
    events: list = []
    result = drive(pipeline.run_demo(seed=3, config=tiny_config(3)), events.append)
    return result, events


def test_tiny_demo_runs_every_step_and_returns_table1_rows(tiny_demo):
    result, events = tiny_demo
    rows = result.rows()
    assert [r["method"] for r in rows] == METHODS  # Plain first, then the stage-2 strategies in config order
    for row in rows:
        assert set(row) >= {"method", "run", "majority", "minority", "overall", "per_class"}
        assert set(row["per_class"]) == set(DEMO_CLASSES)
        for key in ("majority", "minority", "overall"):
            assert 0.0 <= row[key] <= 100.0
        run = RunStore().open(row["run"])  # the id works with the other commands
        assert row["method"] in run.methods()
        assert run.status == "done"
    assert rows[0]["run"] != rows[1]["run"] and len({r["run"] for r in rows[1:]}) == 1
    stages = {e.stage for e in events if isinstance(e, EpochMetrics)}
    assert stages == {"baseline", "encoder", "classifier"}
    steps = [e.message for e in events if isinstance(e, Log) and e.message.startswith("Step ")]
    assert len(steps) == 5 and steps[-1].startswith("Step 5/5")
    assert result.split.seed == 3 and set(result.split.minority_classes()) == set(DEMO_MINORITY)
    assert result.split_path is not None and result.split_path.is_file()
    assert {"data", "Plain", "stage1", "SCL-CB", "total"} <= set(result.seconds)


def test_summary_is_json_ready(tiny_demo):
    result, _ = tiny_demo
    summary = json.loads(json.dumps(result.summary()))
    assert [r["method"] for r in summary["results"]] == METHODS
    assert summary["runs"]["Plain"] == summary["results"][0]["run"]
    assert summary["config"]["encoder"]["arch"] == "tiny"
    assert summary["train_counts"]["orchard"] == 8 and summary["test_counts"]["orchard"] == 30


def test_demo_reuses_the_generated_data(tiny_demo, monkeypatch):
    from scl_desktop.core.data import demo as demo_data

    def no_rendering(*_args, **_kwargs):
        raise AssertionError("the demo data was drawn again instead of reused")

    monkeypatch.setattr(demo_data, "render_demo_image", no_rendering)
    split, path = drive(pipeline.demo_split(seed=3))
    assert split.train == tiny_demo[0].split.train and path == tiny_demo[0].split_path


def test_cli_demo_json(monkeypatch, capsys, tiny_demo):
    for key in ("arch", "image_size", "batch_size"):
        monkeypatch.setitem(pipeline.DEMO_SETTINGS, key, TINY[key])
    assert cli_main(["demo", "--seed", "3", "--epochs", "1", "--device", "cpu", "--threads", "1", "--json",
                     "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["synthetic"] is True and out["seed"] == 3
    assert [r["method"] for r in out["results"]] == METHODS
    assert out["config"]["encoder"]["epochs"] == out["config"]["baseline"]["epochs"] == 1


def test_cli_demo_table(monkeypatch, capsys, tiny_demo):
    for key in ("arch", "image_size", "batch_size"):
        monkeypatch.setitem(pipeline.DEMO_SETTINGS, key, TINY[key])
    assert cli_main(["demo", "--seed", "3", "--epochs", "1", "--device", "cpu", "--threads", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    for word in ("SYNTHETIC", "majority %", "minority %", "overall %", "Per-class", "orchard", "Minority classes: SCL-CB",
                 *METHODS):
        assert word in text


def test_help_names_the_default_epochs(capsys):
    with pytest.raises(SystemExit):
        cli_main(["demo", "--help"])
    assert f"(default {pipeline.DEMO_EPOCHS})" in " ".join(capsys.readouterr().out.split())


def test_demo_config_is_fair():
    config = pipeline.demo_config(seed=2, epochs=7)
    enc, base = config.encoder, config.baseline
    for name in ("arch", "image_size", "batch_size", "epochs", "augment", "seed", "store_size", "weights_path"):
        assert getattr(enc, name) == getattr(base, name), name
    assert enc.epochs == 7 and config.classifier.seed == 2 and base.balance == "none"
    assert config.baselines == ("none",) and config.balances == ("cb", "csce", "none")


def test_bad_config_and_cancel():
    with pytest.raises(ConfigError):
        pipeline.PipelineConfig(balances=("cb", "bogus"))
    with pytest.raises(ConfigError):
        pipeline.PipelineConfig(balances=(), baselines=())
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        drive(pipeline.run_demo(seed=3, config=tiny_config(3), cancel=token))
    assert cli_main(["demo", "--epochs", "0"]) == 2


@pytest.mark.slow
def test_real_demo_defaults_show_scl_cb_ahead_on_minority(tmp_path):
    """`scl demo` as shipped, in a fresh process and home: SCL-CB beats Plain on the minority classes."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "scl_desktop.cli", "demo", "--json", "--quiet"],
                          env={**os.environ, "SCL_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    rows = {r["method"]: r for r in json.loads(done.stdout)["results"]}
    print(f"scl demo took {seconds:.0f} s: " + ", ".join(
        f"{m} {r['majority']:.1f}/{r['minority']:.1f}/{r['overall']:.1f}" for m, r in rows.items()))
    assert set(rows) == set(METHODS)
    assert rows["SCL-CB"]["minority"] > rows["Plain"]["minority"] + 10
