"""The one configuration object of lrgym: every option of the training core and the environment.

`LRTuningConfig` is a frozen dataclass; its defaults are the `LRTuning-v0` task and the other
presets (see `lrgym.presets`) are named variations of it. Every field is a `gym.make` kwarg.
Invalid values raise `ValueError` naming the field, the value and what is allowed, when the
config is built. This module does not import torch, so that `import lrgym` stays cheap.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

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
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

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
    dataset: str = "cifar10"  # one of DATASETS
    data_root: str | None = None  # else $LRGYM_DATA, else the user cache directory
    download: bool = False  # fetch missing files from the internet (never done unasked)
    val_size: int = 5000  # images carved from the training set for validation (fixed split)
    val_subset_size: int = 1000  # validation images evaluated after every step
    train_subset_size: int | None = None  # use only this many training images (None: all)
    split_seed: int = 0  # seeds the train/validation split, the same for every episode
    augment: bool = True  # random crop (4-px padding) and horizontal flip
    # synthetic dataset (used when dataset == "synthetic")
    synthetic_train_size: int = 6000  # images, before the validation split
    synthetic_test_size: int = 2000  # images
    synthetic_image_size: int = 16  # pixels per side
    synthetic_channels: int = 3
    synthetic_classes: int = 10
    synthetic_seed: int = 0  # the dataset's identity: the same seed gives the same images
    synthetic_noise: float = 0.25  # std of the additive pixel noise (the patterns have unit std)

    # --- model ------------------------------------------------------------------------------
    model: str = "wrn"  # "wrn" (WideResNet-depth-width) or "cnn" (small CNN, `width` scales it)
    depth: int = 16  # WRN depth, 6n+4
    width: int = 4  # WRN widening factor k
    dropout: float = 0.0  # dropout probability inside WRN blocks

    # --- optimisation -----------------------------------------------------------------------
    optimizer: str = "sgd"  # "sgd" or "adam"
    initial_lr: float = 0.1  # learning rate at the start of every episode
    momentum: float = 0.9  # SGD momentum (Adam: beta1)
    nesterov: bool = True
    weight_decay: float = 5e-4
    batch_size: int = 128  # training mini-batch, images
    eval_batch_size: int = 1000  # images per forward pass when evaluating

    # --- budget -----------------------------------------------------------------------------
    epochs: float = 10.0  # training budget of one episode, in passes over the training split
    steps_per_epoch: int = 10  # learning-rate decisions per epoch
    batches_per_step: int | None = None  # if set, a fixed number of mini-batches per decision

    # --- actions ----------------------------------------------------------------------------
    action_mode: str = "discrete"  # one of ACTION_MODES
    lr_multipliers: tuple[float, ...] = (0.5, 0.8, 1.0, 1.25, 2.0)  # "discrete" actions
    max_log_multiplier: float = math.log(2.0)  # "continuous": action 1 multiplies the LR by e^this
    lr_min: float = 1e-5  # every learning rate is clipped to [lr_min, lr_max]
    lr_max: float = 1.0
    paper_decay: float = 0.97  # "paper" action 0 multiplies the LR by this
    restart_lr: float = 0.1  # "paper" action 1 resets the LR to this ...
    restart_lr_decay: float = 0.2  # ... multiplied by this ...
    restart_lr_every_epochs: float = 30.0  # ... once per this many epochs

    # --- observation ------------------------------------------------------------------------
    features: str = "quantiles"  # weight-statistics feature set: one of FEATURE_SETS
    feature_layers: str | tuple[int, ...] = "all"  # "first", "last", "all" or layer indices
    histogram_bins: int = 16  # bins of the "histogram" feature set

    # --- reward and divergence --------------------------------------------------------------
    reward: str = "val_acc_delta"  # one of REWARDS
    crash_penalty: float = 1.0  # reward of the step on which training diverges is -this
    divergence_factor: float = 2.5  # a mini-batch loss above this x the first one is divergence

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
        if isinstance(self.schedule_factors, list):
            object.__setattr__(self, "schedule_factors", tuple(self.schedule_factors))
        _validate(self)
        _validate_tasks_actions_optimizers(self)

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
        return dataclasses.asdict(self)

    # --- derived quantities (no data needs to be loaded) --------------------------------------
    @property
    def dataset_info(self) -> DatasetInfo:
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

    def batch_boundaries(self) -> list[int]:
        """Cumulative mini-batch counts at the end of each step (length `num_steps`)."""
        total, steps = self.total_batches, self.num_steps
        if self.batches_per_step is not None:
            return [min(total, (i + 1) * self.batches_per_step) for i in range(steps)]
        return [round((i + 1) * total / steps) for i in range(steps)]


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


def _int_at_least(cfg: LRTuningConfig, name: str, low: int, optional: bool = False) -> None:
    value = getattr(cfg, name)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        _fail(name, value, f"must be an integer >= {low}" + (" or None" if optional else ""))


def _positive(cfg: LRTuningConfig, name: str, allow_zero: bool = False) -> None:
    value = getattr(cfg, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        _fail(name, value, "must be a finite number " + (">= 0" if allow_zero else "> 0"))


def _bool(cfg: LRTuningConfig, name: str) -> None:
    if not isinstance(getattr(cfg, name), bool):
        _fail(name, getattr(cfg, name), "must be True or False")


def _validate(cfg: LRTuningConfig) -> None:
    for name, allowed in (
        ("dataset", DATASETS),
        ("model", MODELS),
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

    if cfg.model == "wrn" and (cfg.depth - 4) % 6 != 0:
        _fail("depth", cfg.depth, "WideResNet depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 40)")
    if not 0.0 <= cfg.dropout < 1.0:
        _fail("dropout", cfg.dropout, "must be in [0, 1)")

    for name in ("initial_lr", "epochs", "lr_min", "lr_max", "max_log_multiplier", "restart_lr"):
        _positive(cfg, name)
    for name in ("momentum", "weight_decay", "crash_penalty"):
        _positive(cfg, name, allow_zero=True)
    if not 0.0 < cfg.paper_decay < 1.0:
        _fail("paper_decay", cfg.paper_decay, "must be in (0, 1)")
    if not 0.0 < cfg.restart_lr_decay <= 1.0:
        _fail("restart_lr_decay", cfg.restart_lr_decay, "must be in (0, 1]")
    _positive(cfg, "restart_lr_every_epochs")
    if not (isinstance(cfg.divergence_factor, (int, float)) and cfg.divergence_factor > 1.0):
        _fail("divergence_factor", cfg.divergence_factor, "must be a number > 1")
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
        or not all(isinstance(m, (int, float)) and math.isfinite(m) and m > 0 for m in mults)
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
