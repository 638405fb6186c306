"""Classifier page (stage 2): the strategy (the paper's CB, CSCE or plain, a long-tail classifier or
auto) on the frozen encoder; live loss, live per-class accuracy bars coloured by role, and
majority / minority / overall accuracy per epoch (auto draws no curves: it logs its candidates).
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from scl_desktop.core.events import EpochMetrics, Log, StepMetrics
from scl_desktop.core.methods import CLASSIFIER_BALANCES
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import ClassifierConfig
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


class ClassifierPage(QWidget):
    """Stage 2 on the current run's encoder; the result is saved in the run and shown on Evaluate."""

    go_to = Signal(str)

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        default, _ = default_config(ClassifierConfig, settings)
        self.form = ConfigForm(default, labels=LABELS, choices=config_choices(CLASSIFIER_BALANCES))
        self.form.setObjectName("classifierForm")
        paper = QPushButton("Paper defaults")
        paper.setToolTip("Batch 128, lr 0.01 cosine, momentum 0.9, weight decay 5e-5, 100 epochs, CB sampling.")
        paper.clicked.connect(lambda: self.form.reset(ClassifierConfig()))
        explain = QLabel("The encoder stays frozen. <b>cb</b>: every class is drawn equally often; "
                         "<b>csce</b>: rare classes weigh more in the loss; <b>none</b>: plain cross-entropy; "
                         "<b>tau-norm</b>, <b>logit-adj</b>, <b>la-loss</b>, <b>balanced-softmax</b>: long-tail "
                         "classifiers beyond the paper (Tau sets their strength); <b>auto</b>: tries them all and "
                         "keeps the best on the validation images. Hover over Balance for details.")
        explain.setWordWrap(True)
        left = form_panel("Stage 2: re-balanced linear classifier", explain, (paper,), self.form, 300)

        self.controls = TaskControls(session, "Fit classifier",
                                     cancelled_text="Cancelled; the encoder and earlier classifiers are unchanged.",
                                     cancel_tip="Stop fitting (nothing of this fit is kept; fit again to finish)")
        self.controls.start_clicked.connect(self.start)
        self.run_label = QLabel("Train an encoder first (Encoder page) or open a run (Runs page).")
        self.run_label.setWordWrap(True)
        self.loss_plot = loss_curves("Cross-entropy loss")
        self.acc_plot = LiveCurves("Accuracy per epoch (validation or test part)", "epoch", "accuracy (%)",
                                   ROLE_SERIES, y_range=(0, 100))
        self.class_bars = RoleBarChart("Per-class accuracy, latest epoch", "accuracy (%)", x_range=(0, 112))
        self.next_button = next_page_button("Next: evaluate →", self.go_to, "evaluate")
        curves = splitter(Qt.Orientation.Vertical, self.loss_plot, self.acc_plot)
        plots = splitter(Qt.Orientation.Horizontal, curves, with_legend(self.class_bars), sizes=(500, 380))
        lay_out_training_page(self, left, self.controls, self.run_label, plots, self.next_button, (360, 900))
        session.run_changed.connect(self._run_changed)
        session.busy_changed.connect(lambda _busy: self._run_changed(self.session.run))
        self._run_changed(session.run)

    def _run_changed(self, run: Any) -> None:
        ok = run is not None and run.kind == "scl"
        self.controls.set_startable(ok)
        if ok:
            self.run_label.setText(f"Fits on the encoder of run <b>{html.escape(self.session.describe_run())}</b>.")
        elif run is not None:
            self.run_label.setText(f"Run {run.id} is a {run.kind} run; stage 2 needs a two-stage run: train one "
                                   "on the Encoder page or open one on the Runs page.")
        else:
            self.run_label.setText("No encoder yet: train one on the Encoder page or open a run on the Runs page.")
        if self.session.busy or not ok:
            self.next_button.setEnabled(False)

    def start(self) -> None:
        """Fit the linear classifier with the form's configuration on the current run."""
        run = self.session.run
        if run is None:
            return
        config = read_form(self.session, self.form, "classifier")
        if config is None:
            return
        task = self.session.start_task(f"Stage 2 (classifier, {config.balance})",
                                       lambda token: fit_classifier(run, config, cancel=token))
        if not self.controls.track(task, "Encoding the training images…"):
            return
        assert task is not None
        for plot in (self.loss_plot, self.acc_plot):
            plot.clear_points()
            plot.set_x_extent(config.epochs)
        self.class_bars.set_values({})
        self.class_bars.getPlotItem().setTitle("Per-class accuracy, latest epoch", size="10pt")
        task.event.connect(self._on_event)
        task.finished.connect(self._on_finished)

    def _on_event(self, event: object) -> None:
        if isinstance(event, StepMetrics):
            x = step_position(event)
            self.loss_plot.add_point("step (running mean)", x, event.loss)
        elif isinstance(event, EpochMetrics):
            self.loss_plot.add_point("epoch", event.epoch, event.loss)
            show_accuracies(event, self.acc_plot, self.class_bars)
        elif isinstance(event, Log):
            self.session.log.emit(event.message, event.level)

    def _on_finished(self, evaluation: Any) -> None:
        if evaluation is not None:
            self.class_bars.set_values({c: v or 0.0 for c, v in evaluation.per_class.items()}, evaluation.roles)
            self.class_bars.getPlotItem().setTitle("Per-class test accuracy (final)", size="10pt")
        self.next_button.setEnabled(True)
        self.session.results_changed.emit()

