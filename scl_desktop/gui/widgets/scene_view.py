"""A classified scene drawn over its image: the scene preview, the classification raster (its cells,
as in ``SceneGrid.cell_geometry``) as a semi-transparent overlay in the raster's colours (the cells
the results table's filter hides are veiled), and a scene selector. The class histogram beside it
(same colours) serves as the legend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QComboBox, QGraphicsRectItem, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from scl_desktop.core.labelling.export import NODATA_CLASS, class_colours
from scl_desktop.core.labelling.tiling import clip_window
from scl_desktop.gui.widgets import plots  # noqa: F401 - pyqtgraph's shared look (white background)

DEFAULT_OPACITY = 55
HIDDEN_VEIL = (245, 245, 245, 210)  # RGBA over cells the table's filter hides


def overlay_rgba(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices [rows, cols] -> RGBA uint8 [rows, cols, 4]; ``NODATA_CLASS`` cells are transparent."""
    lut = np.zeros((256, 4), np.uint8)
    lut[:n_classes, :3] = class_colours(n_classes)
    lut[:n_classes, 3] = 255
    lut[NODATA_CLASS] = 0
    return lut[classes]


class SceneOverlayView(QWidget):
    """Show ``set_scenes(scenes, previews, classes)``; one scene at a time, chosen in ``selector``.

    ``cell_clicked(scene path, window row, window col)`` when the scene is clicked (the window at that
    point, ``SceneGrid.window_at``); ``mark_cell`` outlines a window where it was read.
    """

    cell_clicked = Signal(str, int, int)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("sceneView")
        self.scenes: list[Any] = []
        self.previews: list[np.ndarray | None] = []
        self.classes: tuple[str, ...] = ()
        self.current: int = -1
        self.only_class: int | None = None
        self.min_confidence = 0.0
        self.selector = QComboBox()
        self.selector.setObjectName("sceneSelector")
        self.selector.setToolTip("Which labelled scene to show.")
        self.selector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.selector.setMinimumContentsLength(12)
        self.selector.currentIndexChanged.connect(self.show_scene)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY)
        self.opacity.setFixedWidth(110)
        self.opacity.setToolTip("Opacity of the class overlay.")
        self.opacity.valueChanged.connect(lambda v: self.overlay.setOpacity(v / 100))
        self.caption = QLabel("")
        self.caption.setObjectName("sceneCaption")
        self.caption.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(180)
        self.box = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setOpacity(DEFAULT_OPACITY / 100)
        self.marker = QGraphicsRectItem()
        pen = QPen(Qt.GlobalColor.yellow, 3)
        pen.setCosmetic(True)
        self.marker.setPen(pen)
        self.marker.setZValue(10)
        self.marker.setVisible(False)
        self.box.addItem(self.image)
        self.box.addItem(self.overlay)
        self.box.addItem(self.marker)
        self.graphics.scene().sigMouseMoved.connect(self._hover)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        top = QHBoxLayout()
        top.addWidget(self.selector, 1)
        top.addWidget(QLabel("Overlay"))
        top.addWidget(self.opacity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.caption)
        self.clear("Label a GeoTIFF scene to see its classified windows drawn over it.")

    def clear(self, message: str) -> None:
        """Show nothing but ``message``."""
        self.scenes, self.previews, self.current = [], [], -1
        self.selector.blockSignals(True)
        self.selector.clear()
        self.selector.blockSignals(False)
        self.selector.setVisible(False)
        self.image.clear()
        self.overlay.clear()
        self.marker.setVisible(False)
        self.caption.setText(message)

    def set_scenes(self, scenes: Sequence[Any], previews: Sequence[np.ndarray | None], classes: Sequence[str]) -> None:
        """``scenes``: ``labelling.types.SceneMap``s; ``previews``: their downsampled images (``None``: none)."""
        if not scenes:
            self.clear("No input was cut into windows, so there is no classified scene to show "
                       "(images smaller than two windows are labelled whole).")
            return
        self.scenes, self.previews, self.classes = list(scenes), list(previews), tuple(classes)
        self.selector.blockSignals(True)
        self.selector.clear()
        for scene in self.scenes:
            inp = scene.input
            self.selector.addItem(f"{Path(inp.path).name} ({inp.width} × {inp.height} px, "
                                  f"{scene.grid.n_rows} × {scene.grid.n_cols} windows)", str(inp.path))
        self.selector.blockSignals(False)
        self.selector.setVisible(True)
        self.show_scene(0)

    def show_scene(self, index: int) -> None:
        """Draw scene ``index``: its preview, then the class of every raster cell over it."""
        if not 0 <= index < len(self.scenes):
            return
        if self.selector.currentIndex() != index:
            self.selector.setCurrentIndex(index)  # comes back here through the signal
            return
        self.current = index
        self.marker.setVisible(False)
        scene, preview = self.scenes[index], self.previews[index]
        inp = scene.input
        if preview is None:
            preview = np.full((1, 1, 3), 225, np.uint8)
        self.image.setImage(preview, levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(0, 0, inp.width, inp.height))
        ox, oy, cw, ch = scene.grid.cell_geometry()
        rows, cols = scene.classes.shape
        self._draw_overlay()
        self.overlay.setRect(QRectF(ox, oy, cols * cw, rows * ch))
        self.box.autoRange(padding=0.02)
        labelled = scene.classes != NODATA_CLASS
        not_labelled = int((~labelled).sum())
        self.caption.setText(f"{int(labelled.sum())} of {labelled.size} cells labelled"
                             + (f" ({not_labelled} not covered by a labelled window, transparent)"
                                if not_labelled else "")
                             + ("" if self.previews[index] is not None else "; no preview of the image")
                             + ". Hover over a cell for its class, click it to find its window in the table; "
                               "colours as in the histogram.")

    def set_filter(self, class_index: int | None, min_confidence: float) -> None:
        """Colour only the cells of class ``class_index`` (``None``: all) with at least ``min_confidence``
        (0..1), as the results table shows them; the others are veiled."""
        self.only_class, self.min_confidence = class_index, min_confidence
        if self.current >= 0:
            self._draw_overlay()

    def _draw_overlay(self) -> None:
        scene = self.scenes[self.current]
        rgba = overlay_rgba(scene.classes, len(self.classes))
        hidden = np.zeros(scene.classes.shape, bool)
        if self.only_class is not None:
            hidden |= scene.classes != self.only_class
        if self.min_confidence > 0:
            hidden |= ~(scene.confidence >= self.min_confidence)  # NaN (not labelled) counts as hidden
        rgba[hidden & (scene.classes != NODATA_CLASS)] = HIDDEN_VEIL  # filtered out: washed out, not coloured
        self.overlay.setImage(rgba, levels=(0, 255), autoLevels=False)

    def overlay_image(self) -> np.ndarray | None:
        """The RGBA overlay drawn now (for checks and tests)."""
        return self.overlay.image

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The grid cell (row, col) of the current scene at scene pixel (``x``, ``y``)."""
        if self.current < 0:
            return None
        scene = self.scenes[self.current]
        ox, oy, cw, ch = scene.grid.cell_geometry()
        col, row = int(np.floor((x - ox) / cw)), int(np.floor((y - oy) / ch))
        rows, cols = scene.classes.shape
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def mark_cell(self, path: str, row: int, col: int) -> None:
        """Outline window (``row``, ``col``) of the scene ``path`` where it was read (switching to that scene)."""
        index = self.selector.findData(str(path))
        if index < 0:
            return
        self.show_scene(index)
        inp = self.scenes[index].input
        x, y, w, h = clip_window(self.scenes[index].grid.window(row, col), inp.width, inp.height)
        self.marker.setRect(QRectF(x, y, w, h))
        self.marker.setVisible(True)

    def _clicked(self, event: Any) -> None:
        if self.current < 0 or event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.box.mapSceneToView(event.scenePos())
        scene = self.scenes[self.current]
        window = scene.grid.window_at(point.x(), point.y())
        if window is not None:
            self.cell_clicked.emit(str(scene.input.path), *window)

    def _hover(self, pos: QPointF) -> None:
        if self.current < 0:
            return
        point = self.box.mapSceneToView(pos)
        cell = self.cell_at(point.x(), point.y())
        if cell is None:
            return
        scene = self.scenes[self.current]
        index = int(scene.classes[cell])
        what = ("not labelled" if index == NODATA_CLASS
                else f"{self.classes[index]} ({100 * float(scene.confidence[cell]):.0f} %)")
        self.graphics.setToolTip(f"cell row {cell[0]}, col {cell[1]}: {what}")
