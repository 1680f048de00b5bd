"""Evaluating an agent's greedy policy on held-out seeds: one training run per seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from lrgym_agents.base import Agent
from lrgym_agents.rollout import run_policy_episode


@dataclass
class EpisodeResult:
    """What one evaluation episode (a whole training run) produced."""

    seed: int
    test_acc: float  # final test accuracy (full test set)
    full_val_acc: float  # final accuracy on the full validation split
    best_val_acc: float  # best validation-subset accuracy seen at any decision
    episode_return: float
    diverged: bool
    wall_s: float
    steps: int
    val_acc: list[float] = field(default_factory=list)  # validation-subset accuracy after each decision
    lr: list[float] = field(default_factory=list)  # learning rate applied at each decision
    epoch: list[float] = field(default_factory=list)  # epochs trained after each decision

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_episode(agent: Agent, env: gym.Env, seed: int, deterministic: bool = True) -> EpisodeResult:
    """One greedy episode of `agent` on `env` from `reset(seed=seed)`."""
    episode, wall_s = run_policy_episode(lambda obs: agent.act(obs, deterministic=deterministic), env, seed)
    info = episode.final_info
    val_acc = [episode.initial_val_acc, *episode.val_acc]
    return EpisodeResult(
        seed=seed,
        test_acc=float(info.get("test_acc", np.nan)),
        full_val_acc=float(info.get("full_val_acc", np.nan)),
        best_val_acc=float(max(val_acc)),
        episode_return=episode.episode_return,
        diverged=bool(info["diverged"]),
        wall_s=wall_s,
        steps=episode.length,
        val_acc=val_acc,
        lr=episode.lr,
        epoch=episode.epoch,
    )


def evaluate(agent: Agent, env: gym.Env, seeds: list[int], deterministic: bool = True) -> list[EpisodeResult]:
    """Greedy episodes of `agent` on `env`, one per seed (seeds never used in training)."""
    return [run_episode(agent, env, seed, deterministic) for seed in seeds]
