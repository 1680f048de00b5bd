"""`LRTuningEnv`: the Gymnasium environment around the training core."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from lrgym import actions, features, rewards, tasks
from lrgym.config import LRTuningConfig
from lrgym.layout import draw_trainer_seed
from lrgym.models import architecture, weight_layers
from lrgym.presets import PRESETS
from lrgym.render import render_ansi, render_rgb_array
from lrgym.training import Trainer


class LRTuningEnv(gym.Env[np.ndarray, Any]):
    """Control the learning rate of a real neural-network training run.

    ## Description

    Each episode is one training run: a fresh network (WideResNet by default, or your own model
    from a `model` factory, on a built-in dataset or your own from a `dataset` factory; see
    `lrgym.factories`) is trained from a seeded initialisation for a budget of `epochs`. Each step applies the agent's action to the
    learning rate, trains `batches_per_step` mini-batches (or an equal share of the budget,
    `steps_per_epoch` decisions per epoch), evaluates on a fixed validation subset and returns
    the next observation. The question it poses is whether learned control beats good hand
    schedules (Fu et al., arXiv 1606.01467, claimed it did; the claim was withdrawn).

    With a `task_distribution` (the Mix presets) every `reset()` also draws a task: a set of
    config overrides (dataset and its difficulty, model, batch size, budget, weight decay,
    optimiser and its conventional starting LR; see `lrgym.tasks`) from the `task_set` half,
    `"train"` or `"test"`, of the distribution. The two halves are disjoint, so an agent can be
    evaluated on tasks it never trained on. `info["task"]` says which task runs.

    ## Action Space

    Set by `action_mode`:

    - `discrete` (default): `Discrete(k)`; action `a` multiplies the LR by `lr_multipliers[a]`
      (default `(0.5, 0.8, 1.0, 1.25, 2.0)`);
    - `paper`: `Discrete(2)`; 0 multiplies the LR by 0.97, 1 restarts it at `restart_lr`
      (0.1, divided by 5 every 30 epochs);
    - `continuous`: `Box(-1, 1, (1,))`; the LR is multiplied by exp(a * `max_log_multiplier`);
    - `absolute`: `Box(-1, 1, (1,))`; the log-LR is set linearly between log `lr_min` (a = -1)
      and log `lr_max` (a = +1). Hand schedules act through this mode.
    - `schedule_relative`: `Box(-1, 1, (1,))`; the LR of decision t (0-based, of T) is the
      reference cosine r(t) = `initial_lr` x 0.5 x (1 + cos(pi t / T)) times
      `schedule_max_factor`^a (default 4: factors from 1/4 to 4). Action 0 reproduces cosine
      from `initial_lr` exactly.
    - `schedule_relative_discrete`: `Discrete(k)`; the LR of decision t is r(t) x
      `schedule_factors[a]` (default (0.25, 0.5, 1, 2, 4)); the index of 1.0 reproduces cosine.

    In the schedule-relative modes the factor applies to one decision (it does not accumulate).

    With `controls=("lr", "momentum")`, `("lr", "weight_decay")` or `("lr", "momentum",
    "weight_decay")` (default `("lr",)`) every mode but `paper` gets one more action entry per
    control, in that order: a `MultiDiscrete([k, ...])` whose further entries pick from
    `momentum_values` / `weight_decay_values` in the discrete modes, a `Box(-1, 1, (n,))` whose
    further entries set momentum (log-linearly in 1 - momentum between `momentum_min` and
    `momentum_max`: a = 0 gives 0.9) and weight decay (log-linearly between `weight_decay_min`
    and `weight_decay_max`: a = 0 gives 5e-4) in the others. Momentum is SGD's momentum or
    Adam's beta1; the tuning-free optimisers refuse momentum control. See `lrgym.actions`.

    The LR is always clipped to [`lr_min`, `lr_max`]. An action outside the space (wrong type
    or shape, out of range, NaN) raises `ValueError`.

    ## Observation Space

    A 1-D `float32` `Box` with bounds [-100, 100], always finite. It holds order-invariant
    statistics of the weights of the layers in `feature_layers` (feature set `features`:
    `paper`, `quantiles` or `histogram`; see `lrgym.features`), then seven training signals:
    log training loss, log validation-subset loss, validation-subset accuracy, log10 LR,
    progress through the budget (0 to 1), log10 gradient norm and log10 update/weight ratio.
    Permuting hidden units of the network leaves the observation unchanged. To stack past
    observations use Gymnasium's `FrameStackObservation` (`LRTuning-Paper-v0` stacks four).

    With a task distribution the shape is the same for every task (declared at construction):
    `feature_layers` must select a fixed number of layers, e.g. the first and the last (0, -1).
    The observation does not reveal the task's settings unless `task_features=True`, which puts
    `len(lrgym.tasks.TASK_FEATURES)` entries (log2 batch size, epochs, optimiser, model,
    dataset, ...) before the training signals; those stay last. (The log10 LR signal shows the
    LR itself, which starts at the optimiser's conventional value.)

    With `controls` beyond the LR, one entry per further control comes right before the
    training signals (after any task features): the momentum (or beta1) itself, and log10 of the
    weight decay (0 reads as 1e-6); `info` then holds `momentum` / `weight_decay` too.

    With a model factory the weight statistics are those of the model's convolution and linear
    layers, in the order the model registers them (see `lrgym.factories`).

    ## Rewards

    Set by `reward`:

    - `val_acc_delta` (default): validation-subset accuracy gained this step. The undiscounted
      return telescopes: the rewards of an episode sum to the final minus the initial
      validation-subset accuracy (unless training diverged).
    - `log_val_loss_ratio`: log(L_{t-1} / L_t) on the validation-subset loss.
    - `paper`: -(10/t) log(L_t / L_1) on the training loss, clipped to [-1, 1].
    - `terminal_acc`: 0 until the last step, then the final validation-subset accuracy.

    Every term is reported in `info["reward_terms"]`. The test set never enters a reward or an
    observation.

    ## Starting State

    A freshly initialised network at `initial_lr` (and the config's `momentum` and
    `weight_decay`), evaluated once on the validation subset.
    `reset(seed=...)` seeds the weights, the data order, the augmentation, dropout and the
    validation subset through private generators derived from `self.np_random`; with a task
    distribution the task is drawn from `self.np_random` too, after the run's seed.
    `reset(options={"task": t})` pins the task instead: `t` is an index into the `task_set`, or a
    dict of overrides of the distribution's fields; anything else raises `ValueError`.

    Reproducibility: on the CPU, the same seed and actions give identical observations, rewards
    and infos in any process on the same machine that uses the same number of torch threads
    (`torch.get_num_threads()`). Another thread count or another CPU model changes how the float
    kernels split and order their sums, so such runs drift apart, step by step. On CUDA, bf16
    autocast and cuDNN autotuning make runs drift apart even on one machine.

    ## Episode End

    - Termination: the training budget is used up (a real terminal state), or training
      diverged (non-finite loss, any non-finite parameter, or a mini-batch loss above
      `divergence_factor` x the first one): then `info["diverged"]` is True, the reward is
      -`crash_penalty`, the observation is finite and no further training happens.
    - Truncation: only from a `max_episode_steps` the user passes to `gym.make`.

    Stepping a terminated episode without `reset()` raises `gymnasium.error.ResetNeeded`.

    ## Arguments

    `gym.make("LRTuning-v0", **kwargs)` accepts every field of `lrgym.LRTuningConfig` as a
    keyword argument (for example `epochs=5`, `action_mode="absolute"`, `device="cuda:1"`),
    plus `render_mode` (`"ansi"` or `"rgb_array"`). Unknown or invalid values raise `ValueError`
    at construction, and so do fields that the tasks of a `task_distribution` set. Nothing is
    loaded or trained before the first `reset()`, except the data of a dataset factory, which is
    read (once per process) when the config is built, because the spaces depend on it.
    `env.config` is the env's config; `env.task_config` is the current episode's (with its
    task's overrides).

    ## Version History

    - v0: initial version; task distributions (`LRTuning-TinyMix-v0`, `LRTuning-Mix-v0`), the
      schedule-relative action modes and the tuning-free optimisers were added without changing
      the episodes of the other presets; so were model and dataset factories and `controls`
      beyond the LR (with the default `controls`, episodes are those of before, bit for bit).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        preset: str | None = None,
        *,
        config: LRTuningConfig | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"preset={preset!r} is unknown; allowed presets are {sorted(PRESETS)}")
        if preset is not None and config is not None:
            raise ValueError("pass either preset= or config=, not both")
        base = config if config is not None else PRESETS[preset or "LRTuning-v0"]
        self.config = base.replace(**kwargs) if kwargs else base
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is invalid: allowed values are "
                f"{self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode

        self._distribution: tasks.TaskDistribution | None = None
        self._task: tasks.Task | None = None
        self._task_config = self.config
        self._layer_indices = self._selected_layer_indices(self.config)  # each task sets its own
        n_layers = len(self._layer_indices)
        if self.config.task_distribution is not None:
            self._distribution = tasks.get_distribution(self.config.task_distribution)
            n_layers = self._check_tasks(set(kwargs))

        # Spaces come from the architecture on the meta device: no data, weights or training yet.
        self.action_space = actions.action_space(self.config)
        size = features.observation_size(self.config, n_layers)
        if self.config.task_features:
            size += len(tasks.TASK_FEATURES)
        size += len(self.config.controls) - 1
        bound = features.OBS_BOUND
        self.observation_space = spaces.Box(-bound, bound, shape=(size,), dtype=np.float32)

        self._trainer: Trainer | None = None
        self._num_steps = _checked_num_steps(self.config)  # boundaries are computed per step: O(1) here
        self._step = 0
        self._done = True
        self._history: list[dict[str, Any]] = []
        self._layers: list[Any] = []
        self._last: dict[str, float] = {}

    @staticmethod
    def _selected_layer_indices(cfg: LRTuningConfig) -> list[int]:
        layers = weight_layers(architecture(cfg))
        indices = list(range(len(layers)))
        selected = features.select_layers(indices, cfg.feature_layers)
        return [i % len(layers) for i in selected]

    def _check_tasks(self, given: set[str]) -> int:
        """Validates every task of the distribution; returns their common number of feature layers.

        Raises:
            ValueError: a keyword argument sets a field that the tasks set (it would be
                overridden), a task's config is invalid here, or the tasks' observations would
                differ in size.
        """
        dist = self._distribution
        assert dist is not None
        clash = sorted(given & set(dist.fields))
        if clash:
            raise ValueError(
                f"{clash} are set by each task of task_distribution={dist.name!r} (its task fields: "
                f"{', '.join(dist.fields)}); pin a task with reset(options={{'task': ...}}) instead"
            )
        counts: dict[int, list[str]] = {}
        known: dict[tuple, int] = {}  # layer counts by architecture: tasks share a few
        for task_set in ("train", "test"):
            for index, overrides in enumerate(dist.tasks(task_set)):
                cfg = tasks.task_config(self.config, overrides)  # validates the task's config
                key = (cfg.model, cfg.depth, cfg.width, cfg.dataset_info)
                if key not in known:
                    known[key] = len(self._selected_layer_indices(cfg))
                counts.setdefault(known[key], []).append(f"{task_set}[{index}]")
        if len(counts) > 1:
            raise ValueError(
                f"feature_layers={self.config.feature_layers!r} selects a different number of layers "
                f"in different tasks ({counts}); use 'first', 'last' or indices such as (0, -1)"
            )
        return next(iter(counts))

    # --- Gymnasium API ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._trainer = None  # free the previous run before building the next
        trainer_seed = draw_trainer_seed(self.np_random)  # first, whatever else is drawn (layout.py)
        self._task_config = self._next_task(options)
        trainer = Trainer(self._task_config, trainer_seed)
        self._trainer = trainer
        self._boundaries = self._task_config.batch_boundaries()
        self._layer_indices = self._selected_layer_indices(self._task_config)
        self._layers = [p for _, p in weight_layers(trainer.model)]
        self._layers = [self._layers[i] for i in self._layer_indices]
        self._step = 0
        self._done = False
        start = trainer.evaluate("subset")
        # Before any training the best estimate of the training loss is the validation loss.
        self._last = {"val_acc": start.accuracy, "val_loss": start.loss, "train_loss": start.loss}
        info = self._info(trainer.lr, start.loss, start.loss, start.accuracy, diverged=False)
        self._history = [info]
        obs = self._observation(start.loss, start.loss, start.accuracy, grad_norm=0.0, update_ratio=0.0)
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        trainer = self._trainer
        if trainer is None or self._done:
            raise ResetNeeded(
                "LRTuningEnv.step() called "
                + ("before reset()" if trainer is None else "after the episode terminated")
                + "; call reset() to start a new training run"
            )
        cfg = self._task_config
        settings = actions.apply_action(cfg, trainer.lr, action, trainer.epoch, decision=self._step)
        lr = settings.lr
        trainer.set_lr(lr)
        if settings.momentum is not None:
            trainer.set_momentum(settings.momentum)
        if settings.weight_decay is not None:
            trainer.set_weight_decay(settings.weight_decay)
        done_batches = cfg.batch_boundary(self._step - 1) if self._step else 0
        stats = trainer.train(cfg.batch_boundary(self._step) - done_batches)
        self._step += 1
        last_step = self._step == self._num_steps

        result = trainer.evaluate("subset")
        val_loss, val_acc = result.loss, result.accuracy
        if stats.diverged:
            terms = rewards.crash_terms(cfg.crash_penalty)
        else:
            terms = rewards.reward_terms(
                step=self._step,
                last_step=last_step,
                val_acc=val_acc,
                prev_val_acc=self._last["val_acc"],
                val_loss=val_loss,
                prev_val_loss=self._last["val_loss"],
                train_loss=stats.loss_mean,
                first_train_loss=trainer.initial_loss or stats.loss_first,
            )
        terminated = last_step or stats.diverged
        self._done = terminated
        self._last = {"val_acc": val_acc, "val_loss": val_loss, "train_loss": stats.loss_mean}

        obs = self._observation(stats.loss_mean, val_loss, val_acc, stats.grad_norm, stats.update_ratio)
        info = self._info(lr, stats.loss_mean, val_loss, val_acc, diverged=stats.diverged)
        info["reward_terms"] = terms
        if terminated and cfg.final_eval:
            info.update(self._final_report(trainer))
        self._history.append(info)
        return obs, float(terms[cfg.reward]), terminated, False, info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return render_ansi(self._history, self._task_config)
        if self.render_mode == "rgb_array":
            return render_rgb_array(self._history, self._task_config)
        return None

    def close(self) -> None:
        self._trainer = None

    # --- helpers ---------------------------------------------------------------------------
    @property
    def trainer(self) -> Trainer | None:
        """The training run of the current episode (None before the first reset)."""
        return self._trainer

    @property
    def task_config(self) -> LRTuningConfig:
        """The config of the current episode's run: `config` with the task's overrides (Mix
        presets), else `config` itself (also before the first reset)."""
        return self._task_config

    @property
    def task(self) -> dict[str, Any] | None:
        """The current task as `info["task"]` reports it (None without a task distribution)."""
        return None if self._task is None else self._task.to_info()

    def _next_task(self, options: dict[str, Any] | None) -> LRTuningConfig:
        """The config of the next episode: a task drawn from `np_random` or pinned by `options`."""
        choice = (options or {}).get("task")
        dist = self._distribution
        if dist is None:
            if choice is not None:
                raise ValueError(
                    f"options['task']={choice!r} is invalid: this env has no task distribution "
                    "(task_distribution=None); only the Mix presets draw tasks"
                )
            return self.config
        if choice is None:
            self._task = tasks.draw_task(dist, self.config.task_set, self.np_random)
        else:
            self._task = tasks.pin_task(dist, self.config.task_set, choice)
        return tasks.task_config(self.config, self._task.overrides)

    def _observation(
        self, train_loss: float, val_loss: float, val_acc: float, grad_norm: float, update_ratio: float
    ) -> np.ndarray:
        assert self._trainer is not None
        signals = features.training_signals(
            train_loss=train_loss,
            val_loss=val_loss,
            val_acc=val_acc,
            lr=self._trainer.lr,
            progress=self._step / self._num_steps,
            grad_norm=grad_norm,
            update_ratio=update_ratio,
        )
        if len(self.config.controls) > 1:  # before the training signals, which stay last (layout.py)
            controls = features.control_signals(
                self.config.controls, self._trainer.momentum, self._trainer.weight_decay
            )
            signals = np.concatenate([controls, signals])
        if self.config.task_features:  # before the controls' entries
            signals = np.concatenate([tasks.task_features(self._task_config), signals])
        return features.observation(self._layers, self._task_config, signals)

    def _info(self, lr: float, train_loss: float, val_loss: float, val_acc: float, diverged: bool) -> dict:
        assert self._trainer is not None
        info = {
            "lr": float(lr),
            "train_loss": float(train_loss),
            "val_loss": float(val_loss),
            "val_acc": float(val_acc),
            "epoch": float(self._trainer.epoch),
            "step": int(self._step),
            "diverged": bool(diverged),
        }
        for control in self.config.controls[1:]:  # what the optimiser uses from here on
            info[control] = float(getattr(self._trainer, control))
        if self._task is not None:
            info["task"] = self._task.to_info()
        return info

    def _final_report(self, trainer: Trainer) -> dict[str, float]:
        val, test = trainer.evaluate("val"), trainer.evaluate("test")
        return {
            "full_val_acc": val.accuracy,
            "full_val_loss": val.loss,
            "test_acc": test.accuracy,
            "test_loss": test.loss,
        }


def _checked_num_steps(cfg: LRTuningConfig) -> int:
    """Decisions per episode; every decision must train at least one mini-batch."""
    steps, total = cfg.num_steps, cfg.total_batches
    if steps > total:
        raise ValueError(
            f"LRTuningConfig.steps_per_epoch={cfg.steps_per_epoch} is invalid: {steps} decisions for a "
            f"budget of {total} mini-batches ({cfg.batches_per_epoch} per epoch, {cfg.epochs:g} epochs); "
            "every decision trains at least one mini-batch: use fewer steps_per_epoch or set batches_per_step"
        )
    return steps
