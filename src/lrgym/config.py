"""The one configuration object of lrgym: every option of the training core and the environment.

`LRTuningConfig` is a frozen dataclass; its defaults are the `LRTuning-v0` task and the other
presets (see `lrgym.presets`) are named variations of it. Every field is a `gym.make` kwarg.
Invalid values raise `ValueError` naming the field, the value and what is allowed, when the
config is built. `model` and `dataset` may also name your own factories (`lrgym.factories`).
This module does not import torch, so that `import lrgym` stays cheap.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lrgym import factories

DATASETS = ("cifar10", "cifar100", "mnist", "fashion_mnist", "synthetic")
MODELS = ("wrn", "cnn")
OPTIMIZERS = ("sgd", "adam", "schedulefree_sgd", "prodigy", "dadapt_sgd")
ACTION_MODES = (
    "discrete",
    "paper",
    "continuous",
    "absolute",
    "schedule_relative",
    "schedule_relative_discrete",
)
FEATURE_SETS = ("paper", "quantiles", "histogram")
FEATURE_LAYER_NAMES = ("first", "last", "all")
REWARDS = ("val_acc_delta", "log_val_loss_ratio", "paper", "terminal_acc")
# What the agent sets: the LR always, first; momentum (SGD) / beta1 (Adam) and weight decay if asked.
CONTROLS = ("lr", "momentum", "weight_decay")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

# Upper bounds of sizes, so that a config that cannot run is refused when it is built.
SEED_MAX = 2**64 - 1  # torch generators take seeds in [0, 2**64)
MAX_SYNTHETIC_PIXELS = 2**28  # about 18 bytes per pixel at the peak of generation: ~5 GB
MAX_EPOCHS = 1e6  # a million passes: mini-batch counts stay well inside float precision
MAX_LOG_MULTIPLIER = 100.0  # e^100 ~ 3e43: past any LR range; math.exp overflows past 709

# Each optimiser's conventional starting learning rate: what a user would try first, not a tuned
# value. The task distributions start every task from its optimiser's entry. Prodigy and
# D-Adaptation estimate their step size and are used at 1.0 (a multiplier of their estimate);
# Schedule-Free SGD wants 10-50x the classical SGD rate, and its package defaults to 1.0.
OPTIMIZER_DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "schedulefree_sgd": 1.0, "prodigy": 1.0, "dadapt_sgd": 1.0}
TUNING_FREE_OPTIMIZERS = ("schedulefree_sgd", "prodigy", "dadapt_sgd")  # from the `tuning-free` extra
TASK_SETS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset, known without loading it."""

    channels: int
    image_size: int
    num_classes: int
    train_count: int
    test_count: int


FILE_DATASETS = {
    "cifar10": DatasetInfo(3, 32, 10, 50_000, 10_000),
    "cifar100": DatasetInfo(3, 32, 100, 50_000, 10_000),
    "mnist": DatasetInfo(1, 28, 10, 60_000, 10_000),
    "fashion_mnist": DatasetInfo(1, 28, 10, 60_000, 10_000),
}


@dataclass(frozen=True)
class LRTuningConfig:
    """Every option of an lrgym training run and of the environment around it.

    Defaults describe `LRTuning-v0`: CIFAR-10, WRN-16-4, 10 epochs of Nesterov SGD at batch 128,
    10 learning-rate decisions per epoch.
    """

    # --- data -------------------------------------------------------------------------------
    # one of DATASETS, or a dataset factory: "package.module:function" or a callable (lrgym.factories)
    dataset: str | Callable[..., Any] = "cifar10"
    data_root: str | None = None  # else $LRGYM_DATA, else the user cache directory
    download: bool = False  # fetch missing files from the internet (never done unasked)
    val_size: int = 5000  # images carved from the training set for validation (fixed split)
    val_subset_size: int = 1000  # validation images evaluated after every step
    train_subset_size: int | None = None  # use only this many training images (None: all)
    split_seed: int = 0  # seeds the train/validation split, the same for every episode; <= SEED_MAX
    augment: bool = True  # random crop (4-px padding) and horizontal flip
    # synthetic dataset (used when dataset == "synthetic"); (train + test) x channels x side^2
    # is at most MAX_SYNTHETIC_PIXELS, so that the images fit in memory while they are made
    synthetic_train_size: int = 6000  # images, before the validation split
    synthetic_test_size: int = 2000  # images
    synthetic_image_size: int = 16  # pixels per side
    synthetic_channels: int = 3
    synthetic_classes: int = 10  # 2..1000
    synthetic_seed: int = 0  # the dataset's identity: the same seed gives the same images; <= SEED_MAX
    synthetic_noise: float = 0.25  # std of the additive pixel noise (the patterns have unit std)

    # --- model ------------------------------------------------------------------------------
    # "wrn" (WideResNet-depth-width), "cnn" (small CNN, `width` scales it), or a model factory:
    # "package.module:function" or a callable, called as f(num_classes=, in_channels=, image_size=)
    model: str | Callable[..., Any] = "wrn"
    # a factory's model: "lrgym" re-initialises its conv/linear/norm layers from the episode's
    # generator; "factory" keeps the factory's own initialisation (seeded from the episode too)
    model_init: str = "lrgym"
    depth: int = 16  # WRN depth, 6n+4; at most 1000 (building the layers is part of gym.make)
    width: int = 4  # WRN widening factor k
    dropout: float = 0.0  # dropout probability inside WRN blocks, in [0, 1)

    # --- optimisation -----------------------------------------------------------------------
    optimizer: str = "sgd"  # "sgd" or "adam"
    initial_lr: float = 0.1  # learning rate at the start of every episode
    momentum: float = 0.9  # SGD momentum (Adam: beta1), in [0, 1): at 1 the velocity never decays
    nesterov: bool = True
    weight_decay: float = 5e-4
    batch_size: int = 128  # training mini-batch, images
    eval_batch_size: int = 1000  # images per forward pass when evaluating

    # --- budget -----------------------------------------------------------------------------
    epochs: float = 10.0  # budget of one episode, in passes over the training split; <= MAX_EPOCHS
    steps_per_epoch: int = 10  # learning-rate decisions per epoch; at most 10**7
    batches_per_step: int | None = None  # if set, a fixed number of mini-batches per decision

    # --- actions ----------------------------------------------------------------------------
    action_mode: str = "discrete"  # one of ACTION_MODES
    lr_multipliers: tuple[float, ...] = (0.5, 0.8, 1.0, 1.25, 2.0)  # "discrete" actions
    # "continuous": action 1 multiplies the LR by e^this; in (0, MAX_LOG_MULTIPLIER]
    max_log_multiplier: float = math.log(2.0)
    lr_min: float = 1e-5  # every learning rate is clipped to [lr_min, lr_max]
    lr_max: float = 1.0
    paper_decay: float = 0.97  # "paper" action 0 multiplies the LR by this, in (0, 1)
    restart_lr: float = 0.1  # "paper" action 1 resets the LR to this ...
    restart_lr_decay: float = 0.2  # ... multiplied by this (in (0, 1]) ...
    restart_lr_every_epochs: float = 30.0  # ... once per this many epochs (at least 1e-6)
    # What each action sets: "lr" first, then "momentum" and/or "weight_decay" (one action entry
    # each, in this order, in every mode but "paper"). The LR entry acts as the mode says; the
    # others set their value absolutely (see lrgym.actions).
    controls: tuple[str, ...] = ("lr",)
    momentum_values: tuple[float, ...] = (0.0, 0.5, 0.9, 0.95, 0.99)  # discrete modes, each in [0, 1)
    weight_decay_values: tuple[float, ...] = (0.0, 1e-4, 5e-4, 1e-3, 5e-3)  # discrete modes, each >= 0
    # Box modes: a = -1 / +1 sets momentum_min / momentum_max, log-linearly in 1 - momentum
    # (a = 0: 0.9 with the defaults)
    momentum_min: float = 0.0
    momentum_max: float = 0.99
    # Box modes: a = -1 / +1 sets weight_decay_min / _max, log-linearly (a = 0: 5e-4 by default)
    weight_decay_min: float = 5e-6
    weight_decay_max: float = 5e-2

    # --- observation ------------------------------------------------------------------------
    features: str = "quantiles"  # weight-statistics feature set: one of FEATURE_SETS
    feature_layers: str | tuple[int, ...] = "all"  # "first", "last", "all" or layer indices
    histogram_bins: int = 16  # bins of the "histogram" feature set over +-4 std, 2..256

    # --- reward and divergence --------------------------------------------------------------
    reward: str = "val_acc_delta"  # one of REWARDS
    crash_penalty: float = 1.0  # reward of the step on which training diverges is -this
    # a mini-batch loss above this x the first one is divergence; > 1 (inf: only non-finite is)
    divergence_factor: float = 2.5

    # --- hardware and reporting -------------------------------------------------------------
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda" or "cuda:N"
    compile: bool = False  # torch.compile the model (CUDA only)
    final_eval: bool = True  # evaluate full validation and test sets at the end of an episode

    # --- task distributions (the Mix presets; see lrgym.tasks) ------------------------------
    task_distribution: str | None = None  # draw a task from this named distribution every reset
    task_set: str = "train"  # one of TASK_SETS: the half of the distribution that reset() draws from
    task_features: bool = False  # append the task's settings to the observation

    # --- schedule-relative actions (the LR is a reference cosine schedule times a factor) ---
    schedule_max_factor: float = 4.0  # "schedule_relative": a = +1 / -1 multiplies / divides by this
    schedule_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)  # "schedule_relative_discrete"

    # --- tuning-free optimisers -------------------------------------------------------------
    schedulefree_warmup: float = (
        0.05  # "schedulefree_sgd": linear warm-up over this share of the mini-batches
    )
    schedulefree_bn_images: int = (
        1024  # training images that re-estimate BatchNorm statistics before evaluating
    )

    def __post_init__(self) -> None:
        # gym.make kwargs may arrive as lists (JSON, YAML); store tuples so the config hashes.
        if isinstance(self.lr_multipliers, list):
            object.__setattr__(self, "lr_multipliers", tuple(self.lr_multipliers))
        if isinstance(self.feature_layers, list):
            object.__setattr__(self, "feature_layers", tuple(self.feature_layers))
        for name in ("schedule_factors", "controls", "momentum_values", "weight_decay_values"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        _validate_factories(self)  # first: the dataset's facts feed the checks below
        _validate(self)
        _validate_tasks_actions_optimizers(self)
        _validate_controls(self)

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> LRTuningConfig:
        """Builds a config, rejecting unknown keys with the list of known ones."""
        check_field_names(kwargs)
        return cls(**kwargs)

    def replace(self, **kwargs: Any) -> LRTuningConfig:
        """A copy with some fields changed (unknown field names raise `ValueError`)."""
        check_field_names(kwargs)
        return dataclasses.replace(self, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Every field; a callable factory is recorded by name (`lrgym.factories.factory_name`).

        Values are strings, numbers, bools, None and tuples of them, so the dict can be written
        as JSON and compared; a factory given as a callable compares by its qualified name.
        """
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("dataset", "model"):
            if callable(out[name]):
                out[name] = factories.factory_name(out[name])
        return out

    # --- derived quantities (no data is loaded, except a dataset factory's) -------------------
    @property
    def dataset_info(self) -> DatasetInfo:
        """Channels, image size, classes and image counts; a dataset factory's come from its data,
        which is loaded (once per process) the first time they are asked for."""
        if factories.is_factory(self.dataset):
            from lrgym.datasets import factory_dataset_info  # imports torch: only for factories

            return factory_dataset_info(self.dataset)
        if self.dataset == "synthetic":
            return DatasetInfo(
                self.synthetic_channels,
                self.synthetic_image_size,
                self.synthetic_classes,
                self.synthetic_train_size,
                self.synthetic_test_size,
            )
        return FILE_DATASETS[self.dataset]

    @property
    def train_count(self) -> int:
        """Training images per epoch, after the validation split and the optional subset."""
        remaining = self.dataset_info.train_count - self.val_size
        if self.train_subset_size is not None:
            remaining = min(remaining, self.train_subset_size)
        return remaining

    @property
    def batches_per_epoch(self) -> int:
        return self.train_count // self.batch_size  # the last partial batch is dropped

    @property
    def total_batches(self) -> int:
        return max(1, round(self.epochs * self.batches_per_epoch))

    @property
    def num_steps(self) -> int:
        """Decisions per episode."""
        if self.batches_per_step is not None:
            return math.ceil(self.total_batches / self.batches_per_step)
        return max(1, round(self.epochs * self.steps_per_epoch))

    def batch_boundary(self, step: int) -> int:
        """Cumulative mini-batch count at the end of step `step` (0-based), in O(1)."""
        total = self.total_batches
        if self.batches_per_step is not None:
            return min(total, (step + 1) * self.batches_per_step)
        return round((step + 1) * total / self.num_steps)

    def batch_boundaries(self) -> list[int]:
        """Cumulative mini-batch counts at the end of each step (length `num_steps`)."""
        return [self.batch_boundary(i) for i in range(self.num_steps)]


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(LRTuningConfig))


def check_field_names(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(FIELD_NAMES))
    if unknown:
        raise ValueError(
            f"unknown LRTuningConfig option(s) {unknown}; allowed options are: " + ", ".join(FIELD_NAMES)
        )


def _fail(name: str, value: Any, allowed: str) -> None:
    raise ValueError(f"LRTuningConfig.{name}={value!r} is invalid: {allowed}")


def _choice(cfg: LRTuningConfig, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in allowed:
        _fail(name, value, "allowed values are " + ", ".join(repr(a) for a in allowed))


def _is_real(value: Any) -> bool:
    """An int, a float or a numpy scalar of either; not a bool, a string or a complex number."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int_at_least(cfg: LRTuningConfig, name: str, low: int, optional: bool = False) -> None:
    value = getattr(cfg, name)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        _fail(name, value, f"must be an integer >= {low}" + (" or None" if optional else ""))


def _int_at_most(cfg: LRTuningConfig, name: str, high: int, why: str) -> None:
    """After `_int_at_least` has checked the type: an upper bound, with the reason for it."""
    value = getattr(cfg, name)
    if value is not None and value > high:
        _fail(name, value, f"must be at most {high} ({why})")


def _real(
    cfg: LRTuningConfig,
    name: str,
    low: float,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
    finite: bool = True,
) -> None:
    """A real number (type checked before any comparison) between `low` and `high`."""
    value = getattr(cfg, name)
    ok = _is_real(value) and not math.isnan(value) and (math.isfinite(value) or not finite)
    if ok:
        ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        if math.isinf(high):
            bounds = (">" if open_low else ">=") + f" {low:g}"
        else:
            bounds = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        _fail(name, value, "must be a " + ("finite " if finite else "") + "number " + bounds)


def _positive(cfg: LRTuningConfig, name: str, allow_zero: bool = False) -> None:
    _real(cfg, name, 0.0, open_low=not allow_zero)


def _bool(cfg: LRTuningConfig, name: str) -> None:
    if not isinstance(getattr(cfg, name), bool):
        _fail(name, getattr(cfg, name), "must be True or False")


def _validate_factories(cfg: LRTuningConfig) -> None:
    """`dataset` and `model`: a built-in name, or a factory that can be imported (not called yet)."""
    for name, builtins in (("dataset", DATASETS), ("model", MODELS)):
        value = getattr(cfg, name)
        if isinstance(value, str) and value in builtins:
            continue
        if not factories.is_factory(value):
            _fail(
                name,
                value,
                "allowed values are " + ", ".join(repr(b) for b in builtins) + ", or a factory: a "
                "'package.module:function' string or a callable (see lrgym.factories)",
            )
        try:
            hash(value)
        except TypeError:
            _fail(name, value, "a factory must be hashable (functions, classes and functools.partial are)")
        try:
            factories.resolve(value)
        except factories.FactoryError as exc:
            _fail(name, value, str(exc))
    _choice(cfg, "model_init", factories.MODEL_INITS)
    if cfg.model_init != "lrgym" and not factories.is_factory(cfg.model):
        _fail(
            "model_init",
            cfg.model_init,
            "'factory' applies to model factories only; lrgym initialises its built-in models itself",
        )


def _validate(cfg: LRTuningConfig) -> None:
    for name, allowed in (
        ("optimizer", OPTIMIZERS),
        ("action_mode", ACTION_MODES),
        ("features", FEATURE_SETS),
        ("reward", REWARDS),
    ):
        _choice(cfg, name, allowed)
    for name in ("download", "augment", "nesterov", "compile", "final_eval"):
        _bool(cfg, name)
    if cfg.data_root is not None and not isinstance(cfg.data_root, str):
        _fail("data_root", cfg.data_root, "must be a path string or None")

    for name, low in (
        ("val_size", 1),
        ("val_subset_size", 1),
        ("split_seed", 0),
        ("synthetic_train_size", 2),
        ("synthetic_test_size", 1),
        ("synthetic_image_size", 8),
        ("synthetic_channels", 1),
        ("synthetic_classes", 2),
        ("synthetic_seed", 0),
        ("depth", 1),
        ("width", 1),
        ("batch_size", 1),
        ("eval_batch_size", 1),
        ("steps_per_epoch", 1),
        ("histogram_bins", 2),
    ):
        _int_at_least(cfg, name, low)
    _int_at_least(cfg, "train_subset_size", 1, optional=True)
    _int_at_least(cfg, "batches_per_step", 1, optional=True)
    for name, high, why in (
        ("split_seed", SEED_MAX, "torch generators take seeds below 2**64"),
        ("synthetic_seed", SEED_MAX, "torch generators take seeds below 2**64"),
        ("synthetic_classes", 1000, "ImageNet's count; every class needs images to learn from"),
        ("depth", 1000, "the layers are built when the env is made"),
        ("histogram_bins", 256, "bins over +-4 std: 256 already resolve 1/32 std"),
        ("steps_per_epoch", 10**7, "more than the mini-batches of an epoch of any dataset here"),
    ):
        _int_at_most(cfg, name, high, why)
    if cfg.dataset == "synthetic":
        images = cfg.synthetic_train_size + cfg.synthetic_test_size
        pixels = images * cfg.synthetic_channels * cfg.synthetic_image_size**2
        if pixels > MAX_SYNTHETIC_PIXELS:
            _fail(
                "synthetic_train_size",
                cfg.synthetic_train_size,
                f"the synthetic dataset would hold {pixels} pixel values ((train + test images) x "
                f"channels x side^2), more than the {MAX_SYNTHETIC_PIXELS} that are generated in memory; "
                "use fewer or smaller images",
            )

    if cfg.model == "wrn" and (cfg.depth - 4) % 6 != 0:
        _fail("depth", cfg.depth, "WideResNet depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 40)")
    _real(cfg, "dropout", 0.0, 1.0, open_high=True)

    for name in ("initial_lr", "epochs", "lr_min", "lr_max", "max_log_multiplier", "restart_lr"):
        _positive(cfg, name)
    for name in ("weight_decay", "crash_penalty"):
        _positive(cfg, name, allow_zero=True)
    _real(cfg, "momentum", 0.0, 1.0, open_high=True)
    if cfg.epochs > MAX_EPOCHS:
        _fail("epochs", cfg.epochs, f"must be at most {MAX_EPOCHS:g} (passes over the training split)")
    if cfg.max_log_multiplier > MAX_LOG_MULTIPLIER:
        _fail(
            "max_log_multiplier",
            cfg.max_log_multiplier,
            f"must be at most {MAX_LOG_MULTIPLIER:g} (a factor of e^{MAX_LOG_MULTIPLIER:g} per decision "
            "already crosses any LR range)",
        )
    _real(cfg, "paper_decay", 0.0, 1.0, open_low=True, open_high=True)
    _real(cfg, "restart_lr_decay", 0.0, 1.0, open_low=True)
    _real(cfg, "restart_lr_every_epochs", 1e-6)
    _real(cfg, "divergence_factor", 1.0, open_low=True, finite=False)
    if cfg.lr_min >= cfg.lr_max:
        _fail("lr_min", cfg.lr_min, f"must be smaller than lr_max={cfg.lr_max}")
    if not cfg.lr_min <= cfg.initial_lr <= cfg.lr_max:
        _fail(
            "initial_lr",
            cfg.initial_lr,
            f"must lie in [lr_min, lr_max] = [{cfg.lr_min}, {cfg.lr_max}]",
        )
    mults = cfg.lr_multipliers
    if (
        not isinstance(mults, tuple)
        or len(mults) < 2
        or not all(_is_real(m) and math.isfinite(m) and m > 0 for m in mults)
    ):
        _fail("lr_multipliers", mults, "must be a sequence of at least 2 positive finite numbers")

    layers = cfg.feature_layers
    if isinstance(layers, str):
        if layers not in FEATURE_LAYER_NAMES:
            _fail(
                "feature_layers",
                layers,
                f"allowed names are {FEATURE_LAYER_NAMES} or a tuple of layer indices",
            )
    elif not (
        isinstance(layers, tuple)
        and layers
        and all(isinstance(i, int) and not isinstance(i, bool) for i in layers)
    ):
        _fail(
            "feature_layers",
            layers,
            f"allowed names are {FEATURE_LAYER_NAMES} or a non-empty tuple of layer indices",
        )

    if not isinstance(cfg.device, str) or not DEVICE_PATTERN.match(cfg.device):
        _fail("device", cfg.device, "allowed values are 'auto', 'cpu', 'cuda' or 'cuda:N'")

    info = cfg.dataset_info
    if cfg.val_size >= info.train_count:
        _fail(
            "val_size",
            cfg.val_size,
            f"must be smaller than the {info.train_count} training images of {cfg.dataset!r}",
        )
    if cfg.val_subset_size > cfg.val_size:
        _fail("val_subset_size", cfg.val_subset_size, f"must be at most val_size={cfg.val_size}")
    if cfg.train_count < cfg.batch_size:
        _fail(
            "batch_size",
            cfg.batch_size,
            f"must be at most the {cfg.train_count} training images left after the split",
        )


# --- task distributions, schedule-relative actions, tuning-free optimisers -----------------------


def _validate_tasks_actions_optimizers(cfg: LRTuningConfig) -> None:
    _positive(cfg, "synthetic_noise", allow_zero=True)

    if cfg.task_distribution is not None:
        from lrgym.tasks import DISTRIBUTIONS  # lrgym.tasks imports this module

        if cfg.task_distribution not in DISTRIBUTIONS:
            _fail(
                "task_distribution",
                cfg.task_distribution,
                "allowed values are None or " + ", ".join(repr(name) for name in DISTRIBUTIONS),
            )
        if cfg.feature_layers == "all":
            _fail(
                "feature_layers",
                cfg.feature_layers,
                "with a task_distribution the models of the tasks differ in depth, so the observation "
                "needs a fixed number of layers: 'first', 'last' or indices such as (0, -1)",
            )
    _choice(cfg, "task_set", TASK_SETS)
    _bool(cfg, "task_features")

    factor = cfg.schedule_max_factor
    if not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and 1.0 < factor < math.inf):
        _fail("schedule_max_factor", factor, "must be a finite number > 1")
    factors = cfg.schedule_factors
    if (
        not isinstance(factors, tuple)
        or len(factors) < 2
        or not all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) and f > 0
            for f in factors
        )
        or 1.0 not in factors
    ):
        _fail(
            "schedule_factors",
            factors,
            "must be a sequence of at least 2 positive finite numbers that includes 1.0 (the neutral action)",
        )

    warmup = cfg.schedulefree_warmup
    if not (isinstance(warmup, (int, float)) and not isinstance(warmup, bool) and 0.0 <= warmup < 1.0):
        _fail("schedulefree_warmup", warmup, "must be a fraction of the budget in [0, 1)")
    _int_at_least(cfg, "schedulefree_bn_images", 1)
    if cfg.optimizer == "schedulefree_sgd" and not 0.0 < cfg.momentum < 1.0:
        _fail("momentum", cfg.momentum, "Schedule-Free SGD needs a momentum (interpolation) in (0, 1)")


# --- controls beyond the learning rate -------------------------------------------------------------


def _real_values(cfg: LRTuningConfig, name: str, low: float, high: float, allowed: str) -> None:
    values = getattr(cfg, name)
    if (
        not isinstance(values, tuple)
        or len(values) < 2
        or not all(_is_real(v) and math.isfinite(v) and low <= v < high for v in values)
    ):
        _fail(name, values, allowed)


def _validate_controls(cfg: LRTuningConfig) -> None:
    controls = cfg.controls
    if (
        not isinstance(controls, tuple)
        or not controls
        or controls[0] != "lr"
        or not all(isinstance(c, str) and c in CONTROLS for c in controls)
        or len(set(controls)) != len(controls)
    ):
        _fail(
            "controls",
            controls,
            "must be a tuple that starts with 'lr', followed by 'momentum' and/or 'weight_decay' (each at "
            "most once): ('lr',), ('lr', 'momentum'), ('lr', 'weight_decay') or ('lr', 'momentum', "
            "'weight_decay')",
        )
    _real_values(
        cfg, "momentum_values", 0.0, 1.0, "must be a sequence of at least 2 momentum values, each in [0, 1)"
    )
    _real_values(
        cfg,
        "weight_decay_values",
        0.0,
        math.inf,
        "must be a sequence of at least 2 finite weight decays, each >= 0",
    )
    _real(cfg, "momentum_min", 0.0, 1.0, open_high=True)
    _real(cfg, "momentum_max", 0.0, 1.0, open_high=True)
    if cfg.momentum_min >= cfg.momentum_max:
        _fail("momentum_min", cfg.momentum_min, f"must be smaller than momentum_max={cfg.momentum_max}")
    _positive(cfg, "weight_decay_min")
    _positive(cfg, "weight_decay_max")
    if cfg.weight_decay_min >= cfg.weight_decay_max:
        _fail(
            "weight_decay_min",
            cfg.weight_decay_min,
            f"must be smaller than weight_decay_max={cfg.weight_decay_max}",
        )

    extra = controls[1:]
    if extra and cfg.action_mode == "paper":
        _fail(
            "controls",
            controls,
            "action_mode='paper' sets the LR only (the original code's two actions); choose another "
            "action_mode to control momentum or weight decay",
        )
    if "momentum" in extra and cfg.optimizer in TUNING_FREE_OPTIMIZERS:
        _fail(
            "controls",
            controls,
            f"optimizer={cfg.optimizer!r} is tuning-free: its momentum (or beta1) is part of how it "
            "adapts its own step size, and is not set from outside; momentum control applies to "
            "'sgd' (momentum) and 'adam' (beta1)",
        )
