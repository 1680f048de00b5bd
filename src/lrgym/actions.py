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

Controls beyond the LR (`controls`, default `("lr",)`): each of "momentum" (SGD momentum, Adam
beta1) and "weight_decay" adds one action entry after the LR's, in the order of `controls`. The
LR entry acts as the mode says; the other entries set their value absolutely, in every mode:

- discrete modes (`discrete`, `schedule_relative_discrete`): the space is
  `MultiDiscrete([k, len(momentum_values), ...])`; entry i picks `momentum_values[i]` or
  `weight_decay_values[i]`;
- Box modes (`continuous`, `absolute`, `schedule_relative`): `Box(-1, 1, (len(controls),))`;
  momentum is set log-linearly in 1 - momentum between `momentum_min` (a = -1) and
  `momentum_max` (a = +1), so a = 0 gives 0.9 with the defaults (0, 0.99); weight decay is set
  log-linearly between `weight_decay_min` and `weight_decay_max` (a = 0: 5e-4 by default).

The `paper` mode sets the LR only. With the default controls every space and mapping is the one
above: `Discrete(k)` or `Box(-1, 1, (1,))`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from lrgym.config import LRTuningConfig

DISCRETE_MODES = ("discrete", "paper", "schedule_relative_discrete")


def _lr_choices(cfg: LRTuningConfig) -> int:
    """How many LR actions a discrete mode has."""
    if cfg.action_mode == "discrete":
        return len(cfg.lr_multipliers)
    if cfg.action_mode == "paper":
        return 2
    return len(cfg.schedule_factors)


def _control_values(cfg: LRTuningConfig, control: str) -> tuple[float, ...]:
    return cfg.momentum_values if control == "momentum" else cfg.weight_decay_values


def action_space(cfg: LRTuningConfig) -> spaces.Space:
    extra = cfg.controls[1:]
    if cfg.action_mode in DISCRETE_MODES:
        if not extra:
            return spaces.Discrete(_lr_choices(cfg))
        sizes = [_lr_choices(cfg), *(len(_control_values(cfg, c)) for c in extra)]
        return spaces.MultiDiscrete(np.array(sizes, dtype=np.int64))
    return spaces.Box(-1.0, 1.0, shape=(len(cfg.controls),), dtype=np.float32)


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


def _multi_discrete_indices(action: Any, sizes: list[int]) -> list[int]:
    space = f"MultiDiscrete({sizes})"
    try:
        value = np.asarray(action)
    except (TypeError, ValueError):
        value = np.asarray(None)
    if value.shape != (len(sizes),) or not np.issubdtype(value.dtype, np.integer):
        raise ValueError(
            f"invalid action {action!r}: expected {len(sizes)} integers, entry i in 0..n_i - 1 ({space})"
        )
    indices = [int(i) for i in value]
    if not all(0 <= i < n for i, n in zip(indices, sizes, strict=True)):
        raise ValueError(f"invalid action {indices}: expected entry i in 0..n_i - 1 ({space})")
    return indices


def _box_values(action: Any, size: int) -> list[float]:
    if size == 1:
        return [_box_value(action)]
    try:
        value = np.asarray(action)
    except (TypeError, ValueError):
        value = None
    if value is None or value.dtype.kind not in "iuf" or value.shape != (size,):
        what = "unconvertible" if value is None else f"dtype {value.dtype}, shape {value.shape}"
        raise ValueError(
            f"invalid action {action!r} ({what}): expected a real float array of shape ({size},) in [-1, 1]"
        )
    values = [float(a) for a in value]
    if not all(-1.0 <= a <= 1.0 for a in values):  # also rejects NaN
        raise ValueError(f"invalid action {values}: expected values in [-1, 1] (Box(-1, 1, ({size},)))")
    return values


# --- momentum and weight decay ---------------------------------------------------------------------


def _control_range(cfg: LRTuningConfig, control: str) -> tuple[float, float]:
    """The log-scale ends of a Box entry: log(1 - momentum) or log(weight decay), at a = -1 / +1."""
    if control == "momentum":
        return math.log1p(-cfg.momentum_min), math.log1p(-cfg.momentum_max)
    return math.log(cfg.weight_decay_min), math.log(cfg.weight_decay_max)


def control_value(cfg: LRTuningConfig, control: str, a: float) -> float:
    """The momentum or weight decay that a Box entry `a` in [-1, 1] asks for."""
    lo, hi = _control_range(cfg, control)
    x = math.exp(lo + (a + 1.0) / 2.0 * (hi - lo))
    return 1.0 - x if control == "momentum" else x


def control_action(cfg: LRTuningConfig, control: str, value: float) -> float:
    """The Box entry that sets `value` (the inverse of `control_value`, clipped to [-1, 1])."""
    lo, hi = _control_range(cfg, control)
    if control == "momentum":
        value = min(max(value, cfg.momentum_min), cfg.momentum_max)
        x = math.log1p(-value)
    else:
        x = math.log(min(max(value, cfg.weight_decay_min), cfg.weight_decay_max))
    return min(max(2.0 * (x - lo) / (hi - lo) - 1.0, -1.0), 1.0)


def hold_entries(cfg: LRTuningConfig) -> list[float | int]:
    """The action entries after the LR's that keep momentum and weight decay at the config's
    starting values (`momentum`, `weight_decay`), as nearly as the mode can set them: the index
    of the nearest value in a discrete mode, the inverse mapping (clipped) in a Box mode."""
    out: list[float | int] = []
    for control in cfg.controls[1:]:
        start = cfg.momentum if control == "momentum" else cfg.weight_decay
        if cfg.action_mode in DISCRETE_MODES:
            values = _control_values(cfg, control)
            out.append(min(range(len(values)), key=lambda i: abs(values[i] - start)))
        else:
            out.append(control_action(cfg, control, start))
    return out


@dataclass(frozen=True)
class Settings:
    """What one action sets: the next LR, and momentum / weight decay when they are controlled
    (None when they are not: the optimiser keeps its own)."""

    lr: float
    momentum: float | None = None
    weight_decay: float | None = None


def absolute_lr(cfg: LRTuningConfig, a: float) -> float:
    """The learning rate that an `absolute` action `a` in [-1, 1] asks for."""
    lo, hi = math.log(cfg.lr_min), math.log(cfg.lr_max)
    return math.exp(lo + (a + 1.0) / 2.0 * (hi - lo))


def absolute_action(cfg: LRTuningConfig, lr: float) -> np.ndarray:
    """The `absolute` action that sets `lr` (the inverse of `absolute_lr`, clipped to the space).

    Its entries for further `controls` keep momentum and weight decay at their starting values
    (`hold_entries`), so a hand schedule of the LR runs unchanged in an env that controls more.
    """
    lo, hi = math.log(cfg.lr_min), math.log(cfg.lr_max)
    a = 2.0 * (math.log(min(max(lr, cfg.lr_min), cfg.lr_max)) - lo) / (hi - lo) - 1.0
    return np.array([min(max(a, -1.0), 1.0), *hold_entries(cfg)], dtype=np.float32)


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
    """The schedule-relative action that reproduces the reference schedule exactly.

    With further `controls`, its other entries keep momentum and weight decay at their starting
    values as nearly as the mode can set them (`hold_entries`).
    """
    extra = hold_entries(cfg)
    if cfg.action_mode == "schedule_relative":
        return np.array([0.0, *extra], dtype=np.float32)
    if cfg.action_mode == "schedule_relative_discrete":
        index = cfg.schedule_factors.index(1.0)
        return np.array([index, *extra], dtype=np.int64) if extra else index
    raise ValueError(
        f"action_mode={cfg.action_mode!r} has no neutral action; it exists in "
        "'schedule_relative' and 'schedule_relative_discrete'"
    )


def _entries(cfg: LRTuningConfig, action: Any) -> list[Any]:
    """The action's entries, one per control (validated against the space)."""
    if cfg.action_mode in DISCRETE_MODES:
        if len(cfg.controls) == 1:
            return [_discrete_index(action, _lr_choices(cfg))]
        sizes = [_lr_choices(cfg), *(len(_control_values(cfg, c)) for c in cfg.controls[1:])]
        return _multi_discrete_indices(action, sizes)
    return _box_values(action, len(cfg.controls))


def _lr_after(cfg: LRTuningConfig, lr: float, entry: Any, epoch: float, decision: int) -> float:
    mode = cfg.action_mode
    if mode == "discrete":
        new = lr * cfg.lr_multipliers[entry]
    elif mode == "paper":
        new = lr * cfg.paper_decay if entry == 0 else restart_lr(cfg, epoch)
    elif mode == "continuous":
        new = lr * math.exp(entry * cfg.max_log_multiplier)
    elif mode == "schedule_relative":
        # exp(0) is exactly 1.0: the neutral action gives the reference LR bit for bit.
        new = reference_lr(cfg, decision) * math.exp(entry * math.log(cfg.schedule_max_factor))
    elif mode == "schedule_relative_discrete":
        new = reference_lr(cfg, decision) * cfg.schedule_factors[entry]
    else:
        new = absolute_lr(cfg, entry)
    return min(max(new, cfg.lr_min), cfg.lr_max)


def apply_action(cfg: LRTuningConfig, lr: float, action: Any, epoch: float, decision: int = 0) -> Settings:
    """What `action` sets: the next LR (clipped to [lr_min, lr_max]) and the controlled momentum
    and weight decay; invalid actions raise `ValueError`.

    Args:
        cfg: the run's configuration.
        lr: the current learning rate.
        action: an element of `action_space(cfg)`.
        epoch: passes over the training split so far (the `paper` restart decays with it).
        decision: the 0-based index of the decision this action makes (the schedule-relative
            modes read the reference schedule there).
    """
    entries = _entries(cfg, action)
    values: dict[str, float] = {}
    for control, entry in zip(cfg.controls[1:], entries[1:], strict=True):
        if cfg.action_mode in DISCRETE_MODES:
            values[control] = float(_control_values(cfg, control)[entry])
        else:
            values[control] = control_value(cfg, control, entry)
    return Settings(_lr_after(cfg, lr, entries[0], epoch, decision), **values)


def next_lr(cfg: LRTuningConfig, lr: float, action: Any, epoch: float, decision: int = 0) -> float:
    """The learning rate after `action` (see `apply_action`); invalid actions raise."""
    return apply_action(cfg, lr, action, epoch, decision).lr
