"""Training configurations: paper defaults, validation, JSON round-trip, CPU scaling."""

from __future__ import annotations

import json

import pytest

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.model.settings import AugmentConfig
from scl_desktop.core.training.config import BaselineConfig, ClassifierConfig, EncoderConfig, cpu_defaults


def test_paper_defaults():
    e = EncoderConfig()
    assert (e.arch, e.image_size, e.epochs, e.batch_size, e.lr) == ("resnet50", 224, 500, 128, 0.5)
    assert (e.momentum, e.weight_decay, e.temperature, e.proj_dim) == (0.9, 1e-4, 0.1, 128)
    assert (e.sampler, e.cs_scl, e.warmup_epochs, e.amp, e.channels_last) == ("instance", False, 5, True, True)
    c = ClassifierConfig()
    assert (c.balance, c.epochs, c.batch_size, c.lr, c.momentum, c.weight_decay) == ("cb", 100, 128, 0.01, 0.9, 5e-5)
    assert c.cached_features and c.feature_views == 4 and c.min_steps == 1000 and not c.augment.color
    b = BaselineConfig()
    assert (b.balance, b.arch, b.image_size) == ("none", "resnet50", 224)


@pytest.mark.parametrize("config", [
    EncoderConfig(arch="resnet18", sampler="cb", cs_scl=True, augment=AugmentConfig(rotate=False), warmup_epochs=5),
    ClassifierConfig(balance="csce", feature_views=3, num_threads=2),
    BaselineConfig(balance="cb", store_size=128, weights_path="/x/w.pth"),
])
def test_json_round_trip(config):
    text = json.dumps(config.to_json())
    assert type(config).from_json(json.loads(text)) == config


def test_from_json_fills_defaults_and_rejects_unknown_keys():
    assert EncoderConfig.from_json({"epochs": 7}) == EncoderConfig(epochs=7)
    with pytest.raises(ConfigError, match="epochz"):
        EncoderConfig.from_json({"epochz": 7})
    with pytest.raises(ConfigError):
        EncoderConfig.from_json(["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.parametrize("cls,changes", [
    (EncoderConfig, {"epochs": 0}), (EncoderConfig, {"batch_size": 1}), (EncoderConfig, {"lr": 0}),
    (EncoderConfig, {"temperature": 0}), (EncoderConfig, {"sampler": "random"}), (EncoderConfig, {"arch": "vgg"}),
    (EncoderConfig, {"image_size": 8}), (EncoderConfig, {"warmup_epochs": -1}), (EncoderConfig, {"momentum": 1.0}),
    (ClassifierConfig, {"balance": "focal"}), (ClassifierConfig, {"feature_views": 0}),
    (BaselineConfig, {"eval_every": 0}), (BaselineConfig, {"checkpoint_every": -1}),
])
def test_invalid_values_are_config_errors_with_a_hint(cls, changes):
    with pytest.raises(ConfigError) as info:
        cls(**changes)
    assert info.value.hint


def test_cpu_defaults_scale_only_what_the_user_left_alone():
    scaled, message = cpu_defaults(EncoderConfig())
    assert (scaled.arch, scaled.image_size, scaled.epochs, scaled.batch_size) == ("resnet18", 64, 30, 64)
    assert scaled.lr == pytest.approx(0.25)  # follows the batch size
    assert "CPU" in message and "resnet18" in message and "resnet50" in message

    mine = EncoderConfig(epochs=500, lr=0.3)
    scaled, message = cpu_defaults(mine, explicit={"epochs", "lr"})
    assert (scaled.epochs, scaled.lr, scaled.batch_size) == (500, 0.3, 64)
    assert "epochs" not in message

    small = EncoderConfig(arch="tiny", image_size=32, epochs=2, batch_size=8)
    assert cpu_defaults(small) == (small, None)
    assert cpu_defaults(ClassifierConfig()) == (ClassifierConfig(), None)
    base, message = cpu_defaults(BaselineConfig())
    assert base.arch == "resnet18" and message


def test_warm_up_lasts_at_most_a_quarter_of_the_epochs():
    assert EncoderConfig(epochs=30).warmup_used() == 5
    assert EncoderConfig(epochs=12).warmup_used() == 3
    assert EncoderConfig(epochs=3).warmup_used() == 0
    assert BaselineConfig(epochs=30).warmup_used() == 0
    assert ClassifierConfig(warmup_epochs=2, epochs=100).warmup_used() == 2
