"""Encoder page: the kNN probe's majority / minority / overall curves and per-class bars from its events."""

from __future__ import annotations

from scl_desktop.core.events import ProbeMetrics

ROLES = {"fields": "majority", "forest": "majority", "runway": "minority"}


def probe(epoch: int, per_class: dict[str, float], stage: str = "encoder") -> ProbeMetrics:
    majority = (per_class["fields"] + per_class["forest"]) / 2
    return ProbeMetrics(stage, epoch, 10, "val", 20, 0.1, per_class, ROLES, majority, per_class["runway"],
                        sum(per_class.values()) / 3)


def test_probe_events_draw_the_accuracy_curves_and_the_latest_per_class_bars(qtbot, window) -> None:  # noqa: ANN001
    page = window.pages["encoder"]
    window.show_page("encoder")
    page._on_event(probe(5, {"fields": 60.0, "forest": 40.0, "runway": 0.0}))
    page._on_event(probe(10, {"fields": 80.0, "forest": 60.0, "runway": 30.0}))
    page._on_event(probe(10, {"fields": 1.0, "forest": 1.0, "runway": 1.0}, stage="other"))  # not stage 1's
    qtbot.waitUntil(lambda: page.probe_plot.drawn_count("minority") == 2, timeout=1000)
    xs, ys = page.probe_plot.getPlotItem().listDataItems()[1].getData()  # majority, minority, overall
    assert list(xs) == [5.0, 10.0] and list(ys) == [0.0, 30.0]
    assert page.probe_plot.point_count("majority") == 2 and page.probe_plot.point_count("overall") == 2
    assert page.probe_bars.values == {"fields": 80.0, "forest": 60.0, "runway": 30.0}
    assert "epoch 10" in page.probe_bars.getPlotItem().titleLabel.text
    assert page.loss_plot.point_count() == 0  # the probe is no loss
