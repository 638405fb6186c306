"""Where the application keeps its files (platformdirs), overridable with ``SCL_HOME``.

``SCL_HOME`` puts config, data, cache and logs below one folder: tests and portable
installs use it. Without it the usual per-user folders of the platform are used.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "scl_desktop"


def _platform_dir(kind: str) -> Path:
    import platformdirs

    getter = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
        "log": platformdirs.user_log_dir,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def _dir(kind: str) -> Path:
    home = os.environ.get("SCL_HOME")
    path = Path(home) / kind if home else _platform_dir(kind)
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Folder for settings (also the Qt INI for window geometry)."""
    return _dir("config")


def data_dir() -> Path:
    """Folder for runs, the run registry and the generated demo data."""
    return _dir("data")


def cache_dir() -> Path:
    """Folder for decoded image stores; safe to delete."""
    return _dir("cache")


def log_dir() -> Path:
    """Folder for log files."""
    return _dir("log")


def runs_dir() -> Path:
    """Folder holding one sub-folder per training run."""
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
