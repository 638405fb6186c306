"""Downloading published weights: hash check, retries, Range resume, cache, mirror, by-hand placement, cancel."""

from __future__ import annotations

import hashlib

import pytest

from scl_desktop.core.errors import Cancelled, WeightsError
from scl_desktop.core.events import CancelToken, Log, Progress, drive
from scl_desktop.core.weights import download
from scl_desktop.core.weights.download import cached_file, fetch_weights, hash_matches, source_url, weights_dir

from .conftest import DATA, FILE_NAME, PREFIX, closed_port_url, entry_at


def fetch(entry, **kw):
    events: list = []
    path = drive(fetch_weights(entry, **kw), events.append)
    return path, events


def warnings(events):
    return [e.message for e in events if isinstance(e, Log) and e.level == "warning"]


def test_download_is_checked_and_renamed_into_the_cache(server, entry):
    path, events = fetch(entry)
    assert path == weights_dir() / FILE_NAME and path.read_bytes() == DATA
    assert not path.with_name(FILE_NAME + ".part").exists()
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == len(DATA) and FILE_NAME in progress[-1].task
    assert [r["range"] for r in server.requests] == [None] and warnings(events) == []
    assert cached_file(entry) == path


def test_a_corrupted_download_is_refused_and_retried(server, entry):
    server.corrupt = 1
    path, events = fetch(entry)
    assert path.read_bytes() == DATA
    [warning] = warnings(events)
    assert "attempt 1 of 3" in warning and "not the published one" in warning
    assert [r["range"] for r in server.requests] == [None, None]  # the bad .part was deleted, not resumed


def test_a_truncated_download_is_resumed_on_the_next_attempt(server, entry):
    server.truncate = 1
    path, events = fetch(entry)
    assert path.read_bytes() == DATA
    assert "ended after" in warnings(events)[0]
    half = len(DATA) // 2
    assert [r["range"] for r in server.requests] == [None, f"bytes={half}-"]
    assert server.requests[1]["sent"] == len(DATA) - half


def test_an_existing_part_is_resumed_with_a_range_request(server, entry):
    part = weights_dir() / (FILE_NAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA[:1000])
    path, _ = fetch(entry)
    assert path.read_bytes() == DATA
    assert [(r["range"], r["sent"]) for r in server.requests] == [("bytes=1000-", len(DATA) - 1000)]


def test_a_server_without_range_support_starts_over(server, entry):
    server.honour_range = False
    part = weights_dir() / (FILE_NAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA[:1000])
    path, events = fetch(entry)
    assert path.read_bytes() == DATA and warnings(events) == []
    assert server.requests[0]["sent"] == len(DATA)


def test_a_complete_part_is_verified_when_the_server_has_nothing_more(server, entry):
    part = weights_dir() / (FILE_NAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA)
    path, _ = fetch(entry)  # the server answers 416 to bytes=40000-
    assert path.read_bytes() == DATA and len(server.requests) == 1


def test_the_cache_is_used_without_asking_the_server(server, entry):
    first, _ = fetch(entry)
    server.stop()
    again, events = fetch(entry)
    assert again == first and events == [] and len(server.requests) == 1


def test_the_mirror_replaces_the_publishers_server(server, monkeypatch):
    entry = entry_at(closed_port_url())  # the publisher is unreachable
    monkeypatch.setenv(download.MIRROR_ENV, f"{server.url}/mirror/")
    assert source_url(entry) == f"{server.url}/mirror/{FILE_NAME}"
    path, _ = fetch(entry)
    assert path.read_bytes() == DATA and [r["path"] for r in server.requests] == [f"/mirror/{FILE_NAME}"]


def test_without_a_network_the_message_says_what_to_place_where():
    entry = entry_at(closed_port_url())
    events: list = []
    with pytest.raises(WeightsError) as info:
        drive(fetch_weights(entry, timeout=5), events.append)
    assert entry.url in info.value.what
    assert FILE_NAME in info.value.hint and str(weights_dir()) in info.value.hint
    assert download.MIRROR_ENV in info.value.hint
    assert warnings(events) == []  # refused at once: no retries against a missing network
    assert not (weights_dir() / (FILE_NAME + ".part")).exists()


def test_every_attempt_failing_ends_with_the_by_hand_message(server, entry):
    server.corrupt = 5
    events: list = []
    with pytest.raises(WeightsError) as info:
        drive(fetch_weights(entry, retries=2), events.append)
    assert len(warnings(events)) == 2 and len(server.requests) == 2
    assert entry.url in info.value.what and "not the published one" in info.value.what
    assert f"{weights_dir()} as {FILE_NAME}" in info.value.hint
    assert not (weights_dir() / FILE_NAME).exists() and not (weights_dir() / (FILE_NAME + ".part")).exists()


def test_a_missing_file_on_the_server_is_not_retried(server, entry):
    import dataclasses

    missing = dataclasses.replace(entry, url=f"{server.url}/models/other-{PREFIX}.pth")
    with pytest.raises(WeightsError, match="404"):
        fetch(missing)
    assert len(server.requests) == 1


def test_a_good_file_placed_by_hand_is_used():
    entry = entry_at(closed_port_url())
    weights_dir().mkdir(parents=True)
    (weights_dir() / FILE_NAME).write_bytes(DATA)
    assert cached_file(entry) == weights_dir() / FILE_NAME
    assert fetch(entry) == (weights_dir() / FILE_NAME, [])


def test_a_wrong_file_placed_by_hand_is_refused():
    entry = entry_at(closed_port_url())
    weights_dir().mkdir(parents=True)
    wrong = b"not the weights" * 100
    (weights_dir() / FILE_NAME).write_bytes(wrong)
    assert cached_file(entry) is None
    with pytest.raises(WeightsError) as info:
        fetch(entry)
    got = hashlib.sha256(wrong).hexdigest()[:8]
    assert f"begins {got}" in info.value.what and PREFIX in info.value.what
    assert "Delete it" in info.value.hint and "scl weights get tiny-test" in info.value.hint
    assert (weights_dir() / FILE_NAME).read_bytes() == wrong  # left for the user to look at


def test_cancel_keeps_the_part_and_the_next_call_resumes(server, entry):
    token = CancelToken()

    def cancel_after_first_block(event):
        if isinstance(event, Progress) and event.done > 0:
            token.cancel()

    with pytest.raises(Cancelled) as info:
        drive(fetch_weights(entry, cancel=token), cancel_after_first_block)
    part = weights_dir() / (FILE_NAME + ".part")
    assert 0 < part.stat().st_size < len(DATA) and not (weights_dir() / FILE_NAME).exists()
    assert str(part) in info.value.hint and "scl weights get tiny-test" in info.value.hint
    kept = part.stat().st_size
    path, _ = fetch(entry)
    assert path.read_bytes() == DATA and server.requests[-1]["range"] == f"bytes={kept}-"


def test_a_file_in_the_way_of_the_weights_folder_is_a_clear_error(entry):
    weights_dir().parent.mkdir(parents=True, exist_ok=True)
    weights_dir().write_text("in the way")
    with pytest.raises(WeightsError, match="in the way"):
        fetch(entry)


def test_hash_matches_a_full_digest_or_a_prefix():
    digest = hashlib.sha256(DATA).hexdigest()
    assert hash_matches(digest, digest) and hash_matches(digest, digest[:8].upper())
    assert not hash_matches(digest, "0" * 8) and not hash_matches(digest, "0" * 64)
