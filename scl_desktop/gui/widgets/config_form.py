"""A form generated from a frozen config dataclass: one widget per field, tooltips from the engine.

The engine's config dataclasses are the single source of truth for fields, types and defaults;
the form only renders them. Tooltips are the fields' ``metadata["help"]`` (declared once, beside
the field, and read by `--help` too). Nested dataclasses become group boxes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from scl_desktop.core.errors import ConfigError

NONE_TEXT = "auto"


class OpenChoices(tuple):
    """Suggested values of a text field, shown in an editable combo box: any other text may be typed (a
    file path, say); ``none_text`` names the unset value."""

    none_text: str

    def __new__(cls, values: Sequence[str], none_text: str = NONE_TEXT) -> OpenChoices:
        obj = super().__new__(cls, values)
        obj.none_text = none_text
        return obj


def _label(name: str, labels: Mapping[str, str] | None = None) -> str:
    if labels and name in labels:
        return labels[name]
    return name.replace("_", " ").capitalize()


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


class ConfigForm(QWidget):
    """Widgets for the fields of ``default`` (a dataclass instance); ``value()`` builds a new instance.

    ``choices`` maps a field to its allowed values (a combo box; ``OpenChoices``: suggestions, other text may be
    typed); ``hidden`` fields keep the
    value from ``default``; ``labels`` maps
    a field name to its label (default: the name in words).
    """

    def __init__(self, default: Any, choices: Mapping[str, Sequence[Any]] | None = None, hidden: Sequence[str] = (),
                 prefix: str = "", labels: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._cls = type(default)
        self._default = default
        self._choices = dict(choices or {})
        self._hidden = set(hidden)
        self._prefix = prefix
        self._labels = dict(labels or {})
        self._editors: dict[str, tuple[QWidget, Any, bool]] = {}
        self._shown: dict[str, tuple[str, Any]] = {}  # line edits: text shown for a value, to keep it exact
        self._nested: dict[str, ConfigForm] = {}
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        hints = typing.get_type_hints(self._cls)
        for f in dataclasses.fields(self._cls):
            if f.name in self._hidden or f.name.startswith("_"):
                continue
            value = getattr(default, f.name)
            tip = f.metadata.get("help", "")
            if dataclasses.is_dataclass(value):
                sub = ConfigForm(value, self._choices, self._hidden, prefix=f"{prefix}{f.name}.",
                                 labels=self._labels)
                box = QGroupBox(_label(f.name, self._labels))
                box.setToolTip(tip)
                box_layout = QFormLayout(box)
                box_layout.addRow(sub)
                self._nested[f.name] = sub
                layout.addRow(box)
                continue
            tp, optional = _unwrap_optional(hints.get(f.name, type(value)))
            editor = self._make_editor(f.name, tp, optional, value)
            editor.setObjectName(prefix + f.name)
            editor.setToolTip(tip)
            self._editors[f.name] = (editor, tp, optional)
            layout.addRow(_label(f.name, self._labels), editor)

    # -- building ------------------------------------------------------------------------
    def _make_editor(self, name: str, tp: Any, optional: bool, value: Any) -> QWidget:
        options = self._choices.get(self._prefix + name) or self._choices.get(name)
        if options is None and typing.get_origin(tp) is typing.Literal:
            options = list(typing.get_args(tp))
        if options is not None:
            combo = QComboBox()
            for option in options:
                combo.addItem(str(option), option)
            if optional:
                combo.insertItem(0, getattr(options, "none_text", NONE_TEXT), None)
            combo.setEditable(isinstance(options, OpenChoices))
            self._select(combo, value)
            return combo
        if tp is bool:
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if tp is int:
            spin = QSpinBox()
            spin.setRange(-1 if optional else -1_000_000, 10_000_000)
            if optional:
                spin.setSpecialValueText(NONE_TEXT)
            spin.setValue(-1 if value is None else int(value))
            return spin
        if tp is float:
            spin = QDoubleSpinBox()
            spin.setDecimals(6)
            spin.setRange(-1.0 if optional else -1e9, 1e9)
            spin.setSingleStep(_step(value))
            if optional:
                spin.setSpecialValueText(NONE_TEXT)
            spin.setValue(-1.0 if value is None else float(value))
            return spin
        line = QLineEdit()
        self._show_text(name, line, value)
        if optional:
            line.setPlaceholderText("none")
        return line

    # -- reading and writing -------------------------------------------------------------
    def value(self) -> Any:
        """A new config instance from the widgets; ``ConfigError`` names a field it cannot parse."""
        changes: dict[str, Any] = {name: sub.value() for name, sub in self._nested.items()}
        for name, (editor, tp, optional) in self._editors.items():
            changes[name] = self._read(name, editor, tp, optional)
        return dataclasses.replace(self._default, **changes)

    @staticmethod
    def _select(combo: QComboBox, value: Any) -> None:
        index = combo.findData(value)
        if index < 0 and combo.isEditable() and value is not None:
            combo.setEditText(str(value))
        else:
            combo.setCurrentIndex(max(index, 0))

    def _read(self, name: str, editor: QWidget, tp: Any, optional: bool) -> Any:
        if isinstance(editor, QComboBox):
            if not editor.isEditable():
                return editor.currentData()
            text = editor.currentText().strip()
            index = editor.findText(text)
            return editor.itemData(index) if index >= 0 else (text or None)
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QSpinBox | QDoubleSpinBox):
            if optional and editor.value() == editor.minimum():
                return None
            return editor.value()
        assert isinstance(editor, QLineEdit)
        text = editor.text().strip()
        shown = self._shown.get(name)
        if shown is not None and shown[0] == text:
            return shown[1]  # unchanged: the exact value (e.g. 4/3), not its rounded text
        if not text and optional:
            return None
        try:
            return _from_text(text, tp)
        except ValueError as exc:
            raise ConfigError(f"'{_label(self._prefix + name)}' cannot be '{text}'.",
                              f"Enter {_describe(tp)}.") from exc

    def set_value(self, config: Any) -> None:
        """Show ``config`` (same class) in the widgets."""
        for name, sub in self._nested.items():
            sub.set_value(getattr(config, name))
        for name in self._editors:
            self.set_field(name, getattr(config, name))

    def set_field(self, name: str, value: Any) -> None:
        """Set one field's widget (``"nested.field"`` reaches into a group)."""
        if "." in name:
            head, rest = name.split(".", 1)
            self._nested[head].set_field(rest, value)
            return
        editor, _tp, optional = self._editors[name]
        if isinstance(editor, QComboBox):
            self._select(editor, value)
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QSpinBox | QDoubleSpinBox):
            editor.setValue(editor.minimum() if value is None and optional else value)
        else:
            assert isinstance(editor, QLineEdit)
            self._show_text(name, editor, value)

    def _show_text(self, name: str, line: QLineEdit, value: Any) -> None:
        text = _to_text(value)
        line.setText(text)
        self._shown[name] = (text, value)

    def editor(self, name: str) -> QWidget:
        if "." in name:
            head, rest = name.split(".", 1)
            return self._nested[head].editor(rest)
        return self._editors[name][0]

    def reset(self, default: Any | None = None) -> None:
        """Back to the defaults (or to ``default``, which becomes the new base)."""
        if default is not None:
            self._default = default
        self.set_value(self._default)


def _step(value: Any) -> float:
    if isinstance(value, float) and value:
        return 10 ** (len(str(abs(value)).split(".")[0]) - 2) if abs(value) >= 1 else abs(value) / 2
    return 0.1


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        return ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _from_text(text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis] or [str]
        parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
        items = [_from_text(p, args[min(i, len(args) - 1)]) for i, p in enumerate(parts)]
        return tuple(items) if origin is tuple else items
    if tp is int:
        return int(text)
    if tp is float:
        return float(text)
    return text


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return "values separated by commas"
    return {int: "a whole number", float: "a number"}.get(tp, "a value")
