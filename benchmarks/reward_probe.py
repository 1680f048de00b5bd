"""What one learning-rate decision does to the per-step reward and to the final accuracy.

On `LRTuning-Tiny-v0` the tuned cosine schedule (peak 0.4) is replayed through the `absolute`
action mode, and one decision t of it is replaced by `factor` x the schedule's LR (the rest of the
run unchanged). The same seed trains the same data order from the same weights, so the
difference to the unperturbed run of that seed is the decision's own effect, without seed noise:

- `immediate`: the change of the reward of step t (`val_acc_delta` on the validation subset);
- `final`: the change of the final full-validation and test accuracy.

If lowering the LR raises the immediate reward but lowers the final accuracy, a learner trained
on the per-step reward is pulled the wrong way (the short-horizon bias). The script also reports
the per-step reward's spread over seeds under the fixed schedule against its mean, which is the
noise a value estimate of one step has to average out.

Usage:
    python -m benchmarks.reward_probe             # about 55 Tiny episodes, one process
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks._record import save_result


@dataclass
class Hyp:
    """Every knob of the probe."""

    peak_lr: float = 0.4  # the tuned cosine of the `tiny` suite (chosen on validation there)
    steps: tuple[int, ...] = (1, 5, 9, 13, 17)  # decisions (0-based) that are perturbed
    factors: tuple[float, ...] = (0.5, 2.0)  # the perturbed decision's LR is this x the schedule's
    seeds: tuple[int, ...] = (1000, 1001, 1002, 1003, 1004)  # held-out evaluation seeds
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"device": "cpu", "action_mode": "absolute"})


def episode(env: Any, seed: int, lrs: list[float]) -> dict[str, Any]:
    """One run with the given LR per decision; its rewards and final accuracies."""
    from lrgym.actions import absolute_action

    cfg = env.unwrapped.config
    env.reset(seed=seed)
    rewards = []
    for lr in lrs:
        _, reward, terminated, truncated, info = env.step(absolute_action(cfg, lr))
        rewards.append(float(reward))
        if terminated or truncated:
            break
    return {"rewards": rewards, "test_acc": info["test_acc"], "full_val_acc": info["full_val_acc"]}


def run(hyp: Hyp) -> dict[str, Any]:
    import gymnasium as gym
    import torch

    import lrgym  # noqa: F401 - registers the environments
    from lrgym_agents.schedules import schedule_lr

    torch.set_num_threads(1)
    env = gym.make("LRTuning-Tiny-v0", **hyp.env_kwargs)
    cfg = env.unwrapped.config
    T = cfg.num_steps
    base_lrs = [schedule_lr("cosine", t / T, hyp.peak_lr, cfg) for t in range(T)]
    base = {seed: episode(env, seed, base_lrs) for seed in hyp.seeds}
    rows = []
    for t in hyp.steps:
        for factor in hyp.factors:
            lrs = list(base_lrs)
            lrs[t] = min(max(lrs[t] * factor, cfg.lr_min), cfg.lr_max)
            immediate, final_val, final_test = [], [], []
            for seed in hyp.seeds:
                run_ = episode(env, seed, lrs)
                immediate.append(run_["rewards"][t] - base[seed]["rewards"][t])
                final_val.append(run_["full_val_acc"] - base[seed]["full_val_acc"])
                final_test.append(run_["test_acc"] - base[seed]["test_acc"])
            rows.append(
                {
                    "step": t,
                    "factor": factor,
                    "immediate": _mean_se(immediate),
                    "final_full_val": _mean_se(final_val),
                    "final_test": _mean_se(final_test),
                    "signs_disagree": int(
                        sum(np.sign(i) != np.sign(f) for i, f in zip(immediate, final_val, strict=True))
                    ),
                }
            )
    rewards = np.array([base[s]["rewards"] for s in hyp.seeds])  # (seeds, steps)
    noise = {
        "per_step_mean": rewards.mean(axis=0).tolist(),
        "per_step_std_over_seeds": rewards.std(axis=0, ddof=1).tolist(),
        "return_std_over_seeds": float(rewards.sum(axis=1).std(ddof=1)),
    }
    return {"probe": rows, "reward_noise": noise}


def _mean_se(values: list[float]) -> dict[str, float]:
    x = np.asarray(values, dtype=float)
    return {"mean": float(x.mean()), "se": float(x.std(ddof=1) / np.sqrt(len(x))), "values": x.tolist()}


def report(result: dict[str, Any]) -> str:
    lines = [
        "| decision t | LR x | immediate reward change (points) | final full-val change (points) | final test change (points) | seeds where the two disagree in sign |",
        "| ---: | ---: | --- | --- | --- | ---: |",
    ]
    for r in result["probe"]:
        cell = lambda e: f"{100 * e['mean']:+.2f} ± {100 * e['se']:.2f}"  # noqa: E731
        lines.append(
            f"| {r['step']} | {r['factor']:g} | {cell(r['immediate'])} | {cell(r['final_full_val'])} | "
            f"{cell(r['final_test'])} | {r['signs_disagree']} of {len(r['immediate']['values'])} |"
        )
    noise = result["reward_noise"]
    mean, std = np.array(noise["per_step_mean"]), np.array(noise["per_step_std_over_seeds"])
    lines += [
        "",
        f"Per-step reward under the fixed schedule: mean |reward| {100 * np.abs(mean).mean():.2f} points, "
        f"std over seeds {100 * std.mean():.2f} points (steps 1-{len(mean)}); return std over seeds "
        f"{100 * noise['return_std_over_seeds']:.2f} points.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    hyp = Hyp()
    result = run(hyp)
    path = save_result("reward_probe", {"hyp": asdict(hyp), **result})
    print(report(result))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
