"""User folders: SCL_HOME puts everything below one folder and wins; otherwise the data and cache
folders chosen in Settings (config_dir()/paths.json) are used for new work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scl_desktop.core import paths
from scl_desktop.core.errors import ConfigError


@pytest.fixture
def platform_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No SCL_HOME; the platform's per-user folders are below ``tmp_path/platform``."""
    monkeypatch.delenv("SCL_HOME", raising=False)
    monkeypatch.setattr(paths, "_platform_dir", lambda kind: tmp_path / "platform" / kind)
    return tmp_path


def test_scl_home_puts_every_folder_below_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCL_HOME", str(tmp_path))
    assert [paths.config_dir(), paths.data_dir(), paths.cache_dir(), paths.log_dir()] == [
        tmp_path / "config", tmp_path / "data", tmp_path / "cache", tmp_path / "log"]
    assert paths.runs_dir() == tmp_path / "data" / "runs" and paths.runs_dir().is_dir()


def test_chosen_data_and_cache_folders_are_used_and_persist(platform_home: Path) -> None:
    assert paths.data_dir() == platform_home / "platform" / "data"
    assert paths.chosen_folders() == {}
    data, cache = platform_home / "big disk" / "scl data", platform_home / "fast" / "cache"
    assert paths.set_folder("data", data) == data and data.is_dir()
    paths.set_folder("cache", cache)
    assert paths.data_dir() == data and paths.cache_dir() == cache and paths.runs_dir() == data / "runs"
    # config and logs stay put; the choice is a small JSON file in the config folder
    assert paths.config_dir() == platform_home / "platform" / "config"
    assert paths.log_dir() == platform_home / "platform" / "log"
    assert json.loads(paths.paths_file().read_text()) == {"data": str(data), "cache": str(cache)}
    assert paths.chosen_folders() == {"data": data, "cache": cache}
    # back to the default, the other choice is kept
    assert paths.set_folder("data", None) == platform_home / "platform" / "data"
    assert paths.chosen_folders() == {"cache": cache}


def test_scl_home_wins_over_chosen_folders(platform_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths.set_folder("data", platform_home / "chosen")
    monkeypatch.setenv("SCL_HOME", str(platform_home / "portable"))
    assert paths.data_dir() == platform_home / "portable" / "data" and paths.chosen_folders() == {}
    with pytest.raises(ConfigError, match="SCL_HOME is set"):
        paths.set_folder("data", platform_home / "other")


def test_bad_choices_are_refused_or_ignored(platform_home: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be moved"):
        paths.set_folder("config", platform_home / "x")
    with pytest.raises(ConfigError, match="absolute"):
        paths.set_folder("data", "relative/folder")
    blocker = platform_home / "a file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot be created") as info:
        paths.set_folder("cache", blocker / "cache")
    assert "Settings" in info.value.hint
    assert not paths.paths_file().exists(), "a refused choice must not be written"
    # a damaged or odd file is ignored: the defaults are used
    for text in ("{broken", '["data"]', '{"data": "relative", "cache": 3}'):
        paths.paths_file().write_text(text)
        assert paths.data_dir() == platform_home / "platform" / "data"
        assert paths.cache_dir() == platform_home / "platform" / "cache"
    paths.set_folder("data", platform_home / "d")  # a damaged file is replaced, not a reason to fail
    assert paths.data_dir() == platform_home / "d"


def test_unwritable_scl_home_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SCL_HOME", str(blocker / "home"))
    with pytest.raises(ConfigError, match="The data folder .* cannot be created") as info:
        paths.runs_dir()
    assert "Set SCL_HOME to a folder you can write to" in info.value.hint
