"""What the training pages share: the settings form and its choices, the CPU-scaled defaults,
the page layout, loss and accuracy curves and the next-step button."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from scl_desktop.core import devices
from scl_desktop.core.errors import SclError
from scl_desktop.core.events import EpochMetrics, ProbeMetrics, StepMetrics
from scl_desktop.core.methods import BALANCES
from scl_desktop.core.model.settings import ARCHS, PADDING_MODES, ROTATE_MODES
from scl_desktop.core.training.config import LOSS_NORMS, SAMPLERS, cpu_defaults
from scl_desktop.core.weights.catalogue import CATALOGUE
from scl_desktop.gui import theme
from scl_desktop.gui.layout import scrolled, splitter, tool_row
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings
from scl_desktop.gui.widgets.config_form import ConfigForm, OpenChoices
from scl_desktop.gui.widgets.plots import LiveCurves, RoleBarChart, legend_html

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
RANDOM_START = "random (as in the paper)"
"""What the "Start from" box shows for no initial weights; the other entries are the weights catalogue's
names, and a .pth file's path may be typed or pasted."""
ROLE_SERIES = [("majority", theme.MAJORITY), ("minority", theme.MINORITY), ("overall", theme.OVERALL)]
"""The accuracy curves of the training pages: one per class role, and all classes together."""


def dataset_folder(source: str | Path) -> Path:
    """Where file dialogs about a dataset start: its folder (a CSV manifest's or a tile's folder)."""
    path = Path(source)
    return path if path.is_dir() else path.parent


def config_choices(balances: tuple[str, ...] = BALANCES) -> dict[str, tuple[str, ...]]:
    """Combo-box values for the config fields that take one of a fixed set (``balances``: the form's strategies)."""
    return {"arch": ARCHS, "device": DEVICE_CHOICES, "sampler": SAMPLERS, "balance": balances, "loss_norm": LOSS_NORMS,
            "weights_path": OpenChoices([e.name for e in CATALOGUE], none_text=RANDOM_START),
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


def with_legend(bars: RoleBarChart) -> QWidget:
    """``bars`` above a one-line legend of the role colours."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(bars, 1)
    legend = QLabel(legend_html())
    legend.setWordWrap(True)  # so that a narrow column stays narrow
    layout.addWidget(legend)
    return box


def show_accuracies(event: EpochMetrics | ProbeMetrics, curves: LiveCurves, bars: RoleBarChart) -> None:
    """Add the event's majority / minority / overall accuracy to ``curves`` (``ROLE_SERIES``) at its
    epoch, and show its per-class accuracy (classes without samples at 0) in ``bars``."""
    for name, _color in ROLE_SERIES:
        value = getattr(event, name)
        if value is not None:
            curves.add_point(name, event.epoch, value)
    if event.per_class:
        bars.set_values({c: (v if v is not None else 0.0) for c, v in event.per_class.items()}, event.roles or {})


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
