"""The one interface every lrgym agent implements, so that agents are interchangeable.

An agent is built for an environment (a Gymnasium env or vector env), can `learn` on it, `act`
on one observation, and be saved and loaded. Learning agents and hand schedules look the same
from outside: a hand schedule's `learn` does nothing.
"""

from __future__ import annotations

import json
import pickle
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from lrgym_agents.rollout import Callback, StepRecord

__all__ = ["Agent", "AgentError", "Callback", "StepRecord", "env_config", "read_metadata"]

METADATA_FILE = "agent.json"


class AgentError(ValueError):
    """An agent cannot be built, loaded or used as asked; the message says what would fit."""


def env_config(env: Any):
    """The `LRTuningConfig` behind an env, a Gymnasium vector env or an SB3 VecEnv (None for
    other environments)."""
    if isinstance(env, gym.Env):
        return getattr(env.unwrapped, "config", None)
    try:  # Gymnasium's and Stable-Baselines3's vector envs both offer get_attr
        return env.get_attr("config")[0]
    except (AttributeError, IndexError):  # sub-envs that are not LRTuning envs
        return None


def single_spaces(env: gym.Env | gym.vector.VectorEnv) -> tuple[gym.Space, gym.Space]:
    """(observation space, action space) of one environment, also for a vector env."""
    if isinstance(env, gym.vector.VectorEnv):
        return env.single_observation_space, env.single_action_space
    return env.observation_space, env.action_space


def describe_space(space: gym.Space) -> str:
    if isinstance(space, gym.spaces.Discrete):
        return f"Discrete({space.n})"
    if isinstance(space, gym.spaces.MultiDiscrete):
        return f"MultiDiscrete({space.nvec.tolist()})"
    if isinstance(space, gym.spaces.Box):
        return f"Box(shape={space.shape})"
    return str(space)


class Agent(ABC):
    """Base class of all agents.

    Subclasses declare `name` (their default registry name) and `action_modes` (the env action
    modes they can drive) as class attributes, or pass them to `Agent.__init__`, and implement
    `_learn`, `_act` and, if they have state, `_save` and `_load`. `learn` and `act` check their
    arguments once, here, before calling the subclass.
    """

    name: ClassVar[str] = "agent"
    action_modes: ClassVar[tuple[str, ...]] = ()
    learns: ClassVar[bool] = True  # False for hand schedules and the random agent

    def __init__(
        self,
        env: gym.Env | gym.vector.VectorEnv,
        seed: int = 0,
        name: str | None = None,
        action_modes: Sequence[str] | None = None,
    ) -> None:
        self.name = name or type(self).name
        self.action_modes = tuple(action_modes if action_modes is not None else type(self).action_modes)
        self.env = env
        self.seed = seed
        self.steps_done = 0  # environment steps learned so far (over all sub-envs)
        self.observation_space, self.action_space = single_spaces(env)
        cfg = env_config(env)
        self.action_mode = cfg.action_mode if cfg is not None else _mode_of(self.action_space)
        if self.action_mode not in self.action_modes:
            raise AgentError(
                f"agent {self.name!r} cannot drive action_mode={self.action_mode!r} "
                f"({describe_space(self.action_space)}); it needs action_mode in {list(self.action_modes)}; "
                f"pass e.g. --env-kwargs action_mode={self.action_modes[0]}"
            )

    # --- the interface ---------------------------------------------------------------------
    def learn(self, total_steps: int, callback: Callback | None = None) -> Agent:
        """Trains for `total_steps` more environment steps (summed over vector sub-envs).

        `callback`, if given, is called after every environment step with a `StepRecord`
        (`lrgym_agents.rollout`): the step's actions, rewards, dones, infos and the episodes it
        finished, per sub-env; returning False stops learning early.

        Raises:
            AgentError: `total_steps` is not an integer >= 0.
        """
        if isinstance(total_steps, bool) or not isinstance(total_steps, int | np.integer) or total_steps < 0:
            raise AgentError(f"total_steps={total_steps!r} is invalid: must be an integer >= 0")
        if total_steps:
            self._learn(int(total_steps), callback)
        return self

    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        """The action for one observation (greedy when `deterministic`).

        Raises:
            AgentError: `obs` is not one observation of the env's observation space's shape.
        """
        return self._act(self.check_observation(obs), deterministic)

    def check_observation(self, obs: Any) -> np.ndarray:
        """`obs` as a float32 array of the observation space's shape (a flattened one is accepted)."""
        shape = tuple(self.observation_space.shape or ())
        try:
            x = np.asarray(obs, dtype=np.float32)
        except (TypeError, ValueError):
            raise AgentError(
                f"act() takes one observation of shape {shape}, got {type(obs).__name__}"
            ) from None
        if x.shape != shape and x.shape != (int(np.prod(shape)),):
            raise AgentError(f"act() takes one observation of shape {shape}, got shape {x.shape}")
        return x.reshape(shape)

    @abstractmethod
    def _learn(self, total_steps: int, callback: Callback | None) -> None:
        """Learns for `total_steps` (> 0) more environment steps."""

    @abstractmethod
    def _act(self, obs: np.ndarray, deterministic: bool) -> Any:
        """The action for one checked observation (of the observation space's shape)."""

    def save(self, path: str | Path) -> Path:
        """Saves into directory `path` (created): the agent's own files plus `agent.json`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "agent": self.name,
            "seed": self.seed,
            "action_mode": self.action_mode,
            "observation_shape": list(self.observation_space.shape or ()),
            "action_space": describe_space(self.action_space),
            "hyperparameters": self.hyperparameters(),
        }
        self._save(path)
        (path / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return path

    def load(self, path: str | Path) -> Agent:
        """Loads what `save` wrote, after checking that it fits this agent's environment."""
        path = Path(path)
        meta = read_metadata(path)
        if meta["agent"] != self.name:
            raise AgentError(f"{path} holds a {meta['agent']!r} agent, not {self.name!r}")
        expected = (list(self.observation_space.shape or ()), describe_space(self.action_space))
        found = (meta["observation_shape"], meta["action_space"])
        if expected != found:
            raise AgentError(
                f"{path} was saved for observations of shape {found[0]} and actions {found[1]}, but this env "
                f"has observations of shape {expected[0]} and actions {expected[1]}; load it with the env "
                "(id and kwargs) it was trained on"
            )
        try:
            self._load(path)
        except (
            OSError,
            RuntimeError,
            ValueError,
            KeyError,
            EOFError,
            TypeError,
            pickle.UnpicklingError,
        ) as exc:
            raise AgentError(f"cannot load agent files in {path}: {type(exc).__name__}: {exc}") from exc
        return self

    def hyperparameters(self) -> dict[str, Any]:
        return {}

    # --- checkpoints: everything needed to continue learning -------------------------------
    def save_checkpoint(self, path: str | Path) -> Path:
        """Saves the full learning state (by default: what `save` writes)."""
        return self.save(path)

    def load_checkpoint(self, path: str | Path) -> Agent:
        """Restores what `save_checkpoint` wrote, so that `learn` continues where it stopped."""
        return self.load(path)

    def _save(self, path: Path) -> None:  # agents without state write nothing but agent.json
        pass

    def _load(self, path: Path) -> None:
        pass


def read_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    file = path / METADATA_FILE
    if not file.is_file():
        raise AgentError(
            f"no saved agent at {path}: {file} is missing (expected a directory written by save())"
        )
    try:
        meta = json.loads(file.read_text())
        meta["agent"], meta["observation_shape"], meta["action_space"]  # noqa: B018 - required keys
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise AgentError(f"corrupt agent metadata {file}: {exc}") from exc
    return meta


def _mode_of(space: gym.Space) -> str:
    return "discrete" if isinstance(space, gym.spaces.Discrete) else "continuous"
