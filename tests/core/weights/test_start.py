"""Training from published weights: a catalogue name is downloaded once and recorded in the run; the
probe-only path (0 stage-1 epochs) keeps the pretrained encoder as it is for stage 2."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import pytest
import torch

from scl_desktop.cli import main
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import drive
from scl_desktop.core.model.networks import SupConModel
from scl_desktop.core.model.predictor import load_encoder
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import EncoderConfig
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.core.weights import catalogue
from tests.core.training.test_classifier import tiny_classifier_config
from tests.core.training.test_encoder import restore_threads, tiny_encoder_config, tiny_split  # noqa: F401
from tests.core.weights.conftest import entry_at


@pytest.fixture
def published(server, monkeypatch):
    """A tiny encoder's weights served on 127.0.0.1 as catalogue entry "tiny-test" (torchvision-style keys)."""
    torch.manual_seed(5)
    source = SupConModel("tiny").encoder
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    server.data = buffer.getvalue()
    digest = hashlib.sha256(server.data).hexdigest()
    entry = dataclasses.replace(entry_at(server.url), arch="tiny", sha256=digest[:8])
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, entry))
    return entry, source.state_dict(), digest


def test_probe_only_run_starts_from_the_published_weights_and_records_them(tmp_path, server, published, capsys):
    entry, state, digest = published
    split = tiny_split(tmp_path / "data", val_frac=0.25)
    run = drive(train_encoder(split, tiny_encoder_config(weights_path=entry.name, epochs=0)))
    assert run.status == "done"
    assert run.start_weights == {"name": entry.name, "file": str(entry_file(entry)), "sha256": digest}
    encoder, _, facts = load_encoder(run)
    assert facts["epoch"] == facts["epochs"] == 0
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, state[key]), key  # not trained: the published encoder as it is
    evaluation = drive(fit_classifier(run, tiny_classifier_config()))
    assert evaluation.n == len(split.test)
    requests = len(server.requests)
    drive(train_encoder(split, tiny_encoder_config(weights_path=entry.name, epochs=1)))
    assert len(server.requests) == requests  # downloaded once, then taken from the cache
    assert main(["runs", "show", run.id]) == 0
    assert f"start:    {entry.name} (sha256 {digest[:12]})" in capsys.readouterr().out


def entry_file(entry):
    from scl_desktop.core.weights.download import weights_dir

    return weights_dir() / entry.file_name


def test_weights_of_another_architecture_are_refused_before_anything_downloads(tmp_path, server, published):
    entry, _, _ = published
    split = tiny_split(tmp_path / "data")
    with pytest.raises(ConfigError, match="--arch tiny"):
        drive(train_encoder(split, tiny_encoder_config(arch="resnet18", weights_path=entry.name)))
    assert server.requests == []


def test_a_users_file_is_recorded_by_its_hash_and_zero_epochs_need_weights(tmp_path):
    torch.manual_seed(6)
    path = tmp_path / "mine.pth"
    torch.save(SupConModel("tiny").encoder.state_dict(), path)
    split = tiny_split(tmp_path / "data")
    run = drive(train_encoder(split, tiny_encoder_config(weights_path=str(path))))
    assert run.start_weights == {"name": None, "file": str(path),
                                 "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    with pytest.raises(ConfigError, match="--weights"):
        EncoderConfig(epochs=0)


def _resnet_weights(tmp_path):
    torch.manual_seed(7)
    path = tmp_path / "r18.pth"
    torch.save(SupConModel("resnet18").encoder.state_dict(), path)
    return path, torch.load(path)


@pytest.mark.parametrize("epochs,held", [(1, True), (2, False)])
def test_freeze_epochs_hold_the_stem_still_then_train_it(tmp_path, epochs, held):
    path, start = _resnet_weights(tmp_path)
    split = tiny_split(tmp_path / "data")
    config = tiny_encoder_config(arch="resnet18", image_size=32, weights_path=str(path), freeze_epochs=1,
                                 epochs=epochs)
    encoder, _, _ = load_encoder(drive(train_encoder(split, config)))
    state = encoder.state_dict()
    for key in ("conv1.weight", "bn1.weight", "layer1.0.conv1.weight"):
        assert torch.equal(state[key], start[key]) is held, key  # frozen in epoch 1, trained in epoch 2
    assert not torch.equal(state["layer2.0.conv1.weight"], start["layer2.0.conv1.weight"])  # the rest trains
    assert not torch.equal(state["bn1.running_mean"], start["bn1.running_mean"])  # statistics adapt meanwhile


def test_freezing_needs_weights_and_a_resnet_stem(tmp_path):
    with pytest.raises(ConfigError, match="--weights"):
        EncoderConfig(freeze_epochs=2)
    with pytest.raises(ConfigError, match="no ResNet stem"):
        EncoderConfig(arch="tiny", weights_path="tiny.pth", freeze_epochs=1)
