"""The wheel ships every package of scl_desktop and the top-level resources/ folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_and_resource_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "scl_desktop").rglob("__init__.py")}
    resources = {".".join(("scl_desktop", *d.relative_to(ROOT).parts))
                 for d in [ROOT / "resources", *(ROOT / "resources").rglob("*")] if d.is_dir()}
    assert set(config["packages"]) == packages | resources
    assert config["package-dir"] == {"scl_desktop.resources": "resources"}
    shipped = {(name, pattern) for name, patterns in config["package-data"].items() for pattern in patterns}
    for path in (ROOT / "resources").rglob("*"):
        if path.is_file():
            package = ".".join(("scl_desktop", *path.parent.relative_to(ROOT).parts))
            assert any(package == name and path.match(pattern) for name, pattern in shipped), path
