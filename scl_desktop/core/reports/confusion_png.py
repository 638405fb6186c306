"""The confusion matrix as a PNG picture (Pillow): rows true class, columns predicted class.

Cells are shaded by the share of their true class (green diagonal, red confusions) and show the
count where it fits; class names are coloured by role, the column names rotated. Up to about 45
classes every name is shown; with more, the cells shrink and only every k-th name is written.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from scl_desktop.core.reports.palette import role_hex, shade

MATRIX_PX = 720  # side of the cell area the cells share (each between MIN_CELL and MAX_CELL pixels)
MIN_CELL, MAX_CELL = 8, 48
MAX_LABEL_PX = 220  # longer class names are cut with an ellipsis
PAD = 10


def _font(size: int) -> Any:
    """Pillow's built-in scalable font at ``size`` pixels (its fixed bitmap font on builds without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _width(font: Any, text: str) -> int:
    left, _top, right, _bottom = font.getbbox(text)
    return int(right - left)


def _fit(font: Any, text: str, max_px: int) -> str:
    """``text``, cut with an ellipsis to at most ``max_px`` pixels wide."""
    if _width(font, text) <= max_px:
        return text
    while text and _width(font, text + "…") > max_px:
        text = text[:-1]
    return text + "…"


def _label_font(cell: int) -> tuple[Any, int]:
    """The largest label font (8 to 13 px) whose lines fit in a cell, and its line height."""
    for size in range(13, 7, -1):
        font = _font(size)
        line = int(font.getbbox("Hg")[3]) + 2
        if line <= cell:
            break
    return font, line


def _text_image(font: Any, text: str, color: str, height: int) -> Image.Image:
    """``text`` on a transparent strip ``height`` pixels high (to paste, or rotate and paste)."""
    strip = Image.new("RGBA", (max(_width(font, text) + 2, 1), height), (255, 255, 255, 0))
    ImageDraw.Draw(strip).text((1, height // 2), text, fill=color, font=font, anchor="lm")
    return strip


def confusion_png(classes: Sequence[str], confusion: Sequence[Sequence[int]],
                  roles: Mapping[str, str] | None = None) -> bytes:
    """PNG bytes of ``confusion[true][pred]`` over ``classes`` (names coloured by ``roles``)."""
    roles = dict(roles or {})
    n = max(len(classes), 1)
    cell = max(MIN_CELL, min(MAX_CELL, MATRIX_PX // n))
    label_font, line = _label_font(cell)
    step = max(1, math.ceil(line / cell))  # write every step-th name when even the smallest font is too tall
    names = [_fit(label_font, str(c), MAX_LABEL_PX) for c in classes]
    label_w = max([_width(label_font, t) for t in names] + [10]) + 8
    title_font = _font(13)
    title_h = title_font.getbbox("Hg")[3] + 8
    left = top = PAD + title_h + label_w
    side = cell * len(classes)
    note = "count per cell; shade: share of the true class (green: correct, red: confused)"
    width = max(left + side + PAD, PAD * 2 + _width(title_font, note))
    height = top + side + PAD + title_h
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)

    draw.text((left + side / 2, PAD + title_h / 2), "predicted class", fill="#303030", font=title_font, anchor="mm")
    true_title = _text_image(title_font, "true class", "#303030", title_h).rotate(90, expand=True)
    image.paste(true_title, (PAD, top + max(0, (side - true_title.height) // 2)), true_title)
    draw.text((PAD, top + side + PAD + title_h / 2), note, fill="#606060", font=title_font, anchor="lm")

    for i, name in enumerate(names):
        if i % step:
            continue
        color = role_hex(roles.get(str(classes[i])))
        strip = _text_image(label_font, name, color, cell * step if step > 1 else cell)
        # row names right-aligned left of the matrix, column names rotated above it
        image.paste(strip, (left - 4 - strip.width, top + i * cell - (strip.height - cell) // 2), strip)
        column = strip.rotate(90, expand=True)
        image.paste(column, (left + i * cell - (column.width - cell) // 2, top - 4 - column.height), column)

    count_font = _font(min(12, max(7, cell // 3 + 2)))
    for i, row in enumerate(confusion):
        total = sum(row) or 1
        for j, count in enumerate(row):
            rate = count / total
            x, y = left + j * cell, top + i * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=shade(rate, diagonal=i == j))
            text = str(count)
            if count and cell >= 12 and _width(count_font, text) <= cell - 3:
                draw.text((x + cell / 2, y + cell / 2), text, font=count_font, anchor="mm",
                          fill="white" if rate > 0.55 else "#202020")
    draw.rectangle((left - 1, top - 1, left + side, top + side), outline="#c0c0c0")
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
