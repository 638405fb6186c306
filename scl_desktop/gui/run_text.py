"""How the window names a run wherever one is picked: its name (or id), the dataset's folder name,
the creation date and its key result (the best minority and overall accuracy of its methods)."""

from __future__ import annotations

from typing import Any


def run_title(name: str | None, run_id: str) -> str:
    """``name (id)``, or the id of a run without a name."""
    return f"{name} ({run_id})" if name else run_id


def created_text(created: str | None) -> str:
    """run.json's creation time to the minute, as recorded (``2025-01-31 14:22``)."""
    return (created or "").replace("T", " ")[:16]


def key_result(row: Any) -> str:
    """The best minority and overall accuracy of an index row's methods (``"no results"`` without any)."""
    parts = [f"{key} {best[1][key]:.1f} % ({best[0]})" for key in ("minority", "overall")
             if (best := row.best(key)) is not None]
    return ", ".join(parts) or "no results"


def run_choice(row: Any, result: bool = True) -> str:
    """One line naming an index row (``RunRow``): name (id) · dataset · date [· key result]."""
    parts = [run_title(row.name, row.id), row.dataset_name, created_text(row.created)]
    return " · ".join(parts + ([key_result(row)] if result else []))
