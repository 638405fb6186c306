"""`scl weights list|get`: the JSON keys, the cached flag, downloading by name, unknown names refused."""

from __future__ import annotations

import json

import pytest

from scl_desktop import cli
from scl_desktop.core.weights import catalogue, download
from scl_desktop.core.weights.download import weights_dir

from .conftest import DATA, FILE_NAME

KEYS = {"name", "arch", "source", "url", "sha256", "size", "cached"}


@pytest.fixture
def with_entry(monkeypatch, entry):
    """The catalogue with the test server's file added."""
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, entry))
    return entry


def listed(capsys) -> dict[str, dict]:
    assert cli.main(["weights", "list", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_list_json_keys_and_the_mirror_applied(capsys, monkeypatch):
    rows = listed(capsys)
    assert set(rows) == {e.name for e in catalogue.CATALOGUE}
    for e in catalogue.CATALOGUE:
        assert KEYS <= set(rows[e.name]) and rows[e.name]["cached"] is False
        assert rows[e.name]["url"] == e.url and rows[e.name]["sha256"] == e.sha256 and rows[e.name]["size"] == e.size
    monkeypatch.setenv(download.MIRROR_ENV, "http://mirror.invalid/w")
    rows = listed(capsys)
    assert rows["resnet18-imagenet"]["url"] == "http://mirror.invalid/w/resnet18-f37072fd.pth"


def test_get_downloads_and_list_shows_it_cached(capsys, with_entry, server):
    assert cli.main(["weights", "get", "tiny-test", "--quiet"]) == 0
    path = weights_dir() / FILE_NAME
    assert capsys.readouterr().out.strip() == str(path) and path.read_bytes() == DATA
    row = listed(capsys)["tiny-test"]
    assert row["cached"] is True and row["path"] == str(path)
    assert cli.main(["weights", "list"]) == 0
    line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("tiny-test"))
    assert " yes " in line and line.endswith(str(path))
    assert cli.main(["weights", "get", "tiny-test", "--json"]) == 0  # cached: no second request
    assert json.loads(capsys.readouterr().out) == [{"name": "tiny-test", "path": str(path)}]
    assert len(server.requests) == 1


def test_list_marks_a_wrong_file(capsys, with_entry):
    weights_dir().mkdir(parents=True)
    (weights_dir() / FILE_NAME).write_bytes(b"wrong")
    assert listed(capsys)["tiny-test"]["cached"] is False
    assert cli.main(["weights", "list"]) == 0
    assert "wrong file" in capsys.readouterr().out


def test_get_refuses_an_unknown_name_before_downloading(capsys, with_entry, server):
    assert cli.main(["weights", "get", "tiny-test", "no-such-weights"]) == 2
    err = capsys.readouterr().err
    assert "No published weights are called 'no-such-weights'" in err and "scl weights list" in err
    assert server.requests == []
