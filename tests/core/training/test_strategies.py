"""Stage 2's strategies: one recipe each, trainings shared where the papers share them, the tau option."""

from __future__ import annotations

import pytest

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.methods import BALANCES, CLASSIFIER_BALANCES, balances_of, method_for
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig
from scl_desktop.core.training.strategies import (
    AUTO_GRIDS,
    DEFAULT_TAU,
    STRATEGY_HELP,
    Training,
    auto_candidates,
    recipe,
)


def test_every_stage_2_strategy_has_a_method_and_a_sentence_and_baselines_keep_the_papers():
    assert set(STRATEGY_HELP) == set(CLASSIFIER_BALANCES)
    assert set(BALANCES) < set(CLASSIFIER_BALANCES) and balances_of("baseline") == ("none", "cb", "csce")
    names = {b: method_for("scl", b).name for b in CLASSIFIER_BALANCES}
    assert names["tau-norm"] == "SCL-TauNorm" and names["auto"] == "SCL-Auto"
    assert len(set(names.values())) == len(names)
    with pytest.raises(ConfigError, match="none, cb, csce"):
        method_for("baseline", "tau-norm")
    with pytest.raises(ConfigError):
        BaselineConfig(balance="la-loss")
    help_text = ClassifierConfig.__dataclass_fields__["balance"].metadata["help"]
    assert all(f"{b}: " in help_text for b in CLASSIFIER_BALANCES)


def test_post_hoc_strategies_train_as_plain_ce_and_balanced_softmax_is_la_loss_at_tau_one():
    plain = recipe("none").training
    assert plain == Training()
    assert recipe("tau-norm", 0.3).training == recipe("logit-adj", 2.0).training == plain
    assert (recipe("tau-norm").posthoc, recipe("tau-norm").tau) == ("tau-norm", DEFAULT_TAU["tau-norm"])
    assert recipe("balanced-softmax").training == recipe("la-loss", 1.0).training == Training(loss="la", loss_tau=1.0)
    assert recipe("la-loss", 0.5).posthoc is None and recipe("la-loss", 0.5).tau == 0.5
    assert recipe("cb").training == Training(sampler="cb") and recipe("csce").training == Training(loss="csce")
    with pytest.raises(ValueError):
        recipe("auto")


def test_auto_covers_every_strategy_and_trains_each_distinct_training_once():
    candidates = auto_candidates()
    assert {c.strategy for c in candidates} == set(CLASSIFIER_BALANCES) - {"auto"}
    assert [c.tau for c in candidates if c.strategy == "tau-norm"] == list(AUTO_GRIDS["tau-norm"])
    trainings = {c.training for c in candidates}
    # none (shared by every tau-norm and logit-adj candidate), cb, csce, la-loss per tau, balanced-softmax
    assert len(trainings) == 3 + len(AUTO_GRIDS["la-loss"]) + 1
    assert candidates[0].strategy == "none"  # ties go to the simplest


def test_tau_is_only_taken_by_the_strategies_that_have_one():
    assert ClassifierConfig(balance="logit-adj", tau=0.5).tau == 0.5
    assert ClassifierConfig(balance="tau-norm").tau is None  # the strategy's default applies
    for balance in ("cb", "balanced-softmax", "auto"):
        with pytest.raises(ConfigError, match="takes no tau"):
            ClassifierConfig(balance=balance, tau=1.0)
    with pytest.raises(ConfigError, match="outside"):
        ClassifierConfig(balance="la-loss", tau=-0.5)
    with pytest.raises(ConfigError, match="Unknown balance"):
        ClassifierConfig(balance="focal")
    assert ClassifierConfig.from_json(ClassifierConfig(balance="la-loss", tau=2.0).to_json()).tau == 2.0
