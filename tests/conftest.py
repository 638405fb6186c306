"""Shared test set-up: an isolated SCL_HOME per test session, Qt offscreen, real-data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep runs, caches and settings of the tests out of the user's real folders."""
    home = tmp_path_factory.mktemp("scl_home")
    os.environ["SCL_HOME"] = str(home)
    return home


def shared_data(*parts: str) -> Path:
    """Path below ../shared/data; skips the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lives in ../shared/data beside the project checkout)")
    return path
