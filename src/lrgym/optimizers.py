"""The training run's optimiser: SGD (Nesterov) and Adam from PyTorch, and the tuning-free ones
from their own packages, each set up as its package documents.

- `schedulefree_sgd`: `schedulefree.SGDScheduleFree` (Defazio et al., 2024) with the package's
  linear warm-up (`warmup_steps` = `schedulefree_warmup` x the run's mini-batches) and its
  momentum (interpolation) `momentum`. It trains at the interpolated point y and must be
  evaluated at the averaged point x: `optimizer.train()` / `optimizer.eval()` switch between the
  two, and since x is not where BatchNorm collected its statistics, they are re-estimated at x
  before every evaluation (the package's advice for BatchNorm models; see
  `recalibrate_batchnorm`). The package suggests 10-50x the classical SGD rate.
- `prodigy`: `prodigyopt.Prodigy` at LR 1.0 (its documented default; the LR multiplies its own
  estimate of the step size), Adam betas (`momentum`, 0.999), decoupled weight decay (its default).
- `dadapt_sgd`: `dadaptation.DAdaptSGD` at LR 1.0 (likewise a multiplier of the D-adapted step
  size), with `momentum` and L2 weight decay.

The three come with the optional extra `tuning-free` (`pip install 'lrgym[tuning-free]'`); without
it, asking for one raises `ImportError` naming the extra.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator

import torch
from torch import nn

from lrgym.config import LRTuningConfig
from lrgym.integrations.optional import require
from lrgym.models import SeededDropout

TUNING_FREE_EXTRA = "tuning-free"
SCHEDULE_FREE = ("schedulefree_sgd",)  # optimisers with a train/eval switch


def make_optimizer(cfg: LRTuningConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The configured optimiser over `params`, at `cfg.initial_lr`, ready to train."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.initial_lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=cfg.initial_lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "schedulefree_sgd":
        schedulefree = require("schedulefree", TUNING_FREE_EXTRA)
        optimizer = schedulefree.SGDScheduleFree(
            params,
            lr=cfg.initial_lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            warmup_steps=round(cfg.schedulefree_warmup * cfg.total_batches),
        )
        optimizer.train()  # it refuses to step in eval mode, which is where it starts
        return optimizer
    if cfg.optimizer == "prodigy":
        prodigyopt = require("prodigyopt", TUNING_FREE_EXTRA)
        # Prodigy prints a line about decoupled weight decay at every construction: once per episode.
        with contextlib.redirect_stdout(io.StringIO()):
            return prodigyopt.Prodigy(
                params, lr=cfg.initial_lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay
            )
    if cfg.optimizer == "dadapt_sgd":
        dadaptation = require("dadaptation", TUNING_FREE_EXTRA)
        return dadaptation.DAdaptSGD(
            params, lr=cfg.initial_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    raise ValueError(f"optimizer={cfg.optimizer!r} has no builder")  # the config admits no other names


@contextlib.contextmanager
def evaluation_weights(
    cfg: LRTuningConfig,
    optimizer: torch.optim.Optimizer,
    recalibrate: Callable[[], None],
) -> Iterator[None]:
    """Puts the weights an optimiser wants evaluated into the model for the duration.

    For Schedule-Free: `optimizer.eval()` (the averaged point x), then `recalibrate()` (the
    BatchNorm statistics at x), and `optimizer.train()` afterwards. Other optimisers evaluate
    the weights they train.
    """
    if cfg.optimizer not in SCHEDULE_FREE:
        yield
        return
    optimizer.eval()
    try:
        recalibrate()
        yield
    finally:
        optimizer.train()


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterator[torch.Tensor]) -> None:
    """Re-estimates every BatchNorm layer's running statistics as the plain average over `batches`.

    Forward passes in training mode under the current weights, with the running statistics reset
    and averaged cumulatively (momentum None), so that they describe these weights alone. Dropout
    stays off, as it is when the model is evaluated (and no dropout generator is drawn from).
    Each layer's momentum is restored afterwards and the model is left in evaluation mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for m in model.modules():
        if isinstance(m, (SeededDropout, nn.modules.dropout._DropoutNd)):
            m.eval()
    try:
        for x in batches:
            model(x)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()
