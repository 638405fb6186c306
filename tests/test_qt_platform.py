"""The Qt platform check: `scl-desktop` explains a missing X11 library instead of letting Qt abort.

The check runs without Qt and without a display: the libraries are simulated (a library that does
not load is hidden behind a broken file of the same name on ``LD_LIBRARY_PATH``, or the loader is
replaced), so these tests are deterministic on any Linux machine, CI included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scl_desktop import qt_platform
from scl_desktop.core.errors import SclError

LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""
LDD_BROKEN = ("/venv/PySide6/Qt/plugins/platforms/libqxcb.so: error while loading shared libraries: "
              "/tmp/hide/libxcb-cursor.so.0: invalid ELF header\n")


def test_parse_ldd_names_each_missing_library_once() -> None:
    assert qt_platform.parse_ldd(LDD_MISSING) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert qt_platform.parse_ldd(LDD_BROKEN) == ["libxcb-cursor.so.0"]
    assert qt_platform.parse_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_install_commands_for_apt_dnf_and_pacman() -> None:
    commands = qt_platform.install_commands(["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libunknown.so.9"])
    assert commands == {"apt": "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4",
                        "dnf": "sudo dnf install -y xcb-util-cursor xcb-util-wm",
                        "pacman": "sudo pacman -S --needed xcb-util-cursor xcb-util-wm"}
    assert set(qt_platform.XCB_LIBRARIES) <= set(qt_platform.PACKAGES)


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "platforms"
    folder.mkdir()
    for name in qt_platform.PLUGIN_FILES.values():
        (folder / name).write_bytes(b"")
    return folder


def fake_loader(monkeypatch: pytest.MonkeyPatch, xcb: list[str], wayland: list[str]) -> None:
    monkeypatch.setattr(qt_platform, "missing_libraries",
                        lambda plugin, probe=(): list(xcb if plugin.name == "libqxcb.so" else wayland))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11/Wayland check is for Linux")
def test_check_decides_the_platform(monkeypatch: pytest.MonkeyPatch, plugins: Path) -> None:
    fake_loader(monkeypatch, xcb=["libxcb-cursor.so.0"], wayland=[])
    broken = qt_platform.check({"DISPLAY": ":0"}, plugins)
    assert not broken.ok and broken.missing == ("libxcb-cursor.so.0",)
    assert "libxcb-cursor.so.0" in broken.message() and "sudo apt-get install -y libxcb-cursor0" in broken.message()
    assert broken.error().hint.startswith("Install them: apt: sudo apt-get install -y libxcb-cursor0")

    # a Wayland session whose plugin loads is preferred (X11 stays the fallback)
    env = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}
    wayland = qt_platform.check(env, plugins)
    assert wayland.platform == "wayland" and wayland.env == {"QT_QPA_PLATFORM": "wayland;xcb"}

    fake_loader(monkeypatch, xcb=[], wayland=["libwayland-cursor.so.0"])
    assert qt_platform.check(env, plugins).platform == "xcb"  # XWayland when the Wayland plugin cannot load
    assert qt_platform.check({"DISPLAY": ":0"}, plugins).platform == "xcb"
    assert qt_platform.check({"QT_QPA_PLATFORM": "offscreen"}, plugins).platform == "offscreen"
    no_display = qt_platform.check({}, plugins)
    assert not no_display.ok and "No display" in no_display.message()
    assert "xvfb-run" in no_display.error().hint


def test_prepare_applies_the_preferred_platform(monkeypatch: pytest.MonkeyPatch, plugins: Path) -> None:
    monkeypatch.setattr(qt_platform, "plugin_dir", lambda: plugins)
    monkeypatch.setattr(sys, "platform", "linux")
    fake_loader(monkeypatch, xcb=[], wayland=[])
    env = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}
    assert qt_platform.prepare(env).platform == "wayland" and env["QT_QPA_PLATFORM"] == "wayland;xcb"
    fake_loader(monkeypatch, xcb=["libxcb-keysyms.so.1"], wayland=[])
    with pytest.raises(SclError, match="libxcb-keysyms.so.1"):
        qt_platform.prepare({"DISPLAY": ":0"})


def hidden_library(folder: Path, name: str) -> dict[str, str]:
    """An environment in which ``name`` cannot be loaded: a broken file of that name comes first."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"not a shared library\n")
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("LD_LIBRARY_PATH")) if p)
    return {"LD_LIBRARY_PATH": path}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 plugin is Linux's")
def test_scl_desktop_without_libxcb_cursor_explains_instead_of_aborting(tmp_path: Path) -> None:
    pytest.importorskip("PySide6")
    plugins = qt_platform.plugin_dir()
    if plugins is None or not (plugins / "libqxcb.so").is_file():
        pytest.skip("this PySide6 has no X11 platform plugin")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(hidden_library(tmp_path / "hide", "libxcb-cursor.so.0"), DISPLAY=":97531",  # no X server needed
               SCL_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "scl_desktop.gui.app", "--demo"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not be initialized" not in done.stderr and "Aborted" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and done.stderr.count("libxcb-cursor.so.0") == 1, done.stderr  # one message
    assert "libxcb-cursor.so.0" in errors[0] and "sudo apt-get install -y libxcb-cursor0" in errors[0]
    assert "dnf install -y xcb-util-cursor" in errors[0] and "pacman -S --needed xcb-util-cursor" in errors[0]
    log = (tmp_path / "home" / "log" / "scl-desktop.log").read_text(encoding="utf-8")
    assert "ERROR scl_desktop.gui: cannot open the window" in log and "libxcb-cursor0" in log
