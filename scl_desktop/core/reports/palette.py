"""Colours shared by the app and the reports: class roles and the confusion-matrix shading."""

from __future__ import annotations

MAJORITY = "#2f6fd0"
MINORITY = "#e07b24"
OVERALL = "#3a9a5b"
NEUTRAL = "#7a8594"
ROLE_COLORS = {"majority": MAJORITY, "minority": MINORITY}


def role_hex(role: str | None) -> str:
    """Colour of a class role ("majority", "minority", anything else neutral) as ``#rrggbb``."""
    return ROLE_COLORS.get(role or "", NEUTRAL)


def shade(rate: float, diagonal: bool) -> tuple[int, int, int]:
    """A confusion cell's colour for the share ``rate`` (0..1) of its true class: white -> green on the
    diagonal (correct), white -> red off it (confusions)."""
    end = (34, 120, 60) if diagonal else (190, 40, 40)
    rate = min(max(float(rate), 0.0), 1.0)
    return tuple(round(255 + (e - 255) * rate) for e in end)  # type: ignore[return-value]


def hex_rgb(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
