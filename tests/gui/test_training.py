"""Training from the real window: the demo folder dropped, stage 1 and stage 2 on a tiny model with live
plots, the Plain baseline and the Table-1 view, cancel + resume, reopening a run from history, and the
GUI event loop running while a (nicer) worker trains.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.gui.conftest import (
    drop_paths,
    import_tiny,
    no_errors,
    tiny_classifier,
    tiny_encoder,
    wait_idle,
)

REDRAW_WAIT_MS = 1000
EPOCHS_FOR_STALL_TEST = 5


def train_stage1(qtbot, win, epochs: int = 1) -> None:  # noqa: ANN001
    tiny_encoder(win, epochs=epochs)
    win.show_page("encoder")
    win.pages["encoder"].controls.start_button.click()
    assert win.session.busy
    wait_idle(qtbot, win)
    no_errors(win)


def train_stage2(qtbot, win, epochs: int = 2, balance: str = "cb") -> None:  # noqa: ANN001
    tiny_classifier(win, epochs=epochs, balance=balance)
    win.show_page("classifier")
    win.pages["classifier"].controls.start_button.click()
    assert win.session.busy
    wait_idle(qtbot, win)
    no_errors(win)


def test_demo_drop_two_stages_baseline_and_evaluation(qtbot, window) -> None:  # noqa: ANN001
    from scl_desktop.core.data.demo import ensure_demo_dataset

    demo = ensure_demo_dataset()
    window.pages["dataset"].size_spin.setValue(32)
    drop_paths(window, [demo])
    wait_idle(qtbot, window)
    no_errors(window)
    assert window.session.dataset is not None and len(window.session.dataset.classes) == 10
    # ci split with the widgets' defaults: the first two thirds of the classes are majority classes
    split = window.session.split
    assert split is not None and split.protocol == "ci" and len(split.minority_classes()) == 3

    train_stage1(qtbot, window, epochs=2)
    enc = window.pages["encoder"]
    run = window.session.run
    assert run is not None and run.status == "done"
    assert enc.loss_plot.point_count("epoch") == 2
    assert enc.loss_plot.point_count("step (running mean)") >= 2 and enc.lr_plot.point_count() >= 2
    qtbot.waitUntil(lambda: enc.loss_plot.drawn_count("epoch") == 2, timeout=REDRAW_WAIT_MS)
    assert split.val and enc.probe_plot.point_count("minority") == 1  # the kNN probe after the last epoch
    assert set(enc.probe_bars.values) == set(split.classes)
    assert "samples/s" in enc.controls.progress.status.text() or enc.controls.progress.bar.value() > 0
    assert enc.next_button.isEnabled()

    train_stage2(qtbot, window, epochs=2)
    cls = window.pages["classifier"]
    assert cls.acc_plot.point_count("overall") == 2
    assert cls.acc_plot.point_count("minority") == 2 and cls.acc_plot.point_count("majority") == 2
    assert set(cls.class_bars.values) == set(split.classes)
    qtbot.waitUntil(lambda: cls.acc_plot.drawn_count("minority") == 2, timeout=REDRAW_WAIT_MS)

    ev = window.pages["evaluate"]
    window.show_page("evaluate")
    assert [r.method for r in ev.table.rows] == ["SCL-CB"]
    assert ev.confusion.classes == list(split.classes)
    assert sum(map(sum, ev.confusion.matrix)) == len(split.test)
    for name, value in (("arch", "tiny"), ("image_size", 16), ("epochs", 1), ("batch_size", 16), ("device", "cpu"),
                        ("num_threads", 1), ("amp", False), ("channels_last", False)):
        ev.baseline_form.set_field(name, value)
    ev.baseline_controls.start_button.click()
    wait_idle(qtbot, window)
    no_errors(window)
    methods = [r.method for r in ev.table.rows]
    assert methods[0] == "SCL-CB" and "Plain" in methods, methods
    assert ev.table.item(0, 2).text() not in ("", "—") and ev.per_class.columnCount() == len(methods)


def test_cancel_keeps_checkpoint_then_resume_finishes(qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    from scl_desktop.core.events import EpochMetrics

    import_tiny(qtbot, window, tiny_dataset)
    tiny_encoder(window, epochs=40, batch=8)
    page = window.pages["encoder"]
    page.controls.start_button.click()
    task = window.session.task
    epochs_seen: list[int] = []
    task.event.connect(lambda e: epochs_seen.append(e.epoch) if isinstance(e, EpochMetrics) else None)
    qtbot.waitUntil(lambda: len(epochs_seen) >= 1, timeout=60_000)
    assert page.controls.cancel_button.isEnabled()
    page.controls.cancel_button.click()
    wait_idle(qtbot, window, timeout=30_000)
    no_errors(window)
    run = window.session.run
    assert run is not None and run.status == "cancelled", "a cancelled run must be kept and marked"
    assert len(epochs_seen) < 40, "cancel did not stop training"
    assert run.checkpoint_file.is_file(), "cancel must keep a checkpoint"
    assert page.controls.resume_button.isEnabled()
    assert "cancelled" in page.controls.progress.status.text().lower()

    # resume with fewer remaining epochs: shorten the run by editing nothing; just cancel again quickly
    page.controls.resume_button.click()
    assert window.session.busy
    qtbot.waitUntil(lambda: page.loss_plot.point_count("epoch") > len(epochs_seen), timeout=60_000)
    page.controls.cancel_button.click()
    wait_idle(qtbot, window, timeout=30_000)
    no_errors(window)
    assert "Resuming run" in window.log_panel.text()


def test_reopen_run_from_history(qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    from scl_desktop.gui.startup import create_main_window

    import_tiny(qtbot, window, tiny_dataset)
    train_stage1(qtbot, window, epochs=1)
    train_stage2(qtbot, window, epochs=2, balance="csce")
    run_id = window.session.run.id
    window.close()

    second = create_main_window(open_demo=False)  # a later launch: nothing in memory, only the registry
    qtbot.addWidget(second)
    second.show()
    second.show_page("runs")
    page = second.pages["runs"]
    assert run_id in [r.id for r in page.rows]
    page.select_run(run_id)
    page.open_selected()
    no_errors(second)
    assert page.opened.id == run_id
    assert "started from random initialisation" in page.detail_label.text()
    assert page.loss_plot.point_count("encoder") == 1 and page.loss_plot.point_count("classifier_csce") == 2
    assert page.acc_plot.point_count("overall (classifier_csce)") == 2
    assert page.acc_plot.point_count("overall (encoder_probe)") == 1  # stage 1's kNN probe after its one epoch
    assert page.loss_plot.point_count() == 3, "the probe has no loss curve"
    assert [r.method for r in page.results.rows] == ["SCL-CSCE"]
    page.buttons["use"].click()
    assert second.session.run.id == run_id and second.current_page() == "evaluate"
    assert [r.method for r in second.pages["evaluate"].table.rows][0] == "SCL-CSCE"
    assert second.pages["classifier"].controls.start_button.isEnabled(), "stage 2 should be possible on a reopened run"


def test_compare_and_delete_runs(qtbot, window, tiny_dataset: Path, monkeypatch) -> None:  # noqa: ANN001
    from scl_desktop.gui import dialogs

    import_tiny(qtbot, window, tiny_dataset)
    train_stage1(qtbot, window, epochs=1)
    train_stage2(qtbot, window, epochs=1, balance="cb")
    first = window.session.run
    train_stage1(qtbot, window, epochs=1)
    train_stage2(qtbot, window, epochs=1, balance="none")
    second = window.session.run
    window.show_page("runs")
    page = window.pages["runs"]
    page.refresh()
    page.select_run(first.id)
    page.table.selectionModel().select(
        page.table.model().index([r.id for r in page.rows].index(second.id), 0),
        page.table.selectionModel().SelectionFlag.Select | page.table.selectionModel().SelectionFlag.Rows)
    assert set(page.selected_ids()) == {first.id, second.id}
    page.compare_selected()
    assert {r.method for r in page.compare_results.rows} == {"SCL-CB", "SCL-CE"}
    assert page.compare_per_class.columnCount() == 2

    asked: list[str] = []
    monkeypatch.setattr(dialogs, "ask", lambda parent, title, text: asked.append(title) or True)
    page.delete_selected()
    assert asked == ["Delete runs?"]
    assert first.id not in [r.id for r in page.rows] and second.id not in [r.id for r in page.rows]
    assert not first.path.exists() and window.session.run is None


def test_training_runs_in_a_nicer_worker_while_the_event_loop_ticks(qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    """While stage 1 trains, a 5 ms timer keeps ticking, the step runs off the GUI thread, at a lower priority
    (Linux), and the run finishes. How *long* the GUI thread stalls is a figure of the machine, not logic:
    ``python -m scl_desktop.benchmarks.gui_stall --contend 0,2`` (or ``scl bench --gui``) prints it."""
    from PySide6.QtWidgets import QApplication

    from scl_desktop.benchmarks import gui_stall
    from scl_desktop.gui import worker

    import_tiny(qtbot, window, tiny_dataset)
    tiny_encoder(window, epochs=EPOCHS_FOR_STALL_TEST, batch=8, image_size=32)
    window.show_page("encoder")
    result = gui_stall.measure(QApplication.instance(), window, contend=0)
    print(f"\nevent loop while training: {result.line()}")
    no_errors(window)
    assert window.session.run is not None and window.session.run.status == "done"
    assert window.pages["encoder"].loss_plot.point_count("epoch") == EPOCHS_FOR_STALL_TEST
    assert result.ticks > 1, "the timer did not tick while training: the GUI thread was blocked"
    assert result.worker_thread, "the training step ran in the GUI thread"
    if sys.platform.startswith("linux"):
        assert result.worker_nice == worker.WORKER_NICE


def test_classifier_page_offers_every_strategy_and_fits_tau_norm_and_auto(qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    from scl_desktop.core.methods import BALANCES, CLASSIFIER_BALANCES

    page = window.pages["classifier"]
    combo = page.form.editor("balance")
    assert [combo.itemData(i) for i in range(combo.count())] == list(CLASSIFIER_BALANCES)
    baseline_combo = window.pages["evaluate"].baseline_form.editor("balance")
    assert [baseline_combo.itemData(i) for i in range(baseline_combo.count())] == list(BALANCES)
    assert all(f"{b}: " in combo.toolTip() for b in CLASSIFIER_BALANCES)  # one sentence per strategy
    assert "tau-norm" in page.form.editor("tau").toolTip()

    import_tiny(qtbot, window, tiny_dataset)
    assert window.session.split.val, "the page's default split has a validation part"
    train_stage1(qtbot, window, epochs=1)
    page.form.set_field("min_steps", 0)
    page.form.set_field("tau", 0.5)
    train_stage2(qtbot, window, epochs=1, balance="tau-norm")
    page.form.set_field("tau", None)
    train_stage2(qtbot, window, epochs=1, balance="auto")
    assert "SCL-Auto chose" in window.log_panel.text()
    run = window.session.run
    assert run.result_extra("SCL-TauNorm")["tau"] == 0.5
    window.show_page("evaluate")
    shown = {r.method for r in window.pages["evaluate"].table.rows if r.run_id == run.id}
    assert shown == {"SCL-TauNorm", "SCL-Auto"}


def test_a_new_dataset_drops_the_run_of_the_old_one_and_an_opened_run_brings_its_data(
        qtbot, window, tiny_dataset: Path, tmp_path: Path) -> None:  # noqa: ANN001
    import shutil

    import_tiny(qtbot, window, tiny_dataset)
    page = window.pages["dataset"]
    page.s_spin.setValue(3)  # this dataset's own split numbers
    page.build_split()
    train_stage1(qtbot, window, epochs=1)
    first = window.session.run
    assert first is not None and first.split.fingerprint() == window.session.split.fingerprint()
    assert window.pages["classifier"].controls.start_button.isEnabled()

    other = tmp_path / "other_scenes"
    shutil.copytree(tiny_dataset, other)
    import_tiny(qtbot, window, other)
    session = window.session
    assert session.dataset.source == str(other) and session.split is not None
    assert session.run is None, "the run of the previous dataset must not stay current"
    classifier = window.pages["classifier"]
    assert not classifier.controls.start_button.isEnabled(), "Fit would re-fit the old dataset's encoder"
    assert "No encoder yet" in classifier.run_label.text()
    encoder = window.pages["encoder"]
    assert "No run yet" in encoder.run_label.text() and "other_scenes" in encoder.run_label.text()
    assert encoder.controls.progress.status.text() != "Build a split on the Dataset page first."
    assert not encoder.next_button.isEnabled()
    assert page.s_spin.value() == 10, "a new dataset starts from the default split numbers, not the last ones"

    window.show_page("runs")
    runs = window.pages["runs"]
    runs.refresh()
    runs.select_run(first.id)
    runs.open_selected()
    runs.buttons["use"].click()
    assert session.run.id == first.id
    assert session.dataset.source == str(tiny_dataset) and session.split.fingerprint() == first.split.fingerprint()
    assert first.id in classifier.run_label.text() and tiny_dataset.name in classifier.run_label.text()
    no_errors(window)


def test_the_next_launch_restores_dataset_split_and_run_even_after_a_kill(
        qtbot, window, tiny_dataset: Path) -> None:  # noqa: ANN001
    from scl_desktop.gui.startup import create_main_window

    import_tiny(qtbot, window, tiny_dataset, size=24)
    page = window.pages["dataset"]
    page.s_spin.setValue(3)
    page.build_split()
    train_stage1(qtbot, window, epochs=1)
    run, split = window.session.run, window.session.split
    # no close(): the state is saved as it changes, so a killed app restores it too

    second = create_main_window(open_demo=None)
    qtbot.addWidget(second)
    second.show()
    wait_idle(qtbot, second)
    qtbot.waitUntil(lambda: second.session.run is not None, timeout=10_000)
    no_errors(second)
    assert second.session.dataset.source == str(tiny_dataset)
    assert second.pages["dataset"].size_spin.value() == 24 and second.pages["dataset"].s_spin.value() == 3
    assert second.session.split.fingerprint() == split.fingerprint()
    assert second.session.run.id == run.id
    second.close()


def test_the_log_panel_shows_the_log_files_tail_without_logging_it_again(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from scl_desktop.gui.widgets.log_panel import LogPanel

    path = tmp_path / "scl-desktop.log"
    path.write_text("".join(f"old line {i}\n" for i in range(300)), encoding="utf-8")
    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.show_earlier(tmp_path / "missing.log")
    assert panel.text() == ""
    panel.show_earlier(path, lines=5)
    panel.append_message("new line")
    lines = panel.text().splitlines()
    assert lines[1:6] == [f"old line {i}" for i in range(295, 300)] and lines[6] == "— this session —"
    assert lines[-1].endswith("new line") and path.read_text(encoding="utf-8").count("\n") == 300
