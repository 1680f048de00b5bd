"""Train a Stable-Baselines3 baseline (PPO by default) on LRTuning-Tiny-v0 and evaluate it.

python examples/train_sb3.py [--agent sb3-ppo] [--steps 1000]
"""

from __future__ import annotations

import argparse
import statistics

import gymnasium as gym

import lrgym  # noqa: F401  (registers the LRTuning environments)
from lrgym_agents.evaluation import evaluate
from lrgym_agents.registry import DEFAULT_TRAIN_STEPS, make_agent


def main(
    agent_name: str = "sb3-ppo",
    steps: int = DEFAULT_TRAIN_STEPS,
    eval_seeds: tuple[int, ...] = (1000, 1001, 1002),
    env_kwargs: dict | None = None,
) -> float:
    env = gym.make("LRTuning-Tiny-v0", **(env_kwargs or {}))
    agent = make_agent(agent_name, env, seed=0)
    agent.learn(steps)
    results = evaluate(agent, env, list(eval_seeds))
    mean = statistics.fmean(r.test_acc for r in results)
    print(f"{agent_name}: mean test accuracy {mean:.3f} over seeds {list(eval_seeds)}")
    return mean


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="sb3-ppo", help="sb3-dqn, sb3-qrdqn, sb3-ppo or sb3-a2c")
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_TRAIN_STEPS, help="environment steps of training"
    )
    args = parser.parse_args()
    main(args.agent, args.steps)
