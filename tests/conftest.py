"""Shared fixtures: small, fast configurations of the training core."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from lrgym.config import LRTuningConfig
from lrgym.presets import TINY

# One intra-op thread for the test session and the worker processes it starts: the tests run
# many tiny operations, and two threads per process oversubscribe the cores as soon as workers
# (vector envs, Ray) run beside the main process.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"


# `make test` runs the suite on two pytest-xdist workers with `--dist loadfile`: each test module
# stays on one worker, so its module-scoped fixtures (toy suite runs, trained agents) are built
# once. (`--dist loadgroup` with `xdist_group` marks did not keep groups together under pytest 9.2
# and pytest-xdist 3.8.) The Ray test modules of one worker share the Ray instance that
# `ray_instance` starts, but for the executor tests that start their own.


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[Any]:
    """Ray, started once per test process (num_cpus=2): call `start_ray(ray)` before each use, as
    a test may shut it down to check how code starts its own."""
    ray = pytest.importorskip("ray")
    try:
        yield ray
    finally:
        if ray.is_initialized():
            ray.shutdown()


def start_ray(ray: Any, module_name: str) -> None:
    """Starts the shared local Ray instance if it is not running (skips where it cannot start),
    and lets the test module's own functions travel to Ray workers by value."""
    if not ray.is_initialized():
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        except Exception as error:  # any failure to start means: no Ray here
            pytest.skip(f"a local Ray instance cannot start on this machine: {error!r}")
    ray.cloudpickle.register_pickle_by_value(sys.modules[module_name])


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
