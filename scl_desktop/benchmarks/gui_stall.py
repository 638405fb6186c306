"""How long the GUI thread stalls while stage 1 trains in the app's worker thread, alone and under load.

    python -m scl_desktop.benchmarks.gui_stall [--contend 0,2] [--epochs 25] [--threads N] [--json]
    scl bench --gui                       (the same, with --contend 0,<CPU cores>)

Builds the real main window (offscreen unless a display is set), imports a small class-imbalanced
synthetic folder, then trains stage 1 from the Encoder page's Start button -- in the worker
thread, drawing live plots, as a user would -- while a 5 ms ``QTimer`` records its ticks. The
figure is the worst gap between two ticks during training (a frozen window shows as a long
gap); the 99th percentile and the training time are printed beside it. With ``--contend N`` N
CPU-bound processes (Python busy loops) compete for the cores during that measurement; a list
(``0,2``) measures each in turn. Nothing is written outside a temporary folder.

The default test command asserts only the logic of this (the timer ticked, the worker ran off
the GUI thread, training finished): a wall-clock threshold there fails on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

TICK_MS = 5
CLASSES = {"a_fields": 24, "b_forest": 24, "c_water": 24, "d_harbour": 14, "e_runway": 14}
BUSY_LOOP = "import os\nos.nice(0)\nwhile True:\n    pass\n"


@dataclass(frozen=True)
class StallResult:
    """One measurement: ``contend`` competing processes, the worst and 99th-percentile tick gaps."""

    contend: int
    worst_ms: float
    p99_ms: float
    ticks: int
    train_s: float
    worker_thread: bool
    """The training step ran in a thread other than the GUI thread."""
    worker_nice: int | None
    """The worker thread's nice value while it trained (Linux), the GUI thread's being 0."""

    def line(self) -> str:
        load = f"{self.contend} competing busy process(es)" if self.contend else "alone"
        return (f"{load:<32} worst GUI stall {self.worst_ms:7.1f} ms   p99 {self.p99_ms:6.1f} ms   "
                f"{self.ticks:5d} ticks of {TICK_MS} ms   training {self.train_s:5.1f} s")


def write_dataset(root: Path, size: int = 32) -> Path:
    """A small class-imbalanced folder dataset of textured PNGs (3 large, 2 small classes)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, (name, count) in enumerate(CLASSES.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        base = rng.integers(30, 220, 3)
        for i in range(count):
            img = base + 25 * np.sin(np.arange(size)[:, None, None] * (k + 1) / 3 + i) + rng.normal(0, 12, (size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / name / f"{name}_{i:03d}.png")
    return root


class Contention:
    """``count`` CPU-bound processes for the duration of a ``with`` block."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Contention:
        self.procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(self.count)]
        time.sleep(0.5 if self.count else 0)  # let them start spinning
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def _wait(app, condition, timeout_s: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window's task did not end in time")
        app.processEvents()
        time.sleep(0.002)


def measure(app, window, contend: int, timeout_s: float = 900) -> StallResult:  # noqa: ANN001
    """Train stage 1 once from the Encoder page with ``contend`` competing processes; the stall figures."""
    from PySide6.QtCore import Qt, QTimer

    ticks: list[float] = []
    threads: set[int] = set()
    nice: list[int] = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    page = window.pages["encoder"]
    with Contention(contend):
        timer.start()
        started = time.perf_counter()
        page.controls.start_button.click()
        task = window.session.task
        ended: list[float] = []
        task.done.connect(lambda: ended.append(time.perf_counter()))
        # a direct connection runs in the emitting thread: the one the step really runs in
        def in_worker(_event: object) -> None:
            threads.add(threading.get_ident())
            if hasattr(os, "getpriority") and not nice:
                nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

        task._worker.event.connect(in_worker, Qt.ConnectionType.DirectConnection)  # noqa: SLF001
        _wait(app, lambda: not window.session.busy, timeout_s)
        timer.stop()
    during = [t for t in ticks if t <= ended[0]]
    gaps = np.diff(np.array(during)) * 1000 if len(during) > 1 else np.array([float("inf")])
    gui = threading.get_ident()
    return StallResult(contend, round(float(gaps.max()), 1), round(float(np.percentile(gaps, 99)), 1), len(during),
                       round(ended[0] - started, 2), bool(threads) and gui not in threads, nice[0] if nice else None)


def build_window(folder: Path, epochs: int, threads: int | None, arch: str, image_size: int, batch: int):  # noqa: ANN201
    """The app's QApplication and main window with ``folder`` imported and the Encoder page set up."""
    from scl_desktop.gui.startup import create_app, create_main_window

    app = create_app()
    window = create_main_window(open_demo=False)
    window.show()
    window.pages["dataset"].size_spin.setValue(32)
    window.pages["dataset"].open_paths([folder])
    _wait(app, lambda: not window.session.busy, 300)
    if window.session.split is None:
        raise RuntimeError("importing the benchmark dataset gave no split")
    form = window.pages["encoder"].form
    for name, value in (("arch", arch), ("image_size", image_size), ("epochs", epochs), ("batch_size", batch),
                        ("device", "cpu"), ("num_threads", threads), ("checkpoint_every", 1), ("amp", False),
                        ("channels_last", False)):
        form.set_field(name, value)
    window.show_page("encoder")
    return app, window


def run(contend: list[int], epochs: int = 25, threads: int | None = None, arch: str = "tiny",
        image_size: int = 32, batch: int = 8) -> list[StallResult]:
    """Measure once per entry of ``contend`` (in a temporary ``SCL_HOME``)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import qInstallMessageHandler

    from scl_desktop import configure_process

    configure_process()
    qInstallMessageHandler(lambda _kind, _context, message: None if "propagateSizeHints" in message
                           else print(message, file=sys.stderr))  # offscreen repeats this for every window
    with tempfile.TemporaryDirectory(prefix="scl-gui-stall-") as tmp:
        os.environ["SCL_HOME"] = str(Path(tmp) / "home")
        folder = write_dataset(Path(tmp) / "data")
        app, window = build_window(folder, epochs, threads, arch, image_size, batch)
        results = [measure(app, window, n) for n in contend]
        window.close()
        app.processEvents()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scl_desktop.benchmarks.gui_stall", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contend", default="0", help="competing CPU-bound processes; a comma list measures each "
                                                       "(default 0; `scl bench --gui` uses 0,<CPU cores>)")
    parser.add_argument("--epochs", type=int, default=25, help="stage-1 epochs per measurement (default 25)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads of the run (default: the app's automatic choice)")
    parser.add_argument("--arch", default="tiny", help="encoder (default tiny)")
    parser.add_argument("--image-size", type=int, default=32, help="image size the model sees (default 32)")
    parser.add_argument("--batch", type=int, default=8, help="images per step (default 8)")
    parser.add_argument("--worker-nice", type=int, default=None,
                        help="nice increment of the worker thread (default: the app's, "
                             "scl_desktop.gui.worker.WORKER_NICE; 0 runs it at the GUI's priority)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each --contend level N times (default 1)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    from scl_desktop.gui import worker

    if args.worker_nice is not None:
        worker.WORKER_NICE = args.worker_nice
    contend = [int(n) for n in args.contend.split(",") if n.strip()] * max(args.repeat, 1)
    results = run(contend, args.epochs, args.threads, args.arch, args.image_size, args.batch)
    if args.json:
        print(json.dumps({"cpu_count": os.cpu_count(), "worker_nice": worker.WORKER_NICE,
                          "results": [asdict(r) for r in results]}, indent=2))
    else:
        print(f"GUI event loop while stage 1 trains in the worker ({os.cpu_count()} CPU cores, {args.arch}, "
              f"{args.epochs} epochs, torch threads {args.threads or 'auto'}, worker nice +{worker.WORKER_NICE}):")
        for result in results:
            print("  " + result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
