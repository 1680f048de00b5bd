"""Ray RLlib integration: env creators, per-runner seeds, PPO training and fault tolerance.

The first tests need neither Ray nor a cluster (optional-dependency errors, the creator and its
seeds); the others start one local Ray instance for the module and train PPO (new API stack)
with two env runners on `LRTuning-Tiny-v0` episodes of ten cheap steps.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from conftest import FAST_TINY_KWARGS, start_ray

import lrgym.integrations.rllib as rllib_integration
from lrgym.integrations.optional import require
from lrgym.integrations.rllib import (
    FirstResetSeed,
    derive_seed,
    log_episode_metrics,
    make_rllib_env,
    register_rllib_envs,
)

ENV_ID = "LRTuning-Tiny-v0"
FAULTY_ENV_ID = "LRTuningFaultyTest-Tiny-v0"  # registered with Ray only, by the fault-tolerance test
EPISODE = 10  # steps per episode of FAST_TINY_KWARGS
BASE_SEED = 7


def first_obs(seed: int | None) -> np.ndarray:
    return gym.make(ENV_ID, **FAST_TINY_KWARGS).reset(seed=seed)[0]


# --- optional dependency ----------------------------------------------------------------------
def test_require_returns_module_or_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    assert require("json", "ray") is json
    monkeypatch.setitem(sys.modules, "ray.tune.registry", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"needs ray\.tune\.registry: pip install 'lrgym\[ray\]'") as caught:
        require("ray.tune.registry", "ray")
    assert isinstance(caught.value.__cause__, ImportError)
    with pytest.raises(ImportError, match=r"pip install 'lrgym\[ray\]'"):
        register_rllib_envs()
    with pytest.raises(ImportError, match=r"needs lrgym_no_such_module: pip install 'lrgym\[zoo\]'"):
        require("lrgym_no_such_module", "zoo")


# --- the env creator and its seeds (no Ray cluster) -------------------------------------------
class Context(dict):
    """Stands in for RLlib's EnvContext where Ray is absent: a dict with the runner's indices."""

    def __init__(self, config: dict[str, Any], worker_index: int, vector_index: int = 0) -> None:
        super().__init__(config)
        self.worker_index, self.vector_index = worker_index, vector_index


def env_context(config: dict[str, Any], worker_index: int, vector_index: int = 0) -> dict[str, Any]:
    try:
        from ray.rllib.env.env_context import EnvContext
    except ImportError:
        return Context(config, worker_index, vector_index)
    return EnvContext(config, worker_index=worker_index, vector_index=vector_index)


def test_first_reset_seeds_differ_per_runner_and_sub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rllib_integration, "_built", Counter())  # as in a fresh runner process
    config = {**FAST_TINY_KWARGS, "seed": BASE_SEED}
    runner1_env0 = make_rllib_env(ENV_ID, env_context(config, worker_index=1))
    runner1_env1 = make_rllib_env(ENV_ID, env_context(config, worker_index=1))  # second sub-env
    runner2_env0 = make_rllib_env(ENV_ID, env_context(config, worker_index=2))
    assert runner1_env0.unwrapped.config.device == "cpu"  # the other keys reached the config
    obs = [env.reset()[0] for env in (runner1_env0, runner1_env1, runner2_env0)]
    for got, (worker, k) in zip(obs, [(1, 0), (1, 1), (2, 0)], strict=True):
        np.testing.assert_array_equal(got, first_obs(derive_seed(BASE_SEED, worker, 0, k)))
    assert not np.array_equal(obs[0], obs[1]) and not np.array_equal(obs[0], obs[2])
    assert not np.array_equal(obs[1], obs[2])
    # Later resets continue the env's own generator instead of repeating the first run.
    assert not np.array_equal(runner1_env0.reset()[0], obs[0])


def test_explicit_seed_wins_and_no_seed_means_unwrapped() -> None:
    env = make_rllib_env(ENV_ID, env_context({**FAST_TINY_KWARGS, "seed": BASE_SEED}, worker_index=1))
    assert isinstance(env, FirstResetSeed)
    np.testing.assert_array_equal(env.reset(seed=3)[0], first_obs(3))
    assert not isinstance(
        make_rllib_env(ENV_ID, env_context(dict(FAST_TINY_KWARGS), worker_index=1)), FirstResetSeed
    )
    assert derive_seed(0, 1, 0) != derive_seed(0, 0, 1) != derive_seed(1, 1, 0)
    assert 0 <= derive_seed(2**40, 3, 2, 1) < 2**63


def test_creator_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"env_config\['seed'\]=-1 is invalid"):
        make_rllib_env(ENV_ID, {"seed": -1})
    with pytest.raises(ValueError, match=r"env_config\['seed'\]='0' is invalid"):
        make_rllib_env(ENV_ID, {"seed": "0"})
    with pytest.raises(ValueError, match=r"unknown LRTuningConfig option\(s\) \['epoch'\]"):
        make_rllib_env(ENV_ID, {"epoch": 3})
    with pytest.raises(ValueError, match="no vector entry point"):
        make_rllib_env(ENV_ID, {"num_envs": 2})


def test_episode_metrics_callback_logs_final_infos() -> None:
    class Episode:
        def get_infos(self, index: int) -> dict[str, Any]:
            assert index == -1
            return {"test_acc": 0.5, "val_acc": 0.4, "lr": 0.1, "diverged": False, "step": 10}

    class Logger:
        def __init__(self) -> None:
            self.logged: dict[str, float] = {}

        def log_value(self, key: str, value: float, **kwargs: Any) -> None:
            assert kwargs["reduce"] == "mean"
            self.logged[key] = value

    logger = Logger()
    log_episode_metrics(episode=Episode(), metrics_logger=logger, env_index=0)
    assert logger.logged == {
        "lrgym/test_acc": 0.5,
        "lrgym/val_acc": 0.4,
        "lrgym/lr": 0.1,
        "lrgym/diverged": 0.0,
    }


# --- a local Ray instance ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_session(ray_instance: Any) -> Any:
    pytest.importorskip("ray.rllib")
    # Test-module functions and classes (the faulty env) travel to the env runners by value:
    # the runners cannot import this file.
    start_ray(ray_instance, __name__)
    register_rllib_envs()
    return ray_instance


def ppo_config(env_id: str, env_config: dict[str, Any]) -> Any:
    from ray.rllib.algorithms.ppo import PPOConfig

    return (
        PPOConfig()
        .environment(env_id, env_config=env_config)
        .env_runners(
            num_env_runners=2,
            num_envs_per_env_runner=1,
            num_cpus_per_env_runner=1,
            rollout_fragment_length=EPISODE,
        )
        .learners(num_learners=0)
        .training(train_batch_size_per_learner=2 * EPISODE, minibatch_size=EPISODE, num_epochs=1)
        .callbacks(on_episode_end=log_episode_metrics)
    )


def test_ppo_trains_with_two_runners_with_distinct_seeds(ray_session: Any) -> None:
    algo = ppo_config(ENV_ID, {**FAST_TINY_KWARGS, "seed": BASE_SEED}).build_algo()
    try:
        # Each runner's env: its worker index and first observation (the runner's own reset in
        # sample() comes later and continues from there).
        starts = algo.env_runner_group.foreach_env_runner(
            lambda runner: (runner.worker_index, runner.env.reset()[0][0]), local_env_runner=False
        )
        assert sorted(w for w, _ in starts) == [1, 2]
        for worker, obs in starts:
            np.testing.assert_array_equal(obs, first_obs(derive_seed(BASE_SEED, worker, 0, 0)))
        assert not np.array_equal(starts[0][1], starts[1][1])

        result = algo.train()
        runners = result["env_runners"]
        assert runners["num_env_steps_sampled_lifetime"] >= 2 * EPISODE
        assert runners["num_episodes_lifetime"] >= 2  # one ten-step run per runner
        assert 0.0 <= runners["lrgym/test_acc"] <= 1.0
        assert np.isfinite(runners["episode_return_mean"])
        assert "default_policy" in result["learners"]
    finally:
        algo.stop()


class FailOnce(gym.Wrapper):
    """Raises on its first step, once per test run (the marker file outlives env rebuilds)."""

    def __init__(self, env: gym.Env, marker: Path) -> None:
        super().__init__(env)
        self.marker = marker

    def step(self, action: Any) -> Any:
        if not self.marker.exists():
            self.marker.write_text("failed once\n")
            raise RuntimeError("injected env failure")
        return super().step(action)


def make_faulty_env(env_config: Any) -> gym.Env:
    """LRTuning-Tiny-v0 whose env on runner 1 fails once (`fail_marker`: where to remember it)."""
    marker = Path(env_config["fail_marker"])
    config = env_config.copy_with_overrides(
        env_config={k: v for k, v in env_config.items() if k != "fail_marker"}
    )
    env = make_rllib_env(ENV_ID, config)
    return FailOnce(env, marker) if env_config.worker_index == 1 else env


# Ray 2.60 already restarts failed env runners by default (restart_failed_env_runners=True); the
# sub-environment restart is opt-in. Both must let the training iteration complete.
@pytest.mark.parametrize("restart", ["sub_environment", "env_runner"])
def test_failing_env_is_restarted_and_iteration_completes(
    ray_session: Any, tmp_path: Path, restart: str
) -> None:
    from ray.tune.registry import register_env

    register_env(FAULTY_ENV_ID, make_faulty_env)
    marker = tmp_path / "failed"
    config = ppo_config(FAULTY_ENV_ID, {**FAST_TINY_KWARGS, "seed": BASE_SEED, "fail_marker": str(marker)})
    config = config.fault_tolerance(
        restart_failed_env_runners=True,
        restart_failed_sub_environments=restart == "sub_environment",
        delay_between_env_runner_restarts_s=0.0,
    )
    algo = config.build_algo()
    try:
        result = algo.train()
        assert marker.exists(), "the injected failure never happened"
        runners = result["env_runners"]
        assert runners["num_env_steps_sampled_lifetime"] >= 2 * EPISODE  # the batch was still filled
        assert "default_policy" in result["learners"]  # and learned from
        group = algo.env_runner_group
        if restart == "sub_environment":
            # The runner rebuilt its env and went on: RLlib counted the failed step, no restart.
            assert runners["num_env_step_failures"] >= 1
            assert group.num_remote_worker_restarts() == 0
        else:
            # Runner 1 died; the other one filled the batch while Ray restarts the actor, which
            # RLlib brings back into service when it next probes (at the next iteration).
            deadline = time.monotonic() + 120.0
            while group.num_healthy_remote_env_runners() < 2 and time.monotonic() < deadline:
                group.probe_unhealthy_env_runners(timeout_seconds=30.0)
            assert group.num_remote_worker_restarts() >= 1
        assert group.num_healthy_remote_env_runners() == 2
    finally:
        algo.stop()
