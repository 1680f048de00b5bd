"""The action modes: how an action turns the current learning rate into the next one.

- `discrete`: `Discrete(k)`, multiply the LR by `lr_multipliers[a]`;
- `paper`: `Discrete(2)`, 0 multiplies the LR by `paper_decay`, 1 restarts it at `restart_lr`
  (itself multiplied by `restart_lr_decay` once every `restart_lr_every_epochs`);
- `continuous`: `Box(-1, 1, (1,))`, multiply the LR by exp(a * `max_log_multiplier`);
- `absolute`: `Box(-1, 1, (1,))`, set the log-LR linearly between log `lr_min` (a = -1) and
  log `lr_max` (a = +1); what hand schedules and continuous agents use.
- `schedule_relative`: `Box(-1, 1, (1,))`, the LR of decision t (0-based, of T = `num_steps`) is
  the reference cosine schedule r(t) = `initial_lr` x 0.5 x (1 + cos(pi t / T)) times the factor
  `schedule_max_factor`^a (a = 0: exactly r(t); a = +1 / -1: r(t) x / / `schedule_max_factor`).
- `schedule_relative_discrete`: `Discrete(k)`, the LR of decision t is r(t) x
  `schedule_factors[a]`; the index of the factor 1.0 reproduces the reference exactly.

In both schedule-relative modes the factor applies to that decision only (it does not
accumulate): an agent starts from a good schedule and learns what to change about it.

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
    if cfg.action_mode == "schedule_relative_discrete":
        return spaces.Discrete(len(cfg.schedule_factors))
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


def reference_lr(cfg: LRTuningConfig, decision: int) -> float:
    """The schedule-relative modes' reference: cosine from `initial_lr` over the run's decisions.

    The same formula as the `cosine` hand schedule at peak `initial_lr`, at progress t / T.
    """
    progress = decision / cfg.num_steps
    return cfg.initial_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def neutral_action(cfg: LRTuningConfig) -> Any:
    """The schedule-relative action that reproduces the reference schedule exactly."""
    if cfg.action_mode == "schedule_relative":
        return np.zeros(1, dtype=np.float32)
    if cfg.action_mode == "schedule_relative_discrete":
        return cfg.schedule_factors.index(1.0)
    raise ValueError(
        f"action_mode={cfg.action_mode!r} has no neutral action; it exists in "
        "'schedule_relative' and 'schedule_relative_discrete'"
    )


def next_lr(cfg: LRTuningConfig, lr: float, action: Any, epoch: float, decision: int = 0) -> float:
    """The learning rate after `action`, clipped to [lr_min, lr_max]; invalid actions raise.

    Args:
        cfg: the run's configuration.
        lr: the current learning rate.
        action: an element of `action_space(cfg)`.
        epoch: passes over the training split so far (the `paper` restart decays with it).
        decision: the 0-based index of the decision this action makes (the schedule-relative
            modes read the reference schedule there).
    """
    mode = cfg.action_mode
    if mode == "discrete":
        new = lr * cfg.lr_multipliers[_discrete_index(action, len(cfg.lr_multipliers))]
    elif mode == "paper":
        new = lr * cfg.paper_decay if _discrete_index(action, 2) == 0 else restart_lr(cfg, epoch)
    elif mode == "continuous":
        new = lr * math.exp(_box_value(action) * cfg.max_log_multiplier)
    elif mode == "schedule_relative":
        # exp(0) is exactly 1.0: the neutral action gives the reference LR bit for bit.
        new = reference_lr(cfg, decision) * math.exp(_box_value(action) * math.log(cfg.schedule_max_factor))
    elif mode == "schedule_relative_discrete":
        index = _discrete_index(action, len(cfg.schedule_factors))
        new = reference_lr(cfg, decision) * cfg.schedule_factors[index]
    else:
        new = absolute_lr(cfg, _box_value(action))
    return min(max(new, cfg.lr_min), cfg.lr_max)
