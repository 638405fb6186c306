"""Device panel: what `scl doctor` finds (GPU or not and why, memory, mixed precision, versions)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from scl_desktop.core.devices import doctor_report
from scl_desktop.gui.layout import tool_row
from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings


def fill_tree(parent: QTreeWidgetItem | QTreeWidget, data: Any) -> None:
    """Nested dicts and lists as tree rows (key, value)."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        if isinstance(value, dict | list) and value:
            node = QTreeWidgetItem([str(key), ""])
            fill_tree(node, value)
        else:
            node = QTreeWidgetItem([str(key), "—" if value is None or value == [] else str(value)])
        if isinstance(parent, QTreeWidget):
            parent.addTopLevelItem(node)
        else:
            parent.addChild(node)


class DevicePage(QWidget):
    """The doctor report for the device chosen in Settings; computed when first shown."""

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.report: dict[str, Any] | None = None
        self.summary = QLabel("")
        self.summary.setObjectName("deviceSummary")
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("deviceTree")
        self.tree.setHeaderLabels(["Item", "Value"])
        self.tree.setColumnWidth(0, 260)
        refresh = QPushButton("Check again")
        refresh.clicked.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Device</b> — what training will use, and why"))
        layout.addWidget(self.summary)
        layout.addLayout(tool_row(refresh))
        layout.addWidget(self.tree, 1)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.report is None:
            self.refresh()

    def refresh(self) -> None:
        try:
            self.report = doctor_report(self.settings.device)
        except Exception as exc:  # noqa: BLE001 - a broken driver must not take the app down
            self.session.error.emit("Device check failed", exc, "")
            return
        selected = self.report.get("selected", {})
        cuda = self.report.get("cuda", {})
        lines = [f"Training will run on <b>{selected.get('device') or 'no usable device'}</b>: "
                 f"{selected.get('reason', '')}",
                 f"Mixed precision: {selected.get('amp') or '—'} ({selected.get('amp_reason') or ''})"]
        if not cuda.get("available"):
            lines.append(f"No CUDA GPU: {cuda.get('reason') or 'unknown reason'}")
        for dev in cuda.get("devices", []):
            lines.append(f"GPU: {dev}")
        self.summary.setText("<br>".join(lines))
        self.tree.clear()
        fill_tree(self.tree, self.report)
        self.tree.expandAll()
