"""Every command cancels the same way: `Cancelled` -> a message, exit 130, and with --json the kept run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from scl_desktop.core.errors import Cancelled


def test_a_cancelled_command_exits_130_and_json_names_the_kept_run(monkeypatch, capsys, tmp_path):
    from scl_desktop import cli
    from scl_desktop.commands import runs as runs_command

    monkeypatch.setenv("SCL_HOME", str(tmp_path))
    kept = SimpleNamespace(id="20260101-000000-scl-abcd", path=Path("/runs/x"))

    def cancelled(_args):
        raise Cancelled("Stage 1 was cancelled in epoch 2.", "Continue with `scl train --resume x`.", kept=kept)

    monkeypatch.setattr(runs_command, "cmd_list", cancelled)
    assert cli.main(["runs", "list", "--json"]) == 130
    out, err = capsys.readouterr()
    assert "cancelled: Stage 1 was cancelled in epoch 2." in err and "--resume" in err
    assert json.loads(out) == {"status": "cancelled", "run": kept.id, "path": "/runs/x"}
    assert cli.main(["runs", "list"]) == 130 and capsys.readouterr().out == ""
