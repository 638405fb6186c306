"""The batched aerial augmentation policy: shapes, determinism, switches, exact flips/turns, colour ranges."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.model.augment import IMAGENET_MEAN, IMAGENET_STD, augment_batch, prepare_eval
from scl_desktop.core.model.settings import AugmentConfig

OFF = AugmentConfig(crop=False, flip=False, rotate=False, color=False)
MEAN = torch.tensor(IMAGENET_MEAN)[:, None, None]
STD = torch.tensor(IMAGENET_STD)[:, None, None]


def _images(b: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=g)


def _normalised(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - MEAN) / STD


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _asymmetric(b: int) -> torch.Tensor:
    """A 5x5 image with no flip or rotation symmetry, repeated b times."""
    one = torch.randint(0, 256, (1, 3, 5, 5), dtype=torch.uint8, generator=_gen(7))
    return one.expand(b, 3, 5, 5).contiguous()


def _which(view: torch.Tensor, candidates: list[torch.Tensor]) -> int:
    """Index of the candidate equal to ``view`` (float tolerance), asserting there is exactly one."""
    hits = [i for i, c in enumerate(candidates) if torch.allclose(view, c, atol=1e-4)]
    assert len(hits) == 1, f"view matches candidates {hits}"
    return hits[0]


def test_shapes_dtype_and_layout():
    x = _images(3, 20)
    out = augment_batch(x, 12, AugmentConfig(), _gen())
    assert out.shape == (3, 3, 12, 12) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    cl = augment_batch(x, 12, AugmentConfig(), _gen(), channels_last=True)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(cl, out, atol=1e-5)
    cl_in = augment_batch(x.contiguous(memory_format=torch.channels_last), 12, AugmentConfig(), _gen())
    assert torch.allclose(cl_in, out, atol=1e-5)
    ev = prepare_eval(x, 12)
    assert ev.shape == (3, 3, 12, 12) and ev.dtype == torch.float32
    assert prepare_eval(x, 12, channels_last=True).is_contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert augment_batch(x, 12, AugmentConfig(), _gen()).dtype == torch.float32
        assert prepare_eval(x, 12).dtype == torch.float32


def test_non_square_input_gives_square_output():
    x = torch.randint(0, 256, (2, 3, 12, 20), dtype=torch.uint8, generator=_gen())
    assert augment_batch(x, 8, AugmentConfig(), _gen()).shape == (2, 3, 8, 8)


def test_seeded_generator_is_reproducible_and_views_differ():
    x = _images()
    a = augment_batch(x, 12, AugmentConfig(), _gen(3))
    b = augment_batch(x, 12, AugmentConfig(), _gen(3))
    assert torch.equal(a, b)
    g = _gen(3)
    first, second = augment_batch(x, 12, AugmentConfig(), g), augment_batch(x, 12, AugmentConfig(), g)
    assert not torch.allclose(first, second)


def test_all_parts_off_same_size_is_identity_up_to_normalisation():
    x = _images()
    assert torch.allclose(augment_batch(x, 16, OFF, _gen()), _normalised(x), atol=1e-4)
    assert torch.allclose(prepare_eval(x, 16), _normalised(x), atol=1e-5)


def test_flips_are_exact_and_both_directions_occur():
    x = _asymmetric(32)
    ref = _normalised(x[:1])[0]
    candidates = [ref, ref.flip(2), ref.flip(1), ref.flip(1).flip(2)]  # none, h, v, both
    out = augment_batch(x, 5, dataclasses.replace(OFF, flip=True), _gen(1))
    seen = {_which(view, candidates) for view in out}
    assert seen == {0, 1, 2, 3}


def test_quarter_turns_are_exact_and_counter_clockwise_as_rot90():
    x = _asymmetric(32)
    ref = _normalised(x[:1])[0]
    candidates = [torch.rot90(ref, k, dims=(1, 2)) for k in range(4)]
    cfg = dataclasses.replace(OFF, rotate=True, rotate_mode="90")
    out = augment_batch(x, 5, cfg, _gen(2))
    picked = [_which(view, candidates) for view in out]
    assert set(picked) == {0, 1, 2, 3}
    # The turn of each view follows the documented draw: column 24 of the batch's uniforms.
    u = torch.rand(32, 32, generator=_gen(2))
    assert picked == (u[:, 24] * 4).long().tolist()


def test_any_angle_rotation_stays_in_range_and_changes_pixels():
    x = _images(4, 16)
    cfg = dataclasses.replace(OFF, rotate=True, rotate_mode="any", rotate_degrees=30.0)
    for padding in ("reflection", "zeros"):
        out = augment_batch(x, 16, dataclasses.replace(cfg, padding=padding), _gen(4))
        assert not torch.allclose(out, _normalised(x), atol=1e-3)
        _assert_in_range(out)


def test_crop_only_zooms_into_the_image():
    # a horizontal ramp: a crop can only narrow its range of values.
    ramp = torch.linspace(0, 255, 32).round().to(torch.uint8).expand(8, 3, 32, 32).contiguous()
    cfg = dataclasses.replace(OFF, crop=True, crop_scale=(0.2, 0.3))
    out = augment_batch(ramp, 16, cfg, _gen(5)) * STD + MEAN
    spans = out[:, 0].amax(dim=(1, 2)) - out[:, 0].amin(dim=(1, 2))
    assert (spans < 0.8).all() and (spans > 0.2).all()


def _assert_in_range(out: torch.Tensor) -> None:
    rgb = out * STD + MEAN
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5


def test_colour_distortion_keeps_values_in_range_and_changes_colours():
    x = _images(16, 8)
    cfg = dataclasses.replace(OFF, color=True, color_p=1.0, grayscale_p=0.0, brightness=0.8, contrast=0.8,
                              saturation=0.8, hue=0.5)
    out = augment_batch(x, 8, cfg, _gen(6))
    _assert_in_range(out)
    assert not torch.allclose(out, _normalised(x), atol=1e-2)


def test_grayscale_makes_channels_equal():
    x = _images(4, 8)
    cfg = dataclasses.replace(OFF, color=True, color_p=0.0, grayscale_p=1.0)
    rgb = augment_batch(x, 8, cfg, _gen()) * STD + MEAN
    assert torch.allclose(rgb[:, 0], rgb[:, 1], atol=1e-5) and torch.allclose(rgb[:, 1], rgb[:, 2], atol=1e-5)
    # the gray level is the luma of the input
    luma = (x.float() / 255 * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1)
    assert torch.allclose(rgb[:, 0], luma, atol=1e-4)


def test_jitter_and_hue_keep_gray_images_gray():
    gray = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8, generator=_gen()).expand(4, 3, 8, 8).contiguous()
    cfg = dataclasses.replace(OFF, color=True, color_p=1.0, grayscale_p=0.0, saturation=0.0, hue=0.5)
    rgb = augment_batch(gray, 8, cfg, _gen(8)) * STD + MEAN
    assert torch.allclose(rgb[:, 0], rgb[:, 1], atol=1e-3) and torch.allclose(rgb[:, 1], rgb[:, 2], atol=1e-3)


def test_prepare_eval_resizes_with_antialiasing():
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 255).to(torch.uint8)
    x = checker.expand(1, 3, 16, 16).contiguous()
    out = prepare_eval(x, 4) * STD + MEAN
    assert torch.allclose(out, torch.full_like(out, 0.5), atol=0.02)  # a fine pattern averages out to gray


def test_config_json_round_trip_and_validation():
    cfg = AugmentConfig(rotate_mode="both", crop_scale=(0.5, 1.0))
    data = json.loads(json.dumps(cfg.to_json()))
    assert AugmentConfig.from_json(data) == cfg
    assert AugmentConfig.from_json({}) == AugmentConfig()
    with pytest.raises(ConfigError, match="unknown augmentation setting"):
        AugmentConfig.from_json({"blur": True})
    for bad in ({"rotate_mode": "45"}, {"crop_scale": (0.0, 1.0)}, {"hflip_p": 2.0}, {"hue": 0.7},
                {"padding": "edge"}, {"crop_ratio": (2.0, 1.0)}, {"crop_scale": 3}):
        with pytest.raises(ConfigError):
            AugmentConfig(**bad)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="uint8"):
        augment_batch(torch.zeros(1, 3, 8, 8), 8)
    with pytest.raises(ValueError):
        prepare_eval(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 8)
    with pytest.raises(ConfigError):
        augment_batch(_images(), 0)


def test_sampling_grid_equals_affine_grid():
    from scl_desktop.core.model.augment import _sampling_grid

    theta = torch.randn(3, 2, 3, generator=_gen())
    expected = torch.nn.functional.affine_grid(theta, [3, 3, 7, 7], align_corners=False)
    assert torch.allclose(_sampling_grid(theta, 7), expected, atol=1e-6)


def _fine_stripes(b: int, size: int) -> torch.Tensor:
    """Vertical stripes with a 5 px period: finer than a view at a quarter of ``size`` can show."""
    return ((torch.arange(size) % 5) < 2).to(torch.uint8).mul(255).expand(b, 3, size, size).contiguous()


def test_views_much_smaller_than_the_store_are_antialiased_like_eval_images():
    # Regression: a 128 px store sampled to 32 px views took one bilinear tap per 4 source pixels,
    # turning fine textures into strong moire stripes that the (antialiased) eval images never show.
    x = _fine_stripes(8, 128)
    train = augment_batch(x, 32, OFF, _gen()) * STD + MEAN
    evaluation = prepare_eval(x, 32) * STD + MEAN
    assert torch.allclose(train, evaluation, atol=0.01)
    crops = augment_batch(x, 32, dataclasses.replace(AugmentConfig(), color=False), _gen(1)) * STD + MEAN
    assert crops.std(dim=(1, 2, 3)).mean() < 0.15  # aliased sampling gave ~0.42; the stripes average to gray


def test_mipmap_levels_and_weights():
    from scl_desktop.core.model.augment import _mip_levels, _mip_weights

    assert _mip_levels(256, 256, 224, AugmentConfig()) == range(0, 1)  # GPU defaults: plain bilinear as before
    assert _mip_levels(256, 256, 64, OFF) == range(2, 3)  # no crop: straight to the 64 px level
    assert _mip_levels(256, 256, 64, AugmentConfig()) == range(1, 3)  # smallest crop (20 %): ~1.8 px footprint
    full, half = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), torch.tensor([[0, -0.5, 0], [0.5, 0, 0]])  # 2nd: turned
    weights = _mip_weights(torch.stack([full, half]), 256, 256, 64, range(0, 3))
    assert torch.allclose(weights, torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    three_px = torch.tensor([[[0.75, 0, 0], [0, 0.75, 0]]])  # footprint 3 px: between levels 1 and 2
    assert torch.allclose(_mip_weights(three_px, 256, 256, 64, range(0, 3)).sum(), torch.tensor(1.0))
