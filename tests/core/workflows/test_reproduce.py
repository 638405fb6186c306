"""`scl reproduce` on a generated 4-class dataset with the tiny model: every row, shared work, resume."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from scl_desktop.cli import main
from scl_desktop.core.atomic import read_json
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken, Progress, drive
from scl_desktop.core.methods import CLASSIFIER_BALANCES
from scl_desktop.core.workflows import reproduce as repro
from scl_desktop.core.workflows.reproduce import (
    REPORT_FILE,
    RESULTS_FILE,
    STATE_FILE,
    ReproduceConfig,
    plan_cells,
    reproduce,
    rows_of,
)
from tests.core.training.test_encoder import tiny_split

TINY = dict(seeds=(0, 1), s_values=(2,), majority=2, major_count=8, test_per_class=4, arch="tiny", image_size=16,
            epochs=1, classifier_epochs=1, device="cpu")
CLI_TINY = ["--seeds", "0,1", "--s", "2", "--majority", "2", "--major-count", "8", "--test-per-class", "4",
            "--arch", "tiny", "--image-size", "16", "--epochs", "1", "--classifier-epochs", "1", "--device", "cpu"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; put torch's setting back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repro_data")
    tiny_split(root)
    return root / "images"


@pytest.fixture(scope="module")
def full(images: Path, tmp_path_factory: pytest.TempPathFactory):
    """All three tables with every stage-2 strategy, two seeds, one s: (config, result, events)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = ReproduceConfig(source=images, out=tmp_path_factory.mktemp("repro_out"), **TINY)
        events: list = []
        return config, drive(reproduce(config), events.append), events
    finally:
        torch.set_num_threads(threads)


N_CELLS = 1 + len(CLASSIFIER_BALANCES) + 5  # per (seed, s): Plain, every SCL classifier, 5 encoder variants


def test_plan_shares_work_between_tables():
    cells = plan_cells(ReproduceConfig(source="x", out="y", seeds=(0,), s_values=(10,)))
    keys = [c.key for c in cells]
    assert len(keys) == len(set(keys)) == N_CELLS  # 3 augmentation and 2 stage-1 variants
    assert "s10/seed0/scl/SCL-CB" in keys  # Table 1 SCL-CB = Table 2 +RF+RR+RCD = Table 3 SCL
    assert "s10/seed0/scl/SCL-Auto" in keys and "s10/seed0/scl/SCL-TauNorm" in keys
    assert {c.job for c in cells} == set(repro.JOBS) - {"scl-no-warmup", "probe"}  # Table 4 and --weights only
    csce = plan_cells(ReproduceConfig(source="x", out="y", seeds=(0,), s_values=(10,), tables=(2, 3),
                                      ablation_balance="csce"))
    assert {c.method for c in csce} == {"SCL-CSCE"}


def test_classifiers_choose_table_1s_rows_and_the_ablation_takes_any_strategy():
    config = ReproduceConfig(source="x", out="y", seeds=(0,), s_values=(10,), tables=(1,),
                             classifiers=("la-loss", "cb", "la-loss"))
    assert [row.label for row in rows_of(1, config)] == ["Plain CE", "SCL-LALoss", "SCL-CB"]
    assert [c.method for c in plan_cells(config)] == ["Plain", "SCL-LALoss", "SCL-CB"]
    ablation = plan_cells(ReproduceConfig(source="x", out="y", seeds=(0,), s_values=(10,), tables=(2,),
                                          ablation_balance="tau-norm"))
    assert {c.method for c in ablation} == {"SCL-TauNorm"}
    with pytest.raises(ConfigError, match="focal"):
        ReproduceConfig(source="x", out="y", classifiers=("cb", "focal"))
    with pytest.raises(ConfigError, match="tau-norm"):
        ReproduceConfig(source="x", out="y", ablation_balance="focal")


def test_bad_options_say_what_to_do():
    with pytest.raises(ConfigError, match="1, 2, 3, 4, 5"):
        ReproduceConfig(source="x", out="y", tables=(6,))
    with pytest.raises(ConfigError, match="ARCH@PX"):
        ReproduceConfig(source="x", out="y", resolutions=(("resnet99", 64),))
    with pytest.raises(ConfigError, match="--s"):
        ReproduceConfig(source="x", out="y", s_values=(0,))


def test_report_has_every_row_and_the_raw_results(full):
    config, result, _ = full
    assert result.cells_done == result.cells_total == 2 * N_CELLS and not result.failed
    report = result.report.read_text(encoding="utf-8")
    assert config.tables == repro.DEFAULT_TABLES == (1, 2, 3)
    for t in config.tables:
        assert f"{repro.TABLE_TITLES[t]}, s = 2" in report
        for row in rows_of(t, config):
            assert f"| {row.label} | " in report, row.label
    assert "n/a (AID/NWPU only)" in report and "AID and NWPU-RESISC45" in report
    assert "tiny, 16 px views" in report and "Device: cpu" in report
    assert "Minority accuracy over Plain" in report
    data = read_json(result.results)
    assert len(data["rows"]) == sum(len(rows_of(t, config)) for t in config.tables)
    assert all(r["majority"]["n"] == 2 and r["majority"]["std"] is not None for r in data["rows"])
    assert len(data["cells"]) == 2 * N_CELLS and all(c["per_class"] and c["run"] for c in data["cells"])
    # SCL-Auto's choice per seed is kept with its cell and listed in the report
    autos = [c for c in data["cells"] if c["method"] == "SCL-Auto"]
    assert len(autos) == 2 and all(c["auto"]["strategy"] in CLASSIFIER_BALANCES for c in autos)
    assert "What SCL-Auto chose" in report
    assert f"| 2 | 0 | {autos[0]['auto']['strategy']} |" in report
    # Table 1's SCL-CB, Table 2's full-policy row and Table 3's SCL row are one result
    shared = [r for r in data["rows"] if r["job"] == "scl" and r["method"] == "SCL-CB"]
    assert len(shared) == 3 and len({json.dumps(r["minority"]) for r in shared}) == 1


def test_one_training_per_job(full):
    config, _, _ = full
    state = read_json(Path(config.out) / STATE_FILE)
    assert len(state["jobs"]) == 2 * 7  # 7 runs per seed (Table 4's encoder is not asked for), SCL trained once
    scl_runs = {c["run"] for c in state["cells"].values() if c["job"] == "scl" and c["seed"] == 0}
    assert len(scl_runs) == 1


def test_rerun_skips_finished_cells(full, monkeypatch):
    config, first, _ = full

    def no_training(*args, **kwargs):
        raise AssertionError("a finished cell was computed again")

    for name in ("train_encoder", "train_baseline", "fit_classifier"):
        monkeypatch.setattr(repro, name, no_training)
    result = drive(reproduce(config))
    assert result.skipped == result.cells_done == first.cells_total


def test_lost_cells_are_recomputed_from_the_finished_encoder(full, monkeypatch):
    config, _, _ = full
    path = Path(config.out) / STATE_FILE
    state = read_json(path)
    lost = [k for k in state["cells"] if k.startswith("s2/seed1/scl/")]
    for key in lost:
        del state["cells"][key]
    path.write_text(json.dumps(state))
    monkeypatch.setattr(repro, "train_encoder", lambda *a, **k: pytest.fail("the finished encoder was retrained"))
    fitted = []
    real_fit = repro.fit_classifier

    def counting_fit(run, classifier, cancel=None, save=True):
        fitted.append(classifier.balance)
        return real_fit(run, classifier, cancel, save)

    monkeypatch.setattr(repro, "fit_classifier", counting_fit)
    result = drive(reproduce(config))
    assert sorted(fitted) == sorted(CLASSIFIER_BALANCES) and len(lost) == len(CLASSIFIER_BALANCES)
    assert result.cells_done == result.cells_total and result.skipped == result.cells_total - len(lost)


def test_other_settings_in_the_same_folder_are_refused(full):
    config, _, _ = full
    other = ReproduceConfig(**{**config.__dict__, "epochs": 2})
    with pytest.raises(ConfigError, match="other settings"):
        drive(reproduce(other))


def test_cli_continues_a_finished_folder_and_prints_json(full, capsys):
    config, _, _ = full
    code = main(["reproduce", str(config.source), "--out", str(config.out), *CLI_TINY, "--json", "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cells_finished"] == printed["cells_total"] == printed["cells_skipped"] == 2 * N_CELLS
    report = (Path(config.out) / REPORT_FILE).read_text(encoding="utf-8")
    assert "Command: `scl reproduce " in report and "--epochs 1" in report and "--seeds 0,1" in report
    assert (Path(config.out) / RESULTS_FILE).is_file()


def test_cancel_mid_training_then_resume_from_the_checkpoint(images, tmp_path):
    config = ReproduceConfig(source=images, out=tmp_path, **{**TINY, "seeds": (0,), "epochs": 2}, tables=(1,))
    token = CancelToken()

    def cancel_in_stage1(event):
        if isinstance(event, Progress) and event.task.startswith("Stage 1"):
            token.cancel()

    with pytest.raises(Cancelled):
        drive(reproduce(config, cancel=token), cancel_in_stage1)
    state = read_json(tmp_path / STATE_FILE)
    assert set(state["cells"]) == {"s2/seed0/plain/Plain"}
    stopped = state["jobs"]["s2/seed0/scl"]["run"]
    result = drive(reproduce(config))
    assert result.cells_done == result.cells_total == 1 + len(CLASSIFIER_BALANCES)
    state = read_json(tmp_path / STATE_FILE)
    assert state["jobs"]["s2/seed0/scl"]["run"] == stopped  # resumed, not started again
    assert {c["run"] for k, c in state["cells"].items() if "/scl/" in k} == {stopped}


@pytest.mark.parametrize("preset,frac,count,test", [("ucm", None, 50, 40), ("aid", 0.5, None, 100),
                                                    ("nwpu", None, 140, 400)])
def test_protocol_presets_give_each_datasets_ci_split(preset, frac, count, test):
    cfg = repro.split_config(ReproduceConfig(source="x", out="y", protocol_preset=preset), s=5, seed=3)
    assert (cfg.major_frac, cfg.major_count, cfg.test_per_class, cfg.s, cfg.seed) == (frac, count, test, 5, 3)


def test_flags_replace_the_presets_numbers():
    cfg = repro.split_config(ReproduceConfig(source="x", out="y", protocol_preset="nwpu", major_frac=0.2), 5, 0)
    assert (cfg.major_frac, cfg.major_count, cfg.test_per_class) == (0.2, None, 400)
    cfg = repro.split_config(ReproduceConfig(source="x", out="y", protocol_preset="aid", major_count=30,
                                             test_per_class=50), 5, 0)
    assert (cfg.major_frac, cfg.major_count, cfg.test_per_class) == (None, 30, 50)
    with pytest.raises(ConfigError, match="aid, nwpu, ucm"):
        ReproduceConfig(source="x", out="y", protocol_preset="rsscn7")
    with pytest.raises(ConfigError, match="only one"):
        ReproduceConfig(source="x", out="y", major_frac=0.5, major_count=50)


def test_classifier_identity_leaves_out_the_per_row_strategy_and_tau_so_old_folders_resume():
    identity = repro.setting_identity(ReproduceConfig(source="x", out="y"), SimpleNamespace(source="x"), True)
    assert not {"balance", "tau", "loss_norm"} & set(identity["classifier"])  # Table 4 varies loss_norm per row


def test_the_encoder_probe_settings_are_not_part_of_the_identity():
    from scl_desktop.core.data.manifest import DatasetManifest

    identity = repro.setting_identity(ReproduceConfig(source="x", out="y"), DatasetManifest("x", ("a", "b"), ()), True)
    assert "epochs" in identity["encoder"] and not {"seed", "probe_every", "probe_k"} & set(identity["encoder"])


def test_count_based_split_identity_is_unchanged_so_old_folders_resume():
    # folders written before --major-frac existed stored exactly these keys
    assert repro._split_identity(ReproduceConfig(source="x", out="y")) == {
        "protocol": "ci", "majority": None, "major_count": 50, "test_per_class": 40}


def test_cli_runs_a_fraction_protocol_and_reports_it(images, tmp_path, capsys):
    out = tmp_path / "frac"
    args = [a for a in CLI_TINY if a not in ("--major-count", "8")]
    args[args.index("0,1")] = "0"
    code = main(["reproduce", str(images), "--out", str(out), *args, "--major-frac", "0.5", "--protocol-preset",
                 "aid", "--tables", "1", "--classifiers", "auto,none", "--ablation-classifier", "la-loss", "--json",
                 "--quiet"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["method"] for r in rows] == ["Plain", "SCL-Auto", "SCL-CE"]
    report = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert "majority classes with 50% of their images" in report and "4 test images per class" in report
    assert "--protocol-preset aid --major-frac 0.5" in report
    assert "--classifiers auto,none" in report and "--ablation-classifier la-loss" in report
    assert main(["reproduce", str(images), "--out", str(tmp_path / "bad"), "--classifiers", "cb,focal"]) == 2
    split = read_json(out / STATE_FILE)["identity"]["split"]
    assert split == {"protocol": "ci", "majority": 2, "major_count": None, "major_frac": 0.5, "test_per_class": 4}


def test_ablation_tables_plan_variants_and_resolutions_and_keep_the_old_cell_keys():
    config = ReproduceConfig(source="x", out="y", seeds=(0,), s_values=(10,), tables=(1, 4, 5),
                             resolutions=(("resnet18", 64), ("resnet18-small", 32)))
    cells = plan_cells(config, on_cpu=True)
    keys = [c.key for c in cells]
    assert len(keys) == len(set(keys))
    # unchanged keys for the unvaried cells, so folders begun before Tables 4 and 5 continue
    assert "s10/seed0/scl/SCL-CB" in keys and "s10/seed0/plain/Plain" in keys
    assert {"s10/seed0/scl/SCL-CB/1-view", "s10/seed0/scl/SCL-CSCE/count-norm", "s10/seed0/scl-no-warmup/SCL-CB",
            "s10/seed0/scl-no-warmup/SCL-CB/before", "s10/seed0/scl-no-warmup/SCL-CSCE/before"} <= set(keys)
    # resnet18 at 64 px is the CPU's Table-1 encoder: its Table-5 row reads that encoder; the other trains its own
    assert [r.job for r in rows_of(5, config, on_cpu=True)] == ["scl", "res-resnet18-small-32px"]
    assert keys[-1] == "s10/seed0/res-resnet18-small-32px/SCL-CB"
    job = repro.job_named("res-resnet18-small-32px")
    assert job.encoder_changes == {"arch": "resnet18-small", "image_size": 32}
    encoder = repro.encoder_config(config, job.name, 0, on_cpu=True)
    assert (encoder.arch, encoder.image_size, encoder.epochs) == ("resnet18-small", 32, 30)  # CPU budget kept
    assert repro.encoder_config(config, "scl-no-warmup", 0, on_cpu=True).warmup_used() == 0
    assert repro.encoder_config(config, "scl", 0, on_cpu=True).warmup_used() == 5
    # on a GPU resnet18 at 64 px is not the Table-1 encoder (resnet50 at 224 px), so it trains its own
    assert [r.job for r in rows_of(5, config, on_cpu=False)] == ["res-resnet18-64px", "res-resnet18-small-32px"]
    variant = repro.classifier_config(config, "csce", 0, "before")
    assert (variant.feature_views, variant.min_steps, variant.loss_norm) == (1, 0, "count")


def test_tables_4_and_5_run_without_touching_the_runs_own_results(images, tmp_path):
    config = ReproduceConfig(source=images, out=tmp_path / "abl", **{**TINY, "seeds": (0,)}, tables=(4, 5),
                             resolutions=(("tiny", 16), ("tiny", 24)))
    result = drive(reproduce(config))
    assert result.cells_done == result.cells_total == 10 + 1 and not result.failed
    state = read_json(Path(config.out) / STATE_FILE)
    cells = state["cells"]
    released = cells["s2/seed0/scl/SCL-CB"]
    # every refit variant left the run's saved SCL-CB result, the one Table 4's first row shows, as it was
    from scl_desktop.core.runs.folder import Run
    run = Run(released["path"])
    assert run.evaluation("SCL-CB").summary()["overall"] == released["overall"]
    assert run.methods() == ["SCL-CB", "SCL-CSCE"]
    assert cells["s2/seed0/scl/SCL-CB/1-view"]["run"] == released["run"]
    assert {c["variant"] for c in cells.values()} == {None, *repro.STAGE2_VARIANTS}
    wide = Run(cells["s2/seed0/res-tiny-24px/SCL-CB"]["path"])
    assert wide.config["image_size"] == 24 and wide.config["arch"] == "tiny"
    report = result.report.read_text(encoding="utf-8")
    for row in (*rows_of(4, config), *rows_of(5, config)):
        assert f"| {row.label} | " in report, row.label
    assert "Stage-1 minutes" in report
    timed = [r for r in read_json(result.results)["rows"] if r["table"] == 5]
    assert [r["job"] for r in timed] == ["scl", "res-tiny-24px"]
    assert all(r["minutes"]["n"] == 1 and r["minutes"]["mean"] > 0 for r in timed)  # logic: epochs took some time


def test_weights_start_every_encoder_and_add_probe_only_rows(images, tmp_path):
    from scl_desktop.core.model.networks import SupConModel
    from scl_desktop.core.runs.folder import Run

    torch.manual_seed(9)
    weights = tmp_path / "tiny.pth"
    torch.save(SupConModel("tiny").encoder.state_dict(), weights)
    config = ReproduceConfig(source=images, out=tmp_path / "w", **{**TINY, "seeds": (0,)}, tables=(1,),
                             classifiers=("cb",), weights_path=str(weights))
    assert [r.label for r in rows_of(1, config)] == ["Plain CE", "SCL-CB", "Probe only + SCL-CB"]
    result = drive(reproduce(config))
    assert result.cells_done == result.cells_total == 3 and not result.failed
    cells = read_json(Path(config.out) / STATE_FILE)["cells"]
    probe = Run(cells["s2/seed0/probe/SCL-CB"]["path"])
    assert probe.config["epochs"] == 0 and probe.start_weights["file"] == str(weights)
    assert Run(cells["s2/seed0/scl/SCL-CB"]["path"]).start_weights["file"] == str(weights)
    assert Run(cells["s2/seed0/plain/Plain"]["path"]).start_weights["file"] == str(weights)
    assert "| Probe only + SCL-CB | " in result.report.read_text(encoding="utf-8")
