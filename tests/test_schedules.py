"""Hand schedules and the random agent: exact LRs in the real env, the paper rule, seeding,
bad input and save/load."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from conftest import FAST_TINY_KWARGS

import lrgym  # noqa: F401 - registers the environments
from lrgym.actions import next_lr
from lrgym.layout import TRAINING_SIGNALS, read_signal, signal_index
from lrgym_agents.base import AgentError
from lrgym_agents.registry import make_agent
from lrgym_agents.schedules import (
    SCHEDULES,
    RandomAgent,
    ScheduleAgent,
    schedule_lr,
)

# Ten decisions per episode of one mini-batch each, a small validation subset and no final
# evaluation: these tests only look at the LR, so the training run is as cheap as it gets.
SHORT = {
    **FAST_TINY_KWARGS,
    "synthetic_train_size": 400,
    "synthetic_test_size": 100,
    "val_size": 80,  # 320 training images: 10 mini-batches of 32 per epoch
    "val_subset_size": 32,
    "final_eval": False,
}
# Twenty decisions over half an epoch, so that t/T lands exactly on every "step" milestone
# (0.3, 0.6, 0.8) and the paper rule's restart LR decays once, at the middle (epoch 0.25).
MILESTONES = {
    **SHORT,
    "epochs": 0.5,
    "steps_per_epoch": 40,
    "batch_size": 8,  # 40 mini-batches per epoch: one per decision
    "restart_lr_every_epochs": 0.25,
}
# Non-default parameters where there are any; the table has one LR per decision of SHORT's run.
PARAMS = {
    "onecycle": {"warmup": 0.4},
    "paper-rule": {"period": 3},
    "table": {"lrs": [0.3 * 0.7**t for t in range(10)]},
}


def make_env(**kwargs) -> gym.Env:
    return gym.make("LRTuning-Tiny-v0", action_mode="absolute", **kwargs)


@pytest.fixture(scope="module")
def short_env() -> gym.Env:
    return make_env(**SHORT)


@pytest.fixture(scope="module")
def milestone_env() -> gym.Env:
    return make_env(**MILESTONES)


def run_lrs(env: gym.Env, agent: ScheduleAgent, seed: int = 0) -> tuple[list[float], list[int]]:
    """The LR the env applied at each decision, and the step count t each action was taken at."""
    obs, info = env.reset(seed=seed)
    lrs, ts = [], []
    while True:
        ts.append(info["step"])
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        lrs.append(info["lr"])
        if terminated or truncated:
            return lrs, ts


def expected(name: str, ts: list[int], peak: float, env: gym.Env, **params) -> list[float]:
    cfg = env.unwrapped.config
    return [schedule_lr(name, t / cfg.num_steps, peak, cfg, **params) for t in ts]


def fake_obs(env: gym.Env, progress: float) -> np.ndarray:
    obs = np.zeros(env.observation_space.shape, dtype=np.float32)
    obs[..., signal_index("progress")] = progress
    return obs


# --- exactness in the real environment ------------------------------------------------------


def test_progress_position_matches_the_observation_layout(short_env: gym.Env) -> None:
    assert TRAINING_SIGNALS[signal_index("progress")] == "progress"
    obs, _ = short_env.reset(seed=0)
    steps = short_env.unwrapped.config.num_steps
    for t in range(1, 4):
        assert read_signal(obs, "progress") == pytest.approx((t - 1) / steps)
        obs, *_ = short_env.step(short_env.action_space.sample())
    with pytest.raises(ValueError, match="unknown training signal"):
        signal_index("nope")


# Two peaks per schedule, a low and a high one.
ENV_CASES = [(name, peak) for name in SCHEDULES for peak in (0.02, 0.5)]


@pytest.mark.parametrize(("name", "peak"), ENV_CASES)
def test_env_applies_the_schedule_lr_at_every_step(short_env: gym.Env, name: str, peak: float) -> None:
    agent = make_agent(name, short_env, peak_lr=peak, **PARAMS.get(name, {}))
    lrs, ts = run_lrs(short_env, agent)
    assert ts == list(range(10))  # a full episode, no divergence
    assert lrs == pytest.approx(expected(name, ts, peak, short_env, **PARAMS.get(name, {})), rel=1e-5)
    assert len(set(np.round(lrs, 12))) > (1 if name != "constant" else 0)  # the LR really moves


@pytest.mark.parametrize("peak", [1e-3, 0.05, 0.4, 3.0])
@pytest.mark.parametrize("name", SCHEDULES)
def test_action_sets_the_schedule_lr_for_every_decision(short_env: gym.Env, name: str, peak: float) -> None:
    # The env's own LR update (next_lr) on the agent's action, for every t of an episode; 3.0 is
    # above lr_max and must be clipped to it.
    cfg = short_env.unwrapped.config
    agent = ScheduleAgent(short_env, schedule=name, peak_lr=peak, **PARAMS.get(name, {}))
    for t in range(cfg.num_steps):
        p = np.float32(t / cfg.num_steps)  # as the env stores it
        applied = next_lr(cfg, 0.1, agent.act(fake_obs(short_env, p)), epoch=0.0)
        assert applied == pytest.approx(
            schedule_lr(name, t / cfg.num_steps, peak, cfg, **agent.params), rel=1e-5
        )
        assert cfg.lr_min <= applied <= cfg.lr_max


def test_step_schedule_drops_exactly_at_the_milestones(milestone_env: gym.Env) -> None:
    peak = 0.3
    lrs, ts = run_lrs(milestone_env, make_agent("step", milestone_env, peak_lr=peak))
    assert ts == list(range(20))
    assert lrs == pytest.approx(expected("step", ts, peak, milestone_env), rel=1e-5)
    # t/T reaches 0.3, 0.6 and 0.8 exactly at t = 6, 12 and 16.
    by_hand = [peak] * 6 + [0.2 * peak] * 6 + [0.04 * peak] * 4 + [0.008 * peak] * 4
    assert lrs == pytest.approx(by_hand, rel=1e-5)


def test_paper_rule_decays_by_097_between_restarts_and_restarts_every_period(milestone_env: gym.Env) -> None:
    peak, period = 0.08, 4
    agent = make_agent("paper-rule", milestone_env, peak_lr=peak, period=period)
    lrs, ts = run_lrs(milestone_env, agent)
    assert lrs == pytest.approx(expected("paper-rule", ts, peak, milestone_env, period=period), rel=1e-5)
    for t in range(1, len(lrs)):
        if t % period:
            assert lrs[t] / lrs[t - 1] == pytest.approx(0.97, rel=1e-5), t
    restarts = [lrs[t] for t in range(0, len(lrs), period)]  # t = 0, 4, 8 | 12, 16
    # The restart LR is divided by 5 once per 0.25 epoch: from the restart at t = 12 (epoch 0.3).
    assert restarts == pytest.approx([peak] * 3 + [0.2 * peak] * 2, rel=1e-5)


# --- the formulas by hand -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cfg(short_env: gym.Env):
    return short_env.unwrapped.config


@pytest.mark.parametrize(
    ("name", "progress", "factor", "params"),
    [
        ("constant", 0.77, 1.0, {}),
        ("step", 0.0, 1.0, {}),
        ("step", 0.29, 1.0, {}),
        ("step", 0.3, 0.2, {}),
        ("step", 0.35, 0.2, {}),
        ("step", 0.6, 0.04, {}),
        ("step", 0.85, 0.008, {}),
        ("cosine", 0.0, 1.0, {}),
        ("cosine", 0.5, 0.5, {}),
        ("cosine", 0.25, 0.5 * (1 + math.sqrt(0.5)), {}),
        ("onecycle", 0.0, 0.1, {}),
        ("onecycle", 0.15, 0.55, {}),
        ("onecycle", 0.3, 1.0, {}),
        ("onecycle", 0.65, 0.5, {}),
        ("onecycle", 0.5, 1.0, {"warmup": 0.5}),
        ("onecycle", 0.75, 0.5, {"warmup": 0.5}),
        ("paper-rule", 0.0, 1.0, {}),
        ("paper-rule", 0.3, 0.97**3, {}),  # T = 10: t = 3
        ("paper-rule", 0.5, 0.97**2, {"period": 3}),  # t = 5, last restart at t = 3
        ("paper-rule", 0.6, 1.0, {"period": 3}),  # t = 6: a restart
    ],
)
def test_schedule_lr_by_hand(cfg, name: str, progress: float, factor: float, params: dict) -> None:
    peak = 0.04
    assert schedule_lr(name, progress, peak, cfg, **params) == pytest.approx(factor * peak, rel=1e-12)


def test_schedule_lr_is_clipped_to_the_lr_range(cfg) -> None:
    assert schedule_lr("constant", 0.5, 50.0, cfg) == cfg.lr_max
    assert schedule_lr("cosine", 1.0, 0.1, cfg) == cfg.lr_min  # zero at the end
    assert schedule_lr("onecycle", 1.0, 0.1, cfg) == cfg.lr_min


def test_paper_rule_restart_lr_decays_with_the_epoch_of_the_restart() -> None:
    from lrgym.presets import TINY

    cfg = TINY.replace(epochs=4.0, steps_per_epoch=5, restart_lr_every_epochs=1.0)  # T = 20
    lr = [schedule_lr("paper-rule", t / 20, 0.1, cfg, period=3) for t in range(20)]
    assert lr[3] == pytest.approx(0.1)  # epoch 0.6
    assert lr[6] == pytest.approx(0.1 * 0.2)  # epoch 1.2: one decay of the restart LR
    assert lr[12] == pytest.approx(0.1 * 0.2**2)  # epoch 2.4
    assert lr[11] == pytest.approx(0.1 * 0.2 * 0.97**2)  # after the restart at t = 9 (epoch 1.8)


def test_default_peak_is_the_env_initial_lr() -> None:
    env = make_env(**SHORT, initial_lr=0.03)
    agent = make_agent("constant", env)
    assert agent.peak_lr == 0.03
    assert agent.hyperparameters() == {"schedule": "constant", "peak_lr": 0.03}
    assert make_agent("onecycle", env).hyperparameters()["warmup"] == 0.3
    assert make_agent("paper-rule", env).hyperparameters()["period"] == 10


def test_stacked_observations_use_the_last_row() -> None:
    env = gym.make("LRTuning-Paper-v0", device="cpu", action_mode="absolute")
    assert len(env.observation_space.shape) == 2
    agent = make_agent("cosine", env, peak_lr=0.1)
    T = env.unwrapped.config.num_steps
    obs = fake_obs(env, 0.0)
    obs[-1, signal_index("progress")] = np.float32(T // 2 / T)
    assert agent.progress(obs) == T // 2 / T
    assert np.array_equal(agent.act(obs), agent.act(fake_obs(env, np.float32(T // 2 / T))))
    assert not np.array_equal(agent.act(obs), agent.act(fake_obs(env, 0.0)))


def test_progress_is_snapped_to_the_decision_grid() -> None:
    # Thousands of decisions: float32 progress alone would be off by ~1e-4 relative near the end
    # of a cosine; snapped to t/T the LR is exact.
    env = gym.make("LRTuning-Paper-v0", device="cpu", action_mode="absolute", lr_min=1e-10)
    cfg = env.unwrapped.config
    T = cfg.num_steps
    assert T > 1000
    agent = make_agent("cosine", env, peak_lr=0.1)
    for t in (1, T // 3, T - 2, T - 1):
        applied = next_lr(cfg, 0.1, agent.act(fake_obs(env, np.float32(t / T))), epoch=0.0)
        assert applied == pytest.approx(schedule_lr("cosine", t / T, 0.1, cfg), rel=1e-5), t


def test_schedules_do_not_learn(short_env: gym.Env) -> None:
    agent = make_agent("step", short_env)
    assert not agent.learns
    assert agent.learn(100, callback=lambda _: pytest.fail("a schedule must not step the env")) is agent
    assert agent.steps_done == 0


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["discrete", "paper", "continuous"])
def test_schedule_on_another_action_mode_says_to_use_absolute(mode: str) -> None:
    env = gym.make("LRTuning-Tiny-v0", **SHORT, action_mode=mode)
    with pytest.raises(AgentError, match="absolute"):
        make_agent("cosine", env)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": "linear"}, "unknown schedule 'linear'.*cosine"),
        ({"schedule": "cosine", "peak_lr": 0.0}, "peak_lr"),
        ({"schedule": "cosine", "peak_lr": -0.1}, "peak_lr"),
        ({"schedule": "cosine", "peak_lr": float("nan")}, "peak_lr"),
        ({"schedule": "cosine", "peak_lr": float("inf")}, "peak_lr"),
        ({"schedule": "cosine", "peak_lr": "0.1"}, "peak_lr"),
        ({"schedule": "onecycle", "warmup": 0.0}, r"warmup.*\(0, 1\)"),
        ({"schedule": "onecycle", "warmup": 1.0}, r"warmup.*\(0, 1\)"),
        ({"schedule": "paper-rule", "period": 0}, "period"),
        ({"schedule": "paper-rule", "period": 2.5}, "period"),
        ({"schedule": "cosine", "warmup": 0.3}, "'cosine' has no parameter.*warmup"),
    ],
)
def test_bad_schedule_parameters_raise(short_env: gym.Env, kwargs: dict, match: str) -> None:
    with pytest.raises(AgentError, match=match):
        ScheduleAgent(short_env, **kwargs)


def test_schedule_lr_rejects_bad_progress(cfg) -> None:
    for progress in (-0.1, 1.5, float("nan")):
        with pytest.raises(AgentError, match="progress"):
            schedule_lr("cosine", progress, 0.1, cfg)


def test_act_rejects_observations_of_the_wrong_shape_or_progress(short_env: gym.Env) -> None:
    agent = make_agent("cosine", short_env)
    with pytest.raises(AgentError, match="shape"):
        agent.act(np.zeros((2, *short_env.observation_space.shape), dtype=np.float32))
    with pytest.raises(AgentError, match="progress"):
        agent.act(fake_obs(short_env, 7.0))


# --- the random agent -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["discrete", "paper", "continuous", "absolute"])
def test_random_agent_is_seeded_and_stays_in_the_action_space(mode: str) -> None:
    env = gym.make("LRTuning-Tiny-v0", **SHORT, action_mode=mode)
    cfg = env.unwrapped.config

    def actions(seed: int) -> list:
        agent = make_agent("random", env, seed=seed)
        return [agent.act(fake_obs(env, 0.0)) for _ in range(50)]

    first = actions(1)
    assert all(env.action_space.contains(a) for a in first)
    for a in first:
        next_lr(cfg, 0.1, a, epoch=0.0)  # the env's own check accepts every action
    as_list = [np.asarray(a).tolist() for a in first]
    assert as_list == [np.asarray(a).tolist() for a in actions(1)]
    assert as_list != [np.asarray(a).tolist() for a in actions(2)]
    assert len({str(a) for a in as_list}) > 1  # not a constant
    if isinstance(env.action_space, gym.spaces.Discrete):  # uniform: every action shows up
        assert {int(a) for a in first} == set(range(env.action_space.n))


def test_random_agent_leaves_the_global_rngs_alone(short_env: gym.Env) -> None:
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    agent = RandomAgent(short_env, seed=3)
    obs = fake_obs(short_env, 0.0)
    [agent.act(obs) for _ in range(5)]
    assert np.random.random() == before
    short_env.action_space.seed(11)
    expected_sample = short_env.action_space.sample()
    short_env.action_space.seed(11)
    agent.act(obs)  # draws from its own copy, not from the env's action space
    assert np.array_equal(short_env.action_space.sample(), expected_sample)


def test_random_agent_steps_the_real_env(short_env: gym.Env) -> None:
    agent = make_agent("random", short_env, seed=0)
    obs, _ = short_env.reset(seed=0)
    obs, _, _, _, info = short_env.step(agent.act(obs))
    assert short_env.unwrapped.config.lr_min <= info["lr"] <= short_env.unwrapped.config.lr_max
    assert not agent.learns and agent.learn(10) is agent and agent.steps_done == 0


# --- save and load --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEDULES)
def test_loaded_schedule_acts_identically(short_env: gym.Env, tmp_path, name: str) -> None:
    params = {"onecycle": {"warmup": 0.6}, "paper-rule": {"period": 2}}.get(name, {})
    if name == "table":
        params = {"lrs": [0.5 * 0.9**t for t in range(10)]}
    saved = make_agent(name, short_env, peak_lr=0.0123, **params)
    saved.save(tmp_path / name)
    loaded = make_agent(name, short_env, **PARAMS.get(name, {}) if name == "table" else {})  # other settings
    loaded.load(tmp_path / name)
    assert loaded.hyperparameters() == saved.hyperparameters()
    for t in range(11):
        obs = fake_obs(short_env, np.float32(t / 10))
        assert np.array_equal(loaded.act(obs), saved.act(obs))


def test_loading_a_saved_schedule_with_bad_parameters_raises(short_env: gym.Env, tmp_path) -> None:
    import json

    make_agent("cosine", short_env).save(tmp_path)
    meta = json.loads((tmp_path / "agent.json").read_text())
    meta["hyperparameters"]["peak_lr"] = -1.0
    (tmp_path / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(AgentError, match="peak_lr"):
        make_agent("cosine", short_env).load(tmp_path)


def test_loaded_random_agent_replays_the_saved_seed(short_env: gym.Env, tmp_path) -> None:
    saved = make_agent("random", short_env, seed=7)
    saved.save(tmp_path)
    loaded = make_agent("random", short_env, seed=0).load(tmp_path)
    assert loaded.seed == 7
    fresh = make_agent("random", short_env, seed=7)
    obs = fake_obs(short_env, 0.0)
    assert [loaded.act(obs).tolist() for _ in range(5)] == [fresh.act(obs).tolist() for _ in range(5)]


def test_table_schedule_checks_its_entries(short_env: gym.Env) -> None:
    steps = short_env.unwrapped.config.num_steps
    lrs = [0.1 * 0.8**t for t in range(steps)]
    agent = make_agent("table", short_env, lrs=lrs)
    assert agent.peak_lr == 1.0 and [agent.lr_at(t / steps) for t in range(steps)] == lrs
    with pytest.raises(AgentError, match="9 learning rates for a run of 10"):
        make_agent("table", short_env, lrs=lrs[:-1])
    with pytest.raises(AgentError, match="outside"):
        make_agent("table", short_env, lrs=[2.0] * steps)
    with pytest.raises(AgentError, match="list of positive"):
        make_agent("table", short_env)
