"""Device choice, AMP policy, out-of-memory messages and the doctor report (on whatever machine runs the tests)."""

from __future__ import annotations

import json

import pytest
import torch

from scl_desktop.core import devices
from scl_desktop.core.errors import ConfigError, TrainingError


def test_cpu_and_auto_resolve():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    auto = devices.resolve_device("auto")
    assert auto.type in ("cpu", "cuda", "mps")
    assert devices.describe("auto").startswith("auto:")
    if not torch.cuda.is_available():
        assert "because" in devices.describe("auto")  # says why it is not a GPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_names_what_is_available():
    with pytest.raises(ConfigError) as info:
        devices.resolve_device("cuda:0")
    assert "Available: cpu" in str(info.value)


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cuda:-1"])
def test_bad_device_names(name):
    with pytest.raises(ConfigError):
        devices.resolve_device(name)


def test_amp_policy_mps_off():
    policy = devices.amp_policy("mps")
    assert not policy.enabled and policy.dtype is None and not policy.use_scaler


@pytest.mark.parametrize("native_bf16", [False, True])
def test_amp_policy_cpu_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, native_bf16):
    monkeypatch.setattr(devices, "_cpu_native_bf16", lambda: native_bf16)
    policy = devices.amp_policy("cpu")
    assert policy.enabled is native_bf16 and not policy.use_scaler
    assert policy.dtype == (torch.bfloat16 if native_bf16 else None)
    with policy.autocast(torch.device("cpu")):
        product = torch.ones(2, 2).matmul(torch.ones(2, 2))
    assert product.dtype == (torch.bfloat16 if native_bf16 else torch.float32)
    assert not policy.scaler(torch.device("cpu")).is_enabled()


@pytest.mark.parametrize("capability,dtype,scaler", [((8, 0), torch.bfloat16, False), ((9, 0), torch.bfloat16, False),
                                                     ((7, 5), torch.float16, True)])
def test_amp_policy_cuda_by_capability(monkeypatch, capability, dtype, scaler):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability)
    policy = devices.amp_policy(torch.device("cuda", 0))
    assert policy.enabled and policy.dtype == dtype and policy.use_scaler == scaler
    assert policy.reason


def test_oom_error_suggests_smaller_batch():
    err = devices.oom_error(128, "cpu", "stage 1")
    assert isinstance(err, TrainingError)
    assert "batch size 128" in str(err) and "--batch-size 64" in str(err)
    assert "--batch-size 1" in str(devices.oom_error(2))
    assert "--batch-size 8" in str(devices.oom_error(17))


def test_oom_guard_converts_only_oom():
    with pytest.raises(TrainingError) as info:
        with devices.oom_guard(32):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert "--batch-size 16" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with devices.oom_guard(32):
            raise RuntimeError("shape mismatch")
    assert devices.is_oom(torch.cuda.OutOfMemoryError("x"))


def test_oom_guard_converts_cpu_allocation_failures():
    # Regression: the CPU allocator's error (e.g. ResNet-50 at 224 px on a laptop) passed through as a raw
    # RuntimeError instead of the message that suggests a smaller batch.
    with pytest.raises(TrainingError) as info:
        with devices.oom_guard(64, "cpu"):
            torch.empty(2**60, dtype=torch.uint8)  # far beyond any machine's memory
    assert "--batch-size 32" in str(info.value) and "GPU" not in info.value.hint
    for text in ("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: you tried to allocate",
                 "MPS backend out of memory (MPS allocated: 1 GB)"):
        assert devices.is_oom(RuntimeError(text))
    assert devices.is_oom(MemoryError()) and not devices.is_oom(RuntimeError("memory format mismatch"))


def test_doctor_report_on_this_machine():
    report = devices.doctor_report()
    json.dumps(report)  # plain JSON types only
    assert report["versions"]["torch"] == torch.__version__
    assert set(report["optional_packages"]) >= {"rasterio", "PySide6", "pyqtgraph", "onnxruntime"}
    assert report["cpu"]["logical"] >= 1
    assert report["selected"]["device"] is not None and report["selected"]["amp"]
    if torch.cuda.is_available():
        assert report["cuda"]["devices"] and report["cuda"]["reason"] is None
    else:
        assert report["cuda"]["reason"] and not report["cuda"]["devices"]


def test_doctor_reports_unusable_requested_device():
    report = devices.doctor_report("tpu")
    assert report["selected"]["device"] is None and "Unknown device" in report["selected"]["reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_reason_distinguishes_builds_and_drivers(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    assert "CPU-only build" in devices.cuda_unavailable_reason()
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(devices, "_nvidia_driver_present", lambda: False)
    assert "no NVIDIA driver" in devices.cuda_unavailable_reason()
    monkeypatch.setattr(devices, "_nvidia_driver_present", lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    reason = devices.cuda_unavailable_reason()
    assert "no GPU is visible" in reason and "CUDA_VISIBLE_DEVICES" in reason


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_device_facts():
    report = devices.doctor_report("cuda")
    gpu = report["cuda"]["devices"][0]
    assert gpu["total_memory_gib"] > 0 and gpu["compute_capability"]
    assert report["selected"]["device"] == "cuda:0"
    assert devices.device_summary(torch.device("cuda", 0))["name"] == gpu["name"]


def test_cli_doctor(capsys):
    from scl_desktop.cli import main

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "CUDA:" in out and "Training would use:" in out and "Mixed precision:" in out and "rasterio" in out
    if not torch.cuda.is_available():
        assert "CUDA: not available." in out
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["selected"]["device"]
    assert main(["doctor", "--device", "tpu"]) == 1
    assert "cannot be used" in capsys.readouterr().out
