"""Label page: batch scene labelling of new imagery. A placeholder until the labelling issue fills it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from scl_desktop.gui.session import Session
from scl_desktop.gui.settings import AppSettings


class LabelPage(QWidget):
    """Placeholder: explains what the page will do and what works today (the CLI)."""

    def __init__(self, session: Session, settings: AppSettings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        text = QLabel(
            "<h3>Label new imagery</h3>"
            "<p>This page will label folders of images, GeoTIFF tiles and large GeoTIFF scenes with a trained "
            "run, show the results with thumbnails and a class histogram, draw the classified scene over the "
            "image and export CSV, GeoJSON and a classification GeoTIFF.</p>"
            "<p>It is not ready yet in this version. Meanwhile the command line does it: "
            "<code>scl label RUN INPUT... --out results.csv</code> (see <code>scl label --help</code>).</p>")
        text.setObjectName("labelPlaceholder")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addStretch(1)
