"""pyqtgraph plots: live curves and role-coloured bar charts with throttled, staggered redraws.

Events only append to buffers and mark a plot dirty. One shared scheduler redraws at most one
dirty, visible plot per tick (every 50 ms), so a fast stream of events never floods the GUI
thread and no single event-loop pass paints several plots: each plot updates up to 10 times a
second when two are live. A plot's view range is settled before it paints, so it paints once.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGraphicsItem, QLabel

from scl_desktop.gui import theme

pg.setConfigOptions(antialias=True, background="w", foreground="#303030")
TICK_MS = 50


class _RedrawScheduler(QObject):
    """Redraws the dirty, visible plots one per tick, round robin."""

    def __init__(self) -> None:
        super().__init__()
        self._plots: list[weakref.ref[Any]] = []
        self._next = 0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def add(self, plot: Any) -> None:
        self._plots.append(weakref.ref(plot))
        if not self._timer.isActive():
            self._timer.start()

    def _tick(self) -> None:
        self._plots = [ref for ref in self._plots if _alive(ref())]
        n = len(self._plots)
        for offset in range(n):
            plot = self._plots[(self._next + offset) % n]()
            if plot is not None and plot.needs_redraw() and plot.isVisible():
                self._next = (self._next + offset + 1) % n
                plot.redraw()
                return


def _alive(obj: Any) -> bool:
    if obj is None:
        return False
    try:
        obj.objectName()
    except RuntimeError:  # the C++ widget is gone
        return False
    return True


_scheduler: _RedrawScheduler | None = None


def _schedule(plot: Any) -> None:
    global _scheduler
    if _scheduler is None:
        _scheduler = _RedrawScheduler()
    _scheduler.add(plot)


def _cache_decorations(plot: pg.PlotWidget) -> None:
    """Keep axes, title and legend as cached pixmaps: a paint then redraws only what changed."""
    item = plot.getPlotItem()
    cached = [item.getAxis(name) for name in ("left", "bottom")] + [item.titleLabel]
    if item.legend is not None:
        cached.append(item.legend)
    for graphics in cached:
        graphics.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def _settle_view(plot: pg.PlotWidget) -> None:
    """Apply auto-range now, so the coming paint does not change the range and paint again."""
    plot.getPlotItem().getViewBox().prepareForPaint()


class _EmptyHint(pg.PlotWidget):
    """A plot that shows a hint, not empty axes, until it has something to show."""

    def _init_hint(self, text: str) -> None:
        self.empty_hint = QLabel(text, self)
        self.empty_hint.setObjectName("emptyPlotHint")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setStyleSheet("color: #808080; background: transparent; padding: 12px;")
        self._set_empty(True)

    def _set_empty(self, empty: bool) -> None:
        item = self.getPlotItem()
        for axis in ("left", "bottom"):
            item.showAxis(axis, not empty)
        self.empty_hint.setVisible(empty)

    def is_empty(self) -> bool:
        """Whether the plot shows its hint (nothing drawn yet)."""
        return not self.empty_hint.isHidden()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        hint = self.__dict__.get("empty_hint")  # not yet made while the base class sets itself up
        if hint is not None:
            hint.setGeometry(self.rect())


class LiveCurves(_EmptyHint):
    """A plot of named series fed point by point; ``add_point`` is cheap, drawing is throttled."""

    def __init__(self, title: str, x_label: str, y_label: str, series: Sequence[tuple[str, str]],
                 log_y: bool = False, y_range: tuple[float, float] | None = None,
                 empty_text: str = "Curves appear here while training runs.") -> None:
        super().__init__()
        self.setMinimumHeight(160)
        item = self.getPlotItem()
        item.setTitle(title, size="10pt")
        item.setLabel("bottom", x_label)
        item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setLogMode(y=log_y)
        if y_range is not None:
            item.setYRange(*y_range, padding=0.02)
        if len(series) != 1:  # one row, on a translucent ground, so it hides little of the curves
            item.addLegend(offset=(-10, 10), colCount=len(series) or 3, brush=pg.mkBrush(255, 255, 255, 190),
                           labelTextSize="8pt")
        self._markers = y_range is not None
        self._data: dict[str, tuple[list[float], list[float]]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        for name, color in series:
            self.ensure_series(name, color)
        self._dirty = False
        self._init_hint(empty_text)
        _cache_decorations(self)
        _schedule(self)

    def set_x_extent(self, high: float | None) -> None:
        """Fix the x axis to 0..``high`` (e.g. the planned epochs) so it stays still while points
        arrive; ``None`` goes back to automatic range."""
        item = self.getPlotItem()
        if high is None:
            item.enableAutoRange(x=True)
        else:
            item.setXRange(0, high, padding=0.02)

    def ensure_series(self, name: str, color: str, dashed: bool = False) -> None:
        """Add a series ``name`` unless it exists (for plots whose series depend on the data)."""
        if name in self._curves:
            return
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        self._data[name] = ([], [])
        self._curves[name] = self.getPlotItem().plot(
            [], [], name=name, pen=pg.mkPen(color, width=2, style=style),
            symbol="o" if self._markers else None, symbolSize=5, symbolBrush=color, symbolPen=None)

    def remove_all_series(self) -> None:
        """Drop every series (curves and legend entries)."""
        item = self.getPlotItem()
        for curve in self._curves.values():
            item.removeItem(curve)
        self._curves.clear()
        self._data.clear()

    def add_point(self, name: str, x: float, y: float) -> None:
        """Buffer one point of series ``name``; it is drawn at the next redraw tick."""
        xs, ys = self._data[name]
        xs.append(float(x))
        ys.append(float(y))
        self._dirty = True

    def set_series(self, name: str, xs: Sequence[float], ys: Sequence[float]) -> None:
        """Replace a whole series (e.g. when a past run is opened)."""
        self._data[name] = ([float(v) for v in xs], [float(v) for v in ys])
        self._dirty = True

    def clear_points(self) -> None:
        for name in self._data:
            self._data[name] = ([], [])
        self._dirty = True

    def point_count(self, name: str | None = None) -> int:
        """Points buffered for ``name`` (or all series together)."""
        names = [name] if name else list(self._data)
        return sum(len(self._data[n][0]) for n in names)

    def drawn_count(self, name: str) -> int:
        """Points the curve of ``name`` currently shows (what the user sees)."""
        xs, _ = self._curves[name].getData()
        return 0 if xs is None else len(xs)

    def needs_redraw(self) -> bool:
        return self._dirty

    def redraw(self) -> None:
        """Show the buffered points now (the scheduler calls this; tests may too)."""
        self._dirty = False
        for name, (xs, ys) in self._data.items():
            self._curves[name].setData(xs, ys)
        self._set_empty(not any(xs for xs, _ in self._data.values()))
        _settle_view(self)


class RoleBarChart(_EmptyHint):
    """Horizontal bars, one per class, coloured by the class's role; class names on the left axis."""

    def __init__(self, title: str | None, value_label: str, x_range: tuple[float, float] | None = None,
                 empty_text: str = "Per-class figures appear here once there are results.") -> None:
        super().__init__()
        self.setMinimumHeight(160)
        self._x_range = x_range
        item = self.getPlotItem()
        item.setTitle(title, size="10pt")
        item.setLabel("bottom", value_label)
        item.showGrid(x=True, alpha=0.25)
        item.invertY(True)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        _cache_decorations(self)
        self._bars: pg.BarGraphItem | None = None
        self._texts: list[pg.TextItem] = []
        self.values: dict[str, float] = {}
        self._pending: tuple[dict[str, float], dict[str, str], dict[str, str]] | None = None
        self._init_hint(empty_text)
        _schedule(self)

    def set_values(self, values: Mapping[str, float], roles: Mapping[str, str] | None = None,
                   colors: Mapping[str, str] | None = None) -> None:
        """Show ``values`` (class -> value, in display order); drawn at the next redraw tick.

        Bars are coloured by ``roles``, or by ``colors`` (class -> colour) where given.
        """
        self.values = dict(values)
        self._pending = (dict(values), dict(roles or {}), dict(colors or {}))

    def needs_redraw(self) -> bool:
        return self._pending is not None

    def redraw(self) -> None:
        """Draw the latest values now (the scheduler calls this; tests may too)."""
        if self._pending is None:
            return
        values, roles, colors = self._pending
        self._pending = None
        item = self.getPlotItem()
        if self._bars is not None:
            item.removeItem(self._bars)
        for text in self._texts:
            item.removeItem(text)
        self._texts = []
        names = list(values)
        ys = list(range(len(names)))
        widths = [values[n] for n in names]
        brushes = [pg.mkBrush(colors[n] if n in colors else theme.role_color(roles.get(n))) for n in names]
        self._bars = pg.BarGraphItem(x0=0, y=ys, height=0.7, width=widths, brushes=brushes, pen=None)
        item.addItem(self._bars)
        top = max(widths, default=1.0) or 1.0
        for y, w in zip(ys, widths, strict=True):
            label = f"{w:.0f}" if abs(w - round(w)) < 1e-9 or w >= 10 else f"{w:.1f}"
            text = pg.TextItem(label, color="#202020", anchor=(0, 0.5))
            text.setPos(w + top * 0.01, y)
            item.addItem(text)
            self._texts.append(text)
        item.getAxis("left").setTicks([[(y, n) for y, n in zip(ys, names, strict=True)]])
        item.setYRange(-0.6, max(len(names) - 0.4, 0.6), padding=0)
        lo, hi = self._x_range if self._x_range else (0, top * 1.12)
        item.setXRange(lo, hi, padding=0)
        self._set_empty(not names)
        _settle_view(self)


def legend_html() -> str:
    """A one-line HTML legend of the role colours, for labels under charts."""
    return (f'<span style="color:{theme.MAJORITY}">■</span> majority class &nbsp; '
            f'<span style="color:{theme.MINORITY}">■</span> minority class')


