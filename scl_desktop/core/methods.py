"""The vocabulary of methods: one table of every model a run can hold.

A method is a run kind ("scl" two-stage, "baseline" end-to-end) plus a re-balancing
strategy ("balance"). Its name ("SCL-CB", "Plain", ...) keys the run's results. Both kinds take
the paper's strategies ("cb", "csce", "none"); the long-tail classifiers beyond the paper
("tau-norm", "logit-adj", "la-loss", "balanced-softmax", "auto") are stage-2 strategies on the
frozen encoder's features, so only scl runs take them: the table says which kind takes which.
"""

from __future__ import annotations

from dataclasses import dataclass

from scl_desktop.core.errors import ConfigError

BALANCES = ("cb", "csce", "none")
"""The paper's strategies, taken by both run kinds (``balances_of`` gives each kind's full list)."""


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
    Method("SCL-TauNorm", "scl", "tau-norm", "SupCon encoder, then a cross-entropy linear classifier whose class "
           "weight vectors are tau-normalised (Kang et al. 2020)"),
    Method("SCL-LogitAdj", "scl", "logit-adj", "SupCon encoder, then a cross-entropy linear classifier with post-hoc "
           "logit adjustment (Menon et al. 2021)"),
    Method("SCL-LALoss", "scl", "la-loss", "SupCon encoder, then a linear classifier trained with the logit-adjusted "
           "loss (Menon et al. 2021)"),
    Method("SCL-BalSoftmax", "scl", "balanced-softmax", "SupCon encoder, then a linear classifier trained with the "
           "balanced softmax (Ren et al. 2020)"),
    Method("SCL-Auto", "scl", "auto", "SupCon encoder, then the stage-2 strategy and tau with the best validation "
           "balanced accuracy"),
)
METHOD_NAMES = tuple(m.name for m in METHODS)


def balances_of(kind: str) -> tuple[str, ...]:
    """The strategies runs of ``kind`` take, in table order."""
    return tuple(m.balance for m in METHODS if m.kind == kind)


CLASSIFIER_BALANCES = balances_of("scl")
"""Every stage-2 strategy: the paper's three, then the long-tail classifiers and ``auto``."""


def method_for(kind: str, balance: str) -> Method:
    """The method a run of ``kind`` trained with ``balance`` produces."""
    for m in METHODS:
        if m.kind == kind and m.balance == balance:
            return m
    raise ConfigError(f"No method for a {kind} run with balance {balance!r}.",
                      f"Use one of {', '.join(balances_of(kind)) or ', '.join(BALANCES)}.")


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
