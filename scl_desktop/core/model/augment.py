"""The aerial augmentation policy as batched tensor operations on the training device.

Input is a uint8 batch ``[B, 3, H, W]`` straight from the decoded cache; output is a float32,
ImageNet-normalised batch ``[B, 3, out, out]``. The four parts of the paper's policy:

* **RCR** random crop and resize (area fraction and aspect ratio as torchvision's
  ``RandomResizedCrop``),
* **RF** horizontal and vertical flips,
* **RR** rotation by any angle, by multiples of 90 degrees, or both,
* **RCD** colour distortion: brightness, contrast, saturation and hue jitter (together, with
  probability ``color_p``) and random grayscale (probability ``grayscale_p``).

Crop, flip and rotation are composed into one affine matrix per sample and applied with a
single sampling grid + ``grid_sample``; the colour distortion is one 3x3 matrix plus an
offset per sample, applied together with the normalisation in one batched matrix product.
No Python loop runs over the images. Images at least twice the output size (e.g. a 256 px
store and 64 px views on a CPU) are sampled through a mipmap: an antialiased pyramid of 2x
reductions, each view blended from the two levels whose pixels bracket its footprint.
Bilinear taps that skip source pixels would alias fine textures (crop rows, roofs) into moire
patterns that the antialiased ``prepare_eval`` images used for evaluation never show.
Differences from torchvision's per-image transforms, on
purpose: the crop window is continuous (not whole pixels), the colour operations run in a
fixed order (brightness, contrast, saturation, hue) and are clamped once at the end instead of
after each step, and hue is a rotation of the chroma plane in YIQ space instead of an HSV shift.
The normalisation constants live only in this module.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from scl_desktop.core.errors import ConfigError
from scl_desktop.core.model.settings import IMAGENET_MEAN, IMAGENET_STD, AugmentConfig

_LUMA = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]], dtype=torch.float64
)


def _hue_basis() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Constant matrices with hue_matrix(a) = A0 + cos(a) * Ac + sin(a) * As (rotation of I and Q)."""
    inv = torch.linalg.inv(_RGB_TO_YIQ)
    keep = torch.diag(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    cos = torch.diag(torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64))
    sin = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    return tuple((inv @ m @ _RGB_TO_YIQ).float() for m in (keep, cos, sin))  # type: ignore[return-value]


_HUE_A0, _HUE_AC, _HUE_AS = _hue_basis()
# cos and sin of k * 90 degrees, exact, so that quarter turns move pixels exactly.
_QUARTER_TURNS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
# Columns of the per-sample uniform draws (one torch.rand call per batch).
_CROP_TRIALS = 10
_U_AREA, _U_RATIO = slice(0, 10), slice(10, 20)
_U_CX, _U_CY, _U_HFLIP, _U_VFLIP, _U_QUARTER, _U_ANGLE = 20, 21, 22, 23, 24, 25
_U_COLOR, _U_BRIGHT, _U_CONTRAST, _U_SAT, _U_HUE, _U_GRAY = 26, 27, 28, 29, 30, 31
_U_COLUMNS = 32


@functools.lru_cache(maxsize=8)
def _constants(device: torch.device) -> dict[str, torch.Tensor]:
    """The module's constant tensors on ``device``, copied once (a copy per batch would sync CUDA)."""
    cpu = {"luma": torch.tensor(_LUMA), "mean": torch.tensor(IMAGENET_MEAN), "std": torch.tensor(IMAGENET_STD),
           "hue_a0": _HUE_A0, "hue_ac": _HUE_AC, "hue_as": _HUE_AS, "quarter": _QUARTER_TURNS}
    with torch.inference_mode(False):
        return {k: v.to(device) for k, v in cpu.items()}


def _check_batch(images: torch.Tensor, out_size: int) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 \
            or images.shape[1] != 3:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected a uint8 image batch [B, 3, H, W], got {got}")
    if int(out_size) < 1:
        raise ConfigError(f"output image size {out_size} is not positive.", "Use e.g. 224 (GPU) or 64 (CPU).")


def _uniform(batch: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """[batch, _U_COLUMNS] uniforms from ``generator`` (or the default generator of ``device``)."""
    source = generator.device if generator is not None else device
    u = torch.rand(batch, _U_COLUMNS, generator=generator, device=source)
    return u.to(device, non_blocking=True)


def _lerp(lo: float, hi: float, u: torch.Tensor) -> torch.Tensor:
    return lo + (hi - lo) * u


def _crop_windows(u: torch.Tensor, cfg: AugmentConfig, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """Half-widths, half-heights and centres (normalised coordinates) of the RCR windows.

    Like torchvision: up to 10 tries of (area, log-ratio); the first that fits wins; the
    whole image when none fits.
    """
    area = _lerp(cfg.crop_scale[0], cfg.crop_scale[1], u[:, _U_AREA])
    ratio = torch.exp(_lerp(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), u[:, _U_RATIO]))
    wf = torch.sqrt(area * ratio * (height / width))
    hf = torch.sqrt(area / ratio * (width / height))
    fits = (wf <= 1.0) & (hf <= 1.0)
    first = fits.to(torch.float32).argmax(dim=1, keepdim=True)
    any_fit = fits.any(dim=1)
    one = torch.ones_like(any_fit, dtype=wf.dtype)
    wf = torch.where(any_fit, wf.gather(1, first).squeeze(1), one)
    hf = torch.where(any_fit, hf.gather(1, first).squeeze(1), one)
    cx = (1.0 - wf) * (2.0 * u[:, _U_CX] - 1.0)
    cy = (1.0 - hf) * (2.0 * u[:, _U_CY] - 1.0)
    return wf, hf, cx, cy


def _affine(u: torch.Tensor, cfg: AugmentConfig, height: int, width: int) -> torch.Tensor:
    """[B, 2, 3] output->input sampling matrices composing crop, rotation and flips."""
    batch = u.shape[0]
    ones, zeros = torch.ones(batch, device=u.device), torch.zeros(batch, device=u.device)
    if cfg.crop:
        wf, hf, cx, cy = _crop_windows(u, cfg, height, width)
    else:
        wf, hf, cx, cy = ones, ones, zeros, zeros
    if cfg.flip:
        sx = torch.where(u[:, _U_HFLIP] < cfg.hflip_p, -ones, ones)
        sy = torch.where(u[:, _U_VFLIP] < cfg.vflip_p, -ones, ones)
    else:
        sx = sy = ones
    cos, sin = ones, zeros
    if cfg.rotate and cfg.rotate_mode in ("90", "both"):
        quarter = (u[:, _U_QUARTER] * 4).long().clamp_(max=3)
        cs = _constants(u.device)["quarter"][quarter]
        cos, sin = cs[:, 0], cs[:, 1]
    if cfg.rotate and cfg.rotate_mode in ("any", "both") and cfg.rotate_degrees > 0:
        angle = (2.0 * u[:, _U_ANGLE] - 1.0) * math.radians(cfg.rotate_degrees)
        c, s = torch.cos(angle), torch.sin(angle)
        cos, sin = cos * c - sin * s, sin * c + cos * s
    # input = diag(wf, hf) @ R(angle) @ diag(sx, sy) @ output + (cx, cy); positive angles turn the
    # content counter-clockwise on screen (as torch.rot90 on the last two dims).
    row0 = torch.stack([wf * cos * sx, -wf * sin * sy, cx], dim=1)
    row1 = torch.stack([hf * sin * sx, hf * cos * sy, cy], dim=1)
    return torch.stack([row0, row1], dim=1)


def _sampling_grid(theta: torch.Tensor, out_size: int) -> torch.Tensor:
    """``F.affine_grid(theta, [B, C, out, out], align_corners=False)`` by broadcasting (several times faster on CPU)."""
    batch = theta.shape[0]
    lin = (torch.arange(out_size, device=theta.device, dtype=theta.dtype) * 2 + 1) / out_size - 1
    grid = torch.empty(batch, out_size, out_size, 2, device=theta.device, dtype=theta.dtype)
    for k in range(2):  # x then y input coordinate of every output pixel
        row = theta[:, k]
        along_x = (row[:, 0:1] * lin + row[:, 2:3])[:, None, :]
        along_y = (row[:, 1:2] * lin)[:, :, None]
        torch.add(along_x, along_y, out=grid[..., k])
    return grid


def _shrink(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 batch to ``height x width``, as float (uint8 fast path on the CPU)."""
    if images.device.type == "cpu":
        return F.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False).float()
    return F.interpolate(images.float(), size=(height, width), mode="bilinear", antialias=True, align_corners=False)


def _mip_levels(height: int, width: int, out_size: int, cfg: AugmentConfig) -> range:
    """Pyramid levels (level k: the image shrunk 2^k times) that views of this batch can need.

    The coarsest is the last one still at least ``out_size`` on its shorter side; the finest is
    the one nearest the smallest footprint any view can have (the smallest crop area; rotation
    does not shrink a footprint), so the full-size image is not touched (a costly float copy)
    when views need at most a slight upsampling of the next level.
    """
    coarsest = max(0, int(math.floor(math.log2(min(height, width) / out_size))))
    area = cfg.crop_scale[0] if cfg.crop else 1.0
    smallest = math.sqrt(area * height * width) / out_size
    finest = min(coarsest, max(0, round(math.log2(smallest))))
    return range(finest, coarsest + 1)


def _mip_weights(theta: torch.Tensor, height: int, width: int, out_size: int, levels: range) -> torch.Tensor:
    """Per sample and level, the trilinear mipmap weight [B, len(levels)] (rows sum to 1).

    The footprint of a view is the larger of the source-pixel steps along the output's x and y
    axes (crop size and rotation included); its level of detail ``log2(footprint)``, clamped to
    ``levels``, is split between the two levels around it.
    """
    step_x = torch.hypot(theta[:, 0, 0] * width, theta[:, 1, 0] * height)
    step_y = torch.hypot(theta[:, 0, 1] * width, theta[:, 1, 1] * height)
    lod = torch.log2(torch.maximum(step_x, step_y) / out_size).clamp(levels.start, levels.stop - 1)
    ks = torch.arange(levels.start, levels.stop, device=theta.device, dtype=lod.dtype)
    return (1.0 - (lod[:, None] - ks[None, :]).abs()).clamp_min(0.0)


def _resample(images: torch.Tensor, theta: torch.Tensor, out_size: int, cfg: AugmentConfig) -> torch.Tensor:
    """Float views [B, 3, out, out] of the uint8 ``images`` through the sampling matrices ``theta``.

    Images at least twice the output size are sampled through a mipmap (see the module
    docstring), so that no bilinear tap skips source pixels.
    """
    height, width = images.shape[-2:]
    levels = _mip_levels(height, width, out_size, cfg)
    grid = _sampling_grid(theta, out_size)

    def sample(k: int) -> torch.Tensor:
        source = images.float() if k == 0 else _shrink(images, round(height / 2**k), round(width / 2**k))
        return F.grid_sample(source, grid, mode="bilinear", padding_mode=cfg.padding, align_corners=False)

    if len(levels) == 1:
        return sample(levels[0])
    weights = _mip_weights(theta, height, width, out_size, levels)[:, :, None, None, None]
    view = weights[:, 0] * sample(levels[0])
    for i, k in enumerate(levels[1:], start=1):  # every level over the whole batch: no host sync
        view = view.addcmul_(weights[:, i], sample(k))
    return view


def _color_transform(u: torch.Tensor, cfg: AugmentConfig, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample colour matrix [B, 3, 3] and offset [B, 3] acting on RGB in 0..255 -> 0..1."""
    batch, device = u.shape[0], u.device
    eye = torch.eye(3, device=device).expand(batch, 3, 3)
    if not cfg.color:
        return eye / 255.0, torch.zeros(batch, 3, device=device)
    const = _constants(device)
    luma = const["luma"]
    to_gray = torch.ones(3, 1, device=device) * luma  # every row = luma weights
    apply = u[:, _U_COLOR] < cfg.color_p

    def factor(strength: float, col: int) -> torch.Tensor:
        f = _lerp(max(0.0, 1.0 - strength), 1.0 + strength, u[:, col])
        return torch.where(apply, f, torch.ones_like(f))

    b = factor(cfg.brightness, _U_BRIGHT)
    c = factor(cfg.contrast, _U_CONTRAST)
    s = factor(cfg.saturation, _U_SAT)
    hue = torch.where(apply, cfg.hue * (2.0 * u[:, _U_HUE] - 1.0), torch.zeros_like(b)) * (2.0 * math.pi)
    # brightness x*b; contrast blends with the mean gray level (b * g0); saturation blends each
    # pixel with its gray value; hue rotates chroma. All keep gray vectors gray, so the offset of
    # the contrast step passes through the later steps unchanged.
    mean_gray = (view.mean(dim=(2, 3)) / 255.0) @ luma
    sat = s[:, None, None] * eye + (1.0 - s)[:, None, None] * to_gray
    rot = (const["hue_a0"] + torch.cos(hue)[:, None, None] * const["hue_ac"]
           + torch.sin(hue)[:, None, None] * const["hue_as"])
    matrix = (rot @ sat) * (b * c)[:, None, None]
    offset = ((1.0 - c) * b * mean_gray)[:, None].expand(batch, 3)
    gray = (u[:, _U_GRAY] < cfg.grayscale_p)[:, None, None]
    matrix = torch.where(gray, to_gray @ matrix, matrix)
    return matrix / 255.0, offset


def _normalise_and_clamp(view: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor,
                         channels_last: bool) -> torch.Tensor:
    """(clamp(matrix @ rgb + offset, 0, 1) - mean) / std for every pixel, in one batched product."""
    batch, _, height, width = view.shape
    const = _constants(view.device)
    mean, std = const["mean"], const["std"]
    matrix = matrix / std[:, None]
    offset = (offset - mean) / std
    lo, hi = -mean / std, (1.0 - mean) / std
    flat = view.reshape(batch, 3, height * width)
    if channels_last:
        out = torch.baddbmm(offset[:, None, :], flat.transpose(1, 2), matrix.transpose(1, 2))
        out = out.clamp_(lo, hi)
        return out.view(batch, height, width, 3).permute(0, 3, 1, 2)
    out = torch.baddbmm(offset[:, :, None], matrix, flat)
    out = out.clamp_(lo[:, None], hi[:, None])
    return out.view(batch, 3, height, width)


def augment_batch(images: torch.Tensor, out_size: int, cfg: AugmentConfig | None = None,
                  generator: torch.Generator | None = None, channels_last: bool = False) -> torch.Tensor:
    """One augmented, normalised view of every image of a uint8 batch ``[B, 3, H, W]``.

    Runs on ``images.device``. Random numbers come from ``generator`` or from the default
    generator of the device; on CUDA give a CUDA generator (a CPU one costs a host sync per call). Returns float32 ``[B, 3, out_size, out_size]``, in
    channels_last memory layout when asked. Call it twice for SupCon's two views.
    """
    cfg = cfg or AugmentConfig()
    _check_batch(images, out_size)
    batch, _, height, width = images.shape
    with torch.autocast(images.device.type, enabled=False):  # float32 whatever the caller's autocast
        u = _uniform(batch, images.device, generator)
        theta = _affine(u, cfg, height, width)
        view = _resample(images, theta, out_size, cfg)
        matrix, offset = _color_transform(u, cfg, view)
        return _normalise_and_clamp(view, matrix, offset, channels_last)


def prepare_eval(images: torch.Tensor, out_size: int, channels_last: bool = False) -> torch.Tensor:
    """Evaluation input: antialiased resize of a uint8 batch to ``out_size`` and normalisation."""
    _check_batch(images, out_size)
    with torch.autocast(images.device.type, enabled=False):
        x = images.float()
        if tuple(x.shape[-2:]) != (out_size, out_size):
            x = F.interpolate(x, size=(out_size, out_size), mode="bilinear", antialias=True, align_corners=False)
        batch = x.shape[0]
        eye = torch.eye(3, device=x.device).expand(batch, 3, 3) / 255.0
        return _normalise_and_clamp(x, eye, torch.zeros(batch, 3, device=x.device), channels_last)
