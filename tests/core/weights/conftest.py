"""A local HTTP server for the weights download tests (127.0.0.1 only) and a catalogue entry pointing at it."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scl_desktop.core.weights import download
from scl_desktop.core.weights.catalogue import CATALOGUE, WeightsEntry

DATA = random.Random(0).randbytes(40_000)
PREFIX = hashlib.sha256(DATA).hexdigest()[:8]
FILE_NAME = f"tiny-{PREFIX}.pth"


class WeightsServer:
    """Serves ``DATA`` at any path ending in ``/FILE_NAME``; can cut or corrupt bodies and ignore Range."""

    def __init__(self) -> None:
        self.data = DATA
        self.truncate = 0  # the next N bodies are cut in half
        self.corrupt = 0  # the next N bodies have their first byte flipped
        self.honour_range = True
        self.requests: list[dict] = []  # {"path", "range", "sent"} per request
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.state = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        state: WeightsServer = self.server.state
        record = {"path": self.path, "range": self.headers.get("Range"), "sent": 0}
        state.requests.append(record)
        if not self.path.endswith("/" + FILE_NAME):
            self.send_error(404)
            return
        data = state.data
        if state.corrupt:
            state.corrupt -= 1
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        if record["range"] and state.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", record["range"]).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.truncate:
            state.truncate -= 1
            body = body[: len(body) // 2]
        try:
            self.wfile.write(body)
            record["sent"] = len(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def entry_at(base_url: str) -> WeightsEntry:
    """A catalogue entry for ``DATA`` published at ``base_url/models/FILE_NAME``."""
    return dataclasses.replace(CATALOGUE[0], name="tiny-test", url=f"{base_url}/models/{FILE_NAME}",
                               sha256=PREFIX, size=len(DATA))


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """An empty SCL_HOME, no mirror, small read steps and no pause between attempts."""
    monkeypatch.setenv("SCL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    monkeypatch.setattr(download, "CHUNK", 4096)
    monkeypatch.setattr(download, "PROGRESS_EVERY", 4096)
    monkeypatch.setattr(download, "RETRY_PAUSE_S", 0.0)
    return tmp_path / "home"


@pytest.fixture
def server():
    srv = WeightsServer()
    yield srv
    srv.stop()


@pytest.fixture
def entry(server) -> WeightsEntry:
    return entry_at(server.url)
