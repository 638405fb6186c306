"""`scl bench` on a tiny CPU configuration: every part runs and reports positive numbers (no timing claims)."""

from __future__ import annotations

import json

import pytest

from scl_desktop.cli import main
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import drive
from scl_desktop.core.workflows.bench import BenchConfig, format_report, run_bench

TINY = {"device": "cpu", "arch": "tiny", "size": 16, "store_size": 24, "batch": 4, "steps": 1, "warmup": 1,
        "images": 16, "store_images": 8, "label_grid": 2, "repeat": 1}


def test_tiny_bench_runs_every_part_and_reports_positive_numbers():
    pytest.importorskip("rasterio")
    result = drive(run_bench(BenchConfig(workers=0, **TINY)))
    assert json.loads(json.dumps(result)) == result  # plain JSON
    assert result["device"].startswith("cpu") and result["config"]["arch"] == "tiny"
    stage1 = result["stage1"]
    for key in ("pipeline", "ceiling", "reference", "pipeline_vs_ceiling", "pipeline_vs_reference"):
        assert stage1[key] > 0, key
    stage2 = result["stage2"]
    assert stage2["epochs"] == 100 and stage2["images"] == 16
    for key in ("samples_per_s", "encode", "time_100_epochs_s", "feature_cache_s", "stage1_epoch_s", "time_ratio"):
        assert stage2[key] > 0, key
    label = result["label"]
    assert label["windows"] == 4
    for key in ("pipeline", "ceiling", "pipeline_vs_ceiling"):
        assert label[key] > 0, key
    report = format_report(result)
    assert "stage 1" in report and "stage 2" in report and "labelling" in report


def test_cli_json_with_dataloader_workers(capsys):
    args = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items() if k not in ("store_images", "label_grid")]
    assert main(["bench", *args, "--workers", "1", "--parts", "stage1", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"device", "device_info", "config", "stage1"}
    assert result["stage1"]["reference"] > 0 and result["config"]["workers"] == 1


@pytest.mark.parametrize("change", [{"parts": ("stage3",)}, {"batch": 1}, {"arch": "vgg"}, {"steps": 0}])
def test_bad_settings_are_config_errors(change):
    with pytest.raises(ConfigError):
        drive(run_bench(BenchConfig(**{**TINY, **change})))
