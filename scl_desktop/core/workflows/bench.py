"""`scl bench`: throughput of the real training and labelling code against their references.

Everything runs on synthetic data in a temporary folder; no run, cache or index entry of the
user is touched. Numbers are samples (images) per second; stage 1 counts an image once although
it makes two views.

* ``stage1.pipeline``: the built-in stage-1 path, the functions ``train_encoder`` uses per step
  in the shared ``TrainLoop``: uint8 batches from a memory-mapped ``DecodedStore`` -> device
  (pinned, non-blocking) -> two views with ``augment_batch`` -> ``SupConModel`` under the
  device's AMP policy (channels_last on CUDA) -> ``supcon_loss`` -> SGD step.
* ``stage1.ceiling``: the same model, loss, optimizer and loop fed from a random tensor that is
  already on the device (the model-only ceiling).
* ``stage1.reference``: the usual reference pipeline of the public SupCon code: torchvision/PIL
  transforms (RandomResizedCrop, flips, rotation, ColorJitter, RandomGrayscale, ToTensor,
  Normalize) of in-memory JPEGs in DataLoader workers (one per CPU core), two crops per image,
  fp32, default memory format, ``loss.item()`` every step.
* with ``compile``: pipeline and ceiling again with ``torch.compile``.
* ``stage2``: 100 epochs of the linear classifier on cached features (the ``TrainLoop`` with
  class-balanced sampling) against one stage-1 epoch on the same number of images.
* ``label``: ``labelling.label_with_model`` over a synthetic GeoTIFF scene (window reads
  included) against the model-only inference ceiling.

Each measurement runs ``warmup`` steps first and then times ``steps`` steps; the timed region
ends with a device synchronisation (the loop reads the loss), so asynchronous CUDA work counts.
"""

from __future__ import annotations

import io
import math
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scl_desktop.core import devices
from scl_desktop.core.data.cache import DecodedStore
from scl_desktop.core.data.manifest import RasterSettings
from scl_desktop.core.devices import as_channels_last, configure_backends, prepare_model, to_device
from scl_desktop.core.errors import Cancelled, ConfigError
from scl_desktop.core.events import CancelToken, EpochMetrics, Event, Log, Progress, RateMeter
from scl_desktop.core.labelling.label import LabelConfig, LabelModel, label_with_model
from scl_desktop.core.labelling.tiling import TilingConfig
from scl_desktop.core.model.augment import IMAGENET_MEAN, IMAGENET_STD, augment_batch, prepare_eval
from scl_desktop.core.model.losses import ce_loss, supcon_loss
from scl_desktop.core.model.networks import LinearClassifier, SupConModel
from scl_desktop.core.model.predictor import Predictor, batched_apply, freeze
from scl_desktop.core.model.samplers import ClassBalancedSampler, InstanceSampler
from scl_desktop.core.model.settings import ARCHS, AugmentConfig
from scl_desktop.core.training.config import CPU_SCALE
from scl_desktop.core.training.loop import TrainLoop
from scl_desktop.core.training.setup import make_sgd, maybe_compile

PARTS = ("stage1", "stage2", "label")
STAGE2_EPOCHS = 100
NUM_CLASSES = 10
TEMPERATURE = 0.1
LR = 0.01
"""Small on purpose: random images must not make the loss diverge during the timed steps."""

_SIZED: dict[str, dict[str, int | str]] = {
    # the paper's setting on a GPU; the CPU training defaults of `scl train` on a CPU
    "cuda": {"arch": "resnet50", "size": 224, "store_size": 256, "batch": 128, "steps": 50, "warmup": 15,
             "images": 5000, "store_images": 1024, "label_grid": 32, "repeat": 1},
    "cpu": {"arch": CPU_SCALE["arch"], "size": CPU_SCALE["image_size"], "store_size": 256,
            "batch": CPU_SCALE["batch_size"], "steps": 5, "warmup": 2, "images": 1000, "store_images": 256,
            "label_grid": 8, "repeat": 2},
}


@dataclass(frozen=True)
class BenchConfig:
    """What to measure; ``None`` fields are sized to the device by :meth:`sized_for`.

    ``size``: training/inference image size; ``store_size``: resolution of the decoded images
    (and of the reference's JPEGs and the label windows); ``batch``: images per step; ``steps`` /
    ``warmup``: timed and untimed steps per measurement; ``images``: training images assumed for
    the stage-2 comparison; ``store_images``: synthetic images in the store; ``label_grid``: the
    synthetic scene has ``label_grid`` x ``label_grid`` windows; ``workers``: DataLoader workers
    of the reference (default one per usable CPU core); ``compile``: also measure with
    ``torch.compile``; ``repeat``: run the three stage-1 measurements this many times, interleaved,
    and keep the best of each (for machines shared with other work); ``parts``: which of ``PARTS`` to run.
    """

    device: str = "auto"
    arch: str | None = None
    size: int | None = None
    store_size: int | None = None
    batch: int | None = None
    steps: int | None = None
    warmup: int | None = None
    images: int | None = None
    store_images: int | None = None
    label_grid: int | None = None
    workers: int | None = None
    compile: bool = False
    repeat: int | None = None
    parts: tuple[str, ...] = PARTS
    seed: int = 0

    def sized_for(self, device: torch.device) -> BenchConfig:
        """This configuration with every unset field given its default for ``device``."""
        sized = _SIZED["cuda" if device.type == "cuda" else "cpu"]
        filled = {k: v for k, v in sized.items() if getattr(self, k) is None}
        if self.workers is None:
            filled["workers"] = int(devices.cpu_cores()["usable"] or 1)
        out = replace(self, **filled)
        out.validate()
        return out

    def validate(self) -> None:
        """``ConfigError`` for values that cannot be measured."""
        if self.arch is not None and self.arch not in ARCHS:
            raise ConfigError(f"Unknown architecture {self.arch!r}.", f"Use one of {', '.join(ARCHS)}.")
        unknown = sorted(set(self.parts) - set(PARTS))
        if unknown or not self.parts:
            raise ConfigError(f"Unknown or no benchmark parts: {', '.join(unknown) or 'none given'}.",
                              f"Choose from {', '.join(PARTS)}.")
        minimum = {"size": 16, "store_size": 16, "batch": 2, "steps": 1, "warmup": 0, "images": 1,
                   "store_images": 2, "label_grid": 1, "workers": 0, "repeat": 1}
        for name, low in minimum.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < low):
                raise ConfigError(f"bench {name.replace('_', '-')} {value!r} must be a whole number >= {low}.",
                                  "Leave it out to use the default for the device.")


def run_bench(config: BenchConfig | None = None,
              cancel: CancelToken | None = None) -> Generator[Event, None, dict[str, Any]]:
    """Run the benchmark as a step generator (``Log`` and ``Progress`` events); return the results.

    The result is ``{"device", "device_info", "config", "stage1", "stage2", "label"}`` (the parts
    that ran), throughputs in samples/s and ratios as plain numbers.
    """
    config = config or BenchConfig()
    config.validate()
    choice = devices.choose_device(config.device)
    device = choice.device
    cfg = config.sized_for(device)
    configure_backends(device)
    amp = devices.amp_policy(device)
    info = devices.device_summary(device)
    yield Log(f"Benchmark on {device} ({info.get('name')}): {cfg.arch}, {cfg.size} px views of {cfg.store_size} px "
              f"images, batch {cfg.batch}, mixed precision {amp.label}.")
    result: dict[str, Any] = {"device": f"{device} ({info.get('name')})", "device_info": info,
                              "config": {**asdict(cfg), "parts": list(cfg.parts)}}
    with tempfile.TemporaryDirectory(prefix="scl-bench-") as tmp:
        folder = Path(tmp)
        store = labels = None
        if "stage1" in cfg.parts or "stage2" in cfg.parts:
            store, labels = _synthetic_store(folder, cfg)
        pipeline_rate = None
        if "stage1" in cfg.parts:
            result["stage1"] = yield from _stage1(cfg, device, amp, store, labels, cancel)
            pipeline_rate = result["stage1"]["pipeline"]
        if "stage2" in cfg.parts:
            result["stage2"] = yield from _stage2(cfg, device, amp, store, pipeline_rate, cancel)
        if "label" in cfg.parts:
            result["label"] = yield from _label(cfg, device, amp, folder, cancel)
    return result


# ----------------------------------------------------------------------------- synthetic data
def synthetic_images(count: int, size: int, seed: int = 0) -> np.ndarray:
    """``count`` smooth random RGB images ``[count, size, size, 3]`` uint8 (structure + noise, JPEG-realistic)."""
    rng = torch.Generator().manual_seed(seed)
    out = np.empty((count, size, size, 3), np.uint8)
    for start in range(0, count, 64):
        n = min(64, count - start)
        coarse = torch.rand(n, 3, 8, 8, generator=rng) * 255
        x = nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
        x = x + torch.randn(n, 3, size, size, generator=rng) * 12
        out[start:start + n] = x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def _synthetic_store(folder: Path, cfg: BenchConfig) -> tuple[DecodedStore, np.ndarray]:
    """A memory-mapped store of synthetic images (as ``cache.build_store`` leaves one) and random labels."""
    path = folder / "images.npy"
    np.save(path, synthetic_images(cfg.store_images, cfg.store_size, cfg.seed))
    labels = np.random.default_rng(cfg.seed).integers(0, NUM_CLASSES, size=cfg.store_images)
    return DecodedStore(path=folder, key="bench", images=np.load(path, mmap_mode="r")), labels


# ----------------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _relay(gen: Generator[Event, None, Any], epochs: list[EpochMetrics]) -> Generator[Event, None, Any]:
    """Pass on the ``Progress`` and ``Log`` events of ``gen``, collect its ``EpochMetrics``, return its result."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, EpochMetrics):
            epochs.append(event)
        elif isinstance(event, (Progress, Log)):
            yield event


def _loop(title: str, model: nn.Module, optimizer: torch.optim.Optimizer, amp: devices.AmpPolicy,
          device: torch.device, step_fn: Callable[[torch.Tensor], torch.Tensor], sampler: Any, num_samples: int,
          batch: int, epochs: int, cancel: CancelToken | None) -> Generator[Event, None, list[EpochMetrics]]:
    """Run the shared ``TrainLoop`` (no checkpoints, no records); return its epochs' metrics."""
    loop = TrainLoop(stage="bench", title=title, model=model, optimizer=optimizer, amp=amp, device=device,
                     step_fn=step_fn, sampler=sampler, num_samples=num_samples, batch_size=batch, epochs=epochs,
                     base_lr=LR, cancel=cancel, write_checkpoints=False)
    metrics: list[EpochMetrics] = []
    result = yield from _relay(loop.run(), metrics)
    if result.status == "cancelled":
        raise Cancelled("The benchmark was cancelled.", "Nothing was written.")
    return metrics


def _train_rate(title: str, model: nn.Module, amp: devices.AmpPolicy, device: torch.device,
                step_fn: Callable[[torch.Tensor], torch.Tensor], labels: np.ndarray, cfg: BenchConfig,
                cancel: CancelToken | None) -> Generator[Event, None, float]:
    """Samples/s of ``step_fn`` in the training loop: ``warmup`` steps, then ``steps`` timed steps."""
    optimizer = make_sgd(model.parameters(), LR, 0.9, 1e-4, device)
    rate = 0.0
    for steps, what in ((cfg.warmup, f"{title} (warm-up)"), (cfg.steps, title)):
        if steps:
            n = steps * cfg.batch
            epochs = yield from _loop(what, model, optimizer, amp, device, step_fn,
                                      InstanceSampler(labels, num_samples=n, seed=cfg.seed), n, cfg.batch, 1, cancel)
            rate = epochs[-1].samples_per_s
    return rate


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


# ----------------------------------------------------------------------------- stage 1
def _views_loss(net: nn.Module, views: torch.Tensor, y: torch.Tensor, amp: devices.AmpPolicy,
                device: torch.device) -> torch.Tensor:
    """SupCon of a [2B, 3, S, S] batch of two views, as ``train_encoder`` computes it."""
    with amp.autocast(device):
        projections = net(views)
    batch = y.shape[0]
    return supcon_loss(torch.stack([projections[:batch], projections[batch:]], dim=1), y, TEMPERATURE)


def _fresh_model(cfg: BenchConfig, device: torch.device, compile_model: bool) -> tuple[SupConModel, nn.Module]:
    torch.manual_seed(cfg.seed)
    model = SupConModel(cfg.arch)
    return model, maybe_compile(prepare_model(model, device, channels_last=True), compile_model)


def _pipeline(cfg: BenchConfig, device: torch.device, amp: devices.AmpPolicy, store: DecodedStore,
              labels: np.ndarray, compile_model: bool, cancel: CancelToken | None) -> Generator[Event, None, float]:
    model, net = _fresh_model(cfg, device, compile_model)
    channels_last = device.type == "cuda"
    labels_t = torch.from_numpy(labels)
    augment = AugmentConfig()
    rng = torch.Generator(device=device)
    rng.manual_seed(cfg.seed + 1)

    def step(positions: torch.Tensor) -> torch.Tensor:
        images = to_device(store.batch(positions.numpy()), device)
        views = augment_batch(images.repeat(2, 1, 1, 1), cfg.size, augment,
                              generator=rng, channels_last=channels_last)
        return _views_loss(net, views, to_device(labels_t[positions], device), amp, device)

    title = "Bench: built-in pipeline" + (" (compiled)" if compile_model else "")
    return (yield from _train_rate(title, model, amp, device, step, labels, cfg, cancel))


def _ceiling(cfg: BenchConfig, device: torch.device, amp: devices.AmpPolicy, labels: np.ndarray,
             compile_model: bool, cancel: CancelToken | None) -> Generator[Event, None, float]:
    model, net = _fresh_model(cfg, device, compile_model)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    views = torch.randn(2 * cfg.batch, 3, cfg.size, cfg.size, generator=gen, device=device)
    views = as_channels_last(views, True)
    y = torch.randint(NUM_CLASSES, (cfg.batch,), generator=gen, device=device)

    def step(positions: torch.Tensor) -> torch.Tensor:
        return _views_loss(net, views, y, amp, device)

    title = "Bench: model-only ceiling" + (" (compiled)" if compile_model else "")
    return (yield from _train_rate(title, model, amp, device, step, labels, cfg, cancel))


class _JpegTwoCrops(torch.utils.data.Dataset):
    """The reference dataset: JPEG bytes decoded with PIL, two transformed crops per image."""

    def __init__(self, jpegs: list[bytes], labels: np.ndarray, transform: Callable[[Any], torch.Tensor]) -> None:
        self.jpegs, self.labels, self.transform = jpegs, labels, transform

    def __len__(self) -> int:
        return len(self.jpegs)

    def __getitem__(self, index: int) -> tuple[list[torch.Tensor], int]:
        from PIL import Image

        image = Image.open(io.BytesIO(self.jpegs[index])).convert("RGB")
        return [self.transform(image), self.transform(image)], int(self.labels[index])


def reference_transform(size: int) -> Callable[[Any], torch.Tensor]:
    """The aerial policy as per-image torchvision/PIL transforms, the way the SupCon reference code builds it."""
    from torchvision import transforms as T

    return T.Compose([
        T.RandomResizedCrop(size=size, scale=(0.2, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomVerticalFlip(),
        T.RandomChoice([T.RandomRotation((angle, angle)) for angle in (0, 90, 180, 270)]),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def _jpegs(images: np.ndarray) -> list[bytes]:
    from PIL import Image

    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _reference(cfg: BenchConfig, device: torch.device, store: DecodedStore, labels: np.ndarray,
               cancel: CancelToken | None) -> Generator[Event, None, float]:
    """Samples/s of the reference: PIL transforms in DataLoader workers, fp32, plain SGD, a loss.item() per step."""
    torch.manual_seed(cfg.seed)
    model = SupConModel(cfg.arch).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=1e-4)
    dataset = _JpegTwoCrops(_jpegs(np.asarray(store.images)), labels, reference_transform(cfg.size))
    # Workers fill up to 2 batches each ahead; warm up past that so the timed steps see the steady state.
    warmup = max(cfg.warmup, 2 * cfg.workers + 1)
    total = warmup + cfg.steps
    sampler = torch.utils.data.RandomSampler(dataset, num_samples=total * cfg.batch,
                                             generator=torch.Generator().manual_seed(cfg.seed))
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers,
                                         pin_memory=device.type == "cuda", drop_last=True)
    meter = RateMeter(total=total)
    batches = iter(loader)
    started = time.perf_counter()
    try:
        for step in range(total):
            if cancel is not None:
                cancel.raise_if_cancelled("The benchmark")
            if step == warmup:
                _sync(device)
                started = time.perf_counter()
            (first, second), y = next(batches)
            images = torch.cat([first, second]).to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            features = model(images)
            f1, f2 = torch.split(features, [len(y), len(y)])
            loss = supcon_loss(torch.stack([f1, f2], dim=1), y, TEMPERATURE)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # the reference logs the loss every step
            yield meter.progress(f"Bench: PIL/DataLoader reference ({cfg.workers} workers)", step + 1, unit="steps")
        _sync(device)
        return cfg.steps * cfg.batch / (time.perf_counter() - started)
    finally:
        del batches  # shuts the workers down


def _stage1(cfg: BenchConfig, device: torch.device, amp: devices.AmpPolicy, store: DecodedStore, labels: np.ndarray,
            cancel: CancelToken | None) -> Generator[Event, None, dict[str, Any]]:
    runs: dict[str, list[float]] = {"pipeline": [], "ceiling": [], "reference": []}
    for _ in range(cfg.repeat):  # interleaved, so that a slow spell of a shared machine hits all three alike
        runs["ceiling"].append((yield from _ceiling(cfg, device, amp, labels, False, cancel)))
        runs["pipeline"].append((yield from _pipeline(cfg, device, amp, store, labels, False, cancel)))
        runs["reference"].append((yield from _reference(cfg, device, store, labels, cancel)))
    pipeline, ceiling, reference = (max(runs[k]) for k in ("pipeline", "ceiling", "reference"))
    out: dict[str, Any] = {"pipeline": round(pipeline, 2), "ceiling": round(ceiling, 2),
                           "reference": round(reference, 2), "pipeline_vs_ceiling": _ratio(pipeline, ceiling),
                           "pipeline_vs_reference": _ratio(pipeline, reference)}
    if cfg.repeat > 1:
        out["runs"] = {k: [round(v, 2) for v in vs] for k, vs in runs.items()}
    if cfg.compile:
        try:
            ceiling_c = yield from _ceiling(cfg, device, amp, labels, True, cancel)
            pipeline_c = yield from _pipeline(cfg, device, amp, store, labels, True, cancel)
        except Cancelled:
            raise
        except Exception as exc:  # compilers fail in many ways (no C++ compiler, unsupported op ...)
            out["compile_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            yield Log(f"torch.compile failed, compiled figures left out: {out['compile_error']}", "warning")
        else:
            out.update(pipeline_compiled=round(pipeline_c, 2), ceiling_compiled=round(ceiling_c, 2),
                       pipeline_compiled_vs_ceiling_compiled=_ratio(pipeline_c, ceiling_c),
                       pipeline_compiled_vs_reference=_ratio(pipeline_c, reference))
    return out


# ----------------------------------------------------------------------------- stage 2
def _stage2(cfg: BenchConfig, device: torch.device, amp: devices.AmpPolicy, store: DecodedStore,
            pipeline_rate: float | None, cancel: CancelToken | None) -> Generator[Event, None, dict[str, Any]]:
    """100 epochs of the linear classifier on cached features of ``images`` images, and the caching itself."""
    model, _ = _fresh_model(cfg, device, False)
    encoder = model.encoder.eval().requires_grad_(False)
    channels_last = device.type == "cuda"

    def encode(images: torch.Tensor) -> torch.Tensor:
        with amp.autocast(device):
            return encoder(prepare_eval(images, cfg.size, channels_last=channels_last))

    timed = [i % len(store) for i in range(cfg.steps * cfg.batch)]
    yield from batched_apply(encode, store.batch, timed[:cfg.batch], cfg.batch, device,
                             "Bench: encoding (warm-up)", cancel)
    started = time.perf_counter()
    yield from batched_apply(encode, store.batch, timed, cfg.batch, device, "Bench: encoding", cancel)
    encode_rate = len(timed) / (time.perf_counter() - started)

    n = cfg.images
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    features = torch.randn(n, model.feature_dim, generator=gen, device=device)
    labels = np.random.default_rng(cfg.seed).integers(0, NUM_CLASSES, size=n)
    labels_t = torch.from_numpy(labels)
    classifier = LinearClassifier(model.feature_dim, NUM_CLASSES).to(device)

    def step(positions: torch.Tensor) -> torch.Tensor:  # fit_classifier's step on cached features
        logits = classifier(features[positions.to(device)])
        return ce_loss(logits, to_device(labels_t[positions], device))

    sampler = ClassBalancedSampler(labels, seed=cfg.seed)
    optimizer = make_sgd(classifier.parameters(), LR, 0.9, 5e-5, device)
    started = time.perf_counter()
    yield from _loop("Bench: stage 2", classifier, optimizer, amp, device, step, sampler, len(sampler),
                     cfg.batch, STAGE2_EPOCHS, cancel)
    seconds = time.perf_counter() - started
    cache_s = n / encode_rate
    epoch_s = n / pipeline_rate if pipeline_rate else None
    return {
        "samples_per_s": round(STAGE2_EPOCHS * n / seconds, 2),
        "encode": round(encode_rate, 2),
        "images": n,
        "epochs": STAGE2_EPOCHS,
        "time_100_epochs_s": round(seconds, 3),
        "feature_cache_s": round(cache_s, 3),
        "stage1_epoch_s": None if epoch_s is None else round(epoch_s, 3),
        "time_ratio": None if epoch_s is None else round(seconds / epoch_s, 4),
        "time_ratio_with_caching": None if epoch_s is None else round((seconds + cache_s) / epoch_s, 4),
    }


# ----------------------------------------------------------------------------- labelling
def _write_scene(path: Path, cfg: BenchConfig) -> Path:
    """A georeferenced 3-band uint8 GeoTIFF of ``label_grid`` x ``label_grid`` windows of ``store_size`` px."""
    import rasterio
    from rasterio.transform import Affine

    side = cfg.label_grid * cfg.store_size
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=Affine(1.0, 0.0, 448_000.0, 0.0, -1.0, 5_411_000.0),
                       tiled=True, blockxsize=256, blockysize=256) as ds:
        for row in range(cfg.label_grid):
            tiles = synthetic_images(cfg.label_grid, cfg.store_size, cfg.seed + 2 + row)
            strip = np.concatenate(list(tiles), axis=1).transpose(2, 0, 1)  # 3 x store_size x side
            ds.write(strip, window=rasterio.windows.Window(0, row * cfg.store_size, side, cfg.store_size))
    return path


def _inference_ceiling(predictor: nn.Module, cfg: BenchConfig, device: torch.device,
                       amp: devices.AmpPolicy) -> float:
    """Windows/s of the classifier alone on normalised images already on the device."""
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    x = as_channels_last(torch.randn(cfg.batch, 3, cfg.size, cfg.size, generator=gen, device=device), True)
    batches = max(cfg.label_grid ** 2 // cfg.batch, cfg.steps)
    with torch.inference_mode(), amp.autocast(device):
        for _ in range(max(cfg.warmup, 1)):
            predictor.logits(x)
        _sync(device)
        started = time.perf_counter()
        for _ in range(batches):
            out = predictor.logits(x)
        out.float().sum().item()
    return batches * cfg.batch / (time.perf_counter() - started)


def _label(cfg: BenchConfig, device: torch.device, amp: devices.AmpPolicy, folder: Path,
           cancel: CancelToken | None) -> Generator[Event, None, dict[str, Any]]:
    try:
        import rasterio  # noqa: F401
    except ImportError:
        yield Log("Labelling left out: rasterio is not installed (it reads GeoTIFF scenes).", "warning")
        return {"skipped": "rasterio is not installed"}
    scene = _write_scene(folder / "scene.tif", cfg)
    model, _ = _fresh_model(cfg, device, False)
    classes = tuple(f"class{i}" for i in range(NUM_CLASSES))
    predictor = Predictor(model.encoder, LinearClassifier(model.feature_dim, NUM_CLASSES), cfg.size,
                          classes, channels_last=True)
    predictor = prepare_model(freeze(predictor), device, channels_last=True)
    ceiling = _inference_ceiling(predictor, cfg, device, amp)
    label_model = LabelModel(predictor, classes, cfg.store_size, RasterSettings(), cfg.store_size)
    config = LabelConfig(tiling=TilingConfig(tile=cfg.store_size, mode="grid", min_valid=0.0),
                         batch_size=cfg.batch, device=str(device))
    result = yield from _relay(label_with_model(label_model, [scene], config, cancel, device), [])
    return {"pipeline": round(result.tiles_per_s, 2), "ceiling": round(ceiling, 2),
            "pipeline_vs_ceiling": _ratio(result.tiles_per_s, ceiling), "windows": result.done,
            "window_px": cfg.store_size}


def format_report(result: dict[str, Any]) -> str:
    """The benchmark result as a short table for the terminal."""
    cfg = result["config"]
    lines = [f"scl bench on {result['device']}: {cfg['arch']}, {cfg['size']} px views of {cfg['store_size']} px "
             f"images, batch {cfg['batch']}"]
    s1 = result.get("stage1")
    if s1:
        lines += [
            "stage 1 (SupCon, two views)                  samples/s",
            f"  built-in pipeline                         {s1['pipeline']:>9.1f}",
            f"  model-only ceiling                        {s1['ceiling']:>9.1f}   pipeline/ceiling "
            f"{_fmt(s1['pipeline_vs_ceiling'])} (GPU target >= 0.95)",
            f"  PIL/DataLoader reference ({cfg['workers']} workers)     {s1['reference']:>9.1f}   pipeline/reference "
            f"{_fmt(s1['pipeline_vs_reference'])} (target >= 2 on a GPU, >= 1.5 on a CPU)",
        ]
        if "pipeline_compiled" in s1:
            lines += [f"  torch.compile: pipeline {s1['pipeline_compiled']:.1f}, ceiling {s1['ceiling_compiled']:.1f}"
                      f" (ratio {_fmt(s1['pipeline_compiled_vs_ceiling_compiled'])})"]
        elif "compile_error" in s1:
            lines += [f"  torch.compile failed: {s1['compile_error']}"]
    s2 = result.get("stage2")
    if s2:
        line = (f"stage 2: {s2['epochs']} epochs of the linear classifier on cached features of {s2['images']} images "
                f"in {s2['time_100_epochs_s']:.2f} s (+ {s2['feature_cache_s']:.2f} s to cache the features)")
        if s2["stage1_epoch_s"] is not None:
            line += (f"; one stage-1 epoch takes {s2['stage1_epoch_s']:.2f} s -> ratio {_fmt(s2['time_ratio'])} "
                     f"({_fmt(s2['time_ratio_with_caching'])} with caching; target < 1)")
        lines.append(line)
    lab = result.get("label")
    if lab:
        if "skipped" in lab:
            lines.append(f"labelling: left out ({lab['skipped']})")
        else:
            lines.append(f"labelling: {lab['pipeline']:.1f} windows/s of {lab['window_px']} px from a GeoTIFF, "
                         f"model-only ceiling {lab['ceiling']:.1f} -> {_fmt(lab['pipeline_vs_ceiling'])} "
                         "(GPU target >= 0.9)")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}x"
