"""Download published weights into the cache: resumed with HTTP Range, checked against their SHA-256, and,
without a network, a message saying which file to put in which folder by hand.

The files live in ``weights_dir()`` under their published names (``WeightsEntry.file_name``); a file
there is used only when its SHA-256 matches the catalogue, never otherwise. A download goes to
``<file_name>.part`` and is renamed to its name only once its hash is right. ``SCL_WEIGHTS_MIRROR``
(the address of a folder holding the files under the same names; ``file://`` works too) replaces
the publishers' servers.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Generator
from pathlib import Path

from scl_desktop.core import paths
from scl_desktop.core.errors import Cancelled, DiskFullError, SclError, WeightsError
from scl_desktop.core.events import CancelToken, Event, Log, Progress
from scl_desktop.core.weights.catalogue import WeightsEntry

MIRROR_ENV = "SCL_WEIGHTS_MIRROR"
CHUNK = 1 << 16
"""Bytes read per step; cancellation is checked between steps."""
PROGRESS_EVERY = 1 << 20
"""Bytes between two ``Progress`` events."""
RETRY_PAUSE_S = 1.0
"""Seconds waited before the second attempt (doubled for each further one, at most 5 s)."""

_digests: dict[tuple[str, int, int, int], str] = {}


class _Retry(Exception):
    """One attempt failed in a way another attempt may not (a truncated body, a server error)."""


def weights_dir() -> Path:
    """The folder downloaded weights are kept in: ``weights`` below the cache folder (``SCL_HOME``, Settings)."""
    return paths.cache_dir() / "weights"


def source_url(entry: WeightsEntry) -> str:
    """Where ``entry`` is downloaded from: its publisher's URL, or ``$SCL_WEIGHTS_MIRROR/<file_name>``."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{entry.file_name}" if mirror else entry.url


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of ``path``, remembered for this process while its size and mtime stay the same."""
    key = _key(path)
    if key not in _digests:
        with open(path, "rb") as fh:
            _digests[key] = hashlib.file_digest(fh, "sha256").hexdigest()
    return _digests[key]


def _key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns


def hash_matches(digest: str, expected: str) -> bool:
    """Whether ``digest`` is ``expected``: a full hex digest, or the prefix the publisher gives."""
    expected = expected.lower()
    return digest == expected if len(expected) == len(digest) else digest.startswith(expected)


def _mismatch(digest: str, expected: str) -> str:
    n = len(expected) if len(expected) < len(digest) else 12
    return f"its SHA-256 begins {digest[:n]}, the published file's {expected.lower()[:n]}"


def cached_file(entry: WeightsEntry) -> Path | None:
    """The file of ``entry`` in ``weights_dir()`` when it is there with the published SHA-256, else None."""
    path = weights_dir() / entry.file_name
    try:
        return path if path.is_file() and hash_matches(file_sha256(path), entry.sha256) else None
    except OSError:
        return None


def _placed(entry: WeightsEntry, path: Path) -> Path | None:
    """``path`` when it holds the published file, None when absent; a different file there is refused."""
    if not path.is_file():
        return None
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise WeightsError(f"{path} cannot be read ({exc.strerror or exc}).",
                           f"Delete it and run `scl weights get {entry.name}` to download it again.") from exc
    if hash_matches(digest, entry.sha256):
        return path
    raise WeightsError(f"{path} is not the published {entry.name} weights: {_mismatch(digest, entry.sha256)}.",
                       f"Delete it and run `scl weights get {entry.name}` to download it again "
                       f"(or put the file from {entry.url} there by hand).")


def by_hand_hint(entry: WeightsEntry, url: str | None = None) -> str:
    """What to do when ``entry`` cannot be downloaded here: which file to save in which folder."""
    url = url or source_url(entry)
    return (f"Download {url} in a browser and save it in the folder {weights_dir()} as {entry.file_name} "
            f"(it is used once its SHA-256 matches), or set {MIRROR_ENV} to the address of a folder that "
            f"holds {entry.file_name}; then run `scl weights get {entry.name}` again.")


def fetch_weights(entry: WeightsEntry, cancel: CancelToken | None = None, retries: int = 3,
                  timeout: float = 30) -> Generator[Event, None, Path]:
    """The file of ``entry``, downloaded into ``weights_dir()`` unless it is there already.

    Yields ``Progress`` (bytes) and a ``Log`` warning per failed attempt; resumes a ``.part`` left by
    an earlier attempt; makes up to ``retries`` attempts when a body is cut short or its hash is wrong.
    Raises ``WeightsError`` (what to place where by hand) when it cannot download, at once without a
    network; ``Cancelled`` keeping the ``.part`` for the next call to resume.
    """
    folder = weights_dir()
    target = folder / entry.file_name
    placed = _placed(entry, target)
    if placed is not None:
        return placed
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if folder.exists() and not folder.is_dir():
            raise WeightsError(f"The weights folder {folder} cannot be created: a file of that name is in the way.",
                               "Move that file away, or choose another cache folder in Settings "
                               "(or set SCL_HOME to another folder).") from exc
        raise WeightsError(f"The weights folder {folder} cannot be created ({exc.strerror or exc}).",
                           _folder_hint(folder.parent)) from exc
    url = source_url(entry)
    part = target.with_name(target.name + ".part")
    attempts = max(1, retries)
    problem = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(min(RETRY_PAUSE_S * 2 ** (attempt - 2), 5.0))
        try:
            yield from _download(entry, url, part, cancel, timeout)
        except _Retry as exc:
            problem = str(exc)
        else:
            digest = file_sha256(part)
            if hash_matches(digest, entry.sha256):
                try:
                    os.replace(part, target)
                except OSError as exc:
                    raise _write_error(target, exc) from exc
                _digests[_key(target)] = digest
                return target
            part.unlink(missing_ok=True)
            problem = f"the file received is not the published one ({_mismatch(digest, entry.sha256)})"
        yield Log(f"Downloading {entry.file_name} failed (attempt {attempt} of {attempts}): {problem}.", "warning")
    raise WeightsError(f"Could not download {url}: {problem}.", by_hand_hint(entry, url))


def _download(entry: WeightsEntry, url: str, part: Path, cancel: CancelToken | None,
              timeout: float) -> Generator[Event, None, None]:
    """One attempt: fetch ``url`` into ``part``, from where an earlier attempt stopped when the server can."""
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "scl_desktop"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    _check(cancel, entry, part, offset)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return  # the part is complete already: its hash decides
        if exc.code >= 500 or exc.code == 429:
            raise _Retry(f"the server answered {exc.code} {exc.reason}") from exc
        raise WeightsError(f"Could not download {url}: the server answered {exc.code} {exc.reason}.",
                           by_hand_hint(entry, url)) from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else "timed out"
        raise WeightsError(f"Could not download {url}: no connection ({reason}).", by_hand_hint(entry, url)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Retry(f"the connection failed ({exc})") from exc
    with response:
        if offset and response.getcode() == 206:
            if _range_start(response.headers.get("Content-Range")) != offset:
                part.unlink(missing_ok=True)
                raise _Retry("the server resumed at the wrong place")
        else:
            offset = 0  # the whole file came (no Range support): start over
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length and length.isdigit() else None
        total = expected or entry.size or 0
        try:
            fh = open(part, "ab" if offset else "wb")
        except OSError as exc:
            raise _write_error(part, exc) from exc
        done, shown, started = offset, offset, time.perf_counter()
        with fh:
            yield _progress(entry, done, total, offset, started)
            while True:
                _check(cancel, entry, part, done)
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(f"the connection broke after {done} bytes ({exc})") from exc
                if not block:
                    break
                try:
                    fh.write(block)
                except OSError as exc:
                    raise _write_error(part, exc) from exc
                done += len(block)
                if done - shown >= PROGRESS_EVERY:
                    shown = done
                    yield _progress(entry, done, total, offset, started)
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise _write_error(part, exc) from exc
    if done != shown:
        yield _progress(entry, done, total, offset, started)
    if expected is not None and done < expected:
        raise _Retry(f"the connection ended after {done} of {expected} bytes")


def _range_start(content_range: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", content_range or "")
    return int(match.group(1)) if match else None


def _progress(entry: WeightsEntry, done: int, total: int, offset: int, started: float) -> Progress:
    elapsed = time.perf_counter() - started
    rate = (done - offset) / elapsed if done > offset and elapsed > 0 else None
    eta = max(total - done, 0) / rate if rate and total else None
    size = f" of {total / 2**20:.1f}" if total else ""
    return Progress(task=f"Downloading {entry.file_name}", done=done, total=total, unit="bytes", rate=rate,
                    eta_s=eta, message=f"{done / 2**20:.1f}{size} MB")


def _check(cancel: CancelToken | None, entry: WeightsEntry, part: Path, done: int = 0) -> None:
    if cancel is not None and cancel.cancelled:
        kept = f"the {done} bytes received so far were kept in {part}" if done else "nothing was downloaded yet"
        raise Cancelled(f"Downloading {entry.file_name} was cancelled.",
                        f"{kept[0].upper()}{kept[1:]}; `scl weights get {entry.name}` resumes.", kept=part)


def _folder_hint(folder: Path) -> str:
    return (f"Make {folder.parent} writable, or choose another cache folder in Settings "
            "(or set SCL_HOME to a folder you can write to).")


def _write_error(path: Path, exc: OSError) -> SclError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"The disk holding {path.parent} is full, so {path.name} could not be written.",
                             "Free some space and run `scl weights get` again; what was received is kept.")
    return WeightsError(f"Cannot write {path} ({exc.strerror or exc}).", _folder_hint(path.parent))
