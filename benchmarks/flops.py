"""What a suite of the "tasks" protocol costs in floating-point operations: for estimating its
GPU time before anyone runs it.

Every model's forward FLOPs per image are counted by torch's `FlopCounterMode` on the meta
device (shapes only: no memory, no data, no download). A training image costs 3 forward passes
(forward and backward), an evaluated image one: the rule `suites.estimate_hours` uses for one
fixed task. Each episode of each job kind is counted on its own task, so the sum follows the
distribution's mix of datasets, models and budgets. Schedule-Free SGD's re-estimation of the
BatchNorm statistics before every evaluation counts as forward passes too.

What it leaves out: data movement, Python overhead and the agents' own compute. It is an
estimate, and the suites say so.

Usage (from the repository root):
    python -m benchmarks.flops --suite mix
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

from benchmarks.suites import (
    Suite,
    get_suite,
    rl_episodes,
    task_distribution,
    task_indices,
    tuning_free_task,
)
from lrgym import tasks as task_tables
from lrgym.config import LRTuningConfig

TRAIN_PASSES = 3.0  # forward + backward of one training image, in forward passes
SUSTAINED_TFLOPS = (30.0, 100.0)  # the rates the estimates are quoted at (bf16 on one GPU)


@functools.cache
def _forward_gflop(model: str, depth: int, width: int, channels: int, size: int, classes: int) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lrgym.models import SmallCNN, WideResNet

    with torch.device("meta"):
        net = (
            WideResNet(depth, width, classes, channels, 0.0)
            if model == "wrn"
            else SmallCNN(classes, channels, width)
        )
        x = torch.empty(2, channels, size, size)
        with FlopCounterMode(display=False) as counter:
            net(x)
    return counter.get_total_flops() / 2 / 1e9


def forward_gflop(cfg: LRTuningConfig) -> float:
    """Forward GFLOP per image of the config's model (a built-in WRN or CNN)."""
    info = cfg.dataset_info
    return _forward_gflop(cfg.model, cfg.depth, cfg.width, info.channels, info.image_size, info.num_classes)


def episode_gflop(cfg: LRTuningConfig) -> float:
    """GFLOP of one episode of `cfg`: its training images, its evaluations after every decision,
    the final validation and test passes (if `final_eval`), Schedule-Free's BatchNorm passes."""
    forward = forward_gflop(cfg)
    trained = cfg.total_batches * cfg.batch_size
    evaluations = cfg.num_steps + 1  # after every decision, and once at the reset
    evaluated = evaluations * cfg.val_subset_size
    if cfg.final_eval:
        evaluated += cfg.val_size + cfg.dataset_info.test_count
    if cfg.optimizer == "schedulefree_sgd":
        evaluated += evaluations * cfg.schedulefree_bn_images
    return forward * (TRAIN_PASSES * trained + evaluated)


def task_gflop(suite: Suite) -> dict[str, float]:
    """GFLOP of every kind of job of a "tasks" suite (the kinds of `suites.task_episode_count`)."""
    p = suite.tasks
    assert p is not None
    dist = task_distribution(suite)

    def on(role: str, overrides: dict[str, Any]) -> float:
        return episode_gflop(task_tables.task_config(suite.role_config(role), overrides))

    tests, trains = task_indices(suite, "test"), task_indices(suite, "train")
    seeds = len(suite.eval_seeds)
    per_policy = seeds * sum(on("evaluate", dist.test[k]) for k in tests)
    learning = len(suite.learning_agents) * len(suite.train_seeds)
    mean_learning_episode = sum(on("learn", task) for task in dist.train) / len(dist.train)
    schedule_test = sum(on("schedule", dist.test[k]) for k in tests)
    return {
        "train": learning * rl_episodes(suite) * mean_learning_episode,  # tasks drawn uniformly
        "evaluate_learning": learning * per_policy,
        "tune_train_tasks": len(p.multipliers)
        * len(p.train_task_seeds)
        * sum(on("schedule_train", dist.train[k]) for k in trains),
        "tune_test_tasks": len(p.multipliers) * len(p.test_task_seeds) * schedule_test,
        "evaluate_schedules": 3 * seeds * schedule_test,
        "evaluate_tuning_free": seeds
        * sum(on("schedule", tuning_free_task(suite, k, o)) for o in p.tuning_free for k in tests),
        "evaluate_random": (int(suite.random) + len(suite.random_variants)) * per_policy,
    }


def estimate_task_hours(suite: Suite, tflops: float) -> float:
    """Wall hours of a "tasks" suite on one device sustaining `tflops` (see the module docstring)."""
    return sum(task_gflop(suite).values()) * 1e9 / (tflops * 1e12) / 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Estimate a task suite's GPU time from its FLOPs.")
    parser.add_argument("--suite", default="mix", help="a suite of protocol 'tasks' (default mix)")
    args = parser.parse_args(argv)
    suite = get_suite(args.suite)
    if suite.protocol != "tasks":
        parser.error(f"suite {suite.name!r} is not of protocol 'tasks'")
    by_kind = task_gflop(suite)
    for kind, gflop in by_kind.items():
        print(f"{kind:>22}: {gflop / 1e6:10.1f} PFLOP")
    total = sum(by_kind.values())
    print(f"{'total':>22}: {total / 1e6:10.1f} PFLOP")
    for rate in SUSTAINED_TFLOPS:
        print(f"at {rate:g} TFLOP/s sustained: {estimate_task_hours(suite, rate):.1f} h (an estimate)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
