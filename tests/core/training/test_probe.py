"""Stage 1's kNN probe: its figures are a plain kNN of the encoder's features, it runs every N epochs and
after the last on the validation images only (never the test images), resumes without duplicate rows,
is printed by `scl train` and probes on rank 0 only under torchrun.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from scl_desktop.core.data.cache import DecodedStore, build_store
from scl_desktop.core.data.manifest import MAJORITY, MINORITY, SplitManifest
from scl_desktop.core.events import EpochMetrics, Log, ProbeMetrics, drive
from scl_desktop.core.model.augment import prepare_eval
from scl_desktop.core.model.checkpoint import load_checkpoint
from scl_desktop.core.model.networks import SupConModel
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.core.training.probe import PROBE_OFF, PROBE_STAGE
from tests.core.training.test_encoder import restore_threads, tiny_encoder_config, tiny_split  # noqa: F401

CLOSE_COLOURS = [(120, 120, 120), (135, 120, 120), (120, 135, 120), (120, 120, 135)]
"""Colours close enough (under noise 70) that a tiny encoder tells the classes apart only partly."""


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> SplitManifest:
    """Train 8/8/2/2, validation 6/6/9/9, test 4 per class: the parts differ in size per class."""
    return tiny_split(tmp_path_factory.mktemp("probe"), per_class=24, val_frac=0.5, colours=CLOSE_COLOURS, noise=70)


def probe_config(**changes: object):
    return tiny_encoder_config(**{"probe_every": 1, "probe_k": 3, **changes})


def numpy_knn(bank: np.ndarray, bank_labels: np.ndarray, queries: np.ndarray, k: int, classes: int) -> np.ndarray:
    """Wu et al.'s weighted kNN written out: cosine similarities, the k largest vote with exp(s / 0.07)."""
    bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    similarity = queries @ bank.T
    votes = np.zeros((len(queries), classes))
    for i, row in enumerate(similarity):
        for j in np.argsort(-row, kind="stable")[:k]:
            votes[i, bank_labels[j]] += np.exp(row[j] / 0.07)
    return votes.argmax(axis=1)


def accuracies(split: SplitManifest, predicted: np.ndarray) -> dict[str, float]:
    """Per-class accuracy (percent) of the validation predictions, plus majority / minority / overall."""
    truth = np.asarray(split.labels("val"))
    out = {name: 100.0 * float(np.mean(predicted[truth == c] == c)) for c, name in enumerate(split.classes)}
    for role in (MAJORITY, MINORITY):
        members = np.isin(truth, [c for c, name in enumerate(split.classes) if split.roles[name] == role])
        out[role] = 100.0 * float(np.mean(predicted[members] == truth[members]))
    out["overall"] = 100.0 * float(np.mean(predicted == truth))
    return out


def figures(row_or_event) -> dict[str, float]:
    """The accuracies a probe row of the metrics file or a ``ProbeMetrics`` event holds, in ``accuracies``' keys."""
    if isinstance(row_or_event, ProbeMetrics):
        return {**row_or_event.per_class, "majority": row_or_event.majority, "minority": row_or_event.minority,
                "overall": row_or_event.overall}
    return {(k[4:] if k.startswith("acc_") else k): v for k, v in row_or_event.items()
            if k.startswith("acc_") or k in ("majority", "minority", "overall")}


def test_probe_figures_equal_a_direct_knn_of_the_encoder_features(split):
    config = probe_config()
    events: list = []
    run = drive(train_encoder(split, config), events.append)
    probes = [e for e in events if isinstance(e, ProbeMetrics)]
    assert [(p.epoch, p.epochs, p.part, p.k) for p in probes] == [(1, 2, "val", 3), (2, 2, "val", 3)]

    model = SupConModel(config.arch, config.proj_dim)  # the encoder the last probe saw: the final checkpoint
    model.load_state_dict(load_checkpoint(run.checkpoint_file)["model"])
    model.eval()
    store = drive(build_store(split.dataset, config.store_size))

    def features(part: str) -> np.ndarray:
        positions = list(split.indices(part))
        with torch.no_grad():
            return torch.cat([model.encoder(prepare_eval(store.batch(positions[i:i + config.batch_size]),
                                                         config.image_size))
                              for i in range(0, len(positions), config.batch_size)]).numpy()

    predicted = numpy_knn(features("train"), np.asarray(split.labels("train")), features("val"), 3, 4)
    expected = accuracies(split, predicted)
    assert len({expected[c] for c in split.classes}) > 1  # the figures can tell one encoder from another
    stored = run.read_metrics(PROBE_STAGE)
    assert [r["epoch"] for r in stored] == [1, 2] and stored[-1]["n"] == len(split.val)
    assert figures(stored[-1]) == pytest.approx(expected)
    assert figures(probes[-1]) == pytest.approx(expected)
    assert probes[-1].roles == split.roles


def test_rows_every_n_epochs_and_the_last_from_the_validation_images_never_the_test_images(split, monkeypatch):
    read: set[int] = set()
    batch = DecodedStore.batch

    def counting(self, positions):
        read.update(int(p) for p in positions)
        return batch(self, positions)

    monkeypatch.setattr(DecodedStore, "batch", counting)
    events: list = []
    run = drive(train_encoder(split, probe_config(epochs=5, probe_every=2)), events.append)
    rows = run.read_metrics(PROBE_STAGE)
    assert [r["epoch"] for r in rows] == [2, 4, 5]
    assert all(r["n"] == len(split.val) != len(split.test) for r in rows)
    assert [e.epoch for e in events if isinstance(e, ProbeMetrics)] == [2, 4, 5]
    assert read >= set(split.val) | set(split.train)
    assert not read & set(split.test)  # not one test image was even loaded
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert all(e.overall is None for e in epochs)  # the loss rows stay as they were
    assert "overall" not in run.read_metrics("encoder")[0]


def test_probing_leaves_training_exactly_as_without_it(split):
    probed = drive(train_encoder(split, probe_config(epochs=3)))
    plain = drive(train_encoder(split, probe_config(epochs=3, probe_every=0)))
    assert PROBE_STAGE not in plain.metrics_stages()
    assert [r["loss"] for r in probed.read_metrics("encoder")] == [r["loss"] for r in plain.read_metrics("encoder")]
    weights = [load_checkpoint(run.checkpoint_file)["model"] for run in (probed, plain)]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[1])  # BatchNorm statistics too


def test_without_a_validation_part_the_probe_is_off_and_says_so_once(tmp_path):
    no_val = tiny_split(tmp_path)
    events: list = []
    run = drive(train_encoder(no_val, probe_config()), events.append)
    assert [e.message for e in events if isinstance(e, Log)].count(PROBE_OFF) == 1
    assert not any(isinstance(e, ProbeMetrics) for e in events)
    assert PROBE_STAGE not in run.metrics_stages()
    events.clear()
    drive(train_encoder(no_val, probe_config(probe_every=0)), events.append)
    assert PROBE_OFF not in [e.message for e in events if isinstance(e, Log)]  # switched off: nothing to say


def test_a_run_stopped_after_a_probe_resumes_without_duplicate_rows_and_with_the_same_figures(split):
    config = probe_config(epochs=4, checkpoint_every=2)
    reference = drive(train_encoder(split, config)).read_metrics(PROBE_STAGE)
    step = train_encoder(split, config)
    run_id = None
    for event in step:  # stop like a killed process: after epoch 3's probe row, before any checkpoint of epoch 3
        if isinstance(event, Log) and event.message.startswith("Run "):
            run_id = event.message.split()[1].rstrip(".")
        if isinstance(event, ProbeMetrics) and event.epoch == 3:
            break
    step.close()
    run = RunStore().open(run_id)
    assert [r["epoch"] for r in run.read_metrics(PROBE_STAGE)] == [1, 2, 3]
    assert load_checkpoint(run.checkpoint_file)["epoch"] == 2

    resumed = drive(train_encoder(None, None, run=run, resume=True))
    rows = resumed.read_metrics(PROBE_STAGE)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert [figures(r) for r in rows] == [figures(r) for r in reference]  # epochs 3 and 4 retrained identically


def test_scl_train_prints_the_probe_line(split, tmp_path, capsys):
    from scl_desktop.cli import main

    path = split.save(tmp_path / "split.json")
    assert main(["train", str(path), "--arch", "tiny", "--image-size", "16", "--epochs", "2", "--batch-size", "5",
                 "--device", "cpu", "--threads", "1", "--probe-every", "5", "--probe-k", "3"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "kNN probe after" in line]
    assert len(lines) == 1  # 2 epochs, every 5: the last only
    assert lines[0].startswith("[encoder] kNN probe after epoch 2/2 (k=3, val images)")
    assert "majority" in lines[0] and "minority" in lines[0] and "overall" in lines[0] and "weakest: " in lines[0]


def test_the_probe_line_names_the_weakest_classes_and_leaves_out_roles_without_images():
    from scl_desktop.terminal import EventPrinter

    event = ProbeMetrics("encoder", 5, 30, "val", 20, 0.2, {"a": 90.0, "b": 10.0, "c": None, "d": 50.0, "e": 70.0},
                         {}, 70.0, None, 55.0)
    line = EventPrinter.format_probe(event)
    assert line == ("[encoder] kNN probe after epoch 5/30 (k=20, val images)  majority 70.0%  overall 55.0%  "
                    "weakest: b 10%, d 50%, e 70%")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank(rank: int, port: int, split_path: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    events: list = []
    run = drive(train_encoder(SplitManifest.load(split_path), probe_config(batch_size=4)), events.append)
    Path(out, f"rank{rank}.json").write_text(json.dumps(
        {"run": str(run.path), "probes": [e.epoch for e in events if isinstance(e, ProbeMetrics)]}))


def test_under_two_processes_rank_0_alone_probes(split, tmp_path):
    mp.spawn(_rank, args=(_free_port(), str(split.save(tmp_path / "split.json")), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["run"] == ranks[1]["run"]
    assert ranks[0]["probes"] == [1, 2] and ranks[1]["probes"] == []
    rows = RunStore().open(Path(ranks[0]["run"]).name).read_metrics(PROBE_STAGE)
    assert [r["epoch"] for r in rows] == [1, 2]
