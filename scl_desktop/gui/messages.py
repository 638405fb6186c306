"""The engine's messages in the GUI's terms: its hints name `scl` commands, the window names its own actions.

``for_gui`` replaces every backticked `scl ...` command in a message by the page and button that do the
same in the window; anything it does not know stays as it was (still correct in a terminal).
"""

from __future__ import annotations

import re

_COMMAND = re.compile(r"`scl ([a-z-]+)([^`]*)`")
_ACTIONS: tuple[tuple[str, str, str], ...] = (
    # (command, a word its options must contain or "", what to do in the window)
    ("train", "--resume", "Resume on the Encoder page"),
    ("train", "", "Start training on the Encoder page"),
    ("fit", "", "Fit classifier on the Classifier page"),
    ("baseline", "--resume", ""),  # no such button: the command stays
    ("baseline", "", "Train Plain baseline on the Evaluate page"),
    ("evaluate", "--report", "Export report… on the Evaluate page"),
    ("evaluate", "", "the Evaluate page"),
    ("split", "", "Build split on the Dataset page"),
    ("import", "", "drop the folder on the Dataset page"),
    ("runs", "", "the Runs page"),
    ("label", "", "the Label page"),
    ("weights", "", "start the training again (it downloads the weights)"),
)


def _action(match: re.Match[str]) -> str:
    command, options = match.group(1), match.group(2)
    for name, needs, action in _ACTIONS:
        if name == command and needs in options:
            return action or match.group(0)
    return match.group(0)


def for_gui(text: str) -> str:
    """``text`` with its `scl` commands replaced by the window's actions."""
    return _COMMAND.sub(_action, text) if text else text
