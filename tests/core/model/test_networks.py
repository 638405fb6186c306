"""Encoders, SupCon model and linear classifier; local initial weights and their error messages."""

from __future__ import annotations

import pytest
import torch
import torchvision

from scl_desktop.core.errors import CheckpointError, ConfigError
from scl_desktop.core.model.augment import IMAGENET_MEAN, IMAGENET_STD
from scl_desktop.core.model.networks import LinearClassifier, SupConModel, build_encoder
from scl_desktop.core.model.settings import ARCHS


def test_tiny_encoder_and_supcon_model_shapes():
    torch.manual_seed(0)
    model = SupConModel("tiny", proj_dim=8)
    x = torch.randn(4, 3, 16, 16)
    z = model(x)
    assert z.shape == (4, 8)
    assert torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-5)
    assert model.features(x).shape == (4, model.feature_dim)
    assert isinstance(model.head[0], torch.nn.Linear) and isinstance(model.head[2], torch.nn.Linear)
    assert model.head[0].out_features == model.feature_dim and model.head[2].out_features == 8
    assert LinearClassifier(model.feature_dim, 5)(model.features(x)).shape == (4, 5)


def test_channels_last_forward():
    torch.manual_seed(0)
    model = SupConModel("tiny").to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    assert model(x).shape == (2, 128)


@pytest.mark.parametrize("arch, dim", [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048),
                                       ("resnet18-small", 512), ("tiny", 32)])
def test_every_arch_builds_with_its_feature_dim(arch, dim):
    encoder, feature_dim = build_encoder(arch)
    assert arch in ARCHS and feature_dim == dim
    assert not isinstance(getattr(encoder, "fc", None), torch.nn.Linear)  # classifier removed


def test_standard_stem_kept_and_small_stem_offered():
    big, _ = build_encoder("resnet18")
    small, _ = build_encoder("resnet18-small")
    assert big.conv1.kernel_size == (7, 7) and isinstance(big.maxpool, torch.nn.MaxPool2d)
    assert small.conv1.kernel_size == (3, 3) and isinstance(small.maxpool, torch.nn.Identity)
    small.eval()
    with torch.no_grad():
        assert small(torch.randn(1, 3, 16, 16)).shape == (1, 512)


def test_weights_from_a_torchvision_resnet_state_dict(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    encoder, _ = build_encoder("resnet18", path)
    assert torch.equal(encoder.conv1.weight, reference.conv1.weight)
    assert torch.equal(encoder.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_weights_from_our_model_nested_and_prefixed(tmp_path):
    torch.manual_seed(2)
    source = SupConModel("tiny")
    path = tmp_path / "ours.pth"
    torch.save({"model": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    model = SupConModel("tiny", weights_path=path)
    theirs = source.encoder.state_dict()
    for name, mine in model.encoder.state_dict().items():
        assert torch.equal(mine, theirs[name]), name


def test_weights_from_a_plain_baseline_checkpoint(tmp_path):
    # Regression: the end-to-end baseline's checkpoint (encoder + "classifier.fc") was rejected as
    # "unexpected classifier.fc.weight" when used as initial weights.
    from scl_desktop.core.model.checkpoint import save_checkpoint
    from scl_desktop.core.model.predictor import Predictor

    encoder, dim = build_encoder("tiny")
    source = Predictor(encoder, LinearClassifier(dim, 3), 16)
    path = save_checkpoint(tmp_path / "last.pt", {"stage": "baseline", "model": source.state_dict()})
    loaded, _ = build_encoder("tiny", path)
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, encoder.state_dict()[name]), name


def test_wrong_weight_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        build_encoder("tiny", tmp_path / "missing.pth")
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="could not be read"):
        build_encoder("tiny", text)
    numbers = tmp_path / "numbers.pth"
    torch.save({"epoch": 3}, numbers)
    with pytest.raises(CheckpointError, match="does not hold model weights"):
        build_encoder("tiny", numbers)
    other_arch = tmp_path / "r18.pth"
    torch.save(build_encoder("resnet18-small")[0].state_dict(), other_arch)
    with pytest.raises(CheckpointError, match="do not fit the resnet18 encoder") as info:
        build_encoder("resnet18", other_arch)
    assert "shape of conv1.weight" in str(info.value) and "architecture" in info.value.hint
    with pytest.raises(CheckpointError, match="do not fit the tiny encoder"):
        build_encoder("tiny", other_arch)


def test_bad_configuration():
    with pytest.raises(ConfigError, match="unknown architecture"):
        build_encoder("vgg16")
    with pytest.raises(ConfigError):
        SupConModel("tiny", proj_dim=0)
    with pytest.raises(ConfigError):
        LinearClassifier(8, 1)


def test_weights_files_of_another_kind_say_what_they_are_and_what_to_do(tmp_path):
    from scl_desktop.core.model.checkpoint import save_checkpoint

    classifier = save_checkpoint(tmp_path / "classifier_cb.pt", {
        "stage": "classifier", "method": "SCL-CB", "model": LinearClassifier(32, 3).state_dict()})
    with pytest.raises(CheckpointError, match="stage-2 classifier checkpoint of scl_desktop .SCL-CB") as info:
        build_encoder("tiny", classifier)
    assert "checkpoints/last.pt" in info.value.hint
    other = save_checkpoint(tmp_path / "last.pt", {"stage": "encoder", "arch": "tiny",
                                                   "model": SupConModel("tiny").state_dict()})
    with pytest.raises(CheckpointError, match="encoder checkpoint of scl_desktop with a tiny encoder") as info:
        build_encoder("resnet18", other)
    assert "--arch tiny" in info.value.hint
    pickled = tmp_path / "whole_model.pth"
    torch.save(build_encoder("tiny")[0], pickled)  # another program's habit: the whole module pickled
    with pytest.raises(CheckpointError, match=r"pickled Python objects besides tensors \(torch.nn.modules") as info:
        build_encoder("tiny", pickled)
    assert "torch.save(model.state_dict()" in info.value.hint


@pytest.mark.parametrize("style", ["torchvision", "timm", "lightning"])
def test_the_three_checkpoint_styles_of_published_backbones_are_mapped(tmp_path, style):
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None)
    state = reference.state_dict()  # torchvision and timm ResNets share these key names (fc included)
    if style == "timm":
        state = {**state, "fc.weight": torch.zeros(7, 512), "fc.bias": torch.zeros(7)}  # another head size
    if style == "lightning":  # torchgeo trainers: {"state_dict": {"model.<key>": ...}, "epoch": ..., ...}
        state = {"state_dict": {f"model.{k}": v for k, v in state.items()}, "epoch": 3, "global_step": 10}
    path = tmp_path / f"{style}.pth"
    torch.save(state, path)
    encoder, _ = build_encoder("resnet18", path)
    assert torch.equal(encoder.layer3[0].downsample[0].weight, reference.layer3[0].downsample[0].weight)


def test_a_backbone_with_other_parts_is_refused_naming_what_did_not_match(tmp_path):
    state = {f"backbone.{k}": v for k, v in torchvision.models.resnet18(weights=None).state_dict().items()}
    state["projection_head.0.weight"] = torch.zeros(4, 4)
    del state["backbone.layer4.1.bn2.running_var"]
    path = tmp_path / "ssl.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="missing layer4.1.bn2.running_var; unexpected projection_head.0.weight"):
        build_encoder("resnet18", path)
    with pytest.raises(CheckpointError, match="do not fit the resnet34 encoder"):
        build_encoder("resnet34", path)


def test_another_input_normalisation_is_folded_into_the_first_layer(tmp_path):
    torch.manual_seed(4)
    reference = torchvision.models.resnet18(weights=None)
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        reference.bn1.running_mean.uniform_(-1, 1)
        reference.bn1.running_var.uniform_(0.5, 2)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    mean, std = (0.0, 0.0, 0.0), (39.2, 39.2, 39.2)  # SSL4EO-S12's raw values / 10000, 8-bit input
    folded, _ = build_encoder("resnet18", path, (mean, std))
    reference.eval(), folded.eval()
    pixels = torch.rand(2, 3, 32, 32)  # 0..1
    ours = (pixels - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected_input = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        want = reference.bn1(reference.conv1(expected_input))
        got = folded.bn1(folded.conv1(ours))
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))  # away from the zero padding
    assert torch.allclose(got[inner], want[inner], atol=1e-4)
    plain, _ = build_encoder("resnet18", path, (IMAGENET_MEAN, IMAGENET_STD))
    assert torch.equal(plain.conv1.weight, reference.conv1.weight)  # ImageNet's own: untouched
