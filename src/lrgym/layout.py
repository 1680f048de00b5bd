"""Facts about the environment that its consumers need, without importing torch.

- The observation layout: every observation ends with the training signals, in the order of
  `TRAINING_SIGNALS` (weight statistics and any optional entries come before them), so a signal
  sits at a fixed distance from the end whatever the model, feature set or task. The optional
  entries are, in this order, the task's settings (`task_features=True`, see `lrgym.tasks`) and
  one entry per control beyond the LR (`controls`; `CONTROL_SIGNALS` names them), right before
  the training signals.
- The seed rule: how `LRTuningEnv.reset` turns the episode's generator into the seed of its
  training run (`lrgym.training.Trainer`), so that code training the same run without the env
  (Population Based Training, overhead benchmarks) trains exactly the run `reset(seed=s)` trains.
"""

from __future__ import annotations

import numpy as np
from gymnasium.utils import seeding

TRAINING_SIGNALS = (
    "log_train_loss",
    "log_val_loss",
    "val_acc",
    "log10_lr",
    "progress",
    "log10_grad_norm",
    "log10_update_ratio",
)
# The observation entry of each control beyond the LR (whose log10 is a training signal already):
# the momentum (SGD) / beta1 (Adam) itself, and log10 of the weight decay (0 reads as 1e-6).
CONTROL_SIGNALS = {"momentum": "momentum", "weight_decay": "log10_weight_decay"}
WEIGHT_DECAY_FLOOR = 1e-6
TRAINER_SEED_BOUND = 2**63 - 1  # trainer seeds are drawn uniformly from [0, this)


def signal_index(name: str) -> int:
    """The (negative) index of training signal `name` in an observation's last axis."""
    if name not in TRAINING_SIGNALS:
        raise ValueError(f"unknown training signal {name!r}; the signals are {TRAINING_SIGNALS}")
    return TRAINING_SIGNALS.index(name) - len(TRAINING_SIGNALS)


def read_signal(obs: np.ndarray, name: str) -> float:
    """Training signal `name` of one observation (of its newest frame, if frames are stacked)."""
    obs = np.asarray(obs)
    return float(obs.reshape(-1, obs.shape[-1])[-1, signal_index(name)])


def draw_trainer_seed(np_random: np.random.Generator) -> int:
    """The seed of an episode's training run, drawn from the episode's generator.

    `reset()` draws it first, before anything else it draws (a task of a Mix preset, say).
    """
    return int(np_random.integers(TRAINER_SEED_BOUND))


def episode_trainer_seed(seed: int) -> int:
    """The `Trainer` seed of the episode that `reset(seed=seed)` starts."""
    np_random, _ = seeding.np_random(seed)
    return draw_trainer_seed(np_random)
