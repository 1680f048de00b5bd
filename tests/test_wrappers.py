"""`lrgym.wrappers.ActionRepeat`: fewer decisions per episode, the same training run."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from conftest import FAST_TINY_KWARGS
from gymnasium.utils.env_checker import check_env

from lrgym.layout import read_signal
from lrgym.wrappers import ActionRepeat, KeepSignals
from lrgym_agents.registry import make_agent

KWARGS = {**FAST_TINY_KWARGS, "action_mode": "schedule_relative_discrete", "final_eval": False}


def _make(repeat: int | None = None) -> gym.Env:
    env = gym.make("LRTuning-Tiny-v0", **KWARGS)
    return env if repeat is None else ActionRepeat(env, repeat)


def test_a_held_action_is_the_same_run_as_repeating_it_by_hand() -> None:
    plain, held = _make(), _make(repeat=3)
    steps = plain.unwrapped.config.num_steps  # 10: decisions of 3, 3, 3 and 1 steps
    decisions = [4, 0, 2, 3]
    plain.reset(seed=5)
    expected = []
    for action in np.repeat(decisions, 3)[:steps]:
        obs, reward, terminated, _, info = plain.step(int(action))
        expected.append((obs, reward, terminated, info["lr"]))

    held.reset(seed=5)
    got = [held.step(a) for a in decisions]
    ends = [2, 5, 8, 9]
    for (obs, reward, terminated, truncated, info), end, start in zip(got, ends, [0, 3, 6, 9], strict=True):
        assert np.array_equal(obs, expected[end][0])
        assert reward == pytest.approx(sum(e[1] for e in expected[start : end + 1]), abs=1e-12)
        assert terminated == expected[end][2] and not truncated
        assert info["lr"] == expected[end][3] and info["repeated"] == end - start + 1
    assert got[-1][2]  # the last decision ends the episode after its one remaining step


def test_invalid_repeats_raise_value_error() -> None:
    for repeat in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="repeat=.*expected an integer >= 1"):
            ActionRepeat(_make(), repeat)


def test_the_wrapper_passes_gymnasium_env_checker_and_is_in_the_spec() -> None:
    env = _make(repeat=4)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        check_env(env, skip_render_check=True)
    assert env.spec.additional_wrappers[-1].kwargs == {"repeat": 4}
    assert gym.make(env.spec).get_wrapper_attr("action_repeat") == 4


def test_sb3_sizes_its_episode_based_hyperparameters_in_decisions() -> None:
    env = gym.make("LRTuning-Tiny-v0", **{**KWARGS, "action_mode": "schedule_relative"})
    agent = make_agent("sb3-sac", ActionRepeat(env, 3), seed=0)
    assert agent.episode_steps == 4  # ceil(10 steps / 3)
    assert agent.hyperparameters()["learning_starts"] == 8  # Episodes(2)


def test_keep_signals_observes_only_the_named_training_signals() -> None:
    plain, kept = _make(), KeepSignals(_make(), ("progress", "val_acc"))
    assert kept.observation_space.shape == (2,)
    full, _ = plain.reset(seed=3)
    obs, _ = kept.reset(seed=3)
    assert obs.tolist() == [read_signal(full, "progress"), read_signal(full, "val_acc")]
    full = plain.step(2)[0]
    obs = kept.step(2)[0]
    assert obs in kept.observation_space
    assert obs.tolist() == [read_signal(full, "progress"), read_signal(full, "val_acc")]
    assert obs[0] == pytest.approx(1 / plain.unwrapped.config.num_steps)


def test_keep_signals_refuses_unknown_or_no_signals_and_stacked_frames() -> None:
    for signals in ((), "progress", ("progress", "lr")):
        with pytest.raises(ValueError, match="signals=.*expected a non-empty list of names"):
            KeepSignals(_make(), signals)
    with pytest.raises(ValueError, match="1-D observation space.*before FrameStackObservation"):
        KeepSignals(gym.wrappers.FrameStackObservation(_make(), 2), ("progress",))


def test_sb3_reads_the_repeat_of_a_vec_env_from_its_sub_envs_spec() -> None:
    from stable_baselines3.common.env_util import make_vec_env

    kwargs = {**KWARGS, "action_mode": "schedule_relative"}
    vec = make_vec_env(
        "LRTuning-Tiny-v0",
        n_envs=2,
        env_kwargs=kwargs,
        wrapper_class=ActionRepeat,
        wrapper_kwargs={"repeat": 3},
    )
    assert make_agent("sb3-sac", vec, seed=0).episode_steps == 4  # ceil(10 steps / 3)
    plain = make_vec_env("LRTuning-Tiny-v0", n_envs=2, env_kwargs=kwargs)
    assert make_agent("sb3-sac", plain, seed=0).episode_steps == 10
