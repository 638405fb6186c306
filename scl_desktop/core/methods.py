"""The vocabulary of methods: one table of every model a run can hold.

A method is a run kind ("scl" two-stage, "baseline" end-to-end) plus a re-balancing
strategy ("none", "cb", "csce"). Its name ("SCL-CB", "Plain", ...) keys the run's results.
"""

from __future__ import annotations

from dataclasses import dataclass

from scl_desktop.core.errors import ConfigError

BALANCES = ("cb", "csce", "none")


@dataclass(frozen=True)
class Method:
    """One method: its result name, run kind, strategy and what it does."""

    name: str
    kind: str
    balance: str
    description: str


METHODS: tuple[Method, ...] = (
    Method("Plain", "baseline", "none", "end-to-end cross-entropy on the imbalanced data"),
    Method("Plain-CB", "baseline", "cb", "end-to-end cross-entropy with class-balanced sampling"),
    Method("Plain-CSCE", "baseline", "csce", "end-to-end cost-sensitive cross-entropy"),
    Method("SCL-CE", "scl", "none", "SupCon encoder, then a linear classifier with plain cross-entropy"),
    Method("SCL-CB", "scl", "cb", "SupCon encoder, then a linear classifier with class-balanced sampling"),
    Method("SCL-CSCE", "scl", "csce", "SupCon encoder, then a linear classifier with cost-sensitive cross-entropy"),
)
METHOD_NAMES = tuple(m.name for m in METHODS)


def method_for(kind: str, balance: str) -> Method:
    """The method a run of ``kind`` trained with ``balance`` produces."""
    for m in METHODS:
        if m.kind == kind and m.balance == balance:
            return m
    raise ConfigError(f"No method for a {kind} run with balance {balance!r}.", f"Use one of {', '.join(BALANCES)}.")


def method_named(name: str, kind: str | None = None) -> Method:
    """The method called ``name`` (optionally required to belong to runs of ``kind``)."""
    for m in METHODS:
        if m.name == name and (kind is None or m.kind == kind):
            return m
    choices = [m.name for m in METHODS if kind is None or m.kind == kind]
    what = f"a {kind} run" if kind else "scl_desktop"
    raise ConfigError(f"Unknown method {name!r} for {what}.", f"Use one of {', '.join(choices)}.")


def names_of(kind: str) -> tuple[str, ...]:
    """The method names runs of ``kind`` can hold, in table order."""
    return tuple(m.name for m in METHODS if m.kind == kind)
