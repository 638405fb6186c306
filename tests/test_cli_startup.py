"""`scl` starts fast: building the parser (every command registered) imports no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "torchvision", "rasterio", "PySide6", "pyqtgraph")

PROBE = f"""
import json, sys
import scl_desktop.cli
scl_desktop.cli.build_parser()
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""


def test_build_parser_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], (f"building the `scl` parser imported {loaded}; import them inside the command functions "
                          "(scl_desktop/commands/*.py), not at module level or in register()")
