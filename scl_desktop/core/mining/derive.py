"""Grown splits and derived runs: mined images added to training, stage 2 refitted without touching the run.

``grown_split`` adds item indices to the training part of a split (validation and test never
change) over a dataset that extends the split's own (``pool.Pool.dataset``), and records in the
split's ``config["mined"]`` which images came from mining. ``derive_run`` makes a new two-stage
run on such a split that shares its parent's stage-1 encoder (the checkpoint hard-linked, or
copied where links are not possible), so ``training.classifier.fit_classifier`` refits stage 2
on the grown training part while the parent run stays exactly as it was. The derived run records
its parent in run.json (``Run.derived_from``); it is comparable with its parent on the same test
set (`scl runs compare`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from scl_desktop.core.data.manifest import DatasetManifest, SplitManifest
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.runs.folder import Run
from scl_desktop.core.runs.store import RunStore


def grown_split(split: SplitManifest, dataset: DatasetManifest, added: Sequence[int],
                origin: Mapping[str, Any]) -> SplitManifest:
    """``split`` over ``dataset`` with the items ``added`` appended to its training part.

    ``dataset`` must start with the split's own items (``ValueError`` otherwise), and no added item may
    already be in a part. ``config["mined"]`` lists every mined image so far (path, class and ``origin``,
    e.g. the round) after the earlier ones.
    """
    own = split.dataset.items
    if dataset.classes != split.classes or dataset.items[:len(own)] != own:
        raise ValueError("the grown dataset must extend the split's own dataset")
    parts = set(split.train) | set(split.val) | set(split.test)
    added = [int(i) for i in added]
    if len(set(added)) != len(added) or any(i in parts or not 0 <= i < len(dataset.items) for i in added):
        raise ValueError("added items must be new, distinct items of the dataset")
    mined = dict(split.config.get("mined") or {})
    mined["items"] = list(mined.get("items", [])) + [
        {"path": dataset.items[i].path, "label": dataset.items[i].label, **origin} for i in added]
    return replace(split, dataset=dataset, train=tuple(split.train) + tuple(added),
                   config={**split.config, "mined": mined})


def _link_or_copy(source: os.PathLike[str], target: os.PathLike[str]) -> None:
    try:
        os.link(source, target)  # checkpoints are replaced, never written in place: the link cannot change the parent
    except OSError:
        shutil.copy2(source, target)


def derive_run(store: RunStore, parent: Run, split: SplitManifest, origin: Mapping[str, Any],
               name: str | None = None) -> Run:
    """A new run in ``store`` on ``split`` with ``parent``'s encoder, configuration, seed and store size, ready
    for ``fit_classifier`` (status "done"); run.json's ``derived_from`` is ``{"run": parent id, **origin}``."""
    if parent.kind != "scl":
        raise ConfigError(f"Run {parent.id} is a {parent.kind} run; only a two-stage run's classifier can be refitted "
                          "on a grown training set.", "Train a two-stage run with `scl train SPLIT`, then "
                          "`scl fit RUN`.")
    config = {**parent.config, "store_size": parent.store_size}  # the pixels the encoder was trained on
    run = store.create("scl", split, config, parent.seed, name)
    try:
        _link_or_copy(parent.checkpoint_file, run.checkpoint_file)
        if parent.start_weights:
            run.record_start_weights(parent.start_weights)
        run.record_derivation({"run": parent.id, **origin})
        run.set_status("done")
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run
