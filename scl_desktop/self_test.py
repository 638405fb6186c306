"""`scl-desktop --self-test`: does this installation work? (a normal install or the frozen bundle)

Each check is timed and reported OK or FAIL with its details:

* ``imports``  -- every module of ``scl_desktop`` (GUI and commands included) and the libraries it uses;
* ``versions`` -- package versions and the device training would use (what ``scl doctor`` reports);
* ``loaders``  -- the app's image decoder thread pool on a few PNGs, and a worker *process*
  started with ``spawn`` (how Windows and macOS start DataLoader workers; in a bundle this needs
  ``multiprocessing.freeze_support()`` at the entry point);
* ``model``    -- one SupCon training step of the tiny model on an augmented batch of 8 images,
  then the linear classifier, on the device training would use;
* ``geotiff``  -- writes a georeferenced 3-band 16-bit GeoTIFF with rasterio, reads it back the
  way the app does (the CRS is identified from PROJ's database), and transforms coordinates
  from UTM to WGS84 with ``rasterio.warp.transform`` (GDAL/PROJ data must be found);
* ``platform`` -- a Qt platform plugin can start here (``scl_desktop.qt_platform``: on Linux the X11
  plugin's libraries load, or the Wayland one in a Wayland session); names the missing libraries
  and the command that installs them; when it fails, ``window`` is not run (Qt would abort);
* ``window``   -- the main window, shown on the Qt platform in effect (offscreen when there is
  no display), grabbed to a PNG; the SVG icons and the style sheet must load.

The checks run with ``SCL_HOME`` pointing to a temporary folder, so the user's settings, runs
and caches are not touched. The report is printed (when there is a console), logged, and written
to ``log_dir()/self-test.txt`` (with the window's screenshot beside it) and to ``report_path``;
it is also written before each check, so a check that kills the process leaves a report naming it.
Qt is imported only by the ``window`` check.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from scl_desktop import __version__

REPORT_NAME = "self-test.txt"
SCREENSHOT_NAME = "self-test-window.png"
THIRD_PARTY = ("numpy", "PIL.Image", "platformdirs", "torch", "torchvision", "rasterio", "rasterio.warp",
               "PySide6.QtWidgets", "PySide6.QtSvg", "pyqtgraph")
"""Libraries the app needs (``rasterio``'s and PySide6's compiled parts included)."""
OPTIONAL = ("onnx", "onnxruntime")
"""Libraries only ONNX export needs; reported, not required."""
NOT_APP = ("scl_desktop.benchmarks",)
"""Packages of ``scl_desktop`` that are stand-alone tools, not part of the app."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``detail`` says what was verified, or why it failed."""

    name: str
    ok: bool
    seconds: float
    detail: str

    def line(self) -> str:
        return f"[{'OK' if self.ok else 'FAIL':>4}] {self.name:<9} {self.seconds:6.2f} s  {self.detail}"


def run_self_test(report_path: str | os.PathLike[str] | None = None, window: bool = True) -> int:
    """Run every check; print, log and write the report. Returns the exit status: 0 when all passed.

    ``window=False`` skips the Qt check (for a machine without Qt).
    """
    from scl_desktop.core import paths

    log_dir = paths.default_dir("log")  # the user's, before SCL_HOME is redirected; not created (a write failure is reported)
    checks: list[tuple[str, Callable[[Path], str]]] = [
        ("imports", check_imports), ("versions", check_versions), ("loaders", check_loaders),
        ("model", check_model), ("geotiff", check_geotiff),
    ]
    if window:
        checks.append(("platform", check_platform))
        checks.append(("window", lambda folder: check_window(folder, log_dir / SCREENSHOT_NAME)))
    targets = [log_dir / REPORT_NAME, *([Path(report_path)] if report_path else [])]
    started = time.perf_counter()
    results: list[CheckResult] = []
    with _scratch_home() as folder:
        for name, check in checks:
            _log.info("self-test: %s ...", name)
            # written first, so a crash inside a check (Qt aborts when no platform plugin loads) leaves a trace
            targets = _write(format_report(results, time.perf_counter() - started, running=name), targets)
            if name == "window" and not results[-1].ok:
                result = CheckResult(name, False, 0.0, "not run: no Qt platform plugin can start (see platform)")
            else:
                result = _run_check(name, check, folder)
            _log.log(logging.INFO if result.ok else logging.ERROR, "self-test: %s", result.line())
            results.append(result)
    report = format_report(results, time.perf_counter() - started)
    if sys.stdout is not None:
        print(report, end="", flush=True)
    _log.info("self-test report:\n%s", report)
    _write(report, targets)
    return 0 if all(r.ok for r in results) else 1


def format_report(results: list[CheckResult], seconds: float, running: str | None = None) -> str:
    """The text report: a verdict line, where this runs, then one line per check.

    ``running``: the check under way (a report written before it finished).
    """
    passed = sum(r.ok for r in results)
    if running:
        verdict = f"DID NOT FINISH (the process ended during the {running} check; see the log)"
    else:
        verdict = "PASSED" if passed == len(results) else "FAILED"
    frozen = f"bundle at {Path(sys.executable).parent}" if getattr(sys, "frozen", False) else f"python {sys.executable}"
    head = [f"scl_desktop {__version__} self-test {verdict}: {passed}/{len(results)} checks passed in {seconds:.1f} s",
            f"{frozen}; Python {platform.python_version()}; {platform.platform()}"]
    tail = [f"[....] {running:<9} running"] if running else []
    return "\n".join(head + [r.line() for r in results] + tail) + "\n"


def _run_check(name: str, check: Callable[[Path], str], folder: Path) -> CheckResult:
    start = time.perf_counter()
    try:
        detail, ok = check(folder), True
    except Exception as exc:  # a self-test reports every failure instead of stopping at the first
        detail = f"{type(exc).__name__}: {exc}\n    " + traceback.format_exc().rstrip().replace("\n", "\n    ")
        ok = False
    return CheckResult(name, ok, time.perf_counter() - start, detail)


def _write(report: str, targets: list[Path]) -> list[Path]:
    """Write the report to each target; returns those written (a failure is reported, not fatal)."""
    from scl_desktop.core.atomic import write_text

    written = []
    for target in targets:
        try:
            write_text(target, report)
            written.append(target)
        except Exception as exc:  # an unwritable --report path must not hide the result
            _log.error("could not write the self-test report to %s: %s", target, exc)
            if sys.stderr is not None:
                print(f"error: could not write the report to {target}: {exc}", file=sys.stderr)
    return written


@contextmanager
def _scratch_home() -> Iterator[Path]:
    """A temporary ``SCL_HOME`` (restored afterwards); yields a work folder inside it."""
    previous = os.environ.get("SCL_HOME")
    with tempfile.TemporaryDirectory(prefix="scl-self-test-", ignore_cleanup_errors=True) as tmp:
        os.environ["SCL_HOME"] = str(Path(tmp) / "home")
        work = Path(tmp) / "work"
        work.mkdir()
        try:
            yield work
        finally:
            if previous is None:
                os.environ.pop("SCL_HOME", None)
            else:
                os.environ["SCL_HOME"] = previous


# ---------------------------------------------------------------------------------------------
# the checks: each returns what it verified, or raises


def app_modules() -> list[str]:
    """Names of every module of the ``scl_desktop`` package that belongs to the app."""
    import pkgutil

    import scl_desktop

    names = [scl_desktop.__name__]
    for info in pkgutil.walk_packages(scl_desktop.__path__, prefix="scl_desktop."):
        if not info.name.startswith(NOT_APP):
            names.append(info.name)
    return sorted(names)


def check_imports(_folder: Path) -> str:
    import importlib

    modules = app_modules()
    for name in (*THIRD_PARTY, *modules):
        importlib.import_module(name)
    optional = []
    for name in OPTIONAL:
        try:
            importlib.import_module(name)
            optional.append(f"{name} yes")
        except ImportError:
            optional.append(f"{name} not installed")
    return f"{len(modules)} scl_desktop modules and {len(THIRD_PARTY)} libraries; optional: {', '.join(optional)}"


def check_versions(_folder: Path) -> str:
    from scl_desktop.core import devices

    versions = devices.core_versions()
    missing = [name for name, version in versions.items() if not version or version == "unknown version"]
    if missing:
        raise RuntimeError(f"no version found for {', '.join(missing)} (package metadata missing)")
    import PySide6
    import rasterio

    libs = ", ".join(f"{k} {v}" for k, v in versions.items() if k != "scl_desktop")
    return (f"{libs}, rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}), "
            f"PySide6 {PySide6.__version__}; device: {devices.describe()}")


def _worker_pid(index: int) -> tuple[int, int]:
    """Runs in the worker process: (index, the worker's process id)."""
    return index, os.getpid()


def check_loaders(folder: Path) -> str:
    import multiprocessing

    import numpy as np
    from PIL import Image

    from scl_desktop.core.data import imaging
    from scl_desktop.core.data.manifest import RasterSettings
    from scl_desktop.core.events import drive

    files = []
    for i in range(8):
        path = folder / f"img_{i}.png"
        Image.fromarray(np.full((20, 24, 3), i * 30, np.uint8)).save(path)
        files.append(path)
    images = drive(imaging.map_images(lambda p: imaging.read_rgb(p, RasterSettings(), 16), files,
                                      "self-test decode", workers=2))
    if [int(im[0, 0, 0]) for im in images] != [i * 30 for i in range(8)] or images[0].shape != (16, 16, 3):
        raise RuntimeError("decoded images differ from the ones written")

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        items = pool.map(_worker_pid, range(4))
    if [i for i, _ in items] != [0, 1, 2, 3] or items[0][1] == os.getpid():
        raise RuntimeError(f"the worker process returned {items}")
    return f"decoded {len(images)} PNGs in 2 threads; a spawned worker process (pid {items[0][1]}) returned 4 items"


def check_model(_folder: Path) -> str:
    import torch

    from scl_desktop.core import devices
    from scl_desktop.core.model import augment, losses
    from scl_desktop.core.model import networks as models

    device = devices.resolve_device("auto")
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=gen).to(device)
    labels = torch.tensor([0, 1] * 4, device=device)
    model = models.SupConModel("tiny", proj_dim=16).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    views = torch.stack([augment.augment_batch(images, 24) for _ in range(2)], dim=1)  # [B, 2, 3, 24, 24]
    projections = model(views.flatten(0, 1)).view(8, 2, -1)
    loss = losses.supcon_loss(projections, labels)
    loss.backward()
    optimizer.step()
    model.eval()
    classifier = models.LinearClassifier(model.feature_dim, 2).to(device)
    with torch.no_grad():
        logits = classifier(model.features(augment.prepare_eval(images, 24)))
    ce = losses.ce_loss(logits, labels)
    if not (torch.isfinite(loss) and torch.isfinite(ce)) or logits.shape != (8, 2):
        raise RuntimeError(f"bad outputs: SupCon loss {loss.item()}, CE {ce.item()}, logits {tuple(logits.shape)}")
    return f"SupCon step on {device}: loss {loss.item():.3f}; classifier logits {tuple(logits.shape)}, CE {ce.item():.3f}"


def check_geotiff(folder: Path) -> str:
    import numpy as np
    import rasterio
    from rasterio.transform import Affine

    from scl_desktop.core.data import imaging
    from scl_desktop.core.data.manifest import RasterSettings
    from scl_desktop.core.labelling import geometry

    path = folder / "utm33.tif"
    data = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16) * 7
    with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=3, dtype="uint16", crs="EPSG:32633",
                       transform=Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 160.0), compress="deflate") as ds:
        ds.write(data)
    raw = imaging.read_raw(path)
    if raw.crs != "EPSG:32633" or not np.array_equal(raw.data, data):
        raise RuntimeError(f"read back CRS {raw.crs!r} and {raw.data.shape} {raw.data.dtype} differ from what was written")
    rgb = imaging.apply_raster_settings(raw.data, RasterSettings())
    lon, lat = geometry.to_wgs84("EPSG:32633", np.array([500_000.0, 500_000.0]), np.array([0.0, 5_000_000.0]))
    # UTM zone 33N: the central meridian is 15 E; northing 0 is the equator, 5,000 km is 45.153477 N
    if not (np.allclose(lon, 15.0, atol=1e-7) and abs(lat[0]) < 1e-7 and abs(lat[1] - 45.153477) < 1e-5):
        raise RuntimeError(f"UTM 33N -> WGS84 gave lon {lon}, lat {lat}; expected 15 E, 0 N and 45.153477 N")
    env = "; ".join(f"{k}={os.environ[k]}" for k in ("GDAL_DATA", "PROJ_DATA") if os.environ.get(k))
    return (f"wrote and read a {raw.bands}-band {raw.dtype} GeoTIFF in {raw.crs} (-> {rgb.shape} {rgb.dtype}); "
            f"UTM 33N (500000, 5000000) -> ({lon[1]:.6f}, {lat[1]:.6f}) WGS84" + (f"; {env}" if env else ""))


def _offscreen_without_display() -> None:
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # without a display Qt would abort the process


def check_platform(_folder: Path) -> str:
    from scl_desktop import qt_platform

    _offscreen_without_display()
    result = qt_platform.prepare()  # raises with the missing libraries and the install commands
    note = ""
    if sys.platform.startswith("linux") and result.platform not in qt_platform.PLUGIN_FILES:
        note = f"; on an X11 desktop: {qt_platform.check_x11().message()}"
    return f"Qt platform {result.platform!r}: {result.detail}{note}"


def check_window(_folder: Path, screenshot: Path) -> str:
    _offscreen_without_display()
    from PySide6.QtCore import QEventLoop, QTimer

    from scl_desktop.gui import theme
    from scl_desktop.gui.startup import create_app, create_main_window

    app = create_app()
    if not theme.style_sheet():
        raise RuntimeError(f"the style sheet is missing from {theme.resources_dir()}")
    icon = theme.icon("app").pixmap(32, 32).toImage()
    if icon.isNull() or len({icon.pixel(x, y) for x in range(32) for y in range(32)}) < 2:
        raise RuntimeError(f"the SVG app icon did not render (resources in {theme.resources_dir()}; "
                           "is Qt's SVG icon engine plugin there?)")
    window = create_main_window(open_demo=False)
    try:
        window.show()
        loop = QEventLoop()  # let the window lay out and paint for half a second
        QTimer.singleShot(500, loop.quit)
        loop.exec()
        image = window.grab().toImage()
        if image.isNull() or image.width() < 100 or image.height() < 100:
            raise RuntimeError(f"grabbing the window gave a {image.width()}x{image.height()} image")
        colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
        if len(colours) < 4:
            raise RuntimeError(f"the grabbed window is blank ({len(colours)} colours)")
        with suppress(OSError):  # a log folder that cannot be created: "screenshot not saved"
            screenshot.parent.mkdir(parents=True, exist_ok=True)
        saved = image.save(str(screenshot))
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
    where = f"screenshot {screenshot}" if saved else "screenshot not saved"
    return (f"Qt platform {app.platformName()!r}: window {image.width()}x{image.height()}, "
            f"{len(colours)} colours; SVG icons and style sheet load; {where}")
