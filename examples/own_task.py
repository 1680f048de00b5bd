"""Your own model and data: SB3 PPO sets the learning rate and the momentum of a small CNN of
yours on a dataset of yours, on the CPU, for a few episodes; then its greedy policy is evaluated.

python examples/own_task.py [--steps 100]

In a package of your own, pass the factories as strings instead of the functions, which also
works in `gym.make` kwargs from JSON or the command line:
`gym.make("LRTuning-Tiny-v0", model="my_package.models:small_cnn", dataset="my_package.data:quadrants")`.
"""

from __future__ import annotations

import argparse
import statistics

import gymnasium as gym
import numpy as np
from torch import nn

import lrgym  # noqa: F401  (registers the LRTuning environments)
from lrgym.factories import ImageData
from lrgym_agents.evaluation import evaluate
from lrgym_agents.registry import make_agent

STEPS = 100  # environment steps of PPO training: 10 episodes of 10 decisions
# The task, on top of LRTuning-Tiny-v0's settings (every LRTuningConfig field can be set here).
ENV_KWARGS = {
    "val_size": 300,  # images of the training set held out for validation
    "val_subset_size": 200,  # validation images evaluated after every decision
    "batch_size": 32,  # training mini-batch, images
    "eval_batch_size": 300,  # images per evaluation forward pass
    "epochs": 2.0,  # passes over the 900 training images per episode
    "steps_per_epoch": 5,  # decisions per epoch
    "augment": False,  # the classes are positions: no random crops or flips
    "controls": ("lr", "momentum"),  # the agent sets the LR and the SGD momentum
}


def small_cnn(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """Two conv-BN-ReLU stages and a linear head. lrgym calls this with the dataset's facts,
    builds it on the meta device to size the observation, and re-initialises its layers from
    the episode's seed at every reset."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, num_classes),
    )


def quadrants() -> ImageData:
    """1200 training and 300 test images, 1 x 16 x 16 uint8: a bright blob in one of four
    quadrants (the class) on noise. lrgym calls this once per process."""
    rng = np.random.default_rng(0)
    n, side = 1500, 16
    labels = rng.integers(0, 4, n)
    rows, cols = np.mgrid[0:side, 0:side]
    centres = np.array([(4, 4), (4, 11), (11, 4), (11, 11)])[labels] + rng.normal(0, 1.5, (n, 2))
    dist2 = (rows[None] - centres[:, 0, None, None]) ** 2 + (cols[None] - centres[:, 1, None, None]) ** 2
    images = 160 * np.exp(-dist2 / 8.0) + rng.normal(60, 30, (n, side, side))
    images = np.clip(images, 0, 255).astype(np.uint8)[:, None]  # N x 1 x H x W
    return ImageData(images[:1200], labels[:1200], images[1200:], labels[1200:], num_classes=4)


def main(
    steps: int = STEPS,
    eval_seeds: tuple[int, ...] = (1000, 1001, 1002),
    env_kwargs: dict | None = None,
) -> float:
    env = gym.make(
        "LRTuning-Tiny-v0", model=small_cnn, dataset=quadrants, **{**ENV_KWARGS, **(env_kwargs or {})}
    )
    print(f"observation {env.observation_space.shape}, actions {env.action_space}")  # MultiDiscrete([5 5])
    agent = make_agent("sb3-ppo", env, seed=0)
    agent.learn(steps)
    results = evaluate(agent, env, list(eval_seeds))  # seeds never seen in training
    for r in results:
        print(f"seed {r.seed}: test accuracy {r.test_acc:.3f}, final LR {r.lr[-1]:.4f}")
    mean = statistics.fmean(r.test_acc for r in results)
    print(f"mean test accuracy of the greedy PPO policy: {mean:.3f}")
    return mean


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS, help="environment steps of training")
    main(parser.parse_args().steps)
