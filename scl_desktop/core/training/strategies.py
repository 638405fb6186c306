"""Stage 2's strategies as recipes: how the linear layer is trained, then how it is adjusted post hoc.

Every strategy ("balance") of a two-stage run is one ``Recipe``: a ``Training`` (sampler, loss and
the loss's tau) and an optional post-hoc step on the trained layer. The paper's cb / csce / none
and the long-tail classifiers beyond it share that one training code:

* "tau-norm" and "logit-adj" train exactly as "none" (instance sampling, CE) and differ only in
  the post-hoc step, so one CE-trained layer serves every tau of both;
* "la-loss" is the logit-adjusted CE with its tau and "balanced-softmax" the same loss at tau 1.

``auto_candidates`` lists what "auto" compares. Torch-free (the CLI's parser reads the help).
"""

from __future__ import annotations

from dataclasses import dataclass

STRATEGY_HELP: dict[str, str] = {
    "cb": "class-balanced sampling, every class drawn equally often (paper eq. 2)",
    "csce": "cost-sensitive cross-entropy, rare classes weigh more in the loss (eq. 3)",
    "none": "plain cross-entropy on the images as they come",
    "tau-norm": "plain cross-entropy, then each class's weights shrunk to (nearly) equal size so that frequent "
                "classes stop dominating (Kang et al. 2020)",
    "logit-adj": "plain cross-entropy, then each class's score raised by tau * log(1 / its share of the training "
                 "images), favouring rare classes (Menon et al. 2021)",
    "la-loss": "trains on scores shifted by tau * log(each class's share), so that the plain scores come out "
               "balanced (logit-adjusted loss, Menon et al. 2021)",
    "balanced-softmax": "the logit-adjusted loss with tau = 1 (balanced softmax, Ren et al. 2020)",
    "auto": "fits all of the above (tau-norm, logit-adj and la-loss with a few tau values) and keeps the one with the "
            "best balanced accuracy on the validation images (needs a split with a validation part)",
}
"""One sentence per stage-2 strategy, for an analyst (the help of ``ClassifierConfig.balance``)."""

DEFAULT_TAU: dict[str, float] = {"tau-norm": 1.0, "logit-adj": 1.0, "la-loss": 1.0}
"""The strategies that take a tau, and its value when none is given: 1, the papers' own choice
(Menon et al.'s Bayes-optimal adjustment for the balanced error; Kang et al.'s tau = 1 equalises
the weight norms, their tuned values lie between 0.7 and 1)."""

AUTO_GRIDS: dict[str, tuple[float, ...]] = {
    "tau-norm": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5),
    "logit-adj": (0.25, 0.5, 1.0, 1.5, 2.0),
    "la-loss": (0.5, 1.5, 2.0),  # tau 1 is balanced-softmax, a candidate of its own
}
"""The tau values "auto" tries per strategy: free for the post-hoc ones, one training each for la-loss."""


@dataclass(frozen=True)
class Training:
    """How one linear layer is trained: ``sampler`` "instance" or "cb", ``loss`` "ce", "csce" or "la"
    (the logit-adjusted CE with ``loss_tau``)."""

    sampler: str = "instance"
    loss: str = "ce"
    loss_tau: float = 0.0


@dataclass(frozen=True)
class Recipe:
    """A strategy with its parameter: the ``training``, then the ``posthoc`` step ("tau-norm", "logit-adj" or
    None) with ``tau``; ``tau`` is None for strategies without a parameter."""

    strategy: str
    training: Training
    posthoc: str | None = None
    tau: float | None = None

    @property
    def label(self) -> str:
        """E.g. "tau-norm (tau 0.5)" or "cb"."""
        return self.strategy if self.tau is None else f"{self.strategy} (tau {self.tau:g})"


def recipe(strategy: str, tau: float | None = None) -> Recipe:
    """The recipe of one strategy (not "auto"); ``tau`` None takes ``DEFAULT_TAU``."""
    if strategy in DEFAULT_TAU:
        value = DEFAULT_TAU[strategy] if tau is None else float(tau)
        if strategy == "la-loss":
            return Recipe(strategy, Training(loss="la", loss_tau=value), tau=value)
        return Recipe(strategy, Training(), posthoc=strategy, tau=value)
    trainings = {"cb": Training(sampler="cb"), "csce": Training(loss="csce"), "none": Training(),
                 "balanced-softmax": Training(loss="la", loss_tau=1.0)}
    if strategy not in trainings:
        raise ValueError(f"no single recipe for strategy {strategy!r}")
    return Recipe(strategy, trainings[strategy])


def auto_candidates() -> tuple[Recipe, ...]:
    """What "auto" compares, in the order that breaks ties (simpler first): the paper's three, then the
    grids of ``AUTO_GRIDS``, then balanced-softmax."""
    simple = tuple(recipe(s) for s in ("none", "cb", "csce"))
    gridded = tuple(recipe(s, tau) for s, taus in AUTO_GRIDS.items() for tau in taus)
    return simple + gridded + (recipe("balanced-softmax"),)
