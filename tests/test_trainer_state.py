"""Trainer checkpoints: a run saved after k calls and restored continues bit-identically (CPU).

Population Based Training copies a member's training run into another member mid-way, so the
saved state must hold everything the run depends on (weights, optimiser momentum, data order,
augmentation and dropout generators, the validation subset), with nothing left to the seed.
"""

from __future__ import annotations

import io

import pytest
import torch

from lrgym.config import LRTuningConfig
from lrgym.training import Trainer

SEED = 3
# (learning rate, mini-batches) per call. The micro config has 9 mini-batches per epoch: the
# save after two calls falls mid-epoch and the calls after it cross two epoch boundaries.
CALLS = ((0.1, 3), (0.3, 2), (0.05, 4), (0.2, 5), (0.1, 6))
SAVE_AFTER = 2


@pytest.fixture
def cfg(micro_cfg: LRTuningConfig) -> LRTuningConfig:
    return micro_cfg.replace(dropout=0.2)  # augmentation is on: both private generators matter


def _call(trainer: Trainer, lr: float, batches: int) -> list[float]:
    """One decision's worth of work and every number it produces."""
    trainer.set_lr(lr)
    stats = trainer.train(batches)
    subset, val = trainer.evaluate("subset"), trainer.evaluate("val")
    return [
        stats.loss_mean,
        stats.loss_first,
        stats.loss_last,
        stats.loss_max,
        stats.grad_norm,
        stats.update_ratio,
        float(stats.diverged),
        subset.loss,
        subset.accuracy,
        val.loss,
        val.accuracy,
    ]


def _continue(trainer: Trainer, calls: tuple[tuple[float, int], ...]) -> list[list[float]]:
    return [_call(trainer, lr, n) for lr, n in calls]


def _round_trip(state: dict) -> dict:
    """Through torch.save and torch.load (weights-only), as a checkpoint on disk would go."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _params(trainer: Trainer) -> list[torch.Tensor]:
    return [t.detach().clone() for t in trainer.model.state_dict().values()]


def test_restored_run_continues_bit_identically(cfg: LRTuningConfig) -> None:
    uninterrupted = Trainer(cfg, SEED)
    expected = _continue(uninterrupted, CALLS)

    first = Trainer(cfg, SEED)
    head = _continue(first, CALLS[:SAVE_AFTER])
    assert head == expected[:SAVE_AFTER]
    state = _round_trip(first.state_dict())
    del first

    restored = Trainer(cfg, SEED)
    restored.load_state_dict(state)
    assert restored.batches_done == sum(n for _, n in CALLS[:SAVE_AFTER])
    assert restored.lr == CALLS[SAVE_AFTER - 1][0]
    assert restored.initial_loss == expected[0][1]  # the divergence test's reference: the first loss
    tail = _continue(restored, CALLS[SAVE_AFTER:])
    assert tail == expected[SAVE_AFTER:]  # exact float equality on every number
    for a, b in zip(_params(restored), _params(uninterrupted), strict=True):
        assert torch.equal(a, b)
    assert restored.evaluate("test") == uninterrupted.evaluate("test")


def test_nothing_is_left_to_the_seed(cfg: LRTuningConfig) -> None:
    """A state restored into a trainer built from another seed continues the saved run."""
    source = Trainer(cfg, SEED)
    _continue(source, CALLS[:SAVE_AFTER])
    state = source.state_dict()
    expected = _continue(source, CALLS[SAVE_AFTER:])

    other = Trainer(cfg, SEED + 100)
    assert _continue(Trainer(cfg, SEED + 100), CALLS[SAVE_AFTER:]) != expected  # seeds do matter
    other.load_state_dict(state)
    assert _continue(other, CALLS[SAVE_AFTER:]) == expected


def test_state_is_a_snapshot_and_can_seed_several_trainers(cfg: LRTuningConfig) -> None:
    source = Trainer(cfg, SEED)
    _continue(source, CALLS[:SAVE_AFTER])
    state = source.state_dict()
    frozen = _round_trip(state)
    _continue(source, CALLS[SAVE_AFTER:])  # training on must not reach into the saved dict
    for key in ("model", "optimizer"):
        saved, copy = state[key], frozen[key]
        if key == "optimizer":
            saved, copy = saved["state"], copy["state"]
            assert saved  # momentum buffers exist after training
            saved = {k: v["momentum_buffer"] for k, v in saved.items()}
            copy = {k: v["momentum_buffer"] for k, v in copy.items()}
        for name in saved:
            assert torch.equal(saved[name], copy[name])
    assert state["sampler"]["cursor"] == frozen["sampler"]["cursor"]

    twins = [Trainer(cfg, SEED), Trainer(cfg, SEED)]
    for twin in twins:
        twin.load_state_dict(state)
    first = _continue(twins[0], CALLS[SAVE_AFTER:])
    second = _continue(twins[1], CALLS[SAVE_AFTER:])  # would differ if the twins shared buffers
    assert first == second


def test_adam_state_round_trips(cfg: LRTuningConfig) -> None:
    adam = cfg.replace(optimizer="adam", initial_lr=1e-3, lr_max=0.1)
    calls = ((1e-3, 3), (3e-3, 4), (5e-4, 5))
    expected = _continue(Trainer(adam, SEED), calls)
    first = Trainer(adam, SEED)
    _continue(first, calls[:1])
    restored = Trainer(adam, SEED)
    restored.load_state_dict(_round_trip(first.state_dict()))
    assert _continue(restored, calls[1:]) == expected[1:]


def test_mismatched_state_is_refused(cfg: LRTuningConfig) -> None:
    state = Trainer(cfg, SEED).state_dict()
    with pytest.raises(ValueError, match=r"width=1 \(this trainer: 2\)"):
        Trainer(cfg.replace(width=2), SEED).load_state_dict(state)
    with pytest.raises(ValueError, match="format"):
        Trainer(cfg, SEED).load_state_dict({"model": state["model"]})
    Trainer(cfg.replace(data_root="/elsewhere"), SEED).load_state_dict(state)  # placement only
