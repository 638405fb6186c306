"""Seeds out of numpy's range are a ConfigError where the configuration is checked, not a numpy traceback."""

from __future__ import annotations

import pytest

from scl_desktop import cli
from scl_desktop.core.errors import ConfigError
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig


@pytest.mark.parametrize("config_cls", [EncoderConfig, ClassifierConfig, BaselineConfig])
@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_outside_0_to_2_32_is_refused(config_cls, seed):
    with pytest.raises(ConfigError, match=rf"seed {seed} must be in 0\.\.4294967295") as info:
        config_cls(seed=seed)
    assert "--seed" in info.value.hint
    assert config_cls(seed=2**32 - 1).seed == 2**32 - 1


def test_scl_train_with_a_negative_seed_says_so(capsys, tmp_path):
    assert cli.main(["train", str(tmp_path / "split.json"), "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "error: seed -1 must be in 0..4294967295" in err and "Traceback" not in err
