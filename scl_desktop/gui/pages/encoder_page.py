"""Encoder page (stage 1): the SupCon configuration with the paper's defaults, Start / Cancel /
Resume, progress with ETA and samples/s, live loss and learning-rate curves, and the kNN probe's
majority / minority / overall accuracy per probed epoch with its latest per-class accuracy.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from scl_desktop.core.events import EpochMetrics, Log, ProbeMetrics, StepMetrics
from scl_desktop.core.training.config import EncoderConfig
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.gui import theme
from scl_desktop.gui.layout import splitter
from scl_desktop.gui.pages.common import (
    ROLE_SERIES,
    config_choices,
    default_config,
    form_panel,
    lay_out_training_page,
    loss_curves,
    next_page_button,
    read_form,
    show_accuracies,
    step_position,
    with_legend,
)
from scl_desktop.gui.pages.config_labels import LABELS
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from scl_desktop.gui.widgets.config_form import ConfigForm
from scl_desktop.gui.widgets.plots import LiveCurves, RoleBarChart
from scl_desktop.gui.widgets.task_controls import TaskControls

NO_SPLIT = "Build a split on the Dataset page first."


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
        self.probe_plot = LiveCurves("kNN probe (validation images)", "epoch", "accuracy (%)",
                                     ROLE_SERIES, y_range=(0, 100))
        self.probe_plot.setToolTip("Every few epochs (kNN probe every) each validation image is labelled by a vote of "
                                   "its nearest training images in the encoder's feature space: how well the "
                                   "classes separate so far, with no classifier trained.")
        self.probe_bars = RoleBarChart("Per-class kNN accuracy, latest probe", "accuracy (%)", x_range=(0, 112))
        self.next_button = next_page_button("Next: fit the classifier →", self.go_to, "classifier")
        curves = splitter(Qt.Orientation.Vertical, self.loss_plot, self.lr_plot, sizes=(400, 220))
        probe = splitter(Qt.Orientation.Vertical, self.probe_plot, with_legend(self.probe_bars), sizes=(310, 310))
        plots = splitter(Qt.Orientation.Horizontal, curves, probe, sizes=(500, 380))
        lay_out_training_page(self, left, self.controls, self.run_label, plots, self.next_button, (400, 800))

        session.split_changed.connect(self._state_changed)
        session.run_changed.connect(self._state_changed)
        session.busy_changed.connect(self._state_changed)
        self._state_changed()

    def _state_changed(self, *_args: object) -> None:
        run, split = self.session.run, self.session.split
        resumable = run is not None and run.kind == "scl" and run.status != "done"
        self.controls.set_startable(split is not None or resumable, resume=resumable)
        status = self.controls.progress.status
        if split is None and run is None:
            status.setText(NO_SPLIT)
        elif status.text() == NO_SPLIT:
            status.setText("")
        if run is not None:
            self.run_label.setText(f"Current run: <b>{html.escape(self.session.describe_run())}</b> — {run.path}")
        elif split is not None:
            self.run_label.setText(f"No run yet: Start trains a new encoder on the split of "
                                   f"<b>{html.escape(Path(split.dataset.source).name)}</b> ({len(split.train)} "
                                   "training images).")
        else:
            self.run_label.setText("No run yet.")
        self.next_button.setEnabled(run is not None and run.kind == "scl" and run.status == "done"
                                    and not self.session.busy)

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
        self._begin(lambda token: train_encoder(split, config, cancel=token, run_store=self.session.store), "Starting stage 1…", config.epochs)

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
        if not keep_curves:  # a new run: the previous one is no longer the current run
            self.session.set_run(None)
            self.run_label.setText("Starting a new run…")
        if not keep_curves:
            for plot in (self.loss_plot, self.lr_plot, self.probe_plot):
                plot.clear_points()
            self.probe_bars.set_values({})
        for plot in (self.loss_plot, self.lr_plot, self.probe_plot):
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
        elif isinstance(event, ProbeMetrics) and event.stage == "encoder":
            show_accuracies(event, self.probe_plot, self.probe_bars)
            self.probe_bars.getPlotItem().setTitle(f"Per-class kNN accuracy, epoch {event.epoch}", size="10pt")
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
        done = f" in epoch {last.epoch + 1}/{last.epochs} (epoch {last.epoch} was the last finished)" \
            if last is not None else ""
        self.controls.progress.status.setText(
            f"Cancelled{done}; the checkpoint was kept: Resume continues from it." if run is not None
            else "Cancelled before training began; nothing was kept.")
        self._keep(run)

    def _keep(self, run: Any) -> None:
        if run is not None:
            self.session.set_run(run)
            self.session.results_changed.emit()
