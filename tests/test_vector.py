"""Vector envs: Gymnasium's AsyncVectorEnv and SB3's SubprocVecEnv with worker processes.

Workers are started with forkserver or spawn, never fork, so each one imports lrgym afresh: these
tests check that the ids resolve there, that a vector env of workers steps exactly like the same
envs run one by one, that each worker uses the device it was given, and that an agent trains on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import FAST_TINY_KWARGS
from gymnasium.vector import AsyncVectorEnv, AutoresetMode
from gymnasium.vector.utils import batch_space

import lrgym  # noqa: F401  (registers the envs in this process)
from lrgym.devices import resolve_device

ENV_ID = "LRTuning-Tiny-v0"
EPISODE = 10  # steps per episode of FAST_TINY_KWARGS
SEEDS = [0, 1]  # one per worker


@pytest.fixture(scope="module")
def async_venv() -> Iterator[gym.vector.VectorEnv]:
    """Two workers started by forkserver, built by `gym.make_vec` as users would."""
    venv = gym.make_vec(
        ENV_ID,
        num_envs=len(SEEDS),
        vectorization_mode="async",
        vector_kwargs={"context": "forkserver"},
        **FAST_TINY_KWARGS,
    )
    yield venv
    venv.close()


def test_spaces_match_single_env(async_venv: gym.vector.VectorEnv) -> None:
    single = gym.make(ENV_ID, **FAST_TINY_KWARGS)
    assert async_venv.single_observation_space == single.observation_space
    assert async_venv.single_action_space == single.action_space
    assert async_venv.observation_space == batch_space(single.observation_space, len(SEEDS))
    assert async_venv.action_space == batch_space(single.action_space, len(SEEDS))
    assert async_venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert [cfg.device for cfg in async_venv.get_attr("config")] == ["cpu", "cpu"]


def _per_env(infos: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """A vector env's info dict (arrays, with "_key" masks saying which sub-envs set "key") as one
    dict per sub-env, nested dicts included."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        parts = _per_env(value, n) if isinstance(value, dict) else list(value)
        for i in np.flatnonzero(infos[f"_{key}"]):
            out[i][key] = parts[i]
    return out


def _single_env_steps(seed: int, actions: list[int]) -> list[tuple[Any, ...]]:
    """What one env does under next-step autoreset: after an episode ends, the next step only
    resets it (unseeded, continuing its generator) and returns reward 0."""
    env = gym.make(ENV_ID, **FAST_TINY_KWARGS)
    obs, info = env.reset(seed=seed)
    out: list[tuple[Any, ...]] = [(obs, None, None, None, info)]
    done = False
    for action in actions:
        if done:
            obs, info = env.reset()
            out.append((obs, 0.0, False, False, info))
            done = False
        else:
            obs, reward, terminated, truncated, info = env.step(action)
            out.append((obs, reward, terminated, truncated, info))
            done = terminated or truncated
    env.close()
    return out


def test_async_steps_like_single_envs(async_venv: gym.vector.VectorEnv) -> None:
    n_steps = 2 * EPISODE + 1  # two whole episodes per worker and the autoreset step between them
    rng = np.random.default_rng(0)
    actions = rng.integers(0, async_venv.single_action_space.n, size=(n_steps, len(SEEDS)))
    obs, infos = async_venv.reset(seed=SEEDS)
    steps = [(obs, None, None, None, _per_env(infos, len(SEEDS)))]
    for a in actions:
        obs, rewards, terminated, truncated, infos = async_venv.step(a)
        assert async_venv.observation_space.contains(obs)
        steps.append((obs, rewards, terminated, truncated, _per_env(infos, len(SEEDS))))

    for i, seed in enumerate(SEEDS):
        expected = _single_env_steps(seed, [int(a) for a in actions[:, i]])
        assert sum(bool(t) for _, _, t, _, _ in expected[1:]) >= 2, "fewer than two whole episodes"
        for t, ((obs, rew, term, trunc, info), (e_obs, e_rew, e_term, e_trunc, e_info)) in enumerate(
            zip(steps, expected, strict=True)
        ):
            np.testing.assert_array_equal(obs[i], e_obs, err_msg=f"worker {i}, step {t}")
            assert info[i] == e_info, f"worker {i}, step {t}"
            if t:
                assert (rew[i], bool(term[i]), bool(trunc[i])) == (e_rew, e_term, e_trunc), f"step {t}"
    # The two workers ran different training runs (different seeds), not copies of one.
    assert not np.array_equal(steps[1][0][0], steps[1][0][1])


def test_dqn_trains_on_async_vector_env(async_venv: gym.vector.VectorEnv) -> None:
    from lrgym_agents.registry import make_agent

    agent = make_agent("dqn", async_venv, seed=0, learning_starts=10, batch_size=8, target_update_interval=10)
    seen: list[dict[str, Any]] = []
    agent.learn(3 * EPISODE, callback=seen.append)
    # 10 vector steps give 20 transitions and end both episodes; the next step only resets both
    # workers (no transition); 5 more give the last 10.
    assert agent.steps_done == 3 * EPISODE
    assert [d.steps_done for d in seen] == [2 * k for k in range(1, EPISODE + 1)] + [20] + [
        22,
        24,
        26,
        28,
        30,
    ]
    assert seen[EPISODE - 1].dones == [True, True] and agent.episodes_done == 2
    assert agent.updates_done > 0 and agent.replay.size == 3 * EPISODE
    assert async_venv.single_action_space.contains(agent.act(async_venv.single_observation_space.sample()))


# --- one device per worker ------------------------------------------------------------------
# "auto" resolves to the first GPU where there is one, else the CPU: both differ from "cpu" in
# the config, so the test sees whether each worker got its own kwargs. GPU machines add cuda:i.
DEVICE_LISTS = [["cpu", "auto"]]
if torch.cuda.device_count() >= 2:
    DEVICE_LISTS.append(["cuda:0", "cuda:1"])
elif torch.cuda.device_count() == 1:
    DEVICE_LISTS.append(["cuda:0", "cpu"])


class DeviceProbe(gym.Wrapper):
    """Reports where the worker's training run lives, as strings (no tensors cross the pipe)."""

    @property
    def run_devices(self) -> tuple[str, str, str]:
        trainer = self.env.unwrapped.trainer
        return (
            self.env.unwrapped.config.device,
            str(trainer.device),
            str(next(trainer.model.parameters()).device),
        )


def _device_factories(devices: list[str]) -> list[Any]:
    # "lrgym:" makes gym.make import lrgym in the worker, which registers the ids there.
    return [
        lambda d=d: DeviceProbe(gym.make(f"lrgym:{ENV_ID}", **{**FAST_TINY_KWARGS, "device": d}))
        for d in devices
    ]


def _check_devices(reported: list[tuple[str, str, str]], devices: list[str]) -> None:
    for (config_device, trainer_device, weights_device), asked in zip(reported, devices, strict=True):
        expected = resolve_device(asked)
        assert config_device == asked
        assert trainer_device == str(expected)
        weights = torch.device(weights_device)
        assert (weights.type, weights.index or 0) == (expected.type, expected.index or 0)


@pytest.mark.parametrize("devices", DEVICE_LISTS, ids=lambda d: "-".join(d))
def test_gymnasium_async_worker_devices(devices: list[str]) -> None:
    venv = AsyncVectorEnv(_device_factories(devices), context="spawn")
    try:
        venv.reset(seed=SEEDS)
        _check_devices(list(venv.get_attr("run_devices")), devices)
    finally:
        venv.close()


@pytest.mark.parametrize("devices", DEVICE_LISTS, ids=lambda d: "-".join(d))
def test_sb3_subproc_worker_devices(devices: list[str]) -> None:
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    venv = vec_env.SubprocVecEnv(_device_factories(devices), start_method="spawn")
    try:
        venv.seed(0)
        obs = venv.reset()
        assert obs.shape == (len(devices), *venv.observation_space.shape)
        _check_devices(venv.get_attr("run_devices"), devices)
    finally:
        venv.close()
