"""Hand-designed learning-rate schedules as agents, and the random agent.

Schedules are the baselines a learned controller must beat, so they drive the very same training
loop as every other agent: they act through the env's `absolute` action mode, which sets the LR
directly (log-linearly between `lr_min` and `lr_max`). A schedule reads where the run is from the
observation's progress signal (t/T after t of T decisions) and asks for the LR its formula gives
there. The formulas live in one pure function, `schedule_lr`, shared with benchmarks and plots.

The random agent is the floor of every comparison: uniformly random actions in any action space,
from its own seeded generator.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lrgym.actions import absolute_action
from lrgym.config import ACTION_MODES, LRTuningConfig
from lrgym.layout import read_signal
from lrgym_agents.base import Agent, AgentError, Callback, env_config, read_metadata

# --- hyperparameters ------------------------------------------------------------------------
STEP_MILESTONES = (0.3, 0.6, 0.8)  # fractions of the budget at which "step" multiplies the LR ...
STEP_FACTOR = 0.2  # ... by this (the WideResNet paper's schedule)
ONECYCLE_START_FACTOR = 0.1  # "onecycle" starts at this x peak_lr
DEFAULTS: dict[str, dict[str, Any]] = {  # each schedule's own parameters and their defaults
    "constant": {},
    "step": {},
    "cosine": {},
    "onecycle": {"warmup": 0.3},  # fraction of the budget spent warming up, in (0, 1)
    "paper-rule": {"period": 10},  # decisions between two restarts, an integer >= 1
    "table": {"lrs": None},  # one LR per decision (e.g. the schedule a PBT search found); required
}
SCHEDULES = tuple(DEFAULTS)
DEFAULT_PEAK = {"table": 1.0}  # peak_lr when none is given (else the env's initial_lr)
# Float rounding of t/T may put a progress or epoch a hair below a boundary it has reached.
BOUNDARY_TOLERANCE = 1e-9


# --- the formulas ---------------------------------------------------------------------------


def check_schedule(schedule: str, peak_lr: float, params: dict[str, Any]) -> dict[str, Any]:
    """The schedule's parameters with defaults filled in; anything invalid raises `AgentError`.

    Checked once here so that a bad benchmark sweep fails before any training, not midway.
    """
    if schedule not in DEFAULTS:
        raise AgentError(f"unknown schedule {schedule!r}; known schedules: {', '.join(SCHEDULES)}")
    if not _is_real(peak_lr) or not math.isfinite(peak_lr) or peak_lr <= 0:
        raise AgentError(f"peak_lr={peak_lr!r} is invalid: must be a finite number > 0")
    unknown = sorted(set(params) - set(DEFAULTS[schedule]))
    if unknown:
        allowed = ", ".join(DEFAULTS[schedule]) or "none besides peak_lr"
        raise AgentError(f"schedule {schedule!r} has no parameter(s) {unknown}; its parameters: {allowed}")
    full = {**DEFAULTS[schedule], **params}
    if "warmup" in full and not (_is_real(full["warmup"]) and 0.0 < full["warmup"] < 1.0):
        raise AgentError(f"warmup={full['warmup']!r} is invalid: must be a fraction of the budget in (0, 1)")
    if "period" in full and not (_is_int(full["period"]) and full["period"] >= 1):
        raise AgentError(f"period={full['period']!r} is invalid: must be an integer number of decisions >= 1")
    if schedule == "table":
        lrs = full["lrs"]
        if not isinstance(lrs, (list, tuple)) or not lrs or not all(_is_real(lr) and lr > 0 for lr in lrs):
            raise AgentError(
                f"lrs={lrs!r} is invalid: the table schedule needs a list of positive learning rates"
            )
        full["lrs"] = [float(lr) for lr in lrs]
    return full


def schedule_lr(schedule: str, progress: float, peak_lr: float, cfg: LRTuningConfig, **params: Any) -> float:
    """The learning rate of `schedule` at `progress` p in [0, 1], clipped to [lr_min, lr_max].

    With peak = `peak_lr`, T = `cfg.num_steps` and t = round(p T):

    - constant: peak.
    - step: peak x 0.2^k, k = how many of the milestones (0.3, 0.6, 0.8) p has reached
      (the WideResNet paper's schedule).
    - cosine: peak x 0.5 x (1 + cos(pi p)).
    - onecycle (triangular): linear warm-up from peak/10 at p = 0 to peak at p = `warmup`
      (default 0.3), then linear decay to 0 at p = 1.
    - paper-rule: the original code's "x0.97 or restart" rule under a fixed policy that restarts
      every `period` decisions (default 10): r(epoch) x `cfg.paper_decay`^(t mod period) (0.97
      by default), where r(epoch) = peak x `cfg.restart_lr_decay`^floor(epoch /
      `cfg.restart_lr_every_epochs`) as in `lrgym.actions.restart_lr` (with peak in place of
      `cfg.restart_lr`), read at the last restart: epoch = (t - t mod period) / T x `cfg.epochs`.
      Reading it at the restart, as the rule does, keeps every step between two restarts an
      exact x0.97 even where an epoch boundary of the restart decay falls between them.
    - table: peak x `lrs`[t] (peak defaults to 1: the table's own LRs), the last entry from t = T on.

    Raises:
        AgentError: unknown schedule, invalid parameters, or a progress outside [0, 1].
    """
    full = check_schedule(schedule, peak_lr, params)
    if not _is_real(progress) or not 0.0 <= progress <= 1.0:
        raise AgentError(f"progress={progress!r} is invalid: must be a fraction of the budget in [0, 1]")
    lr = _FORMULAS[schedule](float(progress), float(peak_lr), cfg, **full)
    return min(max(lr, cfg.lr_min), cfg.lr_max)


def _constant(p: float, peak: float, cfg: LRTuningConfig) -> float:
    return peak


def _step(p: float, peak: float, cfg: LRTuningConfig) -> float:
    reached = sum(p + BOUNDARY_TOLERANCE >= m for m in STEP_MILESTONES)
    return peak * STEP_FACTOR**reached


def _cosine(p: float, peak: float, cfg: LRTuningConfig) -> float:
    return peak * 0.5 * (1.0 + math.cos(math.pi * p))


def _onecycle(p: float, peak: float, cfg: LRTuningConfig, warmup: float) -> float:
    if p < warmup:
        start = ONECYCLE_START_FACTOR * peak
        return start + (peak - start) * p / warmup
    return peak * (1.0 - p) / (1.0 - warmup)


def _paper_rule(p: float, peak: float, cfg: LRTuningConfig, period: int) -> float:
    steps = cfg.num_steps
    t = round(p * steps)
    since_restart = t % period
    restart_epoch = (t - since_restart) / steps * cfg.epochs
    decays = math.floor(restart_epoch / cfg.restart_lr_every_epochs + BOUNDARY_TOLERANCE)
    return peak * cfg.restart_lr_decay**decays * cfg.paper_decay**since_restart


def _table(p: float, peak: float, cfg: LRTuningConfig, lrs: list[float]) -> float:
    return peak * lrs[min(round(p * cfg.num_steps), len(lrs) - 1)]


_FORMULAS = {
    "table": _table,
    "constant": _constant,
    "step": _step,
    "cosine": _cosine,
    "onecycle": _onecycle,
    "paper-rule": _paper_rule,
}


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and x == x


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


# --- the agents -----------------------------------------------------------------------------


class ScheduleAgent(Agent):
    """A hand-designed schedule (see `schedule_lr`) acting through the `absolute` action mode.

    The only tuned hyperparameter is `peak_lr` (default: the env's `initial_lr`). It is fixed at
    construction, so that a saved schedule acts identically in an env with another `initial_lr`.
    """

    action_modes = ("absolute",)
    learns = False

    def __init__(
        self,
        env: gym.Env | gym.vector.VectorEnv,
        seed: int = 0,
        name: str | None = None,
        *,
        schedule: str,
        peak_lr: float | None = None,
        **schedule_params: Any,
    ) -> None:
        super().__init__(env, seed=seed, name=name or schedule)
        cfg = env_config(env)
        if cfg is None:
            raise AgentError(f"schedule {schedule!r} needs an LRTuning env: its progress and LR range")
        self.cfg: LRTuningConfig = cfg
        default_peak = DEFAULT_PEAK.get(schedule, cfg.initial_lr)
        self._configure(schedule, default_peak if peak_lr is None else peak_lr, schedule_params)

    def _configure(self, schedule: str, peak_lr: float, params: dict[str, Any]) -> None:
        self.params = check_schedule(schedule, peak_lr, params)
        if schedule == "table":
            self._check_table([peak_lr * lr for lr in self.params["lrs"]])
        self.schedule = schedule
        self.peak_lr = float(peak_lr)

    def _check_table(self, lrs: list[float]) -> None:
        """A table must give every decision of the run an LR the env can set."""
        cfg = self.cfg
        if len(lrs) != cfg.num_steps:
            raise AgentError(f"{len(lrs)} learning rates for a run of {cfg.num_steps} decisions")
        bad = [lr for lr in lrs if not (math.isfinite(lr) and cfg.lr_min <= lr <= cfg.lr_max)]
        if bad:
            raise AgentError(f"learning rates {bad[:3]} lie outside [{cfg.lr_min}, {cfg.lr_max}]")

    def _learn(self, total_steps: int, callback: Callback | None) -> None:
        """Does nothing: a schedule has nothing to learn.

        It does not step the env either (every step would cost real training for no use), so
        `steps_done` stays unchanged and `callback` is never called.
        """

    def _act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        """The `absolute` action that sets the schedule's LR at the observation's progress."""
        return absolute_action(self.cfg, self.lr_at(self.progress(obs)))

    def lr_at(self, progress: float) -> float:
        """The schedule's LR at `progress` (what `act` asks the env for)."""
        return schedule_lr(self.schedule, progress, self.peak_lr, self.cfg, **self.params)

    def progress(self, obs: np.ndarray) -> float:
        """t/T read from one observation (the last row of a stacked one).

        The env stores progress as float32; snapping it to the grid of decisions t/T recovers
        it exactly, which matters where the schedule is steep relative to the LR (cosine near
        the end) and at milestones.
        """
        raw = read_signal(self.check_observation(obs), "progress")
        steps = self.cfg.num_steps
        if not -0.5 / steps <= raw <= 1.0 + 0.5 / steps:
            raise AgentError(
                f"observation progress {raw!r} is outside [0, 1]: not an observation of this LRTuning env"
            )
        return round(raw * steps) / steps

    def hyperparameters(self) -> dict[str, Any]:
        return {"schedule": self.schedule, "peak_lr": self.peak_lr, **self.params}

    def _load(self, path: Path) -> None:
        saved = dict(read_metadata(path).get("hyperparameters") or {})
        try:
            schedule, peak_lr = saved.pop("schedule"), saved.pop("peak_lr")
        except KeyError as exc:
            raise AgentError(f"{path} holds no schedule parameters (missing {exc})") from None
        self._configure(schedule, peak_lr, saved)


class RandomAgent(Agent):
    """Uniformly random actions in any action space: the floor every agent must beat.

    It draws from a private copy of the action space seeded with `seed` (its own numpy
    Generator, never the global RNG), so the same seed gives the same sequence of actions.
    """

    name = "random"
    action_modes = ACTION_MODES
    learns = False

    def __init__(self, env: gym.Env | gym.vector.VectorEnv, seed: int = 0, name: str | None = None) -> None:
        super().__init__(env, seed=seed, name=name)
        self._reseed(seed)

    def _reseed(self, seed: int) -> None:
        self.seed = seed
        self._space = copy.deepcopy(self.action_space)
        self._space.seed(seed)
        self.rng: np.random.Generator = self._space.np_random

    def _learn(self, total_steps: int, callback: Callback | None) -> None:
        """Does nothing and does not step the env (see `ScheduleAgent._learn`)."""

    def _act(self, obs: np.ndarray, deterministic: bool) -> Any:
        """A uniformly random action; `obs` and `deterministic` are ignored (there is no greedy
        policy to fall back on)."""
        return self._space.sample()

    def _load(self, path: Path) -> None:
        """Restarts the action sequence from the saved seed: a loaded agent acts as the saved one
        did when it was built."""
        seed = read_metadata(path).get("seed")
        if not _is_int(seed):
            raise AgentError(f"{path} holds no integer seed (found {seed!r})")
        self._reseed(int(seed))
