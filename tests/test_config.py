"""The config rejects bad values at construction, naming the field and what is allowed."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from lrgym.actions import next_lr
from lrgym.config import FIELD_NAMES, MAX_EPOCHS, MAX_LOG_MULTIPLIER, LRTuningConfig
from lrgym.presets import PRESETS


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"dataset": "imagenet"}, ["dataset", "'imagenet'", "cifar10", "synthetic"]),
        ({"depth": 14}, ["depth", "6n+4"]),
        ({"width": 0}, ["width", ">= 1"]),
        ({"batch_size": -5}, ["batch_size", ">= 1"]),
        ({"val_size": -1}, ["val_size"]),
        ({"val_subset_size": 0}, ["val_subset_size"]),
        ({"epochs": -1.0}, ["epochs", "> 0"]),
        ({"device": "tpu"}, ["device", "'tpu'", "'cpu'", "'cuda:N'"]),
        ({"device": "cuda:x"}, ["device"]),
        ({"optimizer": "lbfgs"}, ["optimizer", "sgd", "adam"]),
        ({"action_mode": "knob"}, ["action_mode", "discrete", "absolute"]),
        ({"reward": "accuracy"}, ["reward", "val_acc_delta"]),
        ({"features": "all"}, ["features", "quantiles"]),
        ({"lr_min": 1.0, "lr_max": 0.1}, ["lr_min", "lr_max"]),
        ({"initial_lr": 5.0}, ["initial_lr", "lr_max"]),
        ({"lr_multipliers": (1.0,)}, ["lr_multipliers"]),
        ({"lr_multipliers": (0.5, -1.0)}, ["lr_multipliers", "positive"]),
        ({"dropout": 1.0}, ["dropout", "[0, 1)"]),
        ({"divergence_factor": 0.5}, ["divergence_factor", "> 1"]),
        ({"feature_layers": "middle"}, ["feature_layers", "first"]),
        ({"val_size": 60_000}, ["val_size", "50000"]),
        ({"augment": "yes"}, ["augment", "True or False"]),
        ({"batches_per_step": 0}, ["batches_per_step", "None"]),
    ],
)
def test_invalid_values_name_the_field_and_the_allowed_values(kwargs: dict, names: list[str]) -> None:
    with pytest.raises(ValueError) as excinfo:
        LRTuningConfig(**kwargs)
    message = str(excinfo.value)
    for name in names:
        assert name in message


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown LRTuningConfig option.*'learning_rate'") as excinfo:
        LRTuningConfig.from_kwargs(learning_rate=0.1)
    assert "initial_lr" in str(excinfo.value)
    with pytest.raises(ValueError, match="bogus"):
        LRTuningConfig().replace(bogus=1)


def test_lists_from_json_or_yaml_become_tuples() -> None:
    cfg = LRTuningConfig(lr_multipliers=[0.5, 2.0], feature_layers=[0, -1])
    assert cfg.lr_multipliers == (0.5, 2.0) and cfg.feature_layers == (0, -1)
    hash(cfg)


def test_budget_arithmetic() -> None:
    cfg = LRTuningConfig()  # CIFAR-10: 45,000 training images after the split, batch 128
    assert cfg.train_count == 45_000 and cfg.batches_per_epoch == 351
    assert cfg.total_batches == 3510 and cfg.num_steps == 100
    bounds = cfg.batch_boundaries()
    assert len(bounds) == 100 and bounds[-1] == 3510
    assert all(34 <= b - a <= 36 for a, b in zip([0, *bounds[:-1]], bounds, strict=True))
    paper = PRESETS["LRTuning-Paper-v0"]
    assert paper.num_steps == paper.total_batches == 3510
    short = LRTuningConfig(batches_per_step=1000)
    assert short.batch_boundaries() == [1000, 2000, 3000, 3510]
    subset = LRTuningConfig(train_subset_size=5000)
    assert subset.train_count == 5000 and subset.batches_per_epoch == 39


def test_import_lrgym_does_not_import_torch() -> None:
    code = "import sys, lrgym, lrgym.presets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_preset_is_a_valid_config() -> None:
    for name, cfg in PRESETS.items():
        assert isinstance(cfg, LRTuningConfig), name
        assert set(cfg.to_dict()) == set(FIELD_NAMES)


# --- sizes it cannot hold and values of the wrong type (no TypeError, no OverflowError) -------


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"epochs": 1e7}, ["epochs=10000000.0", "at most 1e+06"]),
        ({"epochs": 1e9}, ["epochs", "at most"]),
        ({"max_log_multiplier": 1e6}, ["max_log_multiplier", "at most 100"]),
        ({"dropout": "0.1"}, ["dropout", "'0.1'", "[0, 1)"]),
        ({"paper_decay": "x"}, ["paper_decay", "'x'", "(0, 1)"]),
        ({"restart_lr_decay": None}, ["restart_lr_decay", "(0, 1]"]),
        ({"dataset": "synthetic", "synthetic_train_size": 10**9}, ["synthetic_train_size", "pixel"]),
        ({"dataset": "synthetic", "synthetic_image_size": 10**5}, ["synthetic_train_size", "pixel"]),
        ({"dataset": "synthetic", "synthetic_classes": 10**6}, ["synthetic_classes", "at most 1000"]),
        ({"histogram_bins": 10**6}, ["histogram_bins", "at most 256"]),
        ({"depth": 6 * 10**5 + 4}, ["depth", "at most 1000"]),
        ({"steps_per_epoch": 10**400}, ["steps_per_epoch", "at most"]),
        ({"split_seed": 2**64}, ["split_seed", "at most"]),
        ({"momentum": 1.0}, ["momentum", "[0, 1)"]),
        ({"restart_lr_every_epochs": 1e-300}, ["restart_lr_every_epochs", ">= 1e-06"]),
        ({"divergence_factor": "2"}, ["divergence_factor", "> 1"]),
        ({"lr_multipliers": (True, 2.0)}, ["lr_multipliers", "positive"]),
        ({"initial_lr": 0.1 + 0j}, ["initial_lr", "number"]),
        ({"weight_decay": True}, ["weight_decay", "number"]),
    ],
)
def test_sizes_it_cannot_hold_and_wrong_types_are_refused(kwargs: dict, names: list[str]) -> None:
    with pytest.raises(ValueError) as excinfo:
        LRTuningConfig(**kwargs)
    for name in names:
        assert name in str(excinfo.value)


NUMERIC_FIELDS = [
    f.name
    for f in dataclasses.fields(LRTuningConfig)
    if type(f.default) in (int, float) or f.name in ("train_subset_size", "batches_per_step")
]


@pytest.mark.parametrize("name", NUMERIC_FIELDS)
@pytest.mark.parametrize("bad", ["1", 1j, [1]])
def test_every_numeric_field_checks_its_type_before_comparing(name: str, bad) -> None:
    with pytest.raises(ValueError, match=f"LRTuningConfig.{name}=.* is invalid: must be"):
        LRTuningConfig(**{name: bad})


def test_numeric_fields_are_found() -> None:
    floats = {"epochs", "dropout", "paper_decay", "restart_lr_decay", "divergence_factor", "momentum"}
    ints = {"histogram_bins", "synthetic_train_size", "depth", "split_seed", "batches_per_step"}
    assert floats | ints <= set(NUMERIC_FIELDS)


def test_the_largest_allowed_values_are_cheap_and_do_not_overflow() -> None:
    cfg = LRTuningConfig(epochs=MAX_EPOCHS, max_log_multiplier=MAX_LOG_MULTIPLIER, action_mode="continuous")
    assert cfg.num_steps == 10**7 and cfg.batch_boundary(cfg.num_steps - 1) == cfg.total_batches
    assert cfg.batch_boundary(0) == round(cfg.total_batches / cfg.num_steps)
    assert next_lr(cfg, 0.1, np.array([1.0], dtype=np.float32), 0.0) == cfg.lr_max
    assert next_lr(cfg, 0.1, np.array([-1.0], dtype=np.float32), 0.0) == cfg.lr_min
    numpy_scalars = LRTuningConfig(initial_lr=np.float32(0.05), dropout=np.float64(0.1))
    assert numpy_scalars.initial_lr == np.float32(0.05)
