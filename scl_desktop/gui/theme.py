"""Colours, icons and the style sheet shared by all pages.

Icons and the style sheet live in the top-level ``resources/`` folder (bundled beside the
package by PyInstaller). A missing resource gives an empty icon / no style, never an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QColor, QIcon

MAJORITY = "#2f6fd0"
MINORITY = "#e07b24"
OVERALL = "#3a9a5b"
NEUTRAL = "#7a8594"
ROLE_COLORS = {"majority": MAJORITY, "minority": MINORITY}


def role_color(role: str | None) -> QColor:
    """Colour of a class role ("majority", "minority", anything else neutral)."""
    return QColor(ROLE_COLORS.get(role or "", NEUTRAL))


def resources_dir() -> Path:
    """The ``resources/`` folder: beside the package in a checkout, in ``_MEIPASS`` when frozen,
    ``scl_desktop/resources`` when installed from a wheel."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    installed = Path(__file__).resolve().parents[1] / "resources"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[2] / "resources"


def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg`` as an icon (empty if absent)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def style_sheet() -> str:
    """The app's Qt style sheet (empty if absent)."""
    path = resources_dir() / "style.qss"
    return path.read_text(encoding="utf-8") if path.exists() else ""
