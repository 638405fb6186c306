"""The engine's hints name `scl` commands; the window shows its own actions instead."""

from __future__ import annotations

from scl_desktop.core.errors import Cancelled, CheckpointError
from scl_desktop.gui.dialogs import error_text
from scl_desktop.gui.messages import for_gui


def test_commands_become_the_windows_actions():
    assert for_gui("Continue with `scl train --resume 2026-x`.") == "Continue with Resume on the Encoder page."
    assert for_gui("Next: `scl fit RUN --balance cb`.") == "Next: Fit classifier on the Classifier page."
    assert for_gui("Build a split (`scl split data.json --val-frac 0.1`) and train a run on it, or `scl runs list`."
                   ) == "Build a split (Build split on the Dataset page) and train a run on it, or the Runs page."
    assert for_gui("Use `scl doctor` to check.") == "Use `scl doctor` to check."  # unknown here: left as it is
    assert for_gui("") == ""


def test_error_dialogs_and_cancel_messages_use_them():
    what, hint = error_text(CheckpointError("The classifier is stale.", "Refit it with `scl fit r1 --balance cb`."))
    assert (what, hint) == ("The classifier is stale.", "Refit it with Fit classifier on the Classifier page.")
    what, hint = error_text(Cancelled("Stopped.", "Continue with `scl baseline --resume r2`."))
    assert hint == "Continue with `scl baseline --resume r2`."  # the window has no such button: kept
