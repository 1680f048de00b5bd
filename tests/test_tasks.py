"""Task distributions: seeded draws, disjoint halves, one observation shape, pinning, bad options."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils import seeding

import lrgym  # noqa: F401  (registers the presets)
from lrgym import features, tasks
from lrgym.config import OPTIMIZER_DEFAULT_LR, LRTuningConfig
from lrgym.env import LRTuningEnv
from lrgym.layout import TRAINING_SIGNALS, episode_trainer_seed, read_signal
from lrgym.models import build_model, weight_layers
from lrgym.presets import PRESETS
from lrgym.training import Trainer

MIX_PRESETS = {"LRTuning-TinyMix-v0": "tinymix", "LRTuning-Mix-v0": "mix"}
# TinyMix with a small dataset and cheap evaluations (fields its tasks leave alone): a reset
# costs one model and a 50-image evaluation, plus generating the task's dataset the first time.
# 1400 training images still give every task a mini-batch per decision.
CHEAP_EVAL = {
    "synthetic_train_size": 1500,
    "val_size": 100,
    "val_subset_size": 50,
    "synthetic_test_size": 100,
    "eval_batch_size": 100,
}


def _env(**kwargs) -> LRTuningEnv:
    return LRTuningEnv("LRTuning-TinyMix-v0", **{**CHEAP_EVAL, **kwargs})


def _all_tasks(dist: tasks.TaskDistribution) -> list[tuple[str, int, dict]]:
    return [(name, i, task) for name in ("train", "test") for i, task in enumerate(dist.tasks(name))]


@pytest.mark.parametrize(("env_id", "name"), MIX_PRESETS.items())
def test_train_and_test_tasks_are_disjoint_valid_and_equally_long(env_id: str, name: str) -> None:
    dist = tasks.get_distribution(name)
    base = PRESETS[env_id]
    assert base.task_distribution == name and dist.train and dist.test
    assert not [task for task in dist.test if task in dist.train]
    assert len({tuple(sorted(t.items())) for t in dist.train + dist.test}) == len(dist.train + dist.test)
    steps = set()
    for _, _, task in _all_tasks(dist):
        cfg = tasks.task_config(base, task)  # every task is a valid config on its preset
        steps.add(cfg.num_steps)
        assert cfg.total_batches >= cfg.num_steps  # every decision trains at least one mini-batch
        assert cfg.initial_lr == OPTIMIZER_DEFAULT_LR[cfg.optimizer]  # conventional, not tuned
        assert cfg.lr_min <= cfg.initial_lr <= cfg.lr_max
    assert steps == {base.num_steps}  # same episode length, so progress means the same everywhere
    if name == "tinymix":  # test datasets are never seen in training
        seeds = {s: {t["synthetic_seed"] for t in dist.tasks(s)} for s in ("train", "test")}
        assert not seeds["train"] & seeds["test"]


@pytest.mark.parametrize("env_id", MIX_PRESETS)
def test_every_task_gives_an_observation_of_the_declared_shape(env_id: str) -> None:
    env = gym.make(env_id)
    space = env.observation_space
    base = env.unwrapped.config
    dist = tasks.get_distribution(base.task_distribution)
    signals = np.zeros(len(TRAINING_SIGNALS))
    shapes, seen = set(), set()
    for _, _, task in _all_tasks(dist):
        cfg = tasks.task_config(base, task)
        architecture = (cfg.model, cfg.depth, cfg.width, cfg.dataset_info)
        if architecture in seen:  # the observation's shape depends on nothing else
            continue
        seen.add(architecture)
        model = build_model(cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
        layers = features.select_layers([p for _, p in weight_layers(model)], cfg.feature_layers)
        obs = features.observation(layers, cfg, signals)
        shapes.add(obs.shape)
        assert space.contains(obs)
    assert shapes == {space.shape}


def test_draws_are_reproducible_per_seed_and_the_trainer_seed_is_drawn_first() -> None:
    dist = tasks.get_distribution("tinymix")
    draws = [tasks.draw_task(dist, "train", seeding.np_random(s)[0]).index for s in range(40)]
    again = [tasks.draw_task(dist, "train", seeding.np_random(s)[0]).index for s in range(40)]
    assert draws == again and len(set(draws)) > 1

    first, second = _env(), _env()
    obs1, info1 = first.reset(seed=5)
    obs2, info2 = second.reset(seed=5)
    assert info1["task"] == info2["task"] and np.array_equal(obs1, obs2)
    np_random, _ = seeding.np_random(5)
    np_random.integers(2**63 - 1)  # the trainer seed comes first ...
    expected = tasks.draw_task(dist, "train", np_random)  # ... then the task
    assert info1["task"] == expected.to_info() and info1["task"]["set"] == "train"
    # The run is exactly the one `episode_trainer_seed` names (what code outside the env relies on).
    replica = Trainer(first.task_config, episode_trainer_seed(5))
    for a, b in zip(replica.model.parameters(), first.trainer.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_pinned_tasks_by_index_and_by_dict() -> None:
    env = _env(task_set="test")
    dist = tasks.get_distribution("tinymix")
    _, info = env.reset(seed=0, options={"task": 0})
    assert info["task"] == {"distribution": "tinymix", "set": "test", "index": 0, "overrides": dist.test[0]}
    assert env.task_config == tasks.task_config(env.config, dist.test[0])
    # A dict that is a task of the other half is recognised; a new one runs as given.
    _, info = env.reset(seed=0, options={"task": dict(dist.train[0])})
    assert (info["task"]["set"], info["task"]["index"]) == ("train", 0)
    new = {"batch_size": 64, "synthetic_seed": dist.test[0]["synthetic_seed"]}  # a dataset made already
    _, info = env.reset(seed=0, options={"task": new})
    assert info["task"]["set"] is None and info["task"]["index"] is None
    assert env.task_config.batch_size == 64 and env.task_config.synthetic_seed == new["synthetic_seed"]
    assert env.config.batch_size == PRESETS["LRTuning-TinyMix-v0"].batch_size  # the env's own config stays
    obs, _, _, _, info = env.step(2)
    assert env.observation_space.contains(obs) and info["task"]["overrides"]["batch_size"] == 64


@pytest.mark.parametrize("choice", ["easy", 1.5, True, -1, 10_000, [0], {"bogus": 1}, {"reward": "paper"}])
def test_bad_task_options_raise_value_error_listing_what_is_allowed(choice) -> None:
    env = _env()
    with pytest.raises(
        ValueError, match=r"index 0\.\.\d+ into the \d+ 'train' tasks.*batch_size.*weight_decay"
    ):
        env.reset(seed=0, options={"task": choice})


def test_task_options_without_a_distribution_and_clashing_kwargs_raise_value_error() -> None:
    env = LRTuningEnv("LRTuning-Tiny-v0", device="cpu")
    with pytest.raises(ValueError, match="no task distribution"):
        env.reset(seed=0, options={"task": 0})
    with pytest.raises(ValueError, match=r"\['batch_size', 'optimizer'\] are set by each task"):
        gym.make("LRTuning-TinyMix-v0", batch_size=64, optimizer="adam")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"task_distribution": "imagenet-mix"}, "task_distribution='imagenet-mix'.*'tinymix', 'mix'"),
        ({"task_distribution": "tinymix"}, "feature_layers='all'.*'first', 'last'"),
        ({"task_distribution": "tinymix", "feature_layers": "first", "task_set": "val"}, "task_set='val'"),
        ({"task_features": 1}, "task_features=1.*True or False"),
        ({"synthetic_noise": -0.1}, "synthetic_noise=-0.1"),
    ],
)
def test_bad_task_config_values_raise_value_error(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        LRTuningConfig(**kwargs)


def test_task_features_come_before_the_training_signals() -> None:
    plain, revealing = _env(), _env(task_features=True)
    n = len(tasks.TASK_FEATURES)
    assert revealing.observation_space.shape[0] == plain.observation_space.shape[0] + n
    obs, _ = revealing.reset(seed=0, options={"task": 1})
    expected = tasks.task_features(revealing.task_config).astype(np.float32)
    k = len(TRAINING_SIGNALS)
    np.testing.assert_array_equal(obs[-k - n : -k], expected)
    lr = revealing.task_config.initial_lr
    assert read_signal(obs, "progress") == 0.0 and read_signal(obs, "log10_lr") == pytest.approx(np.log10(lr))
    plain_obs, _ = plain.reset(seed=0, options={"task": 1})
    np.testing.assert_array_equal(np.delete(obs, np.s_[-k - n : -k]), plain_obs)  # same run otherwise
