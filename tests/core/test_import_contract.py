"""The engine stays Qt-free: checked on the source and by importing it where Qt cannot load."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import scl_desktop.core

CORE = Path(scl_desktop.core.__file__).parent
FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "qtpy")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_sources_import_no_qt():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for name in _imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(CORE)}: {name}")
    assert not offenders, "scl_desktop.core must not import Qt: " + ", ".join(offenders)


BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked for the import contract: ' + name)
sys.meta_path.insert(0, Block())
import pkgutil, importlib, scl_desktop.core as core
for info in pkgutil.walk_packages(core.__path__, 'scl_desktop.core.'):
    importlib.import_module(info.name)
loaded = sorted(m for m in sys.modules if m.split('.')[0] in {blocked!r})
assert not loaded, loaded
print('ok')
"""


def test_every_core_module_imports_without_qt_or_rasterio():
    blocked = set(FORBIDDEN) | {"rasterio"}
    code = BLOCKER.format(blocked=blocked)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
