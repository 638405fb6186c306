"""Export a trained model (encoder + linear classifier, one graph) to ONNX, checked with onnxruntime.

The graph is the run's ``model.predictor.Predictor`` as labelling and evaluation use it:

* input ``image``: uint8 ``[batch, 3, S, S]`` RGB, S = the run's working size, i.e. the image
  after the training band mapping and stretch, resized to S x S (antialiased bilinear);
* inside: the resize to the model's input size and the ImageNet normalisation
  (``augment.prepare_eval``), the encoder, the classifier and a softmax;
* output ``probabilities``: float32 ``[batch, classes]``.

The metadata (``metadata_props``) holds the class names, input size, normalisation and band
mapping + stretch statistics, so another program can prepare images exactly like this one.

torch's ONNX exporter has no rule for the antialiased resize, so it is exported as two matrix
products with the exact resize weights torch uses (computed from ``F.interpolate`` itself);
ONNX's own antialiased ``Resize`` differs from torch's by several grey levels.
After export, the ONNX model and the torch model are run on real images of the run's test set
(or random images when those files are gone) and must agree within ``TOLERANCE``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scl_desktop import __version__
from scl_desktop.core.atomic import atomic_path
from scl_desktop.core.errors import ConfigError, ImageReadError, SclError
from scl_desktop.core.events import Event, Log

OPSET = 18
TOLERANCE = 1e-3
"""Largest difference allowed between ONNX and torch class probabilities."""
FORMAT = "scl-desktop-onnx/1"
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class OnnxExport:
    """What was exported and how well onnxruntime reproduces the torch model."""

    path: Path
    run_id: str | None
    method: str | None
    classes: tuple[str, ...]
    input_size: int
    metadata: dict[str, str]
    checked_on: int
    check_source: str
    max_abs_diff: float
    top1_agreement: float

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "run": self.run_id, "method": self.method, "classes": list(self.classes),
                "input_size": self.input_size, "checked_on": self.checked_on, "check_source": self.check_source,
                "max_abs_diff": self.max_abs_diff, "top1_agreement": self.top1_agreement}


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs the {module} package, which is not installed.",
                          "Install the optional extra: pip install 'scl-desktop[onnx]'.") from exc


def resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """[n_out, n_in] weights of torch's antialiased bilinear resize along one axis (exact, from F.interpolate)."""
    eye = torch.eye(n_in, dtype=torch.float32).reshape(n_in, 1, 1, n_in)
    out = F.interpolate(eye, size=(1, n_out), mode="bilinear", antialias=True, align_corners=False)
    return out.reshape(n_in, n_out).T.contiguous()


def _resize_symbolic(g: Any, x: Any, output_size: Any, align_corners: Any, *scales: Any) -> Any:
    """ONNX for aten::_upsample_bilinear2d_aa: y = Wy @ x @ Wx^T with torch's own weights."""
    from torch.onnx import symbolic_helper as sh

    if sh._maybe_get_const(align_corners, "b"):
        raise SclError("The model resizes with align_corners=True, which the ONNX export does not support.",
                       "Report this as a bug.")
    out_h, out_w = sh._maybe_get_const(output_size, "is")
    in_h, in_w = sh._get_tensor_sizes(x)[-2:]
    wy = g.op("Constant", value_t=resize_matrix(in_h, out_h))
    wxt = g.op("Constant", value_t=resize_matrix(in_w, out_w).T.contiguous())
    return g.op("MatMul", g.op("MatMul", wy, x), wxt)


def model_metadata(model: Any, arch: str | None = None) -> dict[str, str]:
    """The ``metadata_props`` of the exported model (all values strings; structured ones JSON)."""
    from scl_desktop.core.model.augment import IMAGENET_MEAN, IMAGENET_STD

    predictor = model.predictor
    return {
        "format": FORMAT,
        "class_names": json.dumps(list(model.classes), ensure_ascii=False),
        "input_name": INPUT_NAME,
        "input_size": str(model.size),
        "input": (f"uint8 [batch, 3, {model.size}, {model.size}] RGB (NCHW), values 0-255: the image after the band "
                  f"mapping and stretch in band_mapping, resized to {model.size} x {model.size} "
                  "(bilinear, antialiased)"),
        "model_image_size": str(getattr(predictor, "image_size", model.size)),
        "normalisation": json.dumps({"applied_in_graph": True, "scale": 1 / 255, "mean": list(IMAGENET_MEAN),
                                     "std": list(IMAGENET_STD),
                                     "formula": "(clip(x / 255, 0, 1) - mean) / std, after resizing to "
                                                "model_image_size inside the graph"}),
        "band_mapping": json.dumps(model.raster.to_json()),
        "output": f"{OUTPUT_NAME}: float32 [batch, {len(model.classes)}] class probabilities (softmax), "
                  "in the order of class_names",
        "run": str(model.run_id or ""),
        "method": str(model.method or ""),
        "arch": str(arch or ""),
        "scl_desktop_version": __version__,
    }


def check_images(model: Any, split: Any, count: int) -> tuple[np.ndarray, str]:
    """Up to ``count`` real test images of ``split`` as the model's uint8 input [N, 3, S, S]
    (read like evaluation reads them), or random images when none can be read."""
    from scl_desktop.core.data.imaging import read_rgb

    images = []
    indices = list(split.test) or list(range(len(split.dataset.items)))
    step = max(1, len(indices) // max(count, 1))
    for i in indices[::step][:count]:
        try:
            images.append(read_rgb(split.dataset.items[i].path, model.raster, model.size).transpose(2, 0, 1))
        except ImageReadError:
            continue
    if images:
        return np.stack(images), "test images of the run"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (max(count, 1), 3, model.size, model.size), dtype=np.uint8), "random images"


def compare_onnx(path: str | os.PathLike[str], predictor: torch.nn.Module,
                 images: np.ndarray) -> tuple[float, float]:
    """Run the ONNX file with onnxruntime and ``predictor`` with torch on uint8 ``images``;
    return (largest absolute probability difference, share of equal top-1 classes)."""
    ort = _require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_probs = session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(images)})[0]
    with torch.inference_mode():
        torch_probs = predictor(torch.from_numpy(np.ascontiguousarray(images))).float().numpy()
    diff = float(np.abs(onnx_probs - torch_probs).max())
    agree = float((onnx_probs.argmax(1) == torch_probs.argmax(1)).mean())
    return diff, agree


def export_model(model: Any, out: str | os.PathLike[str], split: Any = None, arch: str | None = None,
                 check: int = 8) -> Generator[Event, None, OnnxExport]:
    """Export a loaded ``labelling.label.LabelModel`` to ``out`` (atomic) and check it on ``check`` images.

    ``split``: the run's split, whose test images are used for the check. Raises ``SclError``
    when onnxruntime's probabilities differ from torch's by more than ``TOLERANCE`` (the file
    is not written then).
    """
    onnx = _require("onnx")
    predictor = model.predictor.to("cpu").eval()
    out = Path(out)
    torch.onnx.register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", _resize_symbolic, OPSET)
    example = torch.zeros((1, 3, model.size, model.size), dtype=torch.uint8)
    metadata = model_metadata(model, arch)
    yield Log(f"Exporting {model.method or 'the model'} ({len(model.classes)} classes, input {model.size} px) "
              f"to {out} ...")
    with atomic_path(out, suffix=".onnx") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(predictor, (example,), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        proto = onnx.load(str(tmp))
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name, proto.producer_version = "scl_desktop", __version__
        proto.doc_string = (f"Scene classifier ({model.method or 'model'} of run {model.run_id or '?'}): "
                            f"{metadata['input']} -> {metadata['output']}.")
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        if split is not None:
            images, source = check_images(model, split, check)
        else:
            images = np.random.default_rng(0).integers(0, 256, (max(check, 1), 3, model.size, model.size),
                                                       dtype=np.uint8)
            source = "random images"
        diff, agree = compare_onnx(tmp, predictor, images)
        if diff > TOLERANCE:
            raise SclError(f"The ONNX model differs from the torch model by up to {diff:.2g} in probability "
                           f"(allowed {TOLERANCE:g}) on {len(images)} {source}; nothing was written.",
                           "Report this as a bug, with the versions `scl doctor` prints.")
    yield Log(f"Checked with onnxruntime on {len(images)} {source}: probabilities within {diff:.2g} of torch, "
              f"top-1 class equal on {agree:.0%}.")
    return OnnxExport(out, model.run_id, model.method, tuple(model.classes), model.size, metadata, len(images),
                      source, diff, agree)


def export_run(run: Any, out: str | os.PathLike[str], method: str | None = None,
               check: int = 8) -> Generator[Event, None, OnnxExport]:
    """Export ``method`` (``None``: the best one) of ``run`` (``runs.Run``, id or folder) to ONNX; see :func:`export_model`."""
    from scl_desktop.core.labelling.label import load_label_model
    from scl_desktop.core.runs import folder as runs
    from scl_desktop.core.runs.store import RunStore

    if not isinstance(run, runs.Run):
        run = RunStore().open(run)
    model = load_label_model(run, method, "cpu")
    return (yield from export_model(model, out, run.split, run.config.get("arch"), check))


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    onnx = _require("onnx")
    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
