"""Trainers and their run: one writer at a time (another real process holds the lock), classifiers bound to
the encoder they were fitted on, and bad initial weights refused before any run folder exists."""

from __future__ import annotations

import pytest
import torch

from scl_desktop.core.errors import Cancelled, CheckpointError, ConfigError
from scl_desktop.core.events import CancelToken, drive
from scl_desktop.core.model.predictor import evaluate_run, load_predictor
from scl_desktop.core.runs.store import RunStore
from scl_desktop.core.training.baseline import train_baseline
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.encoder import train_encoder
from tests.core.runs.test_lock import hold_in_child, release
from tests.core.training.test_baseline import tiny_baseline_config
from tests.core.training.test_classifier import tiny_classifier_config
from tests.core.training.test_encoder import cancel_in_epoch, restore_threads, tiny_encoder_config, tiny_split  # noqa: F401


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    return tiny_split(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def stopped_run(split, tmp_path):
    """A stage-1 run cancelled in epoch 2 of 2 (its checkpoint holds epoch 1), in its own runs folder."""
    token = CancelToken()
    _seen, on_event = cancel_in_epoch(token, 2)
    with pytest.raises(Cancelled) as info:
        drive(train_encoder(split, tiny_encoder_config(), cancel=token, run_store=RunStore(tmp_path)), on_event)
    return info.value.kept


def test_resume_fit_and_baseline_resume_are_refused_while_another_process_writes_the_run(stopped_run):
    metrics_before = stopped_run.metrics_path("encoder").read_bytes()
    checkpoint_before = stopped_run.checkpoint_file.read_bytes()
    child = hold_in_child(stopped_run.path, "scl train --resume")
    try:
        for step in (train_encoder(None, None, run=stopped_run, resume=True),
                     fit_classifier(stopped_run, tiny_classifier_config()),
                     train_baseline(None, None, run=stopped_run, resume=True)):
            with pytest.raises(ConfigError, match=rf"in use by process {child.pid} .*scl train --resume"):
                drive(step)
    finally:
        release(child)
    assert stopped_run.metrics_path("encoder").read_bytes() == metrics_before  # no epoch written twice
    assert stopped_run.checkpoint_file.read_bytes() == checkpoint_before
    assert drive(train_encoder(None, None, run=stopped_run, resume=True)).reload().status == "done"


def test_a_classifier_of_an_earlier_encoder_is_stale_and_refused(stopped_run):
    run = stopped_run
    drive(fit_classifier(run, tiny_classifier_config(epochs=1)))  # on the epoch-1 encoder
    assert load_predictor(run, "SCL-CB") is not None and run.stale_results == {}
    drive(train_encoder(None, None, run=run, resume=True))  # the encoder is trained further
    assert "SCL-CB" in run.reload().stale_results
    from scl_desktop.core.labelling.label import load_label_model  # labelling and the ONNX export load through it

    for use in (lambda: load_predictor(run, "SCL-CB"), lambda: drive(evaluate_run(run, "SCL-CB", device="cpu")),
                lambda: load_label_model(run, "SCL-CB")):
        with pytest.raises(CheckpointError, match="stale") as info:
            use()
        assert f"scl fit {run.id} --balance cb" in info.value.hint
    drive(fit_classifier(run, tiny_classifier_config(epochs=1)))  # refitting renews it
    assert run.reload().stale_results == {}
    assert isinstance(load_predictor(run, "SCL-CB"), torch.nn.Module)


@pytest.mark.parametrize("train", ["encoder", "baseline"])
def test_bad_initial_weights_leave_no_run(split, tmp_path, train):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a torch file")
    store = RunStore(tmp_path / "runs")
    step = (train_encoder(split, tiny_encoder_config(weights_path=str(bad)), run_store=store) if train == "encoder"
            else train_baseline(split, tiny_baseline_config(weights_path=str(bad)), run_store=store))
    with pytest.raises(CheckpointError, match="could not be read"):
        drive(step)
    assert store.list() == []
