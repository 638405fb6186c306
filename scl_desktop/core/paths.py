"""Where the application keeps its files (platformdirs), overridable with ``SCL_HOME`` and Settings.

``SCL_HOME`` puts config, data, cache and logs below one folder: tests and portable
installs use it, and it wins over everything else. Without it the usual per-user folders of
the platform are used, except that the data and cache folders may be moved in Settings: the
choice is kept in ``config_dir()/paths.json`` (``{"data": "/abs/folder", "cache": ...}``),
read at every call, so it applies to new work at once. Config and log folders never move.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

APP_NAME = "scl_desktop"
PATHS_FILE = "paths.json"
MOVABLE = ("data", "cache")
"""The folders Settings can move (``set_folder``)."""

_log = logging.getLogger(__name__)


def _platform_dir(kind: str) -> Path:
    import platformdirs

    getter = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
        "log": platformdirs.user_log_dir,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def scl_home() -> Path | None:
    """The ``SCL_HOME`` folder when that variable is set (then no folder can be moved in Settings)."""
    home = os.environ.get("SCL_HOME")
    return Path(home) if home else None


def default_dir(kind: str) -> Path:
    """The folder ``kind`` ("config", "data", "cache", "log") when nothing was chosen in Settings."""
    home = scl_home()
    return home / kind if home is not None else _platform_dir(kind)


def paths_file() -> Path:
    """The JSON file that records the data and cache folders chosen in Settings."""
    return config_dir() / PATHS_FILE


def chosen_folders() -> dict[str, Path]:
    """The data/cache folders chosen in Settings (absolute paths only; a damaged file counts as none).

    Empty while ``SCL_HOME`` is set: it wins.
    """
    if scl_home() is not None:
        return {}
    path = paths_file()
    if not path.exists():
        return {}
    from scl_desktop.core.atomic import read_json
    from scl_desktop.core.errors import SclError

    try:
        data = read_json(path)
    except SclError as exc:
        _log.warning("Ignoring the folder choices in %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    chosen = {}
    for kind in MOVABLE:
        value = data.get(kind)
        if isinstance(value, str) and value and Path(value).expanduser().is_absolute():
            chosen[kind] = Path(value).expanduser()
    return chosen


def set_folder(kind: str, folder: str | os.PathLike[str] | None) -> Path:
    """Choose the ``kind`` ("data" or "cache") folder for new work; ``None`` goes back to the default.

    Writes ``paths.json`` atomically and returns the folder now in effect. Files already in the
    old folder stay there (move them yourself to keep using them). Raises ``ConfigError`` for
    an unknown kind, a relative path, a folder that cannot be created, or while ``SCL_HOME`` is set.
    """
    from scl_desktop.core.atomic import read_json, write_json
    from scl_desktop.core.errors import ConfigError, SclError

    if kind not in MOVABLE:
        raise ConfigError(f"The {kind} folder cannot be moved.", f"Only these can: {', '.join(MOVABLE)}.")
    if scl_home() is not None:
        raise ConfigError(f"SCL_HOME is set ({scl_home()}), so every folder is below it.",
                          "Unset SCL_HOME to choose the data and cache folders in Settings.")
    path = paths_file()
    try:
        data = read_json(path) if path.exists() else {}
    except SclError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if folder is None:
        data.pop(kind, None)
    else:
        target = Path(folder).expanduser()
        if not target.is_absolute():
            raise ConfigError(f"The {kind} folder must be an absolute path, not {folder}.", "Choose a folder.")
        _make(target, kind)
        data[kind] = str(target)
    write_json(path, data)
    return _dir(kind)


def _make(path: Path, kind: str, chosen: bool = True) -> None:
    from scl_desktop.core.errors import ConfigError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if chosen:
            hint = f"Choose another {kind} folder in Settings (or delete {paths_file()} to use the default one)."
        elif scl_home() is not None:
            hint = f"Set SCL_HOME to a folder you can write to (it is {scl_home()})."
        else:
            hint = f"Make {path.parent} writable, or set SCL_HOME to a folder you can write to."
        raise ConfigError(f"The {kind} folder {path} cannot be created ({exc.strerror or exc}).", hint) from exc


def _dir(kind: str) -> Path:
    chosen = chosen_folders().get(kind) if kind in MOVABLE else None
    path = chosen if chosen is not None else default_dir(kind)
    _make(path, kind, chosen is not None)
    return path


def config_dir() -> Path:
    """Folder for settings (also the Qt INI for window geometry)."""
    return _dir("config")


def data_dir() -> Path:
    """Folder for runs, the run index and the generated demo data (movable in Settings)."""
    return _dir("data")


def cache_dir() -> Path:
    """Folder for decoded image stores; safe to delete (movable in Settings)."""
    return _dir("cache")


def log_dir() -> Path:
    """Folder for log files."""
    return _dir("log")


def runs_dir() -> Path:
    """Folder holding one sub-folder per training run."""
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
