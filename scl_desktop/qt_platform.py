"""Can Qt open a window here? The platform-plugin check `scl-desktop`, `--self-test` and `scl doctor` run.

Qt aborts the whole process when no platform plugin loads ("no Qt platform plugin could be
initialized"), with a message that names a library only for the first one it trips over. On
Linux the X11 plugin (``libqxcb.so``) needs a dozen ``libxcb-*`` libraries that many desktops,
and every minimal machine, lack. Before Qt is asked for a plugin, this module (which never
imports Qt) finds the plugin in the installed PySide6, asks ``ldd`` which of its libraries do not
load (or tries them with ``ctypes`` where there is no ``ldd``) and turns that into one message
naming the libraries and the command that installs them with apt, dnf or pacman. In a Wayland
session whose plugin loads, the Wayland plugin is preferred.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from scl_desktop.core.errors import SclError

# library -> (Debian/Ubuntu apt, Fedora/RHEL dnf, Arch pacman) package
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl", "wayland"),
}
MANAGERS = ("apt", "dnf", "pacman")
INSTALL = {"apt": "sudo apt-get install -y", "dnf": "sudo dnf install -y", "pacman": "sudo pacman -S --needed"}
XCB_LIBRARIES = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-image.so.0",
                 "libxcb-render-util.so.0", "libxcb-util.so.1", "libxcb-xkb.so.1", "libxcb-randr.so.0",
                 "libxcb-shape.so.0", "libxcb-shm.so.0", "libxcb-sync.so.1", "libxcb-xfixes.so.0",
                 "libxcb-render.so.0", "libxcb.so.1", "libxkbcommon-x11.so.0", "libxkbcommon.so.0",
                 "libX11-xcb.so.1", "libX11.so.6")
"""What Qt 6's X11 plugin links (``libQt6XcbQpa``), tried with ctypes where ``ldd`` cannot say."""
DESKTOP_LIBRARIES = (*XCB_LIBRARIES, "libGL.so.1", "libEGL.so.1", "libfontconfig.so.1", "libdbus-1.so.3",
                     "libglib-2.0.so.0")
"""Everything Qt needs on an X11 desktop beyond PySide6's own files: the README's one-line prerequisite and
what .ci/run installs come from this list."""
WAYLAND_LIBRARIES = ("libwayland-client.so.0", "libwayland-cursor.so.0", "libxkbcommon.so.0")
PLUGIN_FILES = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
NO_DISPLAY_HINT = ("Start it from a desktop session, or without a screen run it under a virtual X server "
                   "(`xvfb-run -a scl-desktop`) or with QT_QPA_PLATFORM=offscreen.")


@dataclass(frozen=True)
class PlatformCheck:
    """What the check found. ``platform``: the Qt platform to use (``None``: Qt would abort)."""

    platform: str | None
    detail: str
    missing: tuple[str, ...] = ()
    install: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables to set before Qt starts (``QT_QPA_PLATFORM`` when Wayland is preferred)."""

    @property
    def ok(self) -> bool:
        return self.platform is not None

    def message(self) -> str:
        """One paragraph: what is wrong (or fine) and, for missing libraries, the install commands."""
        if not self.install:
            return self.detail
        commands = "; ".join(f"{m}: {c}" for m, c in self.install.items())
        return f"{self.detail} Install them: {commands}"

    def as_dict(self) -> dict[str, object]:
        return {"platform": self.platform, "ok": self.ok, "detail": self.detail, "missing": list(self.missing),
                "install": dict(self.install), "message": self.message()}

    def error(self) -> SclError:
        """The check as the error `scl-desktop` stops with."""
        what, _, hint = self.message().partition(" Install them: ")
        return SclError(what, f"Install them: {hint}" if hint else NO_DISPLAY_HINT)


def plugin_dir() -> Path | None:
    """``PySide6/Qt/plugins/platforms`` of the installed PySide6 (found without importing Qt)."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for root in roots:
        for candidate in (root / "Qt" / "plugins" / "platforms", root / "plugins" / "platforms"):
            if candidate.is_dir():
                return candidate
    return None


_LDD_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)
_LDD_ERROR = re.compile(r"error while loading shared libraries:\s*([^:]+):")


def parse_ldd(output: str) -> list[str]:
    """Library names ``ldd`` could not load: "X => not found" lines, and a library it failed on."""
    names = list(dict.fromkeys(_LDD_NOT_FOUND.findall(output)))
    names += [Path(p.strip()).name for p in _LDD_ERROR.findall(output) if Path(p.strip()).name not in names]
    return names


def _ldd(plugin: Path) -> str | None:
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout + done.stderr


def _unloadable(names: tuple[str, ...]) -> list[str]:
    missing = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def missing_libraries(plugin: Path, probe: tuple[str, ...] = XCB_LIBRARIES) -> list[str]:
    """The libraries of ``plugin`` that do not load here: from ``ldd``, plus a ``ctypes`` try of ``probe``.

    ``ldd`` stops at the first library it cannot *read* (a broken file), and may be absent, so
    ``probe`` is tried too.
    """
    output = _ldd(plugin)
    missing = parse_ldd(output) if output is not None else []
    if output is None or _LDD_ERROR.search(output):
        missing += [name for name in _unloadable(probe) if name not in missing]
    return missing


def install_commands(libraries: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{"apt": "sudo apt-get install -y ...", "dnf": ..., "pacman": ...}`` for the libraries known here."""
    commands = {}
    for index, manager in enumerate(MANAGERS):
        packages = list(dict.fromkeys(PACKAGES[name][index] for name in libraries if name in PACKAGES))
        if packages:
            commands[manager] = f"{INSTALL[manager]} {' '.join(packages)}"
    return commands


def _usable(kind: str, plugins: Path) -> list[str] | None:
    """Missing libraries of the ``kind`` plugin (``[]``: it loads); ``None`` when the plugin is not installed."""
    plugin = plugins / PLUGIN_FILES[kind]
    if not plugin.is_file():
        return None
    return missing_libraries(plugin, XCB_LIBRARIES if kind == "xcb" else WAYLAND_LIBRARIES)


def check(environ: Mapping[str, str] | None = None, plugins: Path | None = None) -> PlatformCheck:
    """Which Qt platform can start in this environment, or why none can (Linux; elsewhere Qt's own choice)."""
    env = os.environ if environ is None else environ
    requested = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if not sys.platform.startswith("linux"):
        return PlatformCheck(requested or "native", f"{sys.platform}: Qt's native platform plugin")
    if requested and requested not in PLUGIN_FILES:
        return PlatformCheck(requested, f"QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']} (not checked)")
    plugins = plugins or plugin_dir()
    if plugins is None:
        return PlatformCheck(requested or "xcb", "PySide6's platform plugins were not found (not checked)")
    wayland_session = bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE") == "wayland"
    x_display = bool(env.get("DISPLAY"))
    if requested == "wayland" or (not requested and wayland_session):
        missing = _usable("wayland", plugins)
        if missing == []:
            found = "" if requested else "Wayland session: "
            return PlatformCheck("wayland", f"{found}Qt's Wayland plugin loads",
                                 env={} if requested else {"QT_QPA_PLATFORM": "wayland;xcb"})
        if requested == "wayland" or not x_display:
            return _missing("wayland", missing if missing is not None else [PLUGIN_FILES["wayland"]])
    if not x_display:
        return PlatformCheck(None, "No display: neither DISPLAY nor WAYLAND_DISPLAY is set, so Qt cannot open "
                                   "a window.")
    missing = _usable("xcb", plugins)
    if missing is None:
        return PlatformCheck(None, f"Qt's X11 plugin {PLUGIN_FILES['xcb']} is not in {plugins}.")
    if missing:
        return _missing("xcb", missing)
    return PlatformCheck("xcb", f"Qt's X11 (xcb) plugin loads; display {env.get('DISPLAY', '(unset)')}")


def check_x11(environ: Mapping[str, str] | None = None) -> PlatformCheck:
    """``check`` as on an X11 desktop (whatever display this process has): do the X11 plugin's libraries load?"""
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env["DISPLAY"] = env.get("DISPLAY") or ":0"
    return check(env)


def _missing(kind: str, missing: list[str]) -> PlatformCheck:
    name = {"xcb": "X11 (xcb)", "wayland": "Wayland"}[kind]
    return PlatformCheck(None, f"Qt's {name} platform plugin cannot load: missing {', '.join(missing)}.",
                         tuple(missing), install_commands(missing))


def prepare(environ: MutableMapping[str, str] | None = None) -> PlatformCheck:
    """Run ``check`` and apply its environment (before the QApplication exists); raise ``SclError`` when no
    platform can start."""
    env = os.environ if environ is None else environ
    result = check(env)
    if not result.ok:
        raise result.error()
    env.update(result.env)
    return result
