"""Whether the results of runs can be ranked against each other: only runs trained on the same split
(so the same dataset and test set) have a winner; the fingerprints come from the run index."""

from __future__ import annotations

from collections.abc import Sequence

from scl_desktop.core.runs.index import RunRow


def comparison_warning(rows: Sequence[RunRow]) -> str | None:
    """Why the results of the runs ``rows`` (index rows) must not be ranked, or ``None`` when they may:
    they are of different datasets, were tested on different test sets, or trained on different splits."""
    if len(rows) < 2:
        return None
    unknown = [r.id for r in rows if not r.split or not r.test_set]
    if unknown:
        return (f"The split of run {unknown[0]} is unknown (its split.json is unreadable), so these runs may not "
                "have been tested alike; no winner is marked.")
    datasets = sorted({r.dataset_name for r in rows})
    if len({r.source for r in rows}) > 1:
        return (f"These runs are of different datasets ({', '.join(datasets)}); their results are not comparable, "
                "so no winner is marked.")
    if len({r.test_set for r in rows}) > 1:
        return (f"These runs were tested on different test sets (different splits of {datasets[0]}); their results "
                "are not comparable, so no winner is marked.")
    if len({r.split for r in rows}) > 1:
        return (f"These runs were trained on different splits of {datasets[0]} (the same test set), so their results "
                "do not compare the methods alone; no winner is marked.")
    return None
