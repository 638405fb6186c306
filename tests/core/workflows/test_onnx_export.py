"""ONNX export: one graph, metadata, and onnxruntime equal to torch on real images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scl_desktop import cli
from scl_desktop.core.data.imaging import read_rgb
from scl_desktop.core.data.manifest import RasterSettings
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.events import drive
from scl_desktop.core.labelling.label import LabelModel
from scl_desktop.core.model.augment import IMAGENET_MEAN, IMAGENET_STD
from scl_desktop.core.model.networks import LinearClassifier, build_encoder
from scl_desktop.core.model.predictor import Predictor
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.workflows import onnx_export
from scl_desktop.core.workflows.onnx_export import compare_onnx, export_model, export_run, read_metadata, resize_matrix
from tests.conftest import shared_data
from tests.core.labelling.test_label import tiny_run
from tests.core.training.test_classifier import tiny_classifier_config
from tests.core.training.test_encoder import restore_threads  # noqa: F401

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    return tiny_run(tmp_path_factory.mktemp("onnx-run"))


def real_images(size: int, count: int = 6) -> np.ndarray:
    """UC Merced images of different classes as the model's uint8 input [N, 3, size, size]."""
    root = shared_data("ucmerced")
    paths = [sorted(folder.iterdir())[0] for folder in sorted(p for p in root.iterdir() if p.is_dir())][:count]
    return np.stack([read_rgb(p, RasterSettings(), size).transpose(2, 0, 1) for p in paths])


def test_resize_matrix_is_torchs_antialiased_resize():
    x = torch.rand(2, 3, 50, 70) * 255
    wy, wx = resize_matrix(50, 20), resize_matrix(70, 30)
    expected = torch.nn.functional.interpolate(x, size=(20, 30), mode="bilinear", antialias=True,
                                               align_corners=False)
    assert torch.allclose(wy @ x @ wx.T, expected, atol=1e-3)


def test_exported_run_has_metadata_and_matches_torch(trained, tmp_path):
    run, _ = trained
    events: list = []
    result = drive(export_run(run.id, tmp_path / "model.onnx", method="SCL-CB"), events.append)
    assert result.path.is_file() and result.method == "SCL-CB" and result.run_id == run.id
    assert result.check_source == "test images of the run" and result.checked_on == 8
    assert result.max_abs_diff <= onnx_export.TOLERANCE and result.top1_agreement == 1.0
    meta = read_metadata(tmp_path / "model.onnx")
    assert json.loads(meta["class_names"]) == list(run.split.classes)
    assert int(meta["input_size"]) == run.split.dataset.size and int(meta["model_image_size"]) == 16
    norm = json.loads(meta["normalisation"])
    assert norm["mean"] == list(IMAGENET_MEAN) and norm["std"] == list(IMAGENET_STD) and norm["applied_in_graph"]
    assert json.loads(meta["band_mapping"]) == run.split.dataset.raster.to_json()
    assert meta["run"] == run.id and meta["method"] == "SCL-CB" and meta["arch"] == "tiny"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("balance,method", [("logit-adj", "SCL-LogitAdj"), ("tau-norm", "SCL-TauNorm")])
def test_post_hoc_classifiers_export_like_any_other(trained, tmp_path, balance, method):
    """Their adjustment is folded into a plain linear layer, so the graph and the torch model agree."""
    run, _ = trained
    drive(fit_classifier(run, tiny_classifier_config(balance=balance, tau=1.5)))
    result = drive(export_run(run.id, tmp_path / "model.onnx", method=method))
    assert result.method == method and result.top1_agreement == 1.0
    assert result.max_abs_diff <= onnx_export.TOLERANCE
    assert read_metadata(tmp_path / "model.onnx")["method"] == method


def test_exported_run_equals_torch_on_real_aerial_images(trained, tmp_path):
    from scl_desktop.core.model.predictor import load_predictor

    run, _ = trained
    drive(export_run(run.id, tmp_path / "model.onnx", method="SCL-CE", check=1))
    diff, agree = compare_onnx(tmp_path / "model.onnx", load_predictor(run, "SCL-CE"),
                               real_images(run.split.dataset.size))
    assert diff < 1e-4 and agree == 1.0


@pytest.mark.slow
def test_resnet_graph_equals_torch_on_real_images_with_any_batch(tmp_path):
    """A ResNet-18 predictor whose graph resizes 96 -> 64 px inside: onnxruntime vs torch on UC Merced images."""
    torch.manual_seed(0)
    encoder, dim = build_encoder("resnet18")
    classes = tuple(f"c{i}" for i in range(5))
    predictor = Predictor(encoder, LinearClassifier(dim, len(classes)), 64, classes).eval()
    model = LabelModel(predictor, classes, 96, RasterSettings(bands=(1, 2, 3)), 256, None, "test")
    images = real_images(96)
    result = drive(export_model(model, tmp_path / "r18.onnx", check=2))
    assert result.max_abs_diff <= onnx_export.TOLERANCE
    for batch in (images[:1], images):
        diff, agree = compare_onnx(tmp_path / "r18.onnx", predictor, batch)
        assert diff < 1e-4 and agree == 1.0
    meta = read_metadata(tmp_path / "r18.onnx")
    assert json.loads(meta["band_mapping"])["bands"] == [1, 2, 3] and meta["model_image_size"] == "64"


def test_cli_export_model(trained, tmp_path, capsys):
    run, _ = trained
    code = cli.main(["export-model", run.id, "--onnx", str(tmp_path / "m.onnx"), "--check", "3", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str(tmp_path / "m.onnx") and out["checked_on"] == 3 and out["method"] in run.methods()


def test_missing_onnx_package_is_explained(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name == "onnx":
            raise ImportError("no onnx")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ConfigError, match=r"scl-desktop\[onnx\]"):
        onnx_export._require("onnx")
