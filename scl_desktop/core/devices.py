"""Which device trains, with which mixed precision, and why; plus the `scl doctor` facts.

``resolve_device("auto")`` prefers CUDA, then Apple MPS, then the CPU; ``describe`` says in a
sentence why. ``amp_policy`` picks bf16 autocast on CUDA GPUs that support it natively, fp16
with a GradScaler on older ones, and float32 on the CPU and MPS. ``doctor_report`` gathers
everything a user (or a bug report) needs to know about the installation.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import platform
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scl_desktop.core.errors import ConfigError, TrainingError

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")


@dataclass(frozen=True)
class DeviceChoice:
    """A resolved device and the sentence that explains why it was chosen."""

    device: torch.device
    reason: str


@dataclass(frozen=True)
class AmpPolicy:
    """Mixed precision on a device: autocast on/off, its dtype, and whether a GradScaler is needed."""

    enabled: bool
    dtype: torch.dtype | None
    use_scaler: bool
    reason: str = ""

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """The autocast context for a forward pass (a no-op context when disabled)."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler:
        """A GradScaler that is active only when this policy needs one (fp16)."""
        if hasattr(torch.amp, "GradScaler"):
            return torch.amp.GradScaler(device.type, enabled=self.use_scaler)
        return torch.cuda.amp.GradScaler(enabled=self.use_scaler)  # torch < 2.3

    @property
    def label(self) -> str:
        """Short name: "bf16", "fp16 + GradScaler" or "off (float32)"."""
        if not self.enabled:
            return "off (float32)"
        name = "bf16" if self.dtype == torch.bfloat16 else "fp16"
        return f"{name} + GradScaler" if self.use_scaler else name


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used here, in words a user can act on; ``None`` when it can."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if available:
        return None
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return ("torch is a CPU-only build; install a CUDA build of torch (see pytorch.org) "
                "to train on an NVIDIA GPU.")
    notes = "; ".join(str(w.message).strip() for w in caught)
    if not _nvidia_driver_present():
        reason = (f"torch is a CUDA {torch.version.cuda} build but no NVIDIA driver was found; "
                  "install the NVIDIA driver if this machine has an NVIDIA GPU.")
    else:
        reason = (f"torch is a CUDA {torch.version.cuda or torch.version.hip} build and a driver is present, "
                  "but no GPU is visible")
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            reason += f" (CUDA_VISIBLE_DEVICES={visible!r} hides devices)"
        reason += "; check `nvidia-smi` and that the driver supports this CUDA version."
    return f"{reason} ({notes})" if notes else reason


def _nvidia_driver_present() -> bool:
    """Best-effort check for an installed NVIDIA driver (Linux /proc entry or the driver library)."""
    if Path("/proc/driver/nvidia/version").exists():
        return True
    import ctypes
    import ctypes.util

    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so", "libcuda.dylib"]
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return ctypes.util.find_library("cuda") is not None


def _available_summary() -> str:
    parts = ["cpu"]
    if torch.cuda.is_available():
        parts += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    if _mps_available():
        parts.append("mps")
    return ", ".join(parts)


def choose_device(name: str = "auto") -> DeviceChoice:
    """Resolve a device name ("auto", "cpu", "cuda", "cuda:N", "mps") and say why.

    Raises ``ConfigError`` naming the available devices when the requested one is not usable.
    """
    text = (name or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return DeviceChoice(torch.device("cuda", 0),
                                f"auto: CUDA GPU found ({torch.cuda.get_device_name(0)}), the fastest option.")
        if _mps_available():
            return DeviceChoice(torch.device("mps"), "auto: no CUDA GPU; Apple MPS GPU found.")
        return DeviceChoice(torch.device("cpu"), f"auto: CPU, because {cuda_unavailable_reason()}")
    if text == "cpu":
        return DeviceChoice(torch.device("cpu"), "cpu: requested.")
    if text == "mps":
        if not _mps_available():
            raise ConfigError("Device 'mps' was requested but Apple MPS is not available here.",
                              f"Available: {_available_summary()}. Use --device auto or one of those.")
        return DeviceChoice(torch.device("mps"), "mps: requested.")
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text[5:] if text.startswith("cuda:") else "0"
        if not index_text.isdigit():
            raise ConfigError(f"Device {name!r} is not a valid CUDA device name.",
                              "Write cuda or cuda:N with N a GPU number, e.g. cuda:0.")
        index = int(index_text)
        if not torch.cuda.is_available():
            raise ConfigError(f"Device {name!r} was requested but CUDA is not usable: {cuda_unavailable_reason()}",
                              f"Available: {_available_summary()}. Use --device auto or cpu.")
        count = torch.cuda.device_count()
        if index >= count:
            raise ConfigError(f"Device {name!r} was requested but this machine has {count} CUDA GPU(s).",
                              f"Available: {_available_summary()}.")
        return DeviceChoice(torch.device("cuda", index), f"cuda:{index}: requested ({torch.cuda.get_device_name(index)}).")
    raise ConfigError(f"Unknown device {name!r}.", f"Use one of {', '.join(DEVICE_NAMES)}.")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name`` (cuda > mps > cpu for "auto"); ``ConfigError`` if unusable."""
    return choose_device(name).device


def describe(name: str = "auto") -> str:
    """A sentence saying which device ``name`` resolves to and why."""
    return choose_device(name).reason


def amp_policy(device: torch.device | str) -> AmpPolicy:
    """Mixed precision for ``device``.

    CUDA with native bf16 (compute capability >= 8.0, or a ROCm GPU that reports bf16): bf16
    autocast without a scaler. Older CUDA GPUs: fp16 autocast with a GradScaler. CPU: bf16
    autocast on CPUs with native bf16 instructions (AVX512-BF16 or AMX; oneDNN then runs
    convolutions about 1.6x faster than in float32), off on the others (where bf16 is emulated
    and slower). MPS: off, because fp16 autocast there does not reliably speed up training and
    BatchNorm in half precision can lose accuracy.
    """
    device = torch.device(device)
    if device.type == "cuda":
        if _cuda_native_bf16(device):
            return AmpPolicy(True, torch.bfloat16, False, "this GPU supports bf16 natively, so no loss scaling is needed")
        return AmpPolicy(True, torch.float16, True, "this GPU lacks native bf16; fp16 needs a GradScaler")
    if device.type == "mps":
        return AmpPolicy(False, None, False, "on Apple MPS training runs in float32 for stable results")
    if _cpu_native_bf16():
        return AmpPolicy(True, torch.bfloat16, False, "this CPU computes bf16 natively (AVX512-BF16/AMX)")
    return AmpPolicy(False, None, False, "on the CPU training runs in float32")


def _cpu_native_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (AVX512-BF16 or AMX); torch's own checks, absent in old versions."""
    cpu = getattr(torch, "cpu", None)
    return any(bool(getattr(cpu, name, lambda: False)()) for name in ("_is_avx512_bf16_supported",
                                                                      "_is_amx_tile_supported"))


def _cuda_native_bf16(device: torch.device) -> bool:
    index = device.index if device.index is not None else 0
    if getattr(torch.version, "hip", None):
        return bool(torch.cuda.is_bf16_supported())
    return torch.cuda.get_device_capability(index) >= (8, 0)


_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")
"""Words of torch's out-of-memory errors: CUDA and MPS ("out of memory"), the CPU allocator (Linux, Windows)."""


def is_oom(exc: BaseException) -> bool:
    """True when ``exc`` is an out-of-memory error of the device (CUDA, MPS) or of the CPU's memory."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(words in text for words in _OOM_MESSAGES)


def oom_error(batch_size: int, device: torch.device | str | None = None, stage: str = "training") -> TrainingError:
    """A ``TrainingError`` for an out-of-memory failure that suggests a smaller batch size.

    The suggestion halves ``batch_size`` (rounded down to a multiple of 8 when that is still
    >= 8); the caller raises it ``from`` the original exception and frees cached memory.
    """
    half = max(1, batch_size // 2)
    if half >= 16:
        half -= half % 8
    where = f" on {device}" if device is not None else ""
    memory = ""
    dev = torch.device(device) if device is not None else None
    if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
        index = dev.index or 0
        total = torch.cuda.get_device_properties(index).total_memory
        peak = torch.cuda.max_memory_allocated(index)
        memory = f" (peak {peak / 2**30:.1f} GiB of {total / 2**30:.1f} GiB)"
    others = "use the GPU" if dev is not None and dev.type in ("cuda", "mps") else "use much memory"
    return TrainingError(
        f"The device ran out of memory during {stage}{where} with batch size {batch_size}{memory}.",
        f"Try --batch-size {half}, a smaller --image-size or a smaller --arch, "
        f"and close other programs that {others}. The last checkpoint was kept.",
    )


@contextlib.contextmanager
def oom_guard(batch_size: int, device: torch.device | str | None = None, stage: str = "training") -> Iterator[None]:
    """Turn an out-of-memory error inside the block into ``oom_error(...)``; other errors pass through."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not is_oom(exc):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise oom_error(batch_size, device, stage) from exc


OPTIONAL_PACKAGES: dict[str, tuple[str, ...]] = {
    # import name -> distribution names that provide it
    "rasterio": ("rasterio",),
    "PySide6": ("PySide6", "PySide6-Essentials"),
    "pyqtgraph": ("pyqtgraph",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml"),
}


def package_version(module: str, distributions: tuple[str, ...] = ()) -> str | None:
    """Installed version of a package (without importing it), or ``None`` when absent."""
    for dist in distributions or (module,):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if importlib.util.find_spec(module) is not None:
        module_obj = sys.modules.get(module)
        return str(getattr(module_obj, "__version__", "unknown version"))
    return None


def core_versions() -> dict[str, str | None]:
    """Versions of python, torch, torchvision, numpy and scl_desktop (for run folders and bug reports)."""
    from scl_desktop import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": package_version("torchvision"),
        "numpy": package_version("numpy"),
        "scl_desktop": __version__,
    }


def _cuda_devices() -> list[dict[str, Any]]:
    devices = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        try:
            free, total = torch.cuda.mem_get_info(i)
        except RuntimeError:
            free, total = None, props.total_memory
        policy = amp_policy(torch.device("cuda", i))
        devices.append({
            "index": i,
            "name": props.name,
            "total_memory_gib": round(total / 2**30, 2),
            "free_memory_gib": round(free / 2**30, 2) if free is not None else None,
            "compute_capability": f"{props.major}.{props.minor}",
            "multiprocessors": props.multi_processor_count,
            "bf16": policy.dtype == torch.bfloat16,
            "amp": policy.label,
        })
    return devices


def cpu_cores() -> dict[str, int | None]:
    """Logical cores, cores this process may use, and torch's intra-op thread count."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"logical": os.cpu_count(), "usable": usable, "torch_threads": torch.get_num_threads()}


def doctor_report(device: str = "auto") -> dict[str, Any]:
    """Everything `scl doctor` prints: versions, CUDA/MPS facts, devices, CPU, AMP choice, optional packages.

    Never raises for a missing GPU; an unusable requested ``device`` is reported under "selected".
    """
    reason = cuda_unavailable_reason()
    report: dict[str, Any] = {
        "versions": core_versions(),
        "platform": platform.platform(),
        "torch_build": {"cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None),
                        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None},
        "cuda": {"available": reason is None, "reason": reason,
                 "devices": _cuda_devices() if reason is None else []},
        "mps": {"available": _mps_available(),
                "built": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_built())},
        "cpu": cpu_cores(),
        "optional_packages": {name: package_version(name, dists) for name, dists in OPTIONAL_PACKAGES.items()},
    }
    try:
        choice = choose_device(device)
        policy = amp_policy(choice.device)
        report["selected"] = {"requested": device, "device": str(choice.device), "reason": choice.reason,
                              "amp": policy.label, "amp_reason": policy.reason}
    except ConfigError as exc:
        report["selected"] = {"requested": device, "device": None, "reason": str(exc), "amp": None, "amp_reason": None}
    return report


def device_summary(device: torch.device) -> dict[str, Any]:
    """What a run folder records about its device: name, kind, AMP policy."""
    info: dict[str, Any] = {"device": str(device), "amp": amp_policy(device).label}
    if device.type == "cuda":
        index = device.index or 0
        props = torch.cuda.get_device_properties(index)
        info.update(name=props.name, compute_capability=f"{props.major}.{props.minor}",
                    total_memory_gib=round(props.total_memory / 2**30, 2), cuda=torch.version.cuda)
    elif device.type == "cpu":
        info.update(name=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    else:
        info.update(name="Apple MPS")
    return info


def configure_backends(device: torch.device) -> None:
    """Let cuDNN pick the fastest convolution algorithms and allow TF32 matmuls on CUDA."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def prepare_model(model: torch.nn.Module, device: torch.device, channels_last: bool) -> torch.nn.Module:
    """Move ``model`` to ``device`` (channels_last memory format on CUDA when asked); returns it."""
    model.to(device)
    if channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU batch to ``device``; through pinned memory and without waiting on CUDA."""
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


def as_channels_last(x: torch.Tensor, enabled: bool) -> torch.Tensor:
    """``x`` in channels_last memory format when ``enabled`` and on CUDA."""
    if enabled and x.is_cuda:
        return x.contiguous(memory_format=torch.channels_last)
    return x
