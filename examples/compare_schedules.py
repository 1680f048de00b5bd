"""Hand schedules on LRTuning-Tiny-v0 at a few peak learning rates, on the same seeds.

python examples/compare_schedules.py [--seeds 1000 1001 1002]
"""

from __future__ import annotations

import argparse
import statistics

import gymnasium as gym

import lrgym  # noqa: F401  (registers the LRTuning environments)
from lrgym_agents.evaluation import evaluate
from lrgym_agents.registry import make_agent

SCHEDULES = ("constant", "step", "cosine", "onecycle")
PEAK_LRS = (0.05, 0.2, 0.8)  # learning rates at the schedule's peak


def main(
    seeds: tuple[int, ...] = (1000, 1001, 1002),
    peak_lrs: tuple[float, ...] = PEAK_LRS,
    env_kwargs: dict | None = None,
) -> dict[tuple[str, float], float]:
    # Schedules act through the `absolute` action mode: they set the LR the env applies.
    env = gym.make("LRTuning-Tiny-v0", action_mode="absolute", **(env_kwargs or {}))
    table = {}
    print(f"{'schedule':10s} " + " ".join(f"peak {p:<6g}" for p in peak_lrs))
    for name in SCHEDULES:
        accs = []
        for peak in peak_lrs:
            results = evaluate(make_agent(name, env, peak_lr=peak), env, list(seeds))
            table[name, peak] = statistics.fmean(r.test_acc for r in results)
            accs.append(table[name, peak])
        print(f"{name:10s} " + " ".join(f"{a:<11.3f}" for a in accs))
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    main(tuple(parser.parse_args().seeds))
