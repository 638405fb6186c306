"""Colours, icons and the style sheet shared by all pages.

Icons and the style sheet live in the top-level ``resources/`` folder (bundled beside the
package by PyInstaller). A missing resource gives an empty icon / no style, never an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QColor, QIcon

from scl_desktop.core.reports.palette import MAJORITY, MINORITY, NEUTRAL, OVERALL, ROLE_COLORS, role_hex

__all__ = ["MAJORITY", "MINORITY", "NEUTRAL", "OVERALL", "ROLE_COLORS", "icon", "role_color", "style_sheet"]


def role_color(role: str | None) -> QColor:
    """Colour of a class role ("majority", "minority", anything else neutral; shared with the reports)."""
    return QColor(role_hex(role))


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
