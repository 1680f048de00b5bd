"""Wrappers for the `LRTuning-*` environments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from lrgym.layout import TRAINING_SIGNALS, signal_index


class ActionRepeat(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Holds each action for `repeat` steps of the wrapped env: an agent decides less often.

    One step of the wrapper steps the env `repeat` times with the same action (fewer if the
    episode ends first) and returns the last observation, the sum of the rewards, the last
    step's `terminated` / `truncated` and the last step's info, with `info["repeated"]` saying
    how many env steps it took. The decisions of an episode become `ceil(T / repeat)` for an env
    of T steps, so one decision's effect on the final accuracy is `repeat` times larger. With
    the telescoping `val_acc_delta` reward the undiscounted return is unchanged.

    In the schedule-relative modes the held factor scales the reference cosine at every
    underlying step, so holding factor 1 still gives the cosine exactly.
    """

    def __init__(self, env: gym.Env, repeat: int) -> None:
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"ActionRepeat: repeat={repeat!r} is invalid: expected an integer >= 1")
        gym.utils.RecordConstructorArgs.__init__(self, repeat=repeat)  # so env.spec can rebuild it
        gym.Wrapper.__init__(self, env)
        self.action_repeat = repeat

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total, done_steps = 0.0, 0
        while done_steps < self.action_repeat:
            obs, reward, terminated, truncated, info = self.env.step(action)
            total, done_steps = total + float(reward), done_steps + 1
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, {**info, "repeated": done_steps}


class KeepSignals(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Keeps only the named training signals of the observation (`lrgym.layout.TRAINING_SIGNALS`),
    in that order, dropping the weight statistics and the other signals.

    An ablation of what the agent sees: `signals=("progress",)` leaves it only the time, so any
    policy it learns is an open-loop schedule. On one fixed task, where the best schedule hardly
    depends on the run's seed, that removes inputs a small learner can only overfit.
    """

    def __init__(self, env: gym.Env, signals: Sequence[str]) -> None:
        if isinstance(signals, str) or not signals or any(s not in TRAINING_SIGNALS for s in signals):
            raise ValueError(
                f"KeepSignals: signals={signals!r} is invalid: expected a non-empty list of names from {TRAINING_SIGNALS}"
            )
        if len(env.observation_space.shape or ()) != 1:
            raise ValueError(
                f"KeepSignals: expected a 1-D observation space, got {env.observation_space}; "
                "apply it before FrameStackObservation"
            )
        gym.utils.RecordConstructorArgs.__init__(self, signals=tuple(signals))
        gym.ObservationWrapper.__init__(self, env)
        self._index = np.array([signal_index(s) for s in signals])
        space = env.observation_space
        self.observation_space = gym.spaces.Box(
            space.low[self._index], space.high[self._index], dtype=space.dtype
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(observation)[self._index]


def wrap(env: gym.Env, action_repeat: int = 1, keep_signals: Sequence[str] | None = None) -> gym.Env:
    """`env` observing only `keep_signals` (all if None) and deciding every `action_repeat` steps."""
    if keep_signals is not None:
        env = KeepSignals(env, keep_signals)
    return ActionRepeat(env, action_repeat) if action_repeat != 1 else env
