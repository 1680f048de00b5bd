"""Training throughput of lrgym's trainer on a CUDA GPU: images/s and achieved TFLOP/s.

An `LRTuning-v0` episode is ten epochs of WRN-16-4 on CIFAR-10, so the trainer's speed on a GPU
decides how many episodes an agent can afford. This script trains WRN-16-4 and WRN-28-10 on
CIFAR-shaped synthetic data (3x32x32, 10 classes, 50,000 images before the validation split) for
one epoch (or `--batches` mini-batches) with `lrgym.training.Trainer`, exactly as the environment
calls it: `train(k)` a step at a time, bf16 autocast and channels-last as the trainer chooses,
optionally `torch.compile`. FLOPs per training image (forward and backward) are the usual counts
of the convolutions and the linear layer: about 2.36 GFLOP for WRN-16-4 and 31.5 for WRN-28-10.

Usage (from the repository root, on a machine with a CUDA GPU):
    python -m benchmarks.gpu_throughput
    python -m benchmarks.gpu_throughput --compile --models 16-4
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks._record import save_result
from lrgym.config import LRTuningConfig
from lrgym.devices import resolve_device
from lrgym.models import architecture
from lrgym.training import Trainer

# Forward + backward GFLOP per training image at 32x32 (multiply-adds counted as 2 FLOPs).
NOMINAL_GFLOP_PER_IMAGE = {(16, 4): 2.36, (28, 10): 31.5}


@dataclass
class Hyp:
    """Every knob of this benchmark; each is also a command-line option."""

    models: str = "16-4,28-10"  # WRN depth-width pairs, comma separated
    batches: int = 0  # timed mini-batches per model; 0: one epoch of the training split
    batches_per_call: int = 0  # mini-batches per trainer.train call (an env step); 0: one tenth of an epoch
    warmup: int = 30  # untimed mini-batches per model first (cuDNN autotuning, compilation)
    batch_size: int = 128  # images per mini-batch
    image_size: int = 32  # pixels per side (3 channels, 10 classes)
    train_size: int = 50_000  # synthetic images before the validation split (CIFAR-10's training set)
    compile: bool = False  # torch.compile the model
    seed: int = 0  # initial weights and data order
    device: str = "cuda"  # hidden option: "cpu" runs the same code path at tiny sizes, as a check


# What `--device cpu` uses instead, so that the code path runs in seconds on a CPU.
CPU_CHECK_SIZES = {"batch_size": 4, "image_size": 16, "train_size": 300, "warmup": 1}


def parse_models(spec: str) -> list[tuple[int, int]]:
    """'16-4,28-10' -> [(16, 4), (28, 10)]."""
    models = []
    for part in spec.split(","):
        depth, _, width = part.strip().partition("-")
        if not (depth.isdigit() and width.isdigit()):
            raise ValueError(f"--models entry {part!r} is invalid: expected DEPTH-WIDTH such as 16-4")
        models.append((int(depth), int(width)))
    return models


def make_config(hyp: Hyp, depth: int, width: int) -> LRTuningConfig:
    val_size = min(5000, hyp.train_size // 5)
    return LRTuningConfig(
        dataset="synthetic",
        synthetic_image_size=hyp.image_size,
        synthetic_train_size=hyp.train_size,
        synthetic_test_size=1000,
        val_size=val_size,
        val_subset_size=min(1000, val_size),
        depth=depth,
        width=width,
        batch_size=hyp.batch_size,
        device=hyp.device,
        compile=hyp.compile,
        final_eval=False,
    )


def counted_gflop_per_image(cfg: LRTuningConfig) -> float:
    """Forward + backward FLOPs of one image, counted on the meta device (no memory, no compute)."""
    model = architecture(cfg)
    info = cfg.dataset_info
    with torch.device("meta"):
        x = torch.empty(1, info.channels, info.image_size, info.image_size)
        y = torch.zeros(1, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train(trainer: Trainer, batches: int, per_call: int) -> None:
    done = 0
    while done < batches:
        k = min(per_call, batches - done)
        trainer.train(k)
        done += k


def measure(hyp: Hyp, depth: int, width: int) -> dict:
    """Warm-up, then a timed block of `trainer.train(k)` calls for one WRN."""
    cfg = make_config(hyp, depth, width)
    device = resolve_device(cfg.device)
    batches = hyp.batches or cfg.batches_per_epoch
    per_call = hyp.batches_per_call or max(1, cfg.batches_per_epoch // cfg.steps_per_epoch)
    counted = counted_gflop_per_image(cfg)
    nominal = NOMINAL_GFLOP_PER_IMAGE.get((depth, width)) if hyp.image_size == 32 else None
    gflop = nominal if nominal is not None else counted

    start = time.perf_counter()
    trainer = Trainer(cfg, hyp.seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    setup_s = time.perf_counter() - start
    start = time.perf_counter()
    if hyp.warmup:
        _train(trainer, hyp.warmup, per_call)
    _sync(device)
    warmup_s = time.perf_counter() - start

    start = time.perf_counter()
    _train(trainer, batches, per_call)
    _sync(device)
    seconds = time.perf_counter() - start

    images_per_s = batches * cfg.batch_size / seconds
    result = {
        "model": f"WRN-{depth}-{width}",
        "batches": batches,
        "batches_per_call": per_call,
        "batches_per_epoch": cfg.batches_per_epoch,
        "seconds": seconds,
        "images_per_second": images_per_s,
        "gflop_per_image": gflop,
        "gflop_per_image_counted": counted,
        "tflop_per_second": images_per_s * gflop / 1000,
        "epoch_seconds": cfg.batches_per_epoch * cfg.batch_size / images_per_s,
        "setup_seconds": setup_s,
        "warmup_seconds": warmup_s,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "final_lr": trainer.lr,
        "config": cfg.to_dict(),
    }
    del trainer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def report(hyp: Hyp, device: torch.device, results: list[dict]) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (code-path check only)"
    print(
        f"\n{name}; batch {hyp.batch_size}, {hyp.image_size}x{hyp.image_size}, "
        f"compile={hyp.compile}, torch {torch.__version__}"
    )
    header = f"{'model':<10} {'batches':>7} {'images/s':>10} {'GFLOP/img':>9} {'TFLOP/s':>8} {'epoch s':>8}"
    print(header + f" {'warm-up s':>9} {'peak GiB':>8}")
    for r in results:
        peak = "-" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.1f}"
        print(
            f"{r['model']:<10} {r['batches']:>7} {r['images_per_second']:>10.0f} "
            f"{r['gflop_per_image']:>9.2f} {r['tflop_per_second']:>8.2f} {r['epoch_seconds']:>8.1f} "
            f"{r['warmup_seconds']:>9.1f} {peak:>8}"
        )


def parse_args(argv: list[str] | None = None) -> Hyp:
    defaults = Hyp()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field in dataclasses.fields(Hyp):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if field.name == "device":
            parser.add_argument(flag, default=default, help=argparse.SUPPRESS)
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            extra = " (one epoch)" if field.name == "batches" else " (a tenth of an epoch)"
            extra = extra if field.name in ("batches", "batches_per_call") else ""
            parser.add_argument(flag, type=type(default), default=default, help=f"default: {default}{extra}")
    args = parser.parse_args(argv)
    if args.device == "cpu":  # the hidden check: tiny sizes unless given explicitly
        for name, value in CPU_CHECK_SIZES.items():
            if getattr(args, name) == getattr(defaults, name):
                setattr(args, name, value)
    hyp = Hyp(**vars(args))
    try:
        parse_models(hyp.models)
    except ValueError as error:
        parser.error(str(error))
    for name in ("batches", "batches_per_call", "warmup"):
        if getattr(hyp, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    return hyp


def main(argv: list[str] | None = None) -> int:
    hyp = parse_args(argv)
    if hyp.device != "cpu" and not torch.cuda.is_available():
        print(
            "gpu_throughput.py needs a CUDA GPU, and torch.cuda.is_available() is False on this machine "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}). Run it on a machine with "
            "an NVIDIA GPU.",
            file=sys.stderr,
        )
        return 2
    device = resolve_device(hyp.device)
    results = []
    for depth, width in parse_models(hyp.models):
        print(f"WRN-{depth}-{width}: warm-up and timing ...", flush=True)
        results.append(measure(hyp, depth, width))
    report(hyp, device, results)
    path = save_result(
        "gpu_throughput" if device.type == "cuda" else "gpu_throughput-cpu-check",
        {"hyp": dataclasses.asdict(hyp), "device": str(device), "results": results},
    )
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
