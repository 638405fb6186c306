"""A tiny trained two-stage run for the mining tests (``tiny_split``: train 8/8/2/2, test 4 per class, and
6 unused images of each minority class left in the dataset folder)."""

from __future__ import annotations

import pytest
import torch

from scl_desktop.core.events import drive
from scl_desktop.core.training.classifier import fit_classifier
from scl_desktop.core.training.encoder import train_encoder
from tests.core.training.test_classifier import tiny_classifier_config
from tests.core.training.test_encoder import restore_threads, tiny_encoder_config, tiny_split  # noqa: F401


@pytest.fixture(scope="package")
def mined_run(tmp_path_factory: pytest.TempPathFactory):
    """The tiny run with its SCL-CB classifier."""
    split = tiny_split(tmp_path_factory.mktemp("mining"))
    threads = torch.get_num_threads()
    try:
        run = drive(train_encoder(split, tiny_encoder_config()))
        drive(fit_classifier(run, tiny_classifier_config(balance="cb")))
        return run
    finally:
        torch.set_num_threads(threads)
