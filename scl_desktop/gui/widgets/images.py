"""numpy RGB arrays to Qt images."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """An HxWx3 uint8 array as a pixmap (the data is copied)."""
    array = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    h, w = array.shape[:2]
    image = QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())
