"""Train the custom DQN on LRTuning-Tiny-v0, then evaluate its greedy policy on held-out seeds.

python examples/train_dqn.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import statistics

import gymnasium as gym

import lrgym  # noqa: F401  (registers the LRTuning environments)
from lrgym_agents.evaluation import evaluate
from lrgym_agents.registry import DEFAULT_TRAIN_STEPS, make_agent


def main(
    steps: int = DEFAULT_TRAIN_STEPS,
    eval_seeds: tuple[int, ...] = (1000, 1001, 1002),
    env_kwargs: dict | None = None,
) -> float:
    env = gym.make("LRTuning-Tiny-v0", **(env_kwargs or {}))
    agent = make_agent("dqn", env, seed=0)
    agent.learn(steps)  # 1000 steps: 50 training runs of 20 decisions each
    agent.save("runs/example-dqn")
    results = evaluate(agent, env, list(eval_seeds))  # seeds never seen in training
    for r in results:
        print(f"seed {r.seed}: test accuracy {r.test_acc:.3f}, final LR {r.lr[-1]:.4f}")
    mean = statistics.fmean(r.test_acc for r in results)
    print(f"mean test accuracy of the greedy DQN policy: {mean:.3f}")
    return mean


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_TRAIN_STEPS, help="environment steps of training"
    )
    main(parser.parse_args().steps)
