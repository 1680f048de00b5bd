"""The four action modes: how an action turns the current learning rate into the next one.

- `discrete`: `Discrete(k)`, multiply the LR by `lr_multipliers[a]`;
- `paper`: `Discrete(2)`, 0 multiplies the LR by `paper_decay`, 1 restarts it at `restart_lr`
  (itself multiplied by `restart_lr_decay` once every `restart_lr_every_epochs`);
- `continuous`: `Box(-1, 1, (1,))`, multiply the LR by exp(a * `max_log_multiplier`);
- `absolute`: `Box(-1, 1, (1,))`, set the log-LR linearly between log `lr_min` (a = -1) and
  log `lr_max` (a = +1); what hand schedules and continuous agents use.

Every result is clipped to [`lr_min`, `lr_max`]. An action outside the space raises `ValueError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from lrgym.config import LRTuningConfig


def action_space(cfg: LRTuningConfig) -> spaces.Space:
    if cfg.action_mode == "discrete":
        return spaces.Discrete(len(cfg.lr_multipliers))
    if cfg.action_mode == "paper":
        return spaces.Discrete(2)
    return spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)


def _discrete_index(action: Any, n: int) -> int:
    try:
        value = np.asarray(action)
    except (TypeError, ValueError):  # ragged nested sequences
        value = np.asarray(None)
    if value.shape not in ((), (1,)) or not np.issubdtype(value.dtype, np.integer):
        raise ValueError(f"invalid action {action!r}: expected an integer in 0..{n - 1} (Discrete({n}))")
    index = int(value.reshape(()))
    if not 0 <= index < n:
        raise ValueError(f"invalid action {index}: expected an integer in 0..{n - 1} (Discrete({n}))")
    return index


def _box_value(action: Any) -> float:
    # Only real numbers: converting with dtype=float64 would parse strings ("0.5") and drop the
    # imaginary part of complex numbers; bools and objects are not numbers an agent means.
    try:
        value = np.asarray(action)
    except (TypeError, ValueError):
        value = None
    if value is None or value.dtype.kind not in "iuf":
        kind = "unconvertible" if value is None else f"dtype {value.dtype}"
        raise ValueError(
            f"invalid action {action!r} ({kind}): expected a real float array of shape (1,) in [-1, 1]"
        )
    if value.shape not in ((), (1,)):
        raise ValueError(
            f"invalid action of shape {value.shape}: expected shape (1,) with a value in [-1, 1]"
        )
    a = float(value.reshape(()))
    if not -1.0 <= a <= 1.0:  # also rejects NaN
        raise ValueError(f"invalid action {a}: expected a value in [-1, 1] (Box(-1, 1, (1,)))")
    return a


def absolute_lr(cfg: LRTuningConfig, a: float) -> float:
    """The learning rate that an `absolute` action `a` in [-1, 1] asks for."""
    lo, hi = math.log(cfg.lr_min), math.log(cfg.lr_max)
    return math.exp(lo + (a + 1.0) / 2.0 * (hi - lo))


def absolute_action(cfg: LRTuningConfig, lr: float) -> np.ndarray:
    """The `absolute` action that sets `lr` (the inverse of `absolute_lr`, clipped to the space)."""
    lo, hi = math.log(cfg.lr_min), math.log(cfg.lr_max)
    a = 2.0 * (math.log(min(max(lr, cfg.lr_min), cfg.lr_max)) - lo) / (hi - lo) - 1.0
    return np.array([min(max(a, -1.0), 1.0)], dtype=np.float32)


def restart_lr(cfg: LRTuningConfig, epoch: float) -> float:
    """Where the `paper` restart action puts the LR at `epoch` (the original code's schedule)."""
    return cfg.restart_lr * cfg.restart_lr_decay ** math.floor(epoch / cfg.restart_lr_every_epochs)


def next_lr(cfg: LRTuningConfig, lr: float, action: Any, epoch: float) -> float:
    """The learning rate after `action`, clipped to [lr_min, lr_max]; invalid actions raise."""
    mode = cfg.action_mode
    if mode == "discrete":
        new = lr * cfg.lr_multipliers[_discrete_index(action, len(cfg.lr_multipliers))]
    elif mode == "paper":
        new = lr * cfg.paper_decay if _discrete_index(action, 2) == 0 else restart_lr(cfg, epoch)
    elif mode == "continuous":
        new = lr * math.exp(_box_value(action) * cfg.max_log_multiplier)
    else:
        new = absolute_lr(cfg, _box_value(action))
    return min(max(new, cfg.lr_min), cfg.lr_max)
