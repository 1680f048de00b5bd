"""Agent names and their factories. Classes are imported only when an agent is made, so that
listing agents does not import Stable-Baselines3 or torch."""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

from lrgym_agents.base import Agent, AgentError

# The default training budget in environment steps: 50 LRTuning-Tiny-v0 episodes, a few minutes on
# 2 CPU cores. The CLI, the examples and the tiny benchmark suite all train for this long.
DEFAULT_TRAIN_STEPS = 1000

# name -> ("module:Class", keyword arguments bound by the name, one-line description)
AGENTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "dqn": ("lrgym_agents.dqn:DQNAgent", {}, "custom Double DQN (PyTorch), sized for expensive steps"),
    "dqn-paper": (
        "lrgym_agents.dqn:DQNAgent",
        {"preset": "paper"},
        "custom DQN with the original code's hyperparameters, without its bugs",
    ),
    "sb3-dqn": ("lrgym_agents.sb3:SB3Agent", {"algo": "dqn"}, "Stable-Baselines3 DQN"),
    "sb3-qrdqn": ("lrgym_agents.sb3:SB3Agent", {"algo": "qrdqn"}, "sb3-contrib QR-DQN"),
    "sb3-ppo": (
        "lrgym_agents.sb3:SB3Agent",
        {"algo": "ppo"},
        "Stable-Baselines3 PPO (discrete or continuous)",
    ),
    "sb3-a2c": ("lrgym_agents.sb3:SB3Agent", {"algo": "a2c"}, "Stable-Baselines3 A2C"),
    "sb3-sac": ("lrgym_agents.sb3:SB3Agent", {"algo": "sac"}, "Stable-Baselines3 SAC (continuous modes)"),
    "random": ("lrgym_agents.schedules:RandomAgent", {}, "uniformly random actions in any action space"),
    "constant": ("lrgym_agents.schedules:ScheduleAgent", {"schedule": "constant"}, "constant LR"),
    "step": ("lrgym_agents.schedules:ScheduleAgent", {"schedule": "step"}, "x0.2 at 30/60/80% of the budget"),
    "cosine": ("lrgym_agents.schedules:ScheduleAgent", {"schedule": "cosine"}, "cosine decay to zero"),
    "onecycle": (
        "lrgym_agents.schedules:ScheduleAgent",
        {"schedule": "onecycle"},
        "linear warm-up, then linear decay (triangular)",
    ),
    "table": (
        "lrgym_agents.schedules:ScheduleAgent",
        {"schedule": "table"},
        "a fixed LR per decision (agent kwarg lrs=[...]), e.g. a schedule found by PBT",
    ),
    "paper-rule": (
        "lrgym_agents.schedules:ScheduleAgent",
        {"schedule": "paper-rule"},
        "the original code's x0.97-or-restart rule, restarting on a fixed period",
    ),
}


def agent_names() -> list[str]:
    return list(AGENTS)


def agent_class(name: str) -> type[Agent]:
    if name not in AGENTS:
        raise AgentError(f"unknown agent {name!r}; known agents: {', '.join(AGENTS)}")
    module, cls = AGENTS[name][0].split(":")
    return getattr(importlib.import_module(module), cls)


def action_modes(name: str) -> tuple[str, ...]:
    """The env action modes agent `name` can drive."""
    cls = agent_class(name)
    algo = AGENTS[name][1].get("algo")
    if algo is not None:  # one class for every SB3 algorithm: the modes depend on the algorithm
        from lrgym_agents.sb3 import ACTION_MODES

        return ACTION_MODES[algo]
    return tuple(cls.action_modes)


def env_kwargs_for(name: str, env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """`env_kwargs`, with the action mode agent `name` drives when the user chose none and the
    env's own mode does not fit it (a hand schedule on a preset with multiplier actions, say)."""
    if "action_mode" in env_kwargs:
        return env_kwargs
    from lrgym.presets import PRESETS

    preset = PRESETS.get(env_id.removeprefix("lrgym:"))
    modes = action_modes(name)
    if preset is None or preset.action_mode in modes:
        return env_kwargs
    return {**env_kwargs, "action_mode": modes[0]}


def make_agent(
    name: str, env: gym.Env | gym.vector.VectorEnv, seed: int = 0, **hyperparameters: Any
) -> Agent:
    """The agent called `name` for `env`; `hyperparameters` override its defaults."""
    cls = agent_class(name)
    return cls(env, seed=seed, name=name, **AGENTS[name][1], **hyperparameters)
