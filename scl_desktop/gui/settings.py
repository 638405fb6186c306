"""App settings: a small JSON file in the config folder (window geometry lives in a Qt INI beside it).

Loading is tolerant: a missing, damaged or outdated file gives defaults and a warning, never a crash.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from scl_desktop.core import paths
from scl_desktop.core.atomic import read_json, write_json
from scl_desktop.core.errors import SclError

SETTINGS_FILE = "settings.json"
WINDOW_INI = "window.ini"
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class AppSettings:
    """What the user can set in the Settings dialog, plus remembered folders.

    ``device``: training device ("auto" picks CUDA > MPS > CPU). ``loader_threads``: CPU threads
    for torch and data loading (0 = automatic). ``first_launch_done``: the demo data opens on
    the first launch only. ``last_folders``: last folder used per purpose ("dataset", "csv", ...).
    ``last_session``: what the window showed, restored at the next launch (``MainWindow.session_state``:
    the dataset's paths or the demo, working size, split settings and the current run's id).
    """

    device: str = "auto"
    loader_threads: int = 0
    first_launch_done: bool = False
    last_folders: dict[str, str] = field(default_factory=dict)
    last_session: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> tuple[AppSettings, str | None]:
        """Settings from ``path`` (default in the config folder) and a warning if the file was unusable."""
        path = path or settings_path()
        if not path.exists():
            return cls(), None
        try:
            data = read_json(path)
            if not isinstance(data, dict):
                raise SclError(f"{path} does not hold a settings object.")
        except SclError as exc:
            return cls(), f"Settings were reset to defaults: {exc}"
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in known and isinstance(value, type(getattr(cls(), key))):
                values[key] = value
        settings = cls(**values)
        if settings.device not in DEVICES:
            settings.device = "auto"
        settings.loader_threads = max(0, settings.loader_threads)
        return settings, None

    def save(self, path: Path | None = None) -> None:
        """Write atomically to ``path`` (default in the config folder)."""
        write_json(path or settings_path(), dataclasses.asdict(self))

    def last_folder(self, purpose: str, default: str | Path | None = None) -> str:
        """The last folder used for ``purpose``, else ``default`` (when it is a folder), else the home folder."""
        for folder in (self.last_folders.get(purpose, ""), default):
            if folder and Path(folder).is_dir():
                return str(folder)
        return str(Path.home())

    def remember_folder(self, purpose: str, path: str | Path) -> None:
        """Remember the folder that holds ``path`` (a dataset folder or a file) for the next file dialog."""
        self.last_folders[purpose] = str(Path(path).parent)


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def window_settings() -> QSettings:
    """The INI file (in the config folder) that keeps window geometry and dock layout."""
    return QSettings(str(paths.config_dir() / WINDOW_INI), QSettings.Format.IniFormat)
