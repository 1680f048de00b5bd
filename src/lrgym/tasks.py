"""Task distributions: named sets of `LRTuningConfig` overrides, one drawn at every `reset()`.

A task is a dict of config overrides (the dataset and its difficulty, the model, the batch size,
the budget, the weight decay, the optimiser and its conventional starting LR) applied to the
env's own config, which keeps everything else: the action mode, the LR range, the observation
features, the reward, the device. Every distribution comes in two disjoint halves, `train` and
`test`, so that an agent trained on one half is evaluated on tasks it has never seen.

Every task of a distribution makes the same number of decisions (its `steps_per_epoch` is the
distribution's decision count divided by its `epochs`), so episodes have the same length and
`progress` means the same thing on every task. Every task starts from its optimiser's
conventional learning rate (`lrgym.config.OPTIMIZER_DEFAULT_LR`), not a tuned one: which LR is
best for a task is what a controller has to find out.

This module does not import torch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrgym.config import (
    DATASETS,
    MODELS,
    OPTIMIZER_DEFAULT_LR,
    OPTIMIZERS,
    TASK_SETS,
    LRTuningConfig,
)


@dataclass(frozen=True)
class TaskDistribution:
    """A named, finite distribution of tasks in two disjoint halves.

    Attributes:
        name: the value of `LRTuningConfig.task_distribution` that selects it.
        description: one line for documentation and listings.
        train: the tasks agents train on (dicts of `LRTuningConfig` overrides).
        test: the held-out tasks agents are evaluated on.
    """

    name: str
    description: str
    train: tuple[dict[str, Any], ...]
    test: tuple[dict[str, Any], ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The config fields that tasks set (the distribution's axes), sorted."""
        return tuple(sorted({key for task in self.train + self.test for key in task}))

    def tasks(self, task_set: str) -> tuple[dict[str, Any], ...]:
        """The tasks of one half, `"train"` or `"test"`."""
        if task_set not in TASK_SETS:
            raise ValueError(f"task_set={task_set!r} is invalid: allowed values are {TASK_SETS}")
        return self.train if task_set == "train" else self.test


def make_task(*, decisions: int, optimizer: str, epochs: float, **overrides: Any) -> dict[str, Any]:
    """One task: `overrides` plus the optimiser, its conventional LR and the budget.

    `steps_per_epoch` is set so that the task makes `decisions` decisions in `epochs` epochs.
    """
    steps_per_epoch = decisions / epochs
    if steps_per_epoch != int(steps_per_epoch):
        raise ValueError(f"epochs={epochs} does not divide the {decisions} decisions of a task")
    return {
        **overrides,
        "optimizer": optimizer,
        "initial_lr": OPTIMIZER_DEFAULT_LR[optimizer],
        "epochs": float(epochs),
        "steps_per_epoch": int(steps_per_epoch),
    }


# --- TinyMix: synthetic data and small models on the CPU ---------------------------------------

TINYMIX_DECISIONS = 20  # learning-rate decisions per episode, on every task
# Each row: synthetic dataset seed, pixel noise, classes, model, batch size, epochs, weight decay,
# optimiser. Train and test tasks draw their datasets from disjoint seed ranges (the test
# datasets are never seen in training), and cover the same ranges of every other axis; half of
# each set trains with SGD, half with Adam. Every task trains at least 40 mini-batches (batch
# 256 only with 4 epochs of the 3000 training images): shorter runs leave BatchNorm's running
# statistics behind the weights and make the final accuracy erratic. On these tasks the best
# cosine peak lies between 0.5x and 8x the optimiser's conventional LR: SGD near 2x, except with
# weight decay 5e-2 (0.5x), Adam near 8x (benchmarks/task_spread.py measures it).
_TINYMIX_MODELS = {
    "wrn-10-1": {"model": "wrn", "depth": 10, "width": 1},
    "wrn-16-1": {"model": "wrn", "depth": 16, "width": 1},
    "wrn-10-2": {"model": "wrn", "depth": 10, "width": 2},
    "cnn": {"model": "cnn", "depth": 10, "width": 1},
}
_TINYMIX_TRAIN_ROWS = (
    (101, 1.0, 10, "wrn-10-1", 32, 1, 5e-4, "sgd"),
    (102, 2.0, 20, "wrn-16-1", 32, 2, 5e-4, "sgd"),
    (103, 1.0, 10, "wrn-10-2", 32, 1, 5e-2, "sgd"),
    (104, 0.5, 5, "cnn", 256, 4, 0.0, "sgd"),
    (105, 1.5, 20, "cnn", 64, 2, 5e-3, "sgd"),
    (106, 0.5, 10, "wrn-10-1", 128, 2, 0.0, "sgd"),
    (107, 2.0, 5, "wrn-16-1", 64, 1, 5e-2, "sgd"),
    (108, 1.0, 20, "wrn-10-1", 256, 4, 5e-4, "sgd"),
    (109, 1.0, 20, "wrn-10-1", 64, 2, 0.0, "adam"),
    (110, 1.5, 10, "cnn", 256, 4, 0.0, "adam"),
    (111, 2.0, 10, "wrn-16-1", 32, 1, 5e-4, "adam"),
    (112, 1.5, 20, "wrn-10-1", 128, 2, 5e-2, "adam"),
    (113, 0.5, 5, "wrn-10-2", 64, 1, 5e-4, "adam"),
    (114, 1.0, 10, "cnn", 32, 1, 5e-3, "adam"),
    (115, 2.0, 20, "wrn-10-1", 32, 4, 0.0, "adam"),
    (116, 0.5, 10, "wrn-16-1", 128, 2, 5e-4, "adam"),
)
_TINYMIX_TEST_ROWS = (
    (201, 1.0, 10, "wrn-10-1", 32, 1, 5e-4, "sgd"),
    (202, 2.0, 20, "wrn-16-1", 32, 2, 5e-4, "sgd"),
    (203, 1.0, 10, "wrn-10-2", 32, 1, 5e-2, "sgd"),
    (204, 1.5, 10, "cnn", 256, 4, 0.0, "sgd"),
    (205, 1.0, 20, "wrn-10-1", 64, 2, 0.0, "adam"),
    (206, 1.5, 10, "cnn", 256, 4, 0.0, "adam"),
    (207, 2.0, 10, "wrn-16-1", 32, 1, 5e-4, "adam"),
    (208, 1.5, 20, "wrn-10-1", 128, 2, 5e-3, "adam"),
)


def _tinymix_task(row: tuple) -> dict[str, Any]:
    seed, noise, classes, model, batch, epochs, decay, optimizer = row
    return make_task(
        decisions=TINYMIX_DECISIONS,
        optimizer=optimizer,
        epochs=epochs,
        dataset="synthetic",
        synthetic_seed=seed,
        synthetic_noise=noise,
        synthetic_classes=classes,
        **_TINYMIX_MODELS[model],
        batch_size=batch,
        weight_decay=decay,
    )


TINYMIX = TaskDistribution(
    name="tinymix",
    description="synthetic datasets (seed, pixel noise 0.5-2, 5-20 classes), WRN-10-1/16-1/10-2 and a "
    "small CNN, batch 32-256, 1-4 epochs, weight decay 0-5e-2, SGD-Nesterov or Adam; CPU",
    train=tuple(_tinymix_task(row) for row in _TINYMIX_TRAIN_ROWS),
    test=tuple(_tinymix_task(row) for row in _TINYMIX_TEST_ROWS),
)


# --- Mix: real datasets and WideResNets on a GPU ------------------------------------------------

MIX_DECISIONS = 40
_MIX_DATASETS = ("cifar10", "cifar100", "fashion_mnist", "mnist")
_MIX_MODELS = {
    "wrn-16-4": {"model": "wrn", "depth": 16, "width": 4},
    "wrn-28-2": {"model": "wrn", "depth": 28, "width": 2},
    "wrn-10-8": {"model": "wrn", "depth": 10, "width": 8},
    "cnn": {"model": "cnn", "depth": 10, "width": 2},
}
_MIX_BATCHES = (64, 128, 256)
_MIX_EPOCHS = (2, 5, 10)
_MIX_DECAYS = (5e-4, 5e-3)
_MIX_OPTIMIZERS = ("sgd", "adam")
MIX_TEST_EVERY = 5  # every 5th task of the enumeration below is held out


def _mix_tasks() -> list[dict[str, Any]]:
    """48 tasks: each dataset with each model (16 pairs), three tasks per pair whose other axes
    cycle through their values with coprime periods, so that every value of every axis appears
    with every dataset."""
    out = []
    others = itertools.product(_MIX_BATCHES, _MIX_EPOCHS, _MIX_DECAYS, _MIX_OPTIMIZERS)
    combos = list(others)
    for i, (dataset, model) in enumerate(itertools.product(_MIX_DATASETS, _MIX_MODELS)):
        for j in range(3):
            batch, epochs, decay, optimizer = combos[(7 * (3 * i + j)) % len(combos)]
            out.append(
                make_task(
                    decisions=MIX_DECISIONS,
                    optimizer=optimizer,
                    epochs=epochs,
                    dataset=dataset,
                    **_MIX_MODELS[model],
                    batch_size=batch,
                    weight_decay=decay,
                )
            )
    return out


_MIX_ALL = _mix_tasks()
MIX = TaskDistribution(
    name="mix",
    description="CIFAR-10/100, Fashion-MNIST and MNIST, WRN-16-4/28-2/10-8 and a CNN, batch 64-256, "
    "2-10 epochs, weight decay, SGD-Nesterov or Adam; GPU",
    train=tuple(t for i, t in enumerate(_MIX_ALL) if i % MIX_TEST_EVERY != MIX_TEST_EVERY - 1),
    test=tuple(t for i, t in enumerate(_MIX_ALL) if i % MIX_TEST_EVERY == MIX_TEST_EVERY - 1),
)

DISTRIBUTIONS: dict[str, TaskDistribution] = {d.name: d for d in (TINYMIX, MIX)}


# --- drawing and pinning tasks ----------------------------------------------------------------


def get_distribution(name: str) -> TaskDistribution:
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown task distribution {name!r}; known ones: {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[name]


def task_config(base: LRTuningConfig, overrides: Mapping[str, Any]) -> LRTuningConfig:
    """The config of one task: `base` (the env's config) with the task's overrides."""
    return base.replace(**dict(overrides))


@dataclass(frozen=True)
class Task:
    """The task of an episode, as `info["task"]` reports it."""

    distribution: str
    task_set: str | None  # the half it belongs to; None for a pinned dict that is in neither
    index: int | None  # its position in that half
    overrides: dict[str, Any]

    def to_info(self) -> dict[str, Any]:
        """A JSON-able dict (a fresh copy: callers may change it)."""
        return {
            "distribution": self.distribution,
            "set": self.task_set,
            "index": self.index,
            "overrides": dict(self.overrides),
        }


def draw_task(dist: TaskDistribution, task_set: str, np_random: np.random.Generator) -> Task:
    """A task of `task_set` drawn uniformly from `np_random`."""
    tasks = dist.tasks(task_set)
    index = int(np_random.integers(len(tasks)))
    return Task(dist.name, task_set, index, dict(tasks[index]))


def pin_task(dist: TaskDistribution, task_set: str, choice: Any) -> Task:
    """The task that `reset(options={"task": choice})` asks for.

    Args:
        dist: the env's distribution.
        task_set: the env's half of it; an integer `choice` indexes into it.
        choice: an index into the env's task set, or a dict of overrides of the distribution's
            fields (the fields it leaves out keep the env's config values).

    Raises:
        ValueError: anything else, naming what is allowed.
    """
    tasks = dist.tasks(task_set)
    allowed = (
        f"options['task'] must be an index 0..{len(tasks) - 1} into the {len(tasks)} {task_set!r} tasks "
        f"of {dist.name!r}, or a dict of overrides of its fields: {', '.join(dist.fields)}"
    )
    if isinstance(choice, (int, np.integer)) and not isinstance(choice, (bool, np.bool_)):
        if not 0 <= int(choice) < len(tasks):
            raise ValueError(f"task index {int(choice)} is out of range: {allowed}")
        return Task(dist.name, task_set, int(choice), dict(tasks[int(choice)]))
    if isinstance(choice, Mapping):
        unknown = sorted(str(key) for key in choice if key not in dist.fields)
        if unknown:
            raise ValueError(f"options['task'] sets {unknown}, which are not task fields: {allowed}")
        overrides = dict(choice)
        for name in TASK_SETS:  # report the task's place when it is one of the distribution's
            for index, task in enumerate(dist.tasks(name)):
                if task == overrides:
                    return Task(dist.name, name, index, overrides)
        return Task(dist.name, None, None, overrides)
    raise ValueError(f"options['task']={choice!r} is invalid: {allowed}")


# --- the task's settings as observation entries -------------------------------------------------

TASK_FEATURES = (
    "log2_batch_size",
    "epochs",
    "log10_weight_decay",  # 0 weight decay reads as 1e-6
    "log10_initial_lr",
    *(f"optimizer_{name}" for name in OPTIMIZERS),
    *(f"model_{name}" for name in MODELS),
    "wrn_depth",  # 0 for the CNN
    "width",
    *(f"dataset_{name}" for name in DATASETS),
    "log2_classes",
    "synthetic_noise",  # 0 for file datasets
    "log10_train_images",
    "input_channels",
    "image_size",
)


def task_features(cfg: LRTuningConfig) -> np.ndarray:
    """The settings of the task `cfg` describes, in the order of `TASK_FEATURES` (float64)."""
    info = cfg.dataset_info

    def one_hot(value: str, names: tuple[str, ...]) -> list[float]:
        return [float(value == name) for name in names]

    values = [
        math.log2(cfg.batch_size),
        cfg.epochs,
        math.log10(max(cfg.weight_decay, 1e-6)),
        math.log10(cfg.initial_lr),
        *one_hot(cfg.optimizer, OPTIMIZERS),
        *one_hot(cfg.model, MODELS),
        float(cfg.depth) if cfg.model == "wrn" else 0.0,
        float(cfg.width),
        *one_hot(cfg.dataset, DATASETS),
        math.log2(info.num_classes),
        cfg.synthetic_noise if cfg.dataset == "synthetic" else 0.0,
        math.log10(cfg.train_count),
        float(info.channels),
        float(info.image_size),
    ]
    return np.array(values, dtype=np.float64)
