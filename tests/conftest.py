"""Shared fixtures: small, fast configurations of the training core."""

from __future__ import annotations

import pytest

from lrgym.config import LRTuningConfig
from lrgym.presets import TINY


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
