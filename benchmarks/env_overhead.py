"""What the environment costs on top of the training it drives.

1. Episodes through `LRTuningEnv` versus the same training driven directly through the training
   core (same model, seed, mini-batches and evaluations; a constant LR), alternating at every
   step; the env/direct wall-time ratio (summed over repeats) must be <= 1.05.
2. The observation features' share of a step, for every preset with its own step size and
   feature set (target <= 2%), and for every feature set over all layers of WRN-16-4 with one
   mini-batch per step (target <= 10%). Steps of the CIFAR presets are timed as their number of
   mini-batches times one measured mini-batch (their evaluation left out, which makes the share
   an upper bound), on CIFAR-shaped synthetic data.

Usage (from the repository root):
    python -m benchmarks.env_overhead [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

import lrgym
from benchmarks._record import save_result
from lrgym import features
from lrgym.config import LRTuningConfig
from lrgym.layout import episode_trainer_seed
from lrgym.models import build_model, weight_layers
from lrgym.presets import PRESETS
from lrgym.training import Trainer

ENV_TARGET = 1.05  # env episode time / direct episode time
PRESET_FEATURE_TARGET = 0.02  # feature time / step time, each preset with its own step size
ONE_BATCH_FEATURE_TARGET = 0.10  # feature time / one WRN-16-4 mini-batch, every feature set


@dataclass
class Hyp:
    repeats: int = 5  # alternating (env, direct) episode pairs per configuration
    feature_calls: int = 10  # timed observation() calls per measurement (median reported)
    batch_calls: int = 3  # timed mini-batches per measurement (median), after one warm-up
    device: str = "cpu"


def cifar_shaped(cfg: LRTuningConfig, train_size: int = 6000) -> LRTuningConfig:
    """`cfg` on synthetic CIFAR-shaped data (3x32x32, 10 classes): same compute, no download."""
    return cfg.replace(
        dataset="synthetic",
        synthetic_image_size=32,
        synthetic_train_size=train_size,
        synthetic_test_size=1000,
        val_size=min(cfg.val_size, 1000),
        val_subset_size=min(cfg.val_subset_size, 500),
    )


ENV_CONFIGS = {
    "LRTuning-Tiny-v0": PRESETS["LRTuning-Tiny-v0"],
    "WRN-10-1 CIFAR-shaped": cifar_shaped(PRESETS["LRTuning-Tiny-v0"]).replace(epochs=1.0),
}


def median_time(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- 1. env versus direct ------------------------------------------------------------------


def lockstep_episode(cfg: LRTuningConfig, seed: int) -> tuple[float, float]:
    """One episode through the env and the same episode through the training core, step by step.

    The two alternate at every step (so machine load drifts hit both alike) and use the same
    trainer seed (so they train on the same batches). Returns (env seconds, direct seconds).
    """
    env = gym.make("LRTuning-Tiny-v0", config=cfg, preset=None)
    trainer_seed = episode_trainer_seed(seed)  # what env.reset draws
    clock = time.perf_counter

    start = clock()
    env.reset(seed=seed)
    env_s = clock() - start
    start = clock()
    trainer = Trainer(cfg, trainer_seed)
    trainer.evaluate("subset")
    direct_s = clock() - start

    done = 0
    for boundary in cfg.batch_boundaries():
        start = clock()
        env.step(2)  # multiplier 1.0: a constant LR
        env_s += clock() - start
        start = clock()
        trainer.set_lr(trainer.lr)
        trainer.train(boundary - done)
        trainer.evaluate("subset")
        done = boundary
        if done == cfg.total_batches:  # the env's last step includes the final report
            trainer.evaluate("val")
            trainer.evaluate("test")
        direct_s += clock() - start
    return env_s, direct_s


def compare_env_and_direct(hyp: Hyp) -> dict[str, dict]:
    out = {}
    for name, base in ENV_CONFIGS.items():
        cfg = base.replace(device=hyp.device)
        lockstep_episode(cfg, 0)  # warm-up: data generation, allocator pools
        env_times, direct_times = zip(*(lockstep_episode(cfg, r) for r in range(hyp.repeats)), strict=True)
        ratios = [e / d for e, d in zip(env_times, direct_times, strict=True)]
        out[name] = {
            "env_s": statistics.median(env_times),
            "direct_s": statistics.median(direct_times),
            "ratio": sum(env_times) / sum(direct_times),
            "paired_ratio_median": statistics.median(ratios),
            "paired_ratios": ratios,
            "steps": cfg.num_steps,
        }
        row = out[name]
        print(
            f"{name:24s} env {row['env_s']:.2f}s  direct {row['direct_s']:.2f}s per episode (median); "
            f"total ratio {row['ratio']:.3f}, median paired {row['paired_ratio_median']:.3f}; "
            f"target <= {ENV_TARGET}"
        )
    return out


# --- 2. feature cost -----------------------------------------------------------------------


def feature_seconds(cfg: LRTuningConfig, hyp: Hyp) -> float:
    model = build_model(cfg, torch.device(hyp.device), torch.Generator().manual_seed(0))
    layers = [p for _, p in weight_layers(model)]
    index = features.select_layers(list(range(len(layers))), cfg.feature_layers)
    selected = [layers[i] for i in index]
    signals = np.zeros(len(features.TRAINING_SIGNALS))
    features.observation(selected, cfg, signals)
    return median_time(lambda: features.observation(selected, cfg, signals), hyp.feature_calls)


def batch_seconds(cfg: LRTuningConfig, hyp: Hyp) -> float:
    trainer = Trainer(cfg, 0)
    trainer.train(1)
    return median_time(lambda: trainer.train(1), hyp.batch_calls)


def tiny_step_seconds(cfg: LRTuningConfig, hyp: Hyp) -> float:
    """A real Tiny step: its mini-batches and the validation-subset evaluation."""
    trainer = Trainer(cfg, 0)
    per_step = cfg.batch_boundaries()[0]

    def step() -> None:
        trainer.train(per_step)
        trainer.evaluate("subset")

    step()
    return median_time(step, hyp.batch_calls)


def feature_costs(hyp: Hyp) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for env_id, preset in PRESETS.items():
        cfg = preset.replace(device=hyp.device)
        per_step = cfg.total_batches / cfg.num_steps
        if cfg.dataset == "synthetic":
            step_s = tiny_step_seconds(cfg, hyp)
        else:
            step_s = per_step * batch_seconds(cifar_shaped(cfg, train_size=2000), hyp)
        feat_s = feature_seconds(cfg, hyp)
        out[env_id] = {
            "features": cfg.features,
            "feature_layers": cfg.feature_layers,
            "batches_per_step": per_step,
            "feature_ms": feat_s * 1e3,
            "step_s": step_s,
            "share": feat_s / step_s,
            "target": PRESET_FEATURE_TARGET,
        }
        print(
            f"{env_id:18s} {cfg.features:9s} layers={cfg.feature_layers!s:5s} features {feat_s * 1e3:7.1f} ms"
            f"  step {step_s:8.2f} s ({per_step:.1f} batches)  share {feat_s / step_s:6.2%}"
            f"  target <= {PRESET_FEATURE_TARGET:.0%}"
        )
    wrn164 = cifar_shaped(PRESETS["LRTuning-v0"], train_size=2000).replace(device=hyp.device)
    batch_s = batch_seconds(wrn164, hyp)
    for feature_set in ("paper", "quantiles", "histogram"):
        cfg = wrn164.replace(features=feature_set, feature_layers="all")
        feat_s = feature_seconds(cfg, hyp)
        out[f"WRN-16-4 all layers, {feature_set}, one mini-batch"] = {
            "feature_ms": feat_s * 1e3,
            "step_s": batch_s,
            "share": feat_s / batch_s,
            "target": ONE_BATCH_FEATURE_TARGET,
        }
        print(
            f"WRN-16-4, all 17 layers, {feature_set:9s}: features {feat_s * 1e3:6.1f} ms, one mini-batch "
            f"{batch_s:.2f} s, share {feat_s / batch_s:6.2%}  target <= {ONE_BATCH_FEATURE_TARGET:.0%}"
        )
    return out


def main() -> None:
    defaults = Hyp()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Hyp):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(getattr(defaults, f.name)),
            default=getattr(defaults, f.name),
        )
    hyp = Hyp(**vars(parser.parse_args()))
    torch.set_grad_enabled(True)
    print(f"lrgym {lrgym.__version__}, device {hyp.device}, {torch.get_num_threads()} threads")
    env_rows = compare_env_and_direct(hyp)
    feature_rows = feature_costs(hyp)
    met = all(r["ratio"] <= ENV_TARGET for r in env_rows.values())
    met_features = all(r["share"] <= r["target"] for r in feature_rows.values())
    print(
        f"env overhead target {'met' if met else 'NOT met'}; feature cost targets {'met' if met_features else 'NOT met'}"
    )
    path = save_result(
        "env_overhead",
        {
            "hyp": dataclasses.asdict(hyp),
            "env_vs_direct": env_rows,
            "feature_cost": feature_rows,
            "env_target_met": met,
            "feature_targets_met": met_features,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
