"""Stable-Baselines3 baselines: training, save/load, logging, SB3 vector envs and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import FAST_TINY_KWARGS

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

from stable_baselines3.common.callbacks import BaseCallback, CallbackList  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.logger import KVWriter, Logger  # noqa: E402
from stable_baselines3.common.vec_env import SubprocVecEnv  # noqa: E402

import lrgym  # noqa: E402, F401  (registers the envs)
from lrgym_agents.base import AgentError  # noqa: E402
from lrgym_agents.registry import make_agent  # noqa: E402
from lrgym_agents.sb3 import HYPERPARAMETERS, Episodes, InfoLoggerCallback, SB3Agent  # noqa: E402

# FAST_TINY_KWARGS with one mini-batch per step and smaller evaluation sets: on two shared CPU
# cores a step costs tens of milliseconds, so each algorithm can take ~100 real steps here.
ENV_KWARGS: dict[str, Any] = {
    **FAST_TINY_KWARGS,
    "synthetic_train_size": 420,  # 320 training images: 10 mini-batches of 32 in the 1-epoch budget
    "synthetic_test_size": 100,
    "val_size": 100,
    "val_subset_size": 50,
    "eval_batch_size": 100,
    "batches_per_step": 1,  # 10 steps per episode
}
EPISODE = 10  # steps per episode of ENV_KWARGS
TRAIN_STEPS = 200  # steps each algorithm trains in the round-trip test: 20 episodes


def make_env(**overrides: Any) -> gym.Env:
    return gym.make("LRTuning-Tiny-v0", **{**ENV_KWARGS, **overrides})


def probe_observations(env: gym.Env, n_random: int = 16) -> list[np.ndarray]:
    """Real first observations of a few runs plus random points of the observation space's scale."""
    real = [env.reset(seed=s)[0] for s in range(3)]
    rng = np.random.default_rng(0)
    scale = np.abs(real[0]).max()
    shape = env.observation_space.shape
    return real + [rng.uniform(-scale, scale, size=shape).astype(np.float32) for _ in range(n_random)]


def same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- 1. every algorithm trains, saves, loads and acts identically ----------------------------
@pytest.mark.parametrize(
    ("agent_name", "mode"),
    [
        ("sb3-dqn", "discrete"),
        ("sb3-qrdqn", "paper"),
        ("sb3-a2c", "discrete"),
        ("sb3-ppo", "discrete"),
        ("sb3-ppo", "continuous"),
        ("sb3-sac", "absolute"),
    ],
)
def test_train_save_load_acts_identically(agent_name: str, mode: str, tmp_path: Path) -> None:
    env = make_env(action_mode=mode)
    agent = make_agent(agent_name, env, seed=3)
    seen: list[dict[str, Any]] = []
    agent.learn(TRAIN_STEPS, callback=seen.append)

    assert agent.steps_done == agent.model.num_timesteps >= TRAIN_STEPS
    assert [d.steps_done for d in seen] == list(range(1, agent.steps_done + 1))
    assert agent.episodes_done == seen[-1].episodes_done == sum(sum(d.dones) for d in seen) >= 1
    assert agent.model._n_updates > 0, "no gradient update happened: learning_starts/n_steps too large"
    finished = [e for d in seen for e in d.finished()]  # the books of every finished episode
    assert len(finished) == agent.episodes_done
    assert all(e.length == len(e.lr) == env.unwrapped.config.num_steps for e in finished)
    assert finished[0].episode_return == pytest.approx(
        sum(sum(d.rewards) for d in seen[: finished[0].length])
    )

    saved = agent.save(tmp_path / "agent")
    fresh_env = make_env(action_mode=mode)
    loaded = make_agent(agent_name, fresh_env, seed=99).load(saved)
    assert loaded.steps_done == agent.steps_done
    assert same_parameters(agent.model.policy, loaded.model.policy)
    # The observation statistics (VecNormalize, as the custom DQN normalises) travel with the model.
    stats, loaded_stats = agent.vec_normalize.obs_rms, loaded.vec_normalize.obs_rms
    assert (saved / "vecnormalize.pkl").is_file() and stats.count > TRAIN_STEPS
    np.testing.assert_array_equal(loaded_stats.mean, stats.mean)
    np.testing.assert_array_equal(loaded_stats.var, stats.var)
    assert not np.allclose(stats.mean, 0.0)  # really learned from the observations
    for obs in probe_observations(fresh_env):
        a, b = agent.act(obs), loaded.act(obs)
        if isinstance(env.action_space, gym.spaces.Discrete):
            assert type(a) is int and a == b and env.action_space.contains(a)
        else:
            assert a.dtype == np.float32 and a.shape == (1,) and env.action_space.contains(a)
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.vec_normalize.obs_rms.mean, stats.mean)  # acting changed nothing


def test_checkpoint_resumes_with_replay_buffer(tmp_path: Path) -> None:
    agent = SB3Agent(make_env(), seed=0, algo="dqn")
    agent.learn(3 * EPISODE)
    updates = agent.model._n_updates
    agent.save_checkpoint(tmp_path / "ckpt")

    resumed = SB3Agent(make_env(), seed=0, algo="dqn").load_checkpoint(tmp_path / "ckpt")
    assert (resumed.steps_done, resumed.episodes_done) == (3 * EPISODE, 3)
    assert resumed.model.replay_buffer.size() == agent.model.replay_buffer.size() == 3 * EPISODE
    np.testing.assert_array_equal(
        resumed.model.replay_buffer.observations, agent.model.replay_buffer.observations
    )
    resumed.learn(5)
    assert resumed.steps_done == 3 * EPISODE + 5
    assert resumed.model._n_updates > updates  # learning_starts is behind it: updates continue at once

    agent.save(tmp_path / "plain")  # no replay buffer, no counters
    with pytest.raises(AgentError, match="not a checkpoint"):
        SB3Agent(make_env(), seed=0, algo="dqn").load_checkpoint(tmp_path / "plain")


def test_callback_false_stops_learning() -> None:
    agent = SB3Agent(make_env(), seed=0, algo="dqn")
    agent.learn(1000, callback=lambda d: d.steps_done < 4)
    assert agent.steps_done == agent.model.num_timesteps == 4


# --- 2. env info reaches SB3's logger and TensorBoard ---------------------------------------
class CaptureOutput(KVWriter):
    """An SB3 logger output that keeps what each dump wrote."""

    def __init__(self) -> None:
        self.dumps: list[tuple[int, dict[str, Any]]] = []

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        self.dumps.append((step, dict(key_values)))


class RecordInfos(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.infos: list[dict[str, Any]] = []

    def _on_step(self) -> bool:
        self.infos.extend(self.locals["infos"])
        return True


def test_info_logger_callback_records_env_info() -> None:
    agent = SB3Agent(make_env(), seed=0, algo="dqn")
    capture, record = CaptureOutput(), RecordInfos()
    agent.model.set_logger(Logger(folder=None, output_formats=[capture]))
    # Standalone use; log_interval=1 makes DQN dump at every episode end.
    agent.model.learn(2 * EPISODE, callback=CallbackList([InfoLoggerCallback(), record]), log_interval=1)

    assert [step for step, _ in capture.dumps] == [EPISODE, 2 * EPISODE]
    for episode, (_, values) in enumerate(capture.dumps):
        infos = record.infos[episode * EPISODE : (episode + 1) * EPISODE]
        assert values["lrgym/lr"] == pytest.approx(np.mean([i["lr"] for i in infos]))
        assert values["lrgym/val_acc"] == pytest.approx(np.mean([i["val_acc"] for i in infos]))
        assert values["lrgym/test_acc"] == pytest.approx(infos[-1]["test_acc"])
        assert values["lrgym/full_val_acc"] == pytest.approx(infos[-1]["full_val_acc"])
        assert values["lrgym/diverged"] == float(infos[-1]["diverged"])


def test_tensorboard_log_gets_every_step(tmp_path: Path) -> None:
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    agent = SB3Agent(make_env(), seed=0, algo="a2c", tensorboard_log=str(tmp_path))
    lrs: list[float] = []
    agent.learn(EPISODE, callback=lambda d: lrs.append(d.infos[0]["lr"]))
    agent.learn(EPISODE, callback=lambda d: lrs.append(d.infos[0]["lr"]))  # continues the same run
    SB3Agent(make_env(), seed=1, algo="a2c", tensorboard_log=str(tmp_path)).learn(5)  # a new run
    assert sorted(r.name for r in tmp_path.iterdir()) == ["sb3-a2c_1", "sb3-a2c_2"]
    events = event_accumulator.EventAccumulator(str(tmp_path / "sb3-a2c_1"))
    events.Reload()
    step_lr = events.Scalars("lrgym_steps/lr")
    assert [e.step for e in step_lr] == list(range(1, 2 * EPISODE + 1))
    np.testing.assert_allclose([e.value for e in step_lr], lrs, rtol=1e-6)
    assert [e.step for e in events.Scalars("lrgym_episodes/test_acc")] == [EPISODE, 2 * EPISODE]


# --- 3. SB3 vector envs ---------------------------------------------------------------------
def test_ppo_on_subproc_vec_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # make_vec_env's factories call gym.make("lrgym:...") in each worker, which imports lrgym there.
    venv = make_vec_env(
        "lrgym:LRTuning-Tiny-v0",
        n_envs=2,
        seed=0,
        env_kwargs={**ENV_KWARGS, "action_mode": "paper"},
        vec_env_cls=SubprocVecEnv,
        vec_env_kwargs={"start_method": "forkserver"},
    )
    try:
        agent = SB3Agent(venv, seed=0, algo="ppo", n_steps=Episodes(1))
        assert agent.action_mode == "paper"  # read from the workers' config, not guessed from Discrete(2)
        dones: list[list[bool]] = []
        agent.learn(2 * EPISODE, callback=lambda d: dones.append(d.dones))
        assert agent.steps_done == 2 * EPISODE and agent.model.n_envs == 2
        assert agent.model._n_updates > 0
        assert len(dones) == EPISODE and dones[-1] == [True, True] and agent.episodes_done == 2
        assert isinstance(agent.act(venv.observation_space.sample()), int)
    finally:
        venv.close()


def test_vec_env_action_mode_is_checked_against_config() -> None:
    venv = make_vec_env("LRTuning-Tiny-v0", n_envs=1, env_kwargs={**ENV_KWARGS, "action_mode": "paper"})
    with pytest.raises(AgentError, match=r"action_mode='paper'.*'continuous', 'absolute'"):
        SB3Agent(venv, algo="sac")


# --- 4. bad input ---------------------------------------------------------------------------
def test_wrong_action_mode_names_allowed_modes() -> None:
    with pytest.raises(
        AgentError, match=r"'absolute'.*\['discrete', 'paper', 'schedule_relative_discrete'\]"
    ):
        SB3Agent(make_env(action_mode="absolute"), algo="dqn")
    with pytest.raises(AgentError, match=r"'discrete'.*\['continuous', 'absolute', 'schedule_relative'\]"):
        make_agent("sb3-sac", make_env())


def test_gymnasium_vector_env_is_refused() -> None:
    venv = gym.make_vec("LRTuning-Tiny-v0", num_envs=2, vectorization_mode="sync", **ENV_KWARGS)
    try:
        with pytest.raises(AgentError, match="make_vec_env"):
            SB3Agent(venv, algo="ppo")
    finally:
        venv.close()


def test_unknown_hyperparameter_and_algo() -> None:
    with pytest.raises(AgentError, match=r"\['learning_rat'\].*'learning_rate'"):
        SB3Agent(make_env(), algo="dqn", learning_rat=1e-3)
    with pytest.raises(AgentError, match=r"\['tau'\] for SB3 ppo"):  # a SAC argument is not a PPO one
        SB3Agent(make_env(), algo="ppo", tau=0.01)
    with pytest.raises(AgentError, match="unknown algo 'td3'"):
        SB3Agent(make_env(), algo="td3")


def test_episode_lengths_and_overrides_resolve() -> None:
    agent = SB3Agent(make_env(), algo="dqn", batch_size=8, target_update_interval=Episodes(3))
    hyp = agent.hyperparameters()
    assert hyp["learning_starts"] == 2 * EPISODE and hyp["target_update_interval"] == 3 * EPISODE
    assert hyp["batch_size"] == agent.model.batch_size == 8
    assert agent.model.learning_starts == 2 * EPISODE and agent.model.device.type == "cpu"
    sac = SB3Agent(make_env(action_mode="absolute"), algo="sac")
    assert sac.hyperparameters()["policy_kwargs"] == {"net_arch": [64, 64]}
    assert HYPERPARAMETERS["sac"]["policy_kwargs"] == {"net_arch": [64, 64]}  # SB3 did not edit the defaults


def test_load_refuses_other_env_and_corrupt_files(tmp_path: Path) -> None:
    other = SB3Agent(make_env(feature_layers="first"), algo="dqn").save(tmp_path / "other")
    with pytest.raises(AgentError, match="observations of shape"):
        SB3Agent(make_env(), algo="dqn").load(other)

    saved = SB3Agent(make_env(), algo="dqn").save(tmp_path / "agent")
    (saved / "model.zip").write_bytes(b"not a zip file")
    with pytest.raises(AgentError, match="model.zip"):
        SB3Agent(make_env(), algo="dqn").load(saved)
    with pytest.raises(AgentError, match="shape"):
        SB3Agent(make_env(), algo="dqn").act(np.zeros(3, dtype=np.float32))


def test_load_restores_saved_settings_and_checks_algo(tmp_path: Path) -> None:
    saved = SB3Agent(make_env(), algo="ppo", name="mine", n_epochs=3).save(tmp_path / "ppo")
    loaded = SB3Agent(make_env(), algo="ppo", name="mine").load(saved)
    assert loaded.model.n_epochs == loaded.hyperparameters()["n_epochs"] == 3
    with pytest.raises(AgentError, match="holds an SB3 ppo model, not a2c"):
        SB3Agent(make_env(), algo="a2c", name="mine").load(saved)
