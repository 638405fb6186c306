"""Guards against broken Qt binding releases that would crash a long-running app."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject


def test_calling_qt_methods_keeps_references_to_none():
    # PySide6 6.12.0 on CPython 3.11 drops a reference to None on every call of a method that
    # returns nothing; after enough calls Python aborts with "none_dealloc". pyproject.toml
    # excludes that release; this test fails if a binding with the bug is installed.
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(2000):
        obj.setObjectName("x")
    assert sys.getrefcount(None) >= before - 50
