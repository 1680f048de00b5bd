"""Stepping environments and keeping the books of their episodes: the one rollout loop.

Every consumer of episodes goes through this module: the custom DQN (`Rollout`), the
Stable-Baselines3 adapter (`EpisodeBooks`, since SB3 steps its own VecEnv), evaluation
(`run_episode`), the training monitor of `lrgym train` and the benchmark runner (both read the
`StepRecord`s an agent's `learn` hands its callback).

- `Rollout` drives one Gymnasium env or a Gymnasium vector env as a batch of sub-envs (a single
  env is a batch of one): it resets where an episode ended (the first reset with the seed it is
  given), steps, splits a vector env's info dict into one dict per sub-env, and handles both
  autoreset modes of Gymnasium 1.x vector envs. With next-step autoreset, the step after a
  sub-env's episode ended only resets it: that step is not a transition (`EnvStep.valid` is
  False), its reward is 0 and its info the reset's. With same-step autoreset, the step's real
  successor state and info come from `final_obs`/`final_info`.
- `EpisodeBooks` keeps, per sub-env, the return and the trajectory (LR, validation-subset
  accuracy, epoch) of the episode in progress and hands back an `Episode` when it ends.
- `Rollout.rng_states` / `restore_rng_states` snapshot and restore the (sub-)envs' `np_random`,
  which is what a checkpoint needs to continue a run exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode


class RolloutError(ValueError):
    """An environment cannot be driven as asked (e.g. a vector env that does not autoreset)."""


# --- episodes -------------------------------------------------------------------------------
@dataclass
class Episode:
    """One finished episode of one (sub-)env."""

    env_index: int
    episode_return: float
    length: int  # env steps (transitions) of the episode
    final_info: dict[str, Any]  # the info of its last step (an LRTuning env's final report)
    initial_val_acc: float | None  # validation-subset accuracy at the reset, if the env reports it
    reward: list[float] = field(default_factory=list)  # reward of each step
    lr: list[float] = field(default_factory=list)  # LR applied at each step (NaN if not reported)
    val_acc: list[float] = field(default_factory=list)  # validation-subset accuracy after each step
    epoch: list[float] = field(default_factory=list)  # epochs trained after each step


class EpisodeBooks:
    """Per sub-env, the episode in progress; `record` returns the `Episode` that a step ends."""

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self._open: list[dict[str, Any] | None] = [None] * num_envs

    def begin(self, index: int, reset_info: dict[str, Any] | None = None) -> None:
        """Starts sub-env `index`'s next episode (from its reset info, when known)."""
        start = (reset_info or {}).get("val_acc")
        self._open[index] = {
            "return": 0.0,
            "initial_val_acc": None if start is None else float(start),
            "reward": [],
            "lr": [],
            "val_acc": [],
            "epoch": [],
        }

    def record(self, index: int, reward: float, info: dict[str, Any], done: bool) -> Episode | None:
        """Adds one transition of sub-env `index`; the finished `Episode` if it ended there."""
        if self._open[index] is None:
            self.begin(index)
        books = self._open[index]
        assert books is not None
        books["return"] += float(reward)
        books["reward"].append(float(reward))
        for key in ("lr", "val_acc", "epoch"):
            books[key].append(float(info.get(key, math.nan)))
        if not done:
            return None
        self._open[index] = None
        return Episode(
            env_index=index,
            episode_return=books["return"],
            length=len(books["lr"]),
            final_info=info,
            initial_val_acc=books["initial_val_acc"],
            reward=books["reward"],
            lr=books["lr"],
            val_acc=books["val_acc"],
            epoch=books["epoch"],
        )

    def clear(self) -> None:
        self._open = [None] * self.num_envs


# --- what an agent's learn() hands its callback ---------------------------------------------
@dataclass(frozen=True)
class StepRecord:
    """One environment step of a learning agent, over its sub-envs (lists have one entry each).

    `rewards` are 0 and `dones` False for a sub-env that the step only reset (next-step
    autoreset). The DQN fills `epsilon`, `loss` and `updates_done`; other agents leave them None.
    """

    steps_done: int  # transitions learned so far, over all sub-envs
    episodes_done: int  # episodes finished while learning, over all sub-envs
    actions: list[Any]
    rewards: list[float]
    dones: list[bool]  # an episode ended at this step (terminated or truncated)
    infos: list[dict[str, Any]]
    episodes: list[Episode | None]  # the episode that ended at this step, per sub-env
    epsilon: float | None = None
    loss: float | None = None  # mean loss of this step's gradient updates (None: no update)
    updates_done: int | None = None

    def finished(self) -> list[Episode]:
        """The episodes that ended at this step."""
        return [e for e in self.episodes if e is not None]


Callback = Callable[[StepRecord], bool | None]


# --- stepping ---------------------------------------------------------------------------------
@dataclass
class EnvStep:
    """One env step as arrays over sub-envs."""

    obs: np.ndarray  # observations to act on next (reset observations after an autoreset)
    next_obs: np.ndarray  # each transition's real successor state (differs under same-step autoreset)
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray  # False where a next-step autoreset only reset the sub-env: no transition
    infos: list[dict[str, Any]]  # each transition's own info (not a same-step reset's)
    observed: np.ndarray  # every new state the step showed (for observation statistics)
    episodes: list[Episode | None]  # the episode each sub-env finished at this step

    @property
    def dones(self) -> np.ndarray:
        return (self.terminated | self.truncated) & self.valid


class Rollout:
    """Resets and steps a Gymnasium env or vector env, with the books of its episodes.

    Args:
        env: a Gymnasium env, or a Gymnasium vector env that autoresets (next-step or same-step).
        seed: seeds the first reset (a vector env seeds its sub-envs seed, seed + 1, ...); later
            resets continue the envs' own generators.
    """

    def __init__(self, env: gym.Env | gym.vector.VectorEnv, seed: int | None = None) -> None:
        self.env = env
        self.seed = seed
        self.is_vector = isinstance(env, gym.vector.VectorEnv)
        self.num_envs = env.num_envs if self.is_vector else 1
        self.autoreset_mode = autoreset_mode(env) if self.is_vector else None
        self.started = False  # whether the first (seeded) reset happened
        self.books = EpisodeBooks(self.num_envs)
        self._obs: np.ndarray | None = None  # what to act on next; None: reset first
        self._pending_reset = np.zeros(self.num_envs, dtype=bool)  # next-step autoreset due

    @property
    def needs_reset(self) -> bool:
        """Whether the next `observations()` call resets the env (first, or a single env's episode ended)."""
        return self._obs is None

    @property
    def acting(self) -> np.ndarray:
        """Which sub-envs' next action is real (the others' next step only resets them)."""
        return ~self._pending_reset

    def observations(self) -> np.ndarray:
        """The observations to act on, shape (num_envs, *obs_shape), resetting first if needed."""
        if self._obs is None:
            obs, infos = self.env.reset(seed=None if self.started else self.seed)
            self.started = True
            self._obs = np.asarray(obs, dtype=np.float32).reshape(self.num_envs, *self._obs_shape())
            self._pending_reset[:] = False
            reset_infos = split_infos(infos, self.num_envs) if self.is_vector else [infos]
            for i, info in enumerate(reset_infos):
                self.books.begin(i, info)
        return self._obs

    def step(self, actions: Sequence[Any] | np.ndarray) -> EnvStep:
        """Steps every sub-env with its action (ignored for a sub-env that only resets)."""
        if self._obs is None:
            raise RolloutError("Rollout.step() before observations(): there is nothing to act on")
        step = self._step_vector(actions) if self.is_vector else self._step_single(actions[0])
        # A single env is reset lazily, at the next observations() call, so that a callback
        # can checkpoint the episode boundary first; a vector env resets its sub-envs itself.
        self._obs = None if (not self.is_vector and bool(step.dones[0])) else step.obs
        return step

    def forget_episodes(self) -> None:
        """Abandons the episodes in progress: the next `observations()` resets (unseeded once
        started), as a run restored from a checkpoint must."""
        self._obs = None
        self._pending_reset[:] = False
        self.books.clear()

    # --- RNG snapshots ------------------------------------------------------------------------
    def rng_states(self) -> list[dict[str, Any]]:
        """The bit-generator states of the env's (or each sub-env's) `np_random`."""
        if self.is_vector:
            return [g.bit_generator.state for g in self.env.get_attr("np_random")]
        return [self.env.unwrapped.np_random.bit_generator.state]

    def restore_rng_states(self, states: list[dict[str, Any]]) -> None:
        if len(states) != self.num_envs:
            raise ValueError(f"{len(states)} env RNG states for {self.num_envs} (sub-)envs")
        generators = []
        for state in states:
            generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
            generator.bit_generator.state = state
            generators.append(generator)
        if self.is_vector:
            self.env.set_attr("np_random", generators)
        else:
            self.env.unwrapped.np_random = generators[0]

    # --- internals ----------------------------------------------------------------------------
    def _obs_shape(self) -> tuple[int, ...]:
        space = self.env.single_observation_space if self.is_vector else self.env.observation_space
        return tuple(space.shape or ())

    def _step_single(self, action: Any) -> EnvStep:
        obs, reward, terminated, truncated, info = self.env.step(action)
        batch = np.asarray(obs, dtype=np.float32).reshape(1, *self._obs_shape())
        episode = self.books.record(0, float(reward), info, bool(terminated or truncated))
        return EnvStep(
            obs=batch,
            next_obs=batch,
            rewards=np.array([reward], dtype=np.float64),
            terminated=np.array([terminated], dtype=bool),
            truncated=np.array([truncated], dtype=bool),
            valid=np.ones(1, dtype=bool),
            infos=[info],
            observed=batch,
            episodes=[episode],
        )

    def _step_vector(self, actions: Sequence[Any] | np.ndarray) -> EnvStep:
        n = self.num_envs
        obs, rewards, terminated, truncated, raw_infos = self.env.step(np.asarray(actions))
        batch = np.asarray(obs, dtype=np.float32).reshape(n, *self._obs_shape())
        infos = split_infos(raw_infos, n)
        next_obs, observed = batch, batch
        valid = np.ones(n, dtype=bool)
        ended = np.logical_or(terminated, truncated)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            valid = ~self._pending_reset
            for i in np.flatnonzero(self._pending_reset):
                self.books.begin(int(i), infos[i])  # this step was the sub-env's reset
            self._pending_reset = ended & valid
        elif "final_obs" in raw_infos:  # same-step autoreset: the real successors are in the info
            done = np.asarray(raw_infos.get("_final_obs", np.zeros(n, dtype=bool)), dtype=bool)
            final_infos = split_infos(raw_infos.get("final_info", {}), n)
            next_obs = batch.copy()
            for i in np.flatnonzero(done):
                next_obs[i] = np.asarray(raw_infos["final_obs"][i], dtype=np.float32).reshape(batch.shape[1:])
            observed = np.concatenate([next_obs[done], batch])
            reset_infos = infos
            infos = [final_infos[i] if done[i] else infos[i] for i in range(n)]
        else:
            reset_infos = infos
        rewards = np.where(valid, np.asarray(rewards, dtype=np.float64), 0.0)
        terminated = np.asarray(terminated, dtype=bool) & valid
        truncated = np.asarray(truncated, dtype=bool) & valid
        episodes: list[Episode | None] = [None] * n
        for i in np.flatnonzero(valid):
            episodes[i] = self.books.record(int(i), float(rewards[i]), infos[i], bool(ended[i]))
            if ended[i] and self.autoreset_mode == AutoresetMode.SAME_STEP:
                self.books.begin(int(i), reset_infos[i])
        return EnvStep(
            obs=batch,
            next_obs=next_obs,
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            valid=valid,
            infos=infos,
            observed=observed,
            episodes=episodes,
        )


def autoreset_mode(env: gym.vector.VectorEnv) -> AutoresetMode:
    """The vector env's autoreset mode; one that does not autoreset cannot be rolled out."""
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    mode = mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)
    if mode == AutoresetMode.DISABLED:
        raise RolloutError(
            "this needs a vector env that resets its sub-envs itself; got autoreset_mode=DISABLED "
            "(use NEXT_STEP, Gymnasium's default, or SAME_STEP)"
        )
    return mode


def split_infos(infos: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """A vector env's info dict of arrays (with "_key" masks) as one info dict per sub-env."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get("_" + key)
        parts = split_infos(value, n) if isinstance(value, dict) else None
        for i in range(n):
            if mask is None or mask[i]:
                item = parts[i] if parts is not None else value[i]
                out[i][key] = item.item() if isinstance(item, np.generic) else item
    return out


# --- evaluation episodes ----------------------------------------------------------------------
def run_policy_episode(policy: Callable[[np.ndarray], Any], env: gym.Env, seed: int) -> tuple[Episode, float]:
    """One episode of `policy` (observation -> action) on a single env from `reset(seed=seed)`;
    returns the episode and its wall time in seconds."""
    start = time.perf_counter()
    rollout = Rollout(env, seed=seed)
    while True:
        (episode,) = rollout.step([policy(rollout.observations()[0])]).episodes
        if episode is not None:
            return episode, time.perf_counter() - start
