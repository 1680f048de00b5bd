"""The config rejects bad values at construction, naming the field and what is allowed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lrgym.config import FIELD_NAMES, LRTuningConfig
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
