"""The test images steer nothing: they are read once per trained model, after its last epoch.

Every image any trainer reads goes through ``DecodedStore.batch``; a counting hook on it records
which split items are read, in order with the events. Stage 1, stage 2 (each strategy) and the
Plain baseline train on a tiny split that has a validation part; the per-epoch curves must use
the validation images and the test images must be read exactly once per model, at its end. The
auto strategy chooses among its candidates on the validation images only: the test images are
read once, after its choice.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from scl_desktop.core.data.cache import DecodedStore
from scl_desktop.core.data.split import SplitConfig
from scl_desktop.core.events import EpochMetrics, Log, drive
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig
from scl_desktop.core.training.encoder import train_encoder
from scl_desktop.core.workflows import pipeline
from tests.core.training.test_encoder import restore_threads, tiny_split  # noqa: F401

TINY = {"arch": "tiny", "image_size": 16, "batch_size": 5, "epochs": 2, "device": "cpu", "num_threads": 1,
        "checkpoint_every": 0, "amp": False}


def _record_reads(monkeypatch, timeline: list) -> None:
    """Append ("read", item indices) to ``timeline`` whenever any trainer reads images from the store."""
    real_batch = DecodedStore.batch

    def counting_batch(self, indices):
        timeline.append(("read", [int(i) for i in np.asarray(indices).ravel()]))
        return real_batch(self, indices)

    monkeypatch.setattr(DecodedStore, "batch", counting_batch)


def test_test_images_are_read_once_per_model_after_its_last_epoch(tmp_path, monkeypatch):
    split = tiny_split(tmp_path, per_class=14, val_frac=SplitConfig.val_frac)  # the default: validation on
    assert split.val and split.test
    timeline: list = []  # ("read", item indices) and ("event", event), in the order they happened
    _record_reads(monkeypatch, timeline)
    config = pipeline.PipelineConfig(
        encoder=EncoderConfig(lr=0.1, **TINY),
        classifier=ClassifierConfig(epochs=2, lr=0.05, device="cpu", num_threads=1, amp=False, min_steps=0),
        baseline=BaselineConfig(lr=0.05, eval_every=1, **TINY))
    drive(pipeline.run_pipeline(split, config), lambda event: timeline.append(("event", event)))

    # one segment per pipeline step: Plain, stage 1, SCL-CB, SCL-CSCE, SCL-CE
    segments: list[list] = []
    for kind, what in timeline:
        if kind == "event" and isinstance(what, Log) and what.message.startswith("Step "):
            segments.append([])
        elif segments:
            segments[-1].append((kind, what))
    assert len(segments) == 5
    test, val = set(split.test), set(split.val)
    for number, segment in enumerate(segments):
        epochs = [i for i, (kind, what) in enumerate(segment) if kind == "event" and isinstance(what, EpochMetrics)]
        assert epochs, f"step {number + 1} trained no epoch"
        test_reads = Counter(i for pos, (kind, what) in enumerate(segment) if kind == "read"
                             for i in what if i in test)
        late = [pos for pos, (kind, what) in enumerate(segment) if kind == "read" and test & set(what)]
        if number == 1:  # stage 1 scores nothing
            assert not test_reads
            continue
        assert test_reads == Counter({i: 1 for i in test}), f"step {number + 1}: test images read {test_reads}"
        assert min(late) > epochs[-1], f"step {number + 1} read test images before its last epoch ended"
        curves = [segment[i][1] for i in epochs]
        assert all(e.overall is not None for e in curves)  # the per-epoch scores exist: they came from val
    val_reads = [i for kind, what in timeline if kind == "read" for i in what if i in val]
    assert set(val_reads) == val



def test_auto_chooses_on_the_validation_images_and_reads_the_test_images_once_after(tmp_path, monkeypatch):
    split = tiny_split(tmp_path, per_class=14, val_frac=SplitConfig.val_frac)
    run = drive(train_encoder(split, EncoderConfig(lr=0.1, **TINY)))
    timeline: list = []
    _record_reads(monkeypatch, timeline)
    config = ClassifierConfig(balance="auto", epochs=2, lr=0.05, device="cpu", num_threads=1, amp=False, min_steps=0)
    drive(fit_classifier(run, config), lambda event: timeline.append(("event", event)))
    test, val = set(split.test), set(split.val)
    chose = next(pos for pos, (kind, what) in enumerate(timeline)
                 if kind == "event" and isinstance(what, Log) and "SCL-Auto chose" in what.message)
    test_reads = [(pos, i) for pos, (kind, what) in enumerate(timeline) if kind == "read" for i in what if i in test]
    assert Counter(i for _, i in test_reads) == Counter({i: 1 for i in test})
    assert min(pos for pos, _ in test_reads) > chose, "auto read test images before it had chosen"
    assert val <= {i for pos, (kind, what) in enumerate(timeline[:chose]) if kind == "read" for i in what}
