"""The README's set-up is what CI runs: exactly two set-up commands, the Linux prerequisite beside them."""

from __future__ import annotations

import re

from scl_desktop import qt_platform
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
FIRST = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/scl-desktop --demo"
TESTS = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'


def setup_section() -> str:
    return README.split("## Set-up", 1)[1].split("\n## ", 1)[0]


def test_exactly_two_set_up_commands() -> None:
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", setup_section(), flags=re.DOTALL)
    assert [b.strip() for b in blocks] == [FIRST, TESTS]
    assert setup_section().count("minutes on a 2-core machine") == 2, "say how long each command takes"


def test_prerequisites_beside_them() -> None:
    section = setup_section()
    assert install_line() in section, "the Linux one-liner must list qt_platform.DESKTOP_LIBRARIES' apt packages"
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in section


def install_line() -> str:
    return qt_platform.install_commands(qt_platform.DESKTOP_LIBRARIES)["apt"]


def test_ci_runs_the_readme_test_command_and_the_real_window() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert TESTS.replace("pip install", "pip install -q") in ci
    assert "QT_QPA_PLATFORM=xcb" in ci and "scl-desktop --demo --smoke" in ci and "Xvfb" in ci
