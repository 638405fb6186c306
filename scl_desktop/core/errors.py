"""The engine's exception hierarchy: every message says what went wrong and what to do."""

from __future__ import annotations


class SclError(Exception):
    """Base class of all errors the engine raises on purpose.

    ``what`` says what went wrong, ``hint`` what the user can do about it.
    """

    def __init__(self, what: str, hint: str = "") -> None:
        self.what = what
        self.hint = hint
        super().__init__(f"{what} {hint}".strip() if hint else what)


class DatasetError(SclError):
    """The dataset (folder, manifest, split) cannot be used as given."""


class ImageReadError(SclError):
    """One image file could not be decoded; import skips it and reports the reason."""


class ConfigError(SclError):
    """A configuration value is out of range or inconsistent."""


class CheckpointError(SclError):
    """A checkpoint or run folder is missing, corrupt or from an incompatible version."""


class TrainingError(SclError):
    """Training stopped for a reason the user must act on (non-finite loss, out of memory)."""


class WeightsError(SclError):
    """Published pretrained weights could not be downloaded, or the file found is not the published one."""


class DiskFullError(SclError):
    """Writing failed because the disk is full; nothing half-written was left behind."""


class Cancelled(SclError):
    """A long step was cancelled by the user; work done so far was kept.

    The one cancellation contract of the engine: every long step raises ``Cancelled`` when its
    cancel token is set, carrying in ``kept`` what it kept (the run with its checkpoint, a
    partial labelling result, ...) or None. Front ends handle it in one place: the CLI exits 130.
    """

    def __init__(self, what: str, hint: str = "", kept: object = None) -> None:
        super().__init__(what, hint)
        self.kept = kept


def describe_cause(exc: BaseException) -> str:
    """What went wrong in the words of the error behind ``exc``, past wrappers that only point to it
    (rasterio's "Read failed. See previous exception for details."); one line of at most 200 characters."""
    while "previous exception" in str(exc) and exc.__cause__ is not None:
        exc = exc.__cause__
    return " ".join(str(exc).split())[:200] or type(exc).__name__
