"""The one rollout loop: single and vector envs, both autoreset modes, episode books, RNG snapshots."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from lrgym_agents.rollout import Rollout, RolloutError, run_policy_episode


class CountdownEnv(gym.Env):
    """Episodes of a random length (3 to 5 steps, drawn at reset from `np_random`); the reward of
    step t is t * (action + 1); infos report "lr", "val_acc" and "epoch" as an LRTuning env's do."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 10.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t, self.length = 0, int(self.np_random.integers(3, 6))
        return self._obs(), {"val_acc": 0.0, "lr": 0.0}

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.length], dtype=np.float32)

    def step(self, action: Any):
        self.t += 1
        info = {"lr": 0.1 * self.t, "val_acc": self.t / self.length, "epoch": float(self.t), "final": self.t}
        return self._obs(), float(self.t * (int(action) + 1)), self.t == self.length, False, info


def single_env_episodes(seed: int, count: int) -> list[tuple[float, int, list[float], int]]:
    """(return, length, LRs, final info's "final") of `count` episodes of one env, action 1."""
    out: list[tuple[float, int, list[float], int]] = []
    rollout = Rollout(CountdownEnv(), seed=seed)
    while len(out) < count:
        rollout.observations()
        (episode,) = rollout.step([1]).episodes
        if episode is not None:
            out.append((episode.episode_return, episode.length, episode.lr, episode.final_info["final"]))
    return out


def test_single_env_books_match_the_env() -> None:
    episodes = single_env_episodes(seed=3, count=4)
    for ret, length, lrs, final in episodes:
        assert ret == sum(2 * t for t in range(1, length + 1))
        assert lrs == pytest.approx([0.1 * t for t in range(1, length + 1)]) and final == length
    assert len({e[1] for e in episodes}) > 1  # the resets really drew new lengths


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_books_equal_single_envs_in_both_autoreset_modes(mode: AutoresetMode) -> None:
    venv = SyncVectorEnv([CountdownEnv, CountdownEnv], autoreset_mode=mode)
    rollout = Rollout(venv, seed=10)
    found: dict[int, list] = {0: [], 1: []}
    while min(len(v) for v in found.values()) < 3:
        rollout.observations()
        step = rollout.step(np.ones(2, dtype=np.int64))
        assert step.rewards[~step.valid].tolist() == [0.0] * int((~step.valid).sum())
        for episode in (e for e in step.episodes if e is not None):
            # the step's own final info, also where the same step already reset the sub-env
            found[episode.env_index].append(
                (episode.episode_return, episode.length, episode.lr, episode.final_info["final"])
            )
    assert found[0][:3] == single_env_episodes(seed=10, count=3)
    assert found[1][:3] == single_env_episodes(seed=11, count=3)


def test_next_step_autoreset_steps_are_not_transitions() -> None:
    venv = SyncVectorEnv([CountdownEnv], autoreset_mode=AutoresetMode.NEXT_STEP)
    rollout = Rollout(venv, seed=0)
    valid = []
    for _ in range(12):
        rollout.observations()
        valid.append(bool(rollout.step(np.ones(1, dtype=np.int64)).valid[0]))
    assert valid.count(False) >= 2 and not any(
        a is False and b is False for a, b in zip(valid[:-1], valid[1:], strict=True)
    )


def test_rng_snapshot_restores_what_the_next_resets_draw() -> None:
    env = CountdownEnv()
    rollout = Rollout(env, seed=5)
    rollout.observations()
    states = rollout.rng_states()
    later = [env.reset()[0][1] for _ in range(4)]
    rollout.restore_rng_states(states)
    rollout.forget_episodes()
    assert [env.reset()[0][1] for _ in range(4)] == later
    with pytest.raises(ValueError, match="2 env RNG states for 1"):
        rollout.restore_rng_states(states * 2)


def test_policy_episode_and_refusals() -> None:
    episode, wall_s = run_policy_episode(lambda obs: 0, CountdownEnv(), seed=1)
    assert episode.initial_val_acc == 0.0 and episode.val_acc[-1] == 1.0 and wall_s >= 0
    assert episode.episode_return == sum(range(1, episode.length + 1))
    with pytest.raises(RolloutError, match="autoreset_mode=DISABLED"):
        Rollout(SyncVectorEnv([CountdownEnv], autoreset_mode=AutoresetMode.DISABLED))
    with pytest.raises(RolloutError, match="before observations"):
        Rollout(CountdownEnv()).step([0])
