"""`scl doctor`: what this installation can do — versions, GPUs, AMP, which device would train, and whether
the desktop app can open its window (``scl_desktop.qt_platform``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scl_desktop.terminal import print_json

PACKAGE_PURPOSE = {
    "rasterio": "GeoTIFF / multispectral import and georeferenced label export",
    "PySide6": "the desktop app",
    "pyqtgraph": "live training plots in the desktop app",
    "onnx": "ONNX model export",
    "onnxruntime": "checking exported ONNX models",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the installation: torch, CUDA/MPS, GPUs and memory, mixed precision, "
                                        "the desktop app's Qt platform libraries",
                       description="Report versions, the GPUs torch can see (memory, compute capability, bf16), "
                                   "which device and mixed precision training would use and why, and which "
                                   "optional packages are installed, and whether the desktop app can open its window "
                                   "(on Linux: the Qt X11/Wayland plugin's libraries, with the command that "
                                   "installs missing ones).")
    p.add_argument("--device", default="auto",
                   help="check this device instead of the automatic choice: auto, cpu, cuda, cuda:N or mps "
                        "(default: auto)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_doctor)


def format_report(r: dict[str, Any]) -> str:
    """The doctor report as readable lines."""
    v = r["versions"]
    build = r["torch_build"]
    build_text = f"CUDA {build['cuda']} build" if build["cuda"] else (f"ROCm {build['hip']} build" if build["hip"]
                                                                       else "CPU-only build")
    lines = [
        f"scl_desktop {v['scl_desktop']}   python {v['python']}   {r['platform']}",
        f"torch {v['torch']} ({build_text})   torchvision {v['torchvision'] or 'MISSING'}   numpy {v['numpy'] or 'MISSING'}",
        "",
    ]
    cuda = r["cuda"]
    if cuda["available"]:
        lines.append(f"CUDA: available, {len(cuda['devices'])} GPU(s)")
        for d in cuda["devices"]:
            free = f", {d['free_memory_gib']:.1f} GiB free" if d["free_memory_gib"] is not None else ""
            lines.append(f"  cuda:{d['index']}  {d['name']}: {d['total_memory_gib']:.1f} GiB{free}, "
                         f"compute capability {d['compute_capability']}, bf16 {'yes' if d['bf16'] else 'no'}, "
                         f"AMP {d['amp']}")
    else:
        lines.append(f"CUDA: not available. {cuda['reason']}")
    mps = r["mps"]
    lines.append("Apple MPS: " + ("available" if mps["available"] else
                                  "not available" + (" (torch built with MPS)" if mps["built"] else "")))
    cpu = r["cpu"]
    lines.append(f"CPU: {cpu['logical']} logical cores, {cpu['usable']} usable by this process, "
                 f"torch uses {cpu['torch_threads']} threads")
    lines.append("")
    sel = r["selected"]
    if sel["device"] is None:
        lines.append(f"Device {sel['requested']!r}: cannot be used. {sel['reason']}")
    else:
        lines.append(f"Training would use: {sel['device']}  ({sel['reason']})")
        lines.append(f"Mixed precision: {sel['amp']}  ({sel['amp_reason']})")
    qt = r.get("qt_platform")
    if qt is not None:
        lines.append("")
        lines.append(f"Desktop app window: {'OK' if qt['ok'] else 'CANNOT OPEN'} ({qt['platform'] or 'no platform'}). "
                     f"{qt['message']}")
        if "x11" in qt:
            lines.append(f"  on an X11 desktop: {qt['x11']['message']}")
    lines.append("")
    lines.append("Optional packages:")
    for name, version in r["optional_packages"].items():
        state = version if version else "not installed"
        lines.append(f"  {name:<12} {state:<14} {PACKAGE_PURPOSE.get(name, '')}")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    from scl_desktop import qt_platform
    from scl_desktop.core.devices import doctor_report

    report = doctor_report(args.device)
    qt = qt_platform.check()
    report["qt_platform"] = qt.as_dict()  # reported, not an error: `scl` itself needs no window
    if qt.platform != "xcb" and sys.platform.startswith("linux"):
        report["qt_platform"]["x11"] = qt_platform.check_x11().as_dict()
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0 if report["selected"]["device"] is not None else 1
