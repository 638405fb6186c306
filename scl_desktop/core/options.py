"""Configuration fields that carry their own help text, read by `--help` and the GUI's tooltips alike."""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its help text (``field.metadata["help"]``), declared once."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help})


def help_of(cls: type, name: str) -> str:
    """The help declared on ``cls``'s field ``name`` (as the GUI's tooltip shows it)."""
    return str(_field(cls, name).metadata.get("help", ""))


def help_text(cls: type, name: str) -> str:
    """The help of ``cls``'s field ``name`` followed by its default: what `--help` prints."""
    default = _field(cls, name).default
    default = None if default is dataclasses.MISSING else default
    shown = "unset" if default is None else f"{default:g}" if isinstance(default, float) else str(default)
    return f"{help_of(cls, name).rstrip('.')} (default {shown})"


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)
