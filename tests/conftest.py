"""Shared fixtures: small, fast configurations of the training core."""

from __future__ import annotations

import os

import pytest
import torch

from lrgym.config import LRTuningConfig
from lrgym.presets import TINY

# One intra-op thread for the test session and the worker processes it starts: the tests run
# many tiny operations, and two threads per process oversubscribe the cores as soon as workers
# (vector envs, Ray) run beside the main process.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture
def tiny_cfg() -> LRTuningConfig:
    """The Tiny preset on the CPU (seconds per episode on two cores)."""
    return TINY.replace(device="cpu")


@pytest.fixture
def micro_cfg() -> LRTuningConfig:
    """A few hundred synthetic images: for tests that only need the mechanics, not learning."""
    return TINY.replace(
        device="cpu",
        synthetic_train_size=400,
        synthetic_test_size=100,
        val_size=100,
        val_subset_size=50,
        batch_size=32,
        eval_batch_size=100,
    )


# `LRTuning-Tiny-v0` with a smaller dataset and batch: tens of milliseconds per step, ten steps
# per episode. For agent tests that need hundreds of steps of the real environment.
FAST_TINY_KWARGS = {
    "device": "cpu",
    "synthetic_train_size": 1500,
    "synthetic_test_size": 300,
    "val_size": 300,
    "val_subset_size": 100,
    "batch_size": 32,
    "eval_batch_size": 300,
    "epochs": 1.0,
    "steps_per_epoch": 10,
}
