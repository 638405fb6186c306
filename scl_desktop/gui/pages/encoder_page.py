"""Encoder page (stage 1): the SupCon configuration with the paper's defaults, Start / Cancel /
Resume, progress with ETA and samples/s, live loss and learning-rate curves.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from scl_desktop.core import devices
from scl_desktop.core.errors import SclError
from scl_desktop.core.events import EpochMetrics, Log, StepMetrics
from scl_desktop.core.model.settings import ARCHS, PADDING_MODES, ROTATE_MODES
from scl_desktop.core.training.config import BALANCES, SAMPLERS, EncoderConfig, cpu_defaults
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.gui import theme
from scl_desktop.gui.layout import scrolled, splitter, tool_row
from scl_desktop.gui.pages.config_labels import LABELS
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from scl_desktop.gui.widgets.config_form import ConfigForm
from scl_desktop.gui.widgets.plots import LiveCurves
from scl_desktop.gui.widgets.task_controls import TaskControls

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def config_choices() -> dict[str, tuple[str, ...]]:
    """Combo-box values for the config fields that take one of a fixed set."""
    return {"arch": ARCHS, "device": DEVICE_CHOICES, "sampler": SAMPLERS, "balance": BALANCES,
            "augment.rotate_mode": ROTATE_MODES, "augment.padding": PADDING_MODES}


@functools.lru_cache(maxsize=8)
def trains_on_cpu(device: str) -> bool:
    """Whether the device setting ``device`` ends up on the CPU (an unusable device counts as CPU)."""
    try:
        return devices.resolve_device(device).type == "cpu"
    except SclError:
        return True


def default_config(cls: type, settings: AppSettings) -> tuple[Any, str | None]:
    """``cls()`` with the app's device and threads, scaled down when training would run on the CPU."""
    config = cls().replace(device=settings.device, num_threads=settings.loader_threads or None)
    return cpu_defaults(config) if trains_on_cpu(settings.device) else (config, None)


def read_form(session: Session, form: ConfigForm, what: str) -> Any | None:
    """The form's configuration, or ``None`` after telling the user why it is invalid."""
    try:
        return form.value()
    except Exception as exc:  # noqa: BLE001 - ConfigError from the engine's validation, shown to the user
        session.error.emit(f"Invalid {what} settings", exc, "")
        return None


def form_panel(title: str, note: QLabel, buttons: Sequence[QPushButton], form: ConfigForm, min_width: int) -> QWidget:
    """A training page's left column: the stage's title, a note, preset buttons and the scrolling settings form."""
    panel = QWidget()
    layout = QVBoxLayout(panel)
    layout.addWidget(QLabel(f"<b>{title}</b>"))
    layout.addWidget(note)
    layout.addLayout(tool_row(*buttons))
    layout.addWidget(scrolled(form), 1)
    panel.setMinimumWidth(min_width)
    return panel


def loss_curves(title: str) -> LiveCurves:
    """Loss curves with a running-mean series per step (``step_position``) and one point per epoch."""
    return LiveCurves(title, "epoch", "loss", [("step (running mean)", theme.MAJORITY), ("epoch", theme.MINORITY)])


def step_position(event: StepMetrics) -> float:
    """Where a step falls on an epoch axis: epoch 1 runs from 0 to 1."""
    return event.epoch - 1 + event.step / max(event.steps_per_epoch, 1)


def next_page_button(text: str, go_to: SignalInstance, page: str) -> QPushButton:
    """A button, disabled until the page's work is done, that asks the window to show ``page``."""
    button = QPushButton(text)
    button.setEnabled(False)
    button.clicked.connect(lambda: go_to.emit(page))
    return button


def lay_out_training_page(page: QWidget, left: QWidget, controls: QWidget, run_label: QLabel, plots: QWidget,
                          next_button: QPushButton, sizes: Sequence[int]) -> None:
    """``left`` beside a column of the task controls, the run, the plots and the next-page button."""
    right = QWidget()
    right_layout = QVBoxLayout(right)
    right_layout.addWidget(controls)
    right_layout.addWidget(run_label)
    right_layout.addWidget(plots, 1)
    right_layout.addLayout(tool_row(next_button))
    layout = QVBoxLayout(page)
    layout.addWidget(splitter(Qt.Orientation.Horizontal, left, right, stretch=(0, 1), sizes=sizes))


class EncoderPage(QWidget):
    """Stage 1: train the SupCon encoder on the current split (a new run) or resume the current run."""

    go_to = Signal(str)

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self._last_epoch: EpochMetrics | None = None
        default, note = default_config(EncoderConfig, settings)
        self.form = ConfigForm(default, labels=LABELS, choices=config_choices())
        self.form.setObjectName("encoderForm")
        self.note = QLabel(note or "Paper defaults (ResNet-50, 224 px, batch 128, lr 0.5 cosine, tau 0.1).")
        self.note.setWordWrap(True)
        self.note.setObjectName("defaultsNote")
        paper = QPushButton("Paper defaults")
        paper.setToolTip("Reset every field to the values of Huang et al. 2022 (meant for a GPU).")
        paper.clicked.connect(lambda: self.form.reset(EncoderConfig()))
        scaled = QPushButton("Defaults for this device")
        scaled.setToolTip("The paper's values, scaled down when training runs on the CPU.")
        scaled.clicked.connect(lambda: self.form.reset(default_config(EncoderConfig, self.settings)[0]))
        left = form_panel("Stage 1: supervised contrastive encoder", self.note, (paper, scaled), self.form, 320)

        self.controls = TaskControls(session, "Start training", resume=True)
        self.controls.start_clicked.connect(self.start)
        self.controls.resume_clicked.connect(self.resume)
        self.run_label = QLabel("No run yet.")
        self.run_label.setObjectName("runLabel")
        self.run_label.setWordWrap(True)
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.loss_plot = loss_curves("SupCon loss")
        self.lr_plot = LiveCurves("Learning rate", "epoch", "lr", [("lr", theme.OVERALL)])
        self.next_button = next_page_button("Next: fit the classifier →", self.go_to, "classifier")
        plots = splitter(Qt.Orientation.Vertical, self.loss_plot, self.lr_plot, sizes=(400, 220))
        lay_out_training_page(self, left, self.controls, self.run_label, plots, self.next_button, (400, 800))

        session.split_changed.connect(self._state_changed)
        session.run_changed.connect(self._state_changed)
        self._state_changed()

    def _state_changed(self, *_args: object) -> None:
        run = self.session.run
        resumable = run is not None and run.kind == "scl" and run.status != "done"
        self.controls.set_startable(self.session.split is not None or resumable, resume=resumable)
        if self.session.split is None and run is None:
            self.controls.progress.status.setText("Build a split on the Dataset page first.")
        if run is not None:
            self.run_label.setText(f"Current run: <b>{run.id}</b> ({run.status_label}) — {run.path}")
        self.next_button.setEnabled(run is not None and run.kind == "scl")

    # -- starting ------------------------------------------------------------------------
    def start(self) -> None:
        """Train a new encoder on the current split with the form's configuration."""
        split = self.session.split
        if split is None:
            self.session.error.emit("No split", "There is no split to train on.", "Build one on the Dataset page.")
            return
        config = read_form(self.session, self.form, "encoder")
        if config is None:
            return
        self._begin(lambda token: train_encoder(split, config, cancel=token), "Starting stage 1…", config.epochs)

    def resume(self) -> None:
        """Continue the current run from its last checkpoint (with its stored configuration)."""
        run = self.session.run
        if run is None:
            return
        epochs = run.config.get("epochs") if isinstance(run.config, dict) else None
        self._begin(lambda token: train_encoder(None, None, run=run, resume=True, cancel=token),
                    f"Resuming {run.id}…", epochs, keep_curves=True)

    def _begin(self, factory: Any, message: str, epochs: int | None, keep_curves: bool = False) -> None:
        task = self.session.start_task("Stage 1 (encoder)", factory)
        if not self.controls.track(task, message):
            return
        if not keep_curves:
            self.loss_plot.clear_points()
            self.lr_plot.clear_points()
        for plot in (self.loss_plot, self.lr_plot):
            plot.set_x_extent(epochs)
        assert task is not None
        self._last_epoch = None
        task.event.connect(self._on_event)
        task.finished.connect(self._on_finished)
        task.cancelled.connect(self._on_cancelled)

    # -- events --------------------------------------------------------------------------
    def _on_event(self, event: object) -> None:
        if isinstance(event, StepMetrics) and event.stage == "encoder":
            x = step_position(event)
            self.loss_plot.add_point("step (running mean)", x, event.loss)
            self.lr_plot.add_point("lr", x, event.lr)
        elif isinstance(event, EpochMetrics) and event.stage == "encoder":
            self.loss_plot.add_point("epoch", event.epoch, event.loss)
            self._last_epoch = event
        elif isinstance(event, Log):
            self.session.log.emit(event.message, event.level)

    def _on_finished(self, run: Any) -> None:
        last = self._last_epoch
        if last is not None:
            self.controls.progress.status.setText(f"Finished {last.epochs} epochs · final loss {last.loss:.4f} · "
                                                  f"{last.samples_per_s:,.0f} samples/s")
        self._keep(run)

    def _on_cancelled(self, run: Any) -> None:
        last = self._last_epoch
        done = f" after epoch {last.epoch}/{last.epochs}" if last is not None else ""
        self.controls.progress.status.setText(f"Cancelled{done}; the checkpoint was kept: Resume continues from it.")
        self._keep(run)

    def _keep(self, run: Any) -> None:
        if run is not None:
            self.session.set_run(run)
            self.session.results_changed.emit()
