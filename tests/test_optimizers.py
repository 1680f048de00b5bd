"""The tuning-free optimisers: each trains for real, evaluates where its package says, checkpoints."""

from __future__ import annotations

import io
import math
import sys

import pytest
import torch

from lrgym.batches import normalise
from lrgym.config import OPTIMIZER_DEFAULT_LR, TUNING_FREE_OPTIMIZERS, LRTuningConfig
from lrgym.optimizers import recalibrate_batchnorm
from lrgym.training import Trainer

PACKAGES = {"schedulefree_sgd": "schedulefree", "prodigy": "prodigyopt", "dadapt_sgd": "dadaptation"}
# D-Adaptation grows its step size from d0 = 1e-6 a few times per epoch of the micro set: it
# takes about ten epochs to reach a useful one (measured: 2.36 -> 1.72 after 12).
EPOCHS = {"schedulefree_sgd": 4, "prodigy": 4, "dadapt_sgd": 12}


def _cfg(micro_cfg: LRTuningConfig, optimizer: str) -> LRTuningConfig:
    pytest.importorskip(PACKAGES[optimizer])
    return micro_cfg.replace(optimizer=optimizer, initial_lr=OPTIMIZER_DEFAULT_LR[optimizer], epochs=12.0)


@pytest.mark.parametrize("optimizer", TUNING_FREE_OPTIMIZERS)
def test_each_tuning_free_optimizer_trains_and_its_loss_goes_down(micro_cfg, optimizer: str) -> None:
    cfg = _cfg(micro_cfg, optimizer)
    trainer = Trainer(cfg, 0)
    assert type(trainer.optimizer).__module__.startswith(PACKAGES[optimizer])
    before = trainer.evaluate("val")
    losses = [trainer.train(9).loss_mean for _ in range(EPOCHS[optimizer])]  # epochs of the micro set
    after = trainer.evaluate("val")
    print(f"{optimizer}: training loss per epoch {losses}, val loss {before.loss:.3f} -> {after.loss:.3f}")
    # The training loss is what each package minimises; early validation losses are noisy (a
    # step size that has just grown moves the weights away from BatchNorm's running statistics).
    assert losses[-1] < 0.8 * losses[0] and math.isfinite(after.loss)
    assert trainer.lr == cfg.initial_lr  # the LR the agent sets is the package's multiplier


def test_schedule_free_evaluates_the_average_with_batchnorm_statistics_there(micro_cfg) -> None:
    cfg = _cfg(micro_cfg, "schedulefree_sgd")
    trainer = Trainer(cfg, 0)
    assert trainer.optimizer.param_groups[0]["warmup_steps"] == round(0.05 * cfg.total_batches)
    trainer.train(12)
    bn = trainer.model.bn  # the last BatchNorm layer
    at_y = bn.running_mean.clone()  # collected while training at y
    y = [p.detach().clone() for p in trainer.params]
    trainer.evaluate("subset")
    # Back to training at y (up to rounding in the package's y -> x -> y interpolation).
    assert trainer.optimizer.param_groups[0]["train_mode"] and trainer.model.training
    for a, b in zip(y, trainer.params, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-6)
    # The statistics left behind are those of x over the fixed training images, not those of y.
    at_x = bn.running_mean.clone()
    assert not torch.allclose(at_x, at_y, rtol=1e-3, atol=1e-4)
    trainer.optimizer.eval()
    images, batch = trainer.data.train_images, cfg.batch_size
    count = min(cfg.schedulefree_bn_images, len(images)) // batch
    recalibrate_batchnorm(
        trainer.model, (normalise(images[i * batch : (i + 1) * batch], trainer.data) for i in range(count))
    )
    trainer.optimizer.train()
    torch.testing.assert_close(bn.running_mean, at_x, rtol=1e-4, atol=1e-5)


def _run(trainer: Trainer, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        stats = trainer.train(4)
        out += [stats.loss_mean, stats.grad_norm, stats.update_ratio, trainer.evaluate("subset").loss]
    return out


@pytest.mark.parametrize("optimizer", TUNING_FREE_OPTIMIZERS)
def test_tuning_free_checkpoints_continue_bit_identically(micro_cfg, optimizer: str) -> None:
    cfg = _cfg(micro_cfg, optimizer)
    original = Trainer(cfg, 3)
    _run(original, 2)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    expected = _run(original, 2)
    restored = Trainer(cfg, 99)  # another seed: nothing may be left to it
    restored.load_state_dict(state)
    assert _run(restored, 2) == expected


@pytest.mark.parametrize("optimizer", TUNING_FREE_OPTIMIZERS)
def test_a_missing_package_names_the_extra_to_install(micro_cfg, monkeypatch, optimizer: str) -> None:
    monkeypatch.setitem(sys.modules, PACKAGES[optimizer], None)  # makes `import` fail
    cfg = micro_cfg.replace(optimizer=optimizer, initial_lr=1.0)
    with pytest.raises(
        ImportError, match=rf"needs {PACKAGES[optimizer]}: pip install 'lrgym\[tuning-free\]'"
    ):
        Trainer(cfg, 0)


def test_unknown_or_misconfigured_optimizers_raise_value_error() -> None:
    with pytest.raises(
        ValueError, match="optimizer='lion'.*'sgd', 'adam', 'schedulefree_sgd', 'prodigy', 'dadapt_sgd'"
    ):
        LRTuningConfig(optimizer="lion")
    with pytest.raises(ValueError, match="momentum=0.0.*Schedule-Free SGD"):
        LRTuningConfig(optimizer="schedulefree_sgd", initial_lr=1.0, momentum=0.0)
    with pytest.raises(ValueError, match="schedulefree_warmup=1.0"):
        LRTuningConfig(schedulefree_warmup=1.0)
