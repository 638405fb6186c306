"""Build the installable app: ``dist/scl-desktop/`` (one folder, windowed) with PyInstaller.

Run it with the Python of the environment to bundle (torch, PySide6, rasterio, pyinstaller installed)::

    python packaging/build.py                 # -> dist/scl-desktop/scl-desktop(.exe)
    python packaging/build.py --check         # ... then run the bundle's --self-test offscreen
    python packaging/build.py --with-triton   # also bundle triton (torch.compile on CUDA GPUs)

Work files go to ``build/``; both folders are relative to the project root (git-ignored).
Prints the bundle's size and the build time; exits non-zero when the build or the check fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "scl_desktop.spec"
NAME = "scl-desktop"


def bundle_executable(dist: Path) -> Path:
    """The app's executable inside ``dist`` (inside the .app on macOS)."""
    if sys.platform == "darwin":
        return dist / f"{NAME}.app" / "Contents" / "MacOS" / NAME
    return dist / NAME / (f"{NAME}.exe" if os.name == "nt" else NAME)


def folder_size(path: Path) -> int:
    """Bytes of all files below ``path`` (links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build(dist: Path, work: Path, with_triton: bool = False, clean: bool = False) -> Path:
    """Run PyInstaller on the spec; returns the bundle's executable. Raises ``CalledProcessError``."""
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work)]
    if clean:
        cmd.append("--clean")
    if with_triton:
        cmd += ["--", "--with-triton"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return bundle_executable(dist)


def self_test(executable: Path, report: Path | None = None) -> int:
    """Run the bundle's ``--self-test`` with Qt offscreen; returns its exit status."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cmd = [str(executable), "--self-test", *(["--report", str(report)] if report else [])]
    return subprocess.run(cmd, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build dist/scl-desktop with PyInstaller.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="work folder (default: build/)")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's caches first")
    parser.add_argument("--with-triton", action="store_true",
                        help="bundle triton too (~0.9 GB; only torch.compile on CUDA GPUs needs it)")
    parser.add_argument("--check", action="store_true", help="run the bundle's --self-test after building")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        executable = build(args.dist, args.work, args.with_triton, args.clean)
    except subprocess.CalledProcessError as exc:
        print(f"error: PyInstaller failed (exit status {exc.returncode}); see its messages above.", file=sys.stderr)
        return 1
    minutes = (time.perf_counter() - start) / 60
    size = folder_size(args.dist / (f"{NAME}.app" if sys.platform == "darwin" else NAME)) / 2**30
    print(f"built {executable} in {minutes:.1f} min; bundle size {size:.2f} GiB")
    if args.check:
        status = self_test(executable)
        print("self-test " + ("passed" if status == 0 else f"FAILED (exit status {status})"))
        return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
