"""The training core: one seeded training run that can be advanced a few mini-batches at a time.

`Trainer` knows nothing about Gymnasium. An environment step is `set_lr`, `train(k)` and
`evaluate("subset")`; each of those calls synchronises with the device at most once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lrgym.batches import BatchSampler, augment, device_split, normalise
from lrgym.config import LRTuningConfig
from lrgym.devices import resolve_device
from lrgym.models import SeededDropout, build_model
from lrgym.optimizers import evaluation_weights, make_optimizer, recalibrate_batchnorm

EVAL_SPLITS = ("subset", "val", "test")
DEFAULT_CONFIG = LRTuningConfig().to_dict()


@dataclass(frozen=True)
class TrainStats:
    """What `Trainer.train` measured over its mini-batches."""

    batches: int
    loss_mean: float  # mean training loss over the mini-batches of this call
    loss_first: float
    loss_last: float
    loss_max: float
    grad_norm: float  # mean over mini-batches of the global gradient norm
    update_ratio: float  # ||w_after - w_before|| / ||w_before|| over the call
    diverged: bool  # non-finite loss or parameter, or loss > divergence_factor x the first loss


@dataclass(frozen=True)
class EvalStats:
    loss: float  # mean cross-entropy
    accuracy: float  # fraction correct, in [0, 1]


def _total_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


class Trainer:
    """A fresh model, optimiser and data order, all drawn from `seed`.

    Args:
        cfg: the run's configuration (dataset, model, optimiser, batch size, device...).
        seed: seeds weights, data order, augmentation, dropout and the validation subset through
            private generators; the global RNGs are neither used nor changed.
    """

    def __init__(self, cfg: LRTuningConfig, seed: int) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.data = device_split(cfg, self.device)
        init_seed, order_seed, augment_seed, subset_seed = np.random.SeedSequence(seed).generate_state(4)
        self._augment_gen = torch.Generator(self.device).manual_seed(int(augment_seed))
        self.model = build_model(cfg, self.device, torch.Generator().manual_seed(int(init_seed)))
        for module in self.model.modules():
            if isinstance(module, SeededDropout):
                module.generator = self._augment_gen
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(cfg, self.params)
        self._forward = torch.compile(self.model) if cfg.compile else self.model
        self._sampler = BatchSampler(
            len(self.data.train_images),
            cfg.batch_size,
            torch.Generator(self.device).manual_seed(int(order_seed)),
        )
        subset = torch.randperm(
            len(self.data.val_images), generator=torch.Generator().manual_seed(int(subset_seed))
        )
        subset = subset[: cfg.val_subset_size].to(self.device)
        self._subset = (self.data.val_images[subset], self.data.val_labels[subset])
        self.batches_done = 0
        self.initial_loss: float | None = None  # loss of the run's first mini-batch
        self._on_cuda = self.device.type == "cuda"

    @contextlib.contextmanager
    def _device_context(self) -> Iterator[None]:
        """On CUDA: bf16 autocast and cuDNN autotuning, the process-wide cuDNN setting restored
        afterwards (a trainer changes no global state of its own accord)."""
        if not self._on_cuda:
            yield
            return
        autotune = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        finally:
            torch.backends.cudnn.benchmark = autotune

    # --- learning rate ---------------------------------------------------------------------
    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # --- momentum and weight decay (the `controls` beyond the LR) --------------------------
    @property
    def momentum(self) -> float:
        """SGD's momentum, or Adam's beta1 (what the optimiser will use at its next step)."""
        group = self.optimizer.param_groups[0]
        return float(group["betas"][0] if "betas" in group else group["momentum"])

    def set_momentum(self, momentum: float) -> None:
        """Sets SGD's momentum (Nesterov where the config asks for it) or Adam's beta1.

        At momentum 0 SGD keeps no velocity: its buffers are dropped, so that a later non-zero
        momentum starts from the current gradient rather than from a velocity left over from
        before (PyTorch's SGD would otherwise resume it).
        """
        if self.cfg.optimizer not in ("sgd", "adam"):
            raise ValueError(
                f"momentum control applies to 'sgd' and 'adam', not optimizer={self.cfg.optimizer!r}"
            )
        for group in self.optimizer.param_groups:
            if "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
                continue
            group["momentum"] = momentum
            group["nesterov"] = self.cfg.nesterov and momentum > 0
            if momentum == 0:
                for p in group["params"]:
                    self.optimizer.state.get(p, {}).pop("momentum_buffer", None)

    @property
    def weight_decay(self) -> float:
        return float(self.optimizer.param_groups[0]["weight_decay"])

    def set_weight_decay(self, weight_decay: float) -> None:
        for group in self.optimizer.param_groups:
            group["weight_decay"] = weight_decay

    @property
    def epoch(self) -> float:
        """Passes over the training split so far."""
        return self.batches_done / self.cfg.batches_per_epoch

    # --- training --------------------------------------------------------------------------
    def train(self, n_batches: int) -> TrainStats:
        """Trains `n_batches` mini-batches at the current learning rate."""
        if n_batches < 1:
            raise ValueError(f"n_batches={n_batches} is invalid: must be >= 1")
        self.model.train()
        before = [p.detach().clone() for p in self.params]
        losses, grad_norms = [], []
        for _ in range(n_batches):
            idx = self._sampler.next()
            images = self.data.train_images[idx]
            if self.cfg.augment:
                images = augment(images, self._augment_gen)
            x = normalise(images, self.data)
            with self._device_context():
                loss = F.cross_entropy(self._forward(x), self.data.train_labels[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norms.append(_total_norm([p.grad for p in self.params if p.grad is not None]))
            self.optimizer.step()
            losses.append(loss.detach().float())
        self.batches_done += n_batches
        after = [p.detach() for p in self.params]
        update = _total_norm(torch._foreach_sub(after, before)) / _total_norm(before)
        params_finite = torch.isfinite(_total_norm(after))
        loss_t = torch.stack(losses)
        summary = torch.stack(
            [
                loss_t.mean(),
                loss_t[0],
                loss_t[-1],
                loss_t.max(),
                torch.stack(grad_norms).mean(),
                update,
                params_finite.float(),
            ]
        ).tolist()  # the one host synchronisation of this call
        loss_mean, first, last, loss_max, grad_norm, ratio, finite = summary
        if self.initial_loss is None:
            self.initial_loss = first
        diverged = (
            not np.isfinite(loss_mean)
            or finite != 1.0
            or loss_max > self.cfg.divergence_factor * self.initial_loss
        )
        return TrainStats(n_batches, loss_mean, first, last, loss_max, grad_norm, ratio, diverged)

    # --- evaluation ------------------------------------------------------------------------
    def _split(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        if which == "subset":
            return self._subset
        if which == "val":
            return self.data.val_images, self.data.val_labels
        if which == "test":
            return self.data.test_images, self.data.test_labels
        raise ValueError(f"which={which!r} is invalid: allowed values are {EVAL_SPLITS}")

    def evaluate(self, which: str = "subset") -> EvalStats:
        """Loss and accuracy on the fixed validation subset, the full validation split or the test set.

        Evaluated at the weights the optimiser wants evaluated: for Schedule-Free its averaged
        point, with BatchNorm statistics re-estimated there (see `lrgym.optimizers`).
        """
        images, labels = self._split(which)
        with evaluation_weights(self.cfg, self.optimizer, self._recalibrate_batchnorm):
            return self._evaluate(images, labels)

    def _recalibrate_batchnorm(self) -> None:
        """BatchNorm statistics from the first `schedulefree_bn_images` training images (a fixed
        set, not augmented, in training-sized batches; no generator is drawn from)."""
        cfg, images = self.cfg, self.data.train_images
        batch = cfg.batch_size
        count = max(1, min(cfg.schedulefree_bn_images, len(images)) // batch)
        batches = (normalise(images[i * batch : (i + 1) * batch], self.data) for i in range(count))
        with self._device_context():
            recalibrate_batchnorm(self.model, batches)

    @torch.inference_mode()
    def _evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> EvalStats:
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)
        for start in range(0, len(images), self.cfg.eval_batch_size):
            x = normalise(images[start : start + self.cfg.eval_batch_size], self.data)
            y = labels[start : start + self.cfg.eval_batch_size]
            with self._device_context():
                logits = self._forward(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
        self.model.train()
        loss, hits = torch.stack([loss_sum, correct]).tolist()
        return EvalStats(loss / len(images), hits / len(images))

    # --- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly, as CPU copies (`torch.save`-able).

        Holds the model (weights and batch-norm statistics), the optimiser (LR and momentum),
        `batches_done`, `initial_loss` (the divergence test's reference), the sampler's epoch
        order, cursor and generator, the augmentation/dropout generator and the validation
        subset itself. Nothing is left to the seed, so a run restored with `load_state_dict`
        continues bit-identically on the CPU (a checkpoint that Population Based Training copies
        from one member to another must not depend on the member's own seed). Tensors are
        copied: training on afterwards does not change the returned dict.

        A Schedule-Free run is saved in its training mode: the weights are the interpolated point
        y, and the optimiser state holds z and the mode flag, from which its `eval()` computes the
        averaged point x. (The package saves in eval mode so that a checkpoint's weights are the
        ones to deploy; this checkpoint continues a run, and saving it changes nothing in the run.)
        """

        return {
            "format": 1,
            "config": self.cfg.to_dict(),
            "model": _map_tensors(self.model.state_dict(), _cpu_copy),
            "optimizer": _map_tensors(self.optimizer.state_dict(), _cpu_copy),
            "batches_done": self.batches_done,
            "initial_loss": self.initial_loss,
            "sampler": self._sampler.state_dict(),
            "augment_generator": self._augment_gen.get_state(),
            "subset": _map_tensors(self._subset, _cpu_copy),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continues the run that `state_dict` saved, in place of this trainer's own.

        The configuration must match this trainer's apart from where it runs (`device`,
        `compile`, `data_root`, `download`), because the data split and the architecture come
        from it. Tensors are copied in, so one saved state can seed several trainers.

        Raises:
            ValueError: `state` is not a trainer state, or it was saved under another config.
        """
        if not isinstance(state, dict) or state.get("format") != 1:
            raise ValueError("not a Trainer.state_dict() of format 1 (missing or unknown 'format')")
        placement = ("device", "compile", "data_root", "download")
        saved, own = state["config"], self.cfg.to_dict()
        # A field that a state saved by an older version lacks had its default value then.
        saved = {**DEFAULT_CONFIG, **saved}
        differ = sorted(k for k in own if k not in placement and saved.get(k) != own[k])
        if differ:
            raise ValueError(
                "this state was saved under another LRTuningConfig: "
                + ", ".join(f"{k}={saved.get(k)!r} (this trainer: {own[k]!r})" for k in differ)
            )

        self.model.load_state_dict(state["model"])  # copies into the existing parameters
        # Copies: the optimiser places its own state (Adam keeps `step` on the CPU).
        self.optimizer.load_state_dict(_map_tensors(state["optimizer"], torch.clone))
        self.batches_done = int(state["batches_done"])
        self.initial_loss = state["initial_loss"]
        self._sampler.load_state_dict(state["sampler"])
        self._augment_gen.set_state(state["augment_generator"].clone())
        images, labels = state["subset"]
        self._subset = (images.to(self.device, copy=True), labels.to(self.device, copy=True))


def _cpu_copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", copy=True)


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """`value` with `fn` applied to every tensor inside its dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(v, fn) for v in value)
    return value
