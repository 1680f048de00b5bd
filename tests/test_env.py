"""The LRTuning environments: registry, API checkers, seeding, rewards, divergence, bad input."""

from __future__ import annotations

import dataclasses
import math
import resource
import tracemalloc
import warnings

import gymnasium as gym
import numpy as np
import pytest
from conftest import FAST_TINY_KWARGS
from gymnasium.error import ResetNeeded

import lrgym
from lrgym import datasets
from lrgym.actions import neutral_action, next_lr, reference_lr
from lrgym.env import LRTuningEnv
from lrgym.features import OBS_BOUND, features_per_layer
from lrgym.layout import TRAINING_SIGNALS
from lrgym_agents.schedules import schedule_lr

LRTUNING_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("LRTuning-"))
# Seconds-long episodes for tests that only need the mechanics.
SHORT = {"device": "cpu", "epochs": 0.5, "steps_per_epoch": 4}


def test_every_preset_is_registered_and_only_presets_are() -> None:
    assert LRTUNING_IDS == sorted(lrgym.PRESETS)
    assert {
        "LRTuning-v0",
        "LRTuning-Paper-v0",
        "LRTuning-Tiny-v0",
        "LRTuning-TinyMix-v0",
        "LRTuning-Mix-v0",
    } <= set(LRTUNING_IDS)
    lrgym.register_envs()  # idempotent: no duplicate-registration error or warning
    assert sorted(e for e in gym.registry if e.startswith("LRTuning-")) == LRTUNING_IDS


@pytest.mark.parametrize("env_id", LRTUNING_IDS)
def test_every_preset_is_constructed_cheaply_with_consistent_spaces(env_id: str, tmp_path) -> None:
    # An empty data root: construction must not touch data, weights or training.
    loaded_before = dict(datasets._LOADED)
    env = gym.make(env_id, data_root=str(tmp_path))
    assert datasets._LOADED == loaded_before
    cfg = env.unwrapped.config
    per_step = env.unwrapped.observation_space.shape[0]
    assert per_step == len(env.unwrapped._layer_indices) * features_per_layer(cfg) + len(TRAINING_SIGNALS)
    assert env.observation_space.dtype == np.float32
    assert np.all(env.observation_space.low == -OBS_BOUND) and np.all(env.observation_space.high == OBS_BOUND)
    if env_id == "LRTuning-Paper-v0":
        assert env.observation_space.shape == (4, per_step)  # four stacked states
        assert per_step == 192 + len(TRAINING_SIGNALS)  # the paper's statistics of the first conv
        assert env.action_space == gym.spaces.Discrete(2)
    else:
        assert env.observation_space.shape == (per_step,)
    env.close()


def test_gym_make_with_module_prefix_registers_on_demand() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gymnasium as gym\n"
        "env = gym.make('lrgym:LRTuning-Tiny-v0', device='cpu')\n"
        "print(env.spec.id, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["LRTuning-Tiny-v0", "True"]


# Every preset's own MDP (actions, features, reward, wrappers) on a few hundred synthetic images
# and a WRN-10-1 on the CPU: what the checkers examine, in seconds.
CHEAP = {
    "device": "cpu",
    "dataset": "synthetic",
    "depth": 10,
    "width": 1,
    "synthetic_train_size": 500,
    "synthetic_test_size": 100,
    "val_size": 100,
    "val_subset_size": 50,
    "batch_size": 32,
    "eval_batch_size": 100,
    "epochs": 0.5,
}


# The Mix presets' tasks set the data, the model, the batch and the budget: TinyMix keeps its
# tasks with cheap evaluations; Mix (real datasets, absent here) runs TinyMix's tasks under its
# own observation, actions and LR range.
# 1400 training images still give every TinyMix task a mini-batch per decision (batch 256 x 4
# epochs: 20 mini-batches for 20 decisions).
CHEAP_TINYMIX = {
    "synthetic_train_size": 1500,
    "val_size": 100,
    "val_subset_size": 50,
    "synthetic_test_size": 100,
    "eval_batch_size": 100,
}
CHEAP_BY_ID = {
    "LRTuning-TinyMix-v0": CHEAP_TINYMIX,
    "LRTuning-Mix-v0": {**CHEAP_TINYMIX, "task_distribution": "tinymix", "device": "cpu"},
}


def _cheap(env_id: str, **kwargs) -> gym.Env:
    env = gym.make(env_id, **CHEAP_BY_ID.get(env_id, CHEAP), **kwargs)
    # On the CPU every preset is deterministic: let the checker test that too (a preset that may
    # run on CUDA is registered as nondeterministic, which makes the checker skip it).
    env.unwrapped.spec = dataclasses.replace(env.unwrapped.spec, nondeterministic=False)
    return env


@pytest.mark.parametrize("env_id", LRTUNING_IDS)
def test_every_preset_passes_gymnasium_env_checker_with_warnings_as_errors(env_id: str) -> None:
    from gymnasium.utils.env_checker import check_env

    env = _cheap(env_id, render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


@pytest.mark.parametrize(
    ("env_id", "action_mode"),
    [(env_id, None) for env_id in LRTUNING_IDS]
    + [("LRTuning-Tiny-v0", "absolute"), ("LRTuning-TinyMix-v0", "schedule_relative")],
)
def test_every_preset_passes_sb3_env_checker_with_warnings_as_errors(env_id: str, action_mode) -> None:
    from stable_baselines3.common.env_checker import check_env

    env = _cheap(env_id, **({"action_mode": action_mode} if action_mode else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if len(env.observation_space.shape) == 2:  # the paper's stacked states: SB3's MLPs flatten them
            warnings.filterwarnings("ignore", message=".*unconventional shape", category=UserWarning)
        check_env(env, warn=True)  # with the preset's wrappers


def test_presets_that_may_run_on_cuda_are_registered_as_nondeterministic() -> None:
    for env_id in LRTUNING_IDS:
        assert gym.spec(env_id).nondeterministic == (lrgym.PRESETS[env_id].device != "cpu"), env_id
    assert not gym.spec("LRTuning-Tiny-v0").nondeterministic


def _rollout(env: gym.Env, seed: int, actions: list) -> tuple[list, list, list]:
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, rewards, infos


def test_same_seed_and_actions_give_identical_trajectories() -> None:
    env = gym.make("LRTuning-Tiny-v0", **SHORT)
    actions = [4, 0, 2, 3]
    first = _rollout(env, 11, actions)
    second = _rollout(env, 11, actions)
    for a, b in zip(first[0], second[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert first[1] == second[1] and first[2] == second[2]
    other = _rollout(env, 12, actions)
    assert not np.array_equal(first[0][-1], other[0][-1])
    assert first[2][0]["val_acc"] != other[2][0]["val_acc"] or first[1] != other[1]


def test_info_holds_python_scalars_and_the_final_report() -> None:
    env = gym.make("LRTuning-Tiny-v0", **SHORT)
    _, _, infos = _rollout(env, 0, [2] * 10)
    for info in infos:
        for key, kind in (("lr", float), ("train_loss", float), ("val_loss", float), ("val_acc", float)):
            assert type(info[key]) is kind, key
        assert type(info["epoch"]) is float and type(info["step"]) is int and type(info["diverged"]) is bool
    final = infos[-1]
    assert final["step"] == 2 and final["epoch"] == pytest.approx(0.5, abs=0.02)
    for key in ("test_acc", "test_loss", "full_val_acc", "full_val_loss"):
        assert type(final[key]) is float
    assert "test_acc" not in infos[1]
    assert set(final["reward_terms"]) == {"val_acc_delta", "log_val_loss_ratio", "paper", "terminal_acc"}


@pytest.mark.parametrize("reward", ["val_acc_delta", "log_val_loss_ratio"])
def test_rewards_telescope(reward: str) -> None:
    env = gym.make("LRTuning-Tiny-v0", reward=reward, **SHORT)
    _, rewards, infos = _rollout(env, 3, [3, 3, 1, 0])
    assert not infos[-1]["diverged"]
    if reward == "val_acc_delta":
        assert sum(rewards) == pytest.approx(infos[-1]["val_acc"] - infos[0]["val_acc"], abs=1e-9)
    else:
        assert sum(rewards) == pytest.approx(math.log(infos[0]["val_loss"] / infos[-1]["val_loss"]), abs=1e-9)


def test_terminal_and_paper_rewards() -> None:
    env = gym.make("LRTuning-Tiny-v0", reward="terminal_acc", **SHORT)
    _, rewards, infos = _rollout(env, 0, [2, 2])
    assert rewards[0] == 0.0 and rewards[-1] == pytest.approx(infos[-1]["val_acc"])
    env = gym.make("LRTuning-Tiny-v0", reward="paper", **SHORT)
    _, rewards, infos = _rollout(env, 0, [2, 2])
    first_loss = env.unwrapped.trainer.initial_loss
    expected = -(10 / 2) * math.log(infos[-1]["train_loss"] / first_loss)
    assert rewards[-1] == pytest.approx(min(max(expected, -1.0), 1.0))


def test_a_huge_learning_rate_diverges_cleanly_and_reset_starts_afresh() -> None:
    env = gym.make("LRTuning-Tiny-v0", action_mode="absolute", lr_max=30.0, crash_penalty=2.0, device="cpu")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.array([1.0], dtype=np.float32))
    assert info["lr"] == pytest.approx(30.0)
    assert terminated and not truncated and info["diverged"]
    assert reward == -2.0 and set(info["reward_terms"].values()) == {-2.0}
    assert np.all(np.isfinite(obs)) and env.observation_space.contains(obs)
    with pytest.raises(ResetNeeded, match="after the episode terminated"):
        env.step(np.array([0.0], dtype=np.float32))
    obs, info = env.reset(seed=1)
    assert info["lr"] == env.unwrapped.config.initial_lr and not info["diverged"] and info["step"] == 0
    obs, reward, terminated, _, info = env.step(np.array([-0.5], dtype=np.float32))
    assert not info["diverged"] and not terminated and np.all(np.isfinite(obs))


def test_a_multiplier_loop_diverges() -> None:
    env = gym.make("LRTuning-Tiny-v0", lr_max=1e4, device="cpu", epochs=2.0, steps_per_epoch=20)
    env.reset(seed=0)
    for _ in range(40):
        obs, reward, terminated, _, info = env.step(4)  # x2 every step
        if terminated:
            break
    assert info["diverged"] and reward == -env.unwrapped.config.crash_penalty
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"bogus": 1}, "unknown LRTuningConfig option.*bogus.*initial_lr"),
        ({"epochs": 0}, "epochs=0 is invalid"),
        ({"lr_max": 1e-6}, "lr_min"),
        ({"depth": 11}, "depth=11.*6n\\+4"),
        ({"feature_layers": (0, 99)}, "feature_layers=\\(0, 99\\).*10 weight layers"),
        ({"render_mode": "video"}, "render_mode='video' is invalid"),
        ({"preset": "LRTuning-v9"}, "preset='LRTuning-v9' is unknown"),
    ],
)
def test_bad_construction_arguments_raise_value_error(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        if "preset" in kwargs:
            LRTuningEnv(**kwargs)
        else:
            gym.make("LRTuning-Tiny-v0", **kwargs)


@pytest.mark.parametrize(
    ("action_mode", "action", "pattern"),
    [
        ("discrete", 5, "0..4"),
        ("discrete", -1, "0..4"),
        ("discrete", 1.5, "integer"),
        ("discrete", np.array([1, 2]), "integer"),
        ("paper", 2, "0..1"),
        ("absolute", np.array([1.5], dtype=np.float32), "\\[-1, 1\\]"),
        ("absolute", np.array([np.nan], dtype=np.float32), "\\[-1, 1\\]"),
        ("continuous", np.zeros(2, dtype=np.float32), "shape \\(2,\\)"),
        ("continuous", "up", "float array"),
        # Not real numbers: strings, complex numbers, bools and objects are refused, not converted.
        ("continuous", "0.5", "'0.5' \\(dtype <U3\\): expected a real float array"),
        ("absolute", np.array(["0.5"]), "dtype <U3"),
        ("continuous", b"0.5", "dtype \\|S3"),
        ("continuous", np.array([0.5 + 1j]), "dtype complex128"),
        ("absolute", 0.5 + 0j, "dtype complex128"),
        ("continuous", True, "dtype bool"),
        ("absolute", np.array([False]), "dtype bool"),
        ("continuous", np.array([0.5], dtype=object), "dtype object"),
        ("absolute", None, "dtype object"),
        ("continuous", [0.5, [1.0]], "unconvertible"),
        ("discrete", [1, [2]], "integer"),
        ("discrete", True, "integer"),
        ("schedule_relative", np.array([-1.01], dtype=np.float32), "\\[-1, 1\\]"),
        ("schedule_relative_discrete", 5, "0..4"),
        ("schedule_relative_discrete", np.float32(2.0), "integer"),
    ],
)
def test_invalid_actions_raise_value_error(action_mode: str, action, pattern: str) -> None:
    env = gym.make("LRTuning-Tiny-v0", action_mode=action_mode, **SHORT)
    env.reset(seed=0)
    lr = env.unwrapped.trainer.lr
    with pytest.raises(ValueError, match=pattern):
        env.step(action)
    assert env.unwrapped.trainer.lr == lr and env.unwrapped.trainer.batches_done == 0  # nothing lost


def test_real_actions_of_any_numeric_dtype_are_accepted() -> None:
    cfg = lrgym.PRESETS["LRTuning-Tiny-v0"].replace(action_mode="absolute")  # LR in [1e-5, 1]
    for action in (0.0, [0.0], np.array([0.0], dtype=np.float16), np.int64(0), np.array([0], np.uint8)):
        assert next_lr(cfg, 0.1, action, 0.0) == pytest.approx(math.sqrt(cfg.lr_min)), repr(action)


def test_more_decisions_than_mini_batches_are_refused_at_construction() -> None:
    # Tiny: 39 mini-batches per epoch; 0.1 epochs is 4 of them, which 10 decisions cannot share.
    with pytest.raises(ValueError, match="steps_per_epoch=100 is invalid: 10 decisions for a budget of 4"):
        gym.make("LRTuning-Tiny-v0", epochs=0.1, steps_per_epoch=100, device="cpu")
    gym.make("LRTuning-Tiny-v0", epochs=0.1, steps_per_epoch=40, device="cpu")  # 4 decisions, 4 batches


def test_a_long_budget_is_cheap_to_construct() -> None:
    """Step boundaries are computed per step: gym.make does not build a list of 10**7 of them."""
    tracemalloc.start()
    try:
        env = gym.make("LRTuning-Tiny-v0", epochs=1e6, device="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert env.unwrapped.config.num_steps == 10**7


def test_step_before_reset_raises() -> None:
    env = LRTuningEnv("LRTuning-Tiny-v0", device="cpu")
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step(2)


def test_action_modes_set_the_documented_learning_rates() -> None:
    env = gym.make("LRTuning-Tiny-v0", lr_multipliers=(0.5, 3.0), lr_max=0.5, device="cpu", epochs=1.0)
    _, info = env.reset(seed=0)
    lrs = [env.step(a)[4]["lr"] for a in (1, 1, 0)]
    assert lrs == pytest.approx([0.3, 0.5, 0.25])  # x3, x3 clipped to lr_max, x0.5
    env = gym.make("LRTuning-Tiny-v0", action_mode="continuous", device="cpu", epochs=1.0)
    env.reset(seed=0)
    info = env.step(np.array([0.5], dtype=np.float32))[4]
    assert info["lr"] == pytest.approx(0.1 * 2**0.5)
    env = gym.make(
        "LRTuning-Tiny-v0", action_mode="absolute", lr_min=1e-4, lr_max=1.0, device="cpu", epochs=1.0
    )
    env.reset(seed=0)
    assert [env.step(np.array([a], dtype=np.float32))[4]["lr"] for a in (-1.0, 0.0, 1.0)] == pytest.approx(
        [1e-4, 1e-2, 1.0]
    )
    env = gym.make(
        "LRTuning-Tiny-v0",
        action_mode="paper",
        lr_max=0.1,
        restart_lr_every_epochs=0.5,
        device="cpu",
        epochs=1.0,
    )
    env.reset(seed=0)
    lrs, epochs = [], []
    for a in (0, 0, 1, 1, 1, 1, 0):
        epochs.append(env.unwrapped.trainer.epoch)
        lrs.append(env.step(a)[4]["lr"])
    # x0.97 twice; then restarts at 0.1 x 0.2^floor(epoch / 0.5); then x0.97 again.
    restarts = [0.1 * 0.2 ** math.floor(e / 0.5) for e in epochs[2:6]]
    assert restarts[0] == 0.1 and restarts[-1] == pytest.approx(0.02)  # both cases are exercised
    assert lrs == pytest.approx([0.097, 0.097 * 0.97, *restarts, restarts[-1] * 0.97])


@pytest.mark.parametrize("action_mode", ["schedule_relative", "schedule_relative_discrete"])
def test_the_neutral_schedule_relative_action_is_cosine_at_every_step(action_mode: str) -> None:
    env = gym.make("LRTuning-Tiny-v0", action_mode=action_mode, **FAST_TINY_KWARGS, final_eval=False)
    cfg = env.unwrapped.config
    steps = cfg.num_steps
    _, info = env.reset(seed=0)
    applied = [info["lr"]]
    for _ in range(steps):
        _, _, terminated, _, info = env.step(neutral_action(cfg))
        applied.append(info["lr"])
    assert terminated
    cosine = [cfg.initial_lr * 0.5 * (1.0 + math.cos(math.pi * (t / steps))) for t in range(steps)]
    assert applied[0] == cfg.initial_lr and applied[1:] == cosine  # exactly, at every step
    assert applied[1:] == [schedule_lr("cosine", t / steps, cfg.initial_lr, cfg) for t in range(steps)]
    assert min(cosine) > cfg.lr_min  # no clipping hides a difference


def test_schedule_relative_factors_apply_to_one_decision_each() -> None:
    env = gym.make("LRTuning-Tiny-v0", action_mode="schedule_relative", **FAST_TINY_KWARGS, final_eval=False)
    cfg = env.unwrapped.config
    env.reset(seed=0)
    actions = [1.0, 1.0, -1.0, 0.5, 0.0]
    lrs = [env.step(np.array([a], dtype=np.float32))[4]["lr"] for a in actions]
    expected = [reference_lr(cfg, t) * cfg.schedule_max_factor**a for t, a in enumerate(actions)]
    assert lrs == pytest.approx(expected, rel=1e-12)  # the reference times this step's factor
    env = gym.make(
        "LRTuning-Tiny-v0",
        action_mode="schedule_relative_discrete",
        schedule_factors=(0.5, 1.0, 3.0),
        **FAST_TINY_KWARGS,
        final_eval=False,
    )
    env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(3)
    lrs = [env.step(a)[4]["lr"] for a in (2, 2, 0, 1)]
    assert lrs == [reference_lr(cfg, t) * f for t, f in enumerate((3.0, 3.0, 0.5, 1.0))]
    with pytest.raises(ValueError, match="schedule_factors.*1.0"):
        gym.make("LRTuning-Tiny-v0", schedule_factors=(0.5, 2.0))


def test_paper_preset_stacks_four_states_at_tiny_scale() -> None:
    tiny_data = {"dataset": "synthetic", "depth": 10, "width": 1, "val_size": 1000, "val_subset_size": 200}
    env = gym.make("LRTuning-Paper-v0", device="cpu", epochs=0.05, **tiny_data)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 199) and np.array_equal(obs[0], obs[3])  # padded with the reset state
    obs, reward, *_ = env.step(1)
    assert obs.shape == (4, 199) and not np.array_equal(obs[2], obs[3]) and -1 <= reward <= 1


def test_render_modes() -> None:
    env = gym.make("LRTuning-Tiny-v0", render_mode="ansi", **SHORT)
    _rollout(env, 0, [2, 2])
    text = env.render()
    assert (
        "val acc" in text and "final: test acc" in text and len(text.splitlines()) == 5
    )  # header, 3 steps, final
    env = gym.make("LRTuning-Tiny-v0", render_mode="rgb_array", **SHORT)
    _rollout(env, 0, [2])
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.std() > 0


def test_fifty_episodes_do_not_grow_resident_memory() -> None:
    # Ten steps of a few mini-batches each, and a small validation subset: every reset builds a
    # fresh model and trainer, which is what could leak.
    env = gym.make(
        "LRTuning-Tiny-v0",
        device="cpu",
        epochs=0.1,
        steps_per_epoch=10,
        final_eval=False,
        val_subset_size=100,
    )

    def rss_mb() -> float:  # peak resident set size of this process
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    for seed in range(5):  # warm-up: data, allocator pools
        _rollout(env, seed, [2] * 10)
    before = rss_mb()
    for seed in range(50):
        _rollout(env, seed, [2] * 10)
    after = rss_mb()
    print(f"peak RSS before 50 episodes {before:.0f} MB, after {after:.0f} MB")
    assert after - before < 50
