"""Images per second of lrgym's device-resident data path versus a conventional DataLoader loop.

`lrgym.training.Trainer` keeps the whole uint8 training split on the device and crops, flips and
normalises a whole mini-batch with a few tensor operations. The usual alternative is a torchvision
`DataLoader` whose worker processes transform one image at a time. This script trains the same
model (same config, same initial weights), with the same batch size, optimiser and loss on the
same device both ways, and reports the median images/s of each and their ratio.

The two pipelines run in alternating repeats (A,B then B,A, ...), each preceded by untimed
warm-up mini-batches, so a change in machine load during the run affects both alike and batches
that DataLoader workers prepared ahead during the other pipeline's turn are not counted as free.

Usage (from the repository root):
    python -m benchmarks.data_path                       # WRN-10-1, 32x32, batch 128, CPU
    python -m benchmarks.data_path --transforms tensor   # against a transforms.v2 uint8 loader
    python -m benchmarks.data_path --workers 0 --repeats 9
    python -m benchmarks.data_path --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T
from torchvision.transforms import v2

from benchmarks._record import save_result
from lrgym.batches import CROP_PADDING, DeviceSplit
from lrgym.config import LRTuningConfig
from lrgym.devices import resolve_device
from lrgym.models import build_model
from lrgym.training import Trainer

TARGET_RATIO = 1.3  # the trainer must reach this multiple of the DataLoader loop's images/s on CPU


@dataclass
class Hyp:
    """Every knob of this benchmark; each is also a command-line option."""

    batches: int = 10  # timed mini-batches per repeat, per pipeline
    warmup: int = 4  # untimed mini-batches before every repeat, per pipeline (>= workers x prefetch)
    repeats: int = 7  # timed repeats of each pipeline, interleaved
    workers: int = 2  # DataLoader worker processes (a conventional choice on a 2-core machine)
    prefetch_factor: int = 2  # mini-batches each worker prepares ahead (DataLoader's default)
    # "pil": the conventional CIFAR loop, as torchvision.datasets.CIFAR10 serves it (PIL images,
    # RandomCrop, RandomHorizontalFlip, ToTensor, Normalize); "tensor": transforms.v2 on uint8
    # tensors, a faster loader than the conventional one
    transforms: str = "pil"
    loader_channels_last: bool = False  # also hand the DataLoader's batches to the model channels-last
    batch_size: int = 128  # images per mini-batch
    image_size: int = 32  # pixels per side (synthetic, 3 channels, 10 classes)
    depth: int = 10  # WRN depth
    width: int = 1  # WRN widening factor
    seed: int = 0  # initial weights and data order of both pipelines
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"


PIPELINES = ("trainer", "dataloader")


def make_config(hyp: Hyp) -> LRTuningConfig:
    """A synthetic dataset just large enough that no image is used twice during the whole run."""
    batches_per_pipeline = hyp.repeats * (hyp.warmup + hyp.batches)
    val_size = 1000
    return LRTuningConfig(
        dataset="synthetic",
        synthetic_image_size=hyp.image_size,
        synthetic_train_size=batches_per_pipeline * hyp.batch_size + val_size,
        synthetic_test_size=100,
        val_size=val_size,
        depth=hyp.depth,
        width=hyp.width,
        batch_size=hyp.batch_size,
        device=hyp.device,
        final_eval=False,
    )


class UInt8Images(Dataset):
    """The trainer's uint8 training images, transformed one at a time as torchvision datasets do."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable, pil: bool) -> None:
        # PIL mode stores HWC numpy arrays, like torchvision.datasets.CIFAR10.
        self.images = images.permute(0, 2, 3, 1).numpy() if pil else images
        self.labels = labels.tolist()
        self.transform = transform
        self.pil = pil

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.images[i]) if self.pil else self.images[i]
        return self.transform(image), self.labels[i]


def make_transform(kind: str, size: int, mean: list[float], std: list[float]) -> Callable:
    """Random crop (4-px zero padding), horizontal flip, to float in [0, 1], normalise."""
    if kind == "pil":
        steps = [T.RandomCrop(size, padding=CROP_PADDING), T.RandomHorizontalFlip(), T.ToTensor()]
        return T.Compose([*steps, T.Normalize(mean, std)])
    return v2.Compose(
        [
            v2.RandomCrop(size, padding=CROP_PADDING),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )


class LoaderLoop:
    """The conventional training loop: DataLoader batches, copied to the device, model, SGD."""

    def __init__(self, cfg: LRTuningConfig, hyp: Hyp, data: DeviceSplit) -> None:
        self.cfg, self.hyp = cfg, hyp
        self.device = resolve_device(cfg.device)
        images, labels = data.train_images.cpu(), data.train_labels.cpu()
        mean, std = data.mean.flatten().tolist(), data.std.flatten().tolist()
        transform = make_transform(hyp.transforms, cfg.dataset_info.image_size, mean, std)
        self.loader = DataLoader(
            UInt8Images(images, labels, transform, pil=hyp.transforms == "pil"),
            batch_size=cfg.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=hyp.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=hyp.workers > 0,
            prefetch_factor=hyp.prefetch_factor if hyp.workers > 0 else None,
            generator=torch.Generator().manual_seed(hyp.seed),
        )
        self.model = build_model(cfg, self.device, torch.Generator().manual_seed(hyp.seed))
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=cfg.initial_lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
        self.settings = {  # what the saved result records about this loop
            "num_workers": hyp.workers,
            "prefetch_factor": self.loader.prefetch_factor,
            "persistent_workers": self.loader.persistent_workers,
            "pin_memory": self.loader.pin_memory,
            "transforms": repr(transform),
            "channels_last_input": hyp.loader_channels_last,
        }
        self._batches = self._forever()

    def _forever(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self.loader

    def train(self, n_batches: int) -> float:
        """Trains `n_batches` mini-batches; returns the last loss (the one host synchronisation)."""
        self.model.train()
        on_cuda = self.device.type == "cuda"
        memory_format = torch.channels_last if self.hyp.loader_channels_last else torch.preserve_format
        loss = torch.zeros(())
        for _ in range(n_batches):
            x, y = next(self._batches)
            x = x.to(self.device, non_blocking=True, memory_format=memory_format)
            y = y.to(self.device, non_blocking=True)
            # The trainer's bf16 autocast on CUDA, so that only the data path differs.
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
                loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())

    def close(self) -> None:
        del self._batches, self.loader  # shuts the persistent workers down


def _timed(device: torch.device, fn: Callable[[], object]) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def run(hyp: Hyp) -> dict:
    """Measures both pipelines in interleaved repeats; returns the configuration and the figures."""
    cfg = make_config(hyp)
    device = resolve_device(cfg.device)
    start = time.perf_counter()
    trainer = Trainer(cfg, hyp.seed)
    loop = LoaderLoop(cfg, hyp, trainer.data)
    print(f"set-up (synthetic data, models, workers): {time.perf_counter() - start:.1f} s", flush=True)
    steps: dict[str, Callable[[int], object]] = {"trainer": trainer.train, "dataloader": loop.train}
    rates: dict[str, list[float]] = {name: [] for name in PIPELINES}
    try:
        for repeat in range(hyp.repeats):
            order = PIPELINES if repeat % 2 == 0 else PIPELINES[::-1]
            for name in order:
                if hyp.warmup:
                    steps[name](hyp.warmup)
                seconds = _timed(device, lambda name=name: steps[name](hyp.batches))
                rates[name].append(hyp.batches * hyp.batch_size / seconds)
            print(
                f"repeat {repeat + 1}/{hyp.repeats}: "
                + ", ".join(f"{name} {rates[name][-1]:.0f} img/s" for name in PIPELINES),
                flush=True,
            )
    finally:
        loop.close()
    medians = {name: statistics.median(rates[name]) for name in PIPELINES}
    ratio = medians["trainer"] / medians["dataloader"]
    paired = statistics.median(a / b for a, b in zip(rates["trainer"], rates["dataloader"], strict=True))
    return {
        "hyp": dataclasses.asdict(hyp),
        "config": cfg.to_dict(),
        "model": f"WRN-{hyp.depth}-{hyp.width}",
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "dataloader": loop.settings,
        "images_per_second": rates,
        "median_images_per_second": medians,
        "ratio_trainer_over_dataloader": ratio,
        "median_paired_ratio": paired,
        "target_ratio": TARGET_RATIO,
        # Both statistics must agree: under changing machine load they can differ a lot.
        "target_met": min(ratio, paired) >= TARGET_RATIO,
        "seconds_total": time.perf_counter() - start,
    }


def report(hyp: Hyp, result: dict) -> None:
    rates, medians = result["images_per_second"], result["median_images_per_second"]
    loader = f"DataLoader, {hyp.workers} workers, {hyp.transforms} transforms" + (
        ", channels-last input" if hyp.loader_channels_last else ""
    )
    labels = {"trainer": "lrgym Trainer (device-resident)", "dataloader": loader}
    width = max(len(label) for label in labels.values())
    print()
    print(
        f"{result['model']}, {hyp.image_size}x{hyp.image_size}, batch {hyp.batch_size}, {result['device']} "
        f"({result['torch_threads']} threads); {hyp.repeats} repeats x {hyp.batches} timed batches "
        f"(+{hyp.warmup} warm-up each)"
    )
    print(f"{'pipeline':<{width}}  {'median img/s':>12}  {'min':>7}  {'max':>7}")
    for name in PIPELINES:
        low, high = min(rates[name]), max(rates[name])
        print(f"{labels[name]:<{width}}  {medians[name]:>12.0f}  {low:>7.0f}  {high:>7.0f}")
    ratio = result["ratio_trainer_over_dataloader"]
    verdict = "met" if result["target_met"] else "NOT met"
    paired = result["median_paired_ratio"]
    print(
        f"ratio trainer / DataLoader: {ratio:.2f}x (median of paired repeats {paired:.2f}x); "
        f"target >= {TARGET_RATIO}x (both) {verdict}"
    )


def parse_args(argv: list[str] | None = None) -> Hyp:
    defaults = Hyp()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field in dataclasses.fields(Hyp):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif field.name == "transforms":
            parser.add_argument(flag, choices=("tensor", "pil"), default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"default: {default}")
    hyp = Hyp(**vars(parser.parse_args(argv)))
    for name in ("batches", "repeats", "batch_size", "prefetch_factor"):
        if getattr(hyp, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if hyp.warmup < 0 or hyp.workers < 0:
        parser.error("--warmup and --workers must be >= 0")
    try:
        resolve_device(hyp.device)
    except ValueError as error:
        parser.error(str(error))
    if hyp.warmup < hyp.workers * hyp.prefetch_factor:
        print(
            f"note: --warmup {hyp.warmup} is below the {hyp.workers * hyp.prefetch_factor} batches the "
            "DataLoader prepares ahead, so some timed DataLoader batches were made during the trainer's turn",
            file=sys.stderr,
        )
    return hyp


def main(argv: list[str] | None = None) -> None:
    hyp = parse_args(argv)
    result = run(hyp)
    report(hyp, result)
    path = save_result("data_path", result)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
