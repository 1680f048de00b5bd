"""Device-resident data: the train/validation/test split held on the training device as uint8,
with batched augmentation and normalisation. No DataLoader, no worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lrgym.config import LRTuningConfig
from lrgym.datasets import dataset_key, load_dataset

CROP_PADDING = 4  # pixels of zero padding before the random crop (as for CIFAR WRNs)


@dataclass(frozen=True)
class DeviceSplit:
    """A dataset split into train / validation / test, all uint8 NCHW on one device."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: torch.Tensor  # per channel, [1, C, 1, 1], of the training split, in [0, 1] units
    std: torch.Tensor


_SPLITS: dict[tuple, DeviceSplit] = {}


def device_split(cfg: LRTuningConfig, device: torch.device) -> DeviceSplit:
    """The configured split on `device`; made once per process for each (data, split, device)."""
    key = (dataset_key(cfg), cfg.split_seed, cfg.val_size, cfg.train_subset_size, str(device))
    if key not in _SPLITS:
        _SPLITS[key] = _make_split(cfg, device)
    return _SPLITS[key]


def _make_split(cfg: LRTuningConfig, device: torch.device) -> DeviceSplit:
    raw = load_dataset(cfg)
    order = torch.randperm(len(raw.train_images), generator=torch.Generator().manual_seed(cfg.split_seed))
    val_idx = order[: cfg.val_size]
    train_idx = order[cfg.val_size :][: cfg.train_count]
    train_images = raw.train_images[train_idx]
    pixels = train_images.transpose(0, 1).flatten(1).float() / 255.0
    mean, std = pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3)
    return DeviceSplit(
        train_images=train_images.to(device),
        train_labels=raw.train_labels[train_idx].to(device),
        val_images=raw.train_images[val_idx].to(device),
        val_labels=raw.train_labels[val_idx].to(device),
        test_images=raw.test_images.to(device),
        test_labels=raw.test_labels.to(device),
        mean=mean.view(1, -1, 1, 1).to(device),
        std=std.view(1, -1, 1, 1).to(device),
    )


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, one gather for the whole batch.

    Returns a uint8 tensor of the input's shape whose memory is channels-last.
    """
    n, _, h, w = images.shape
    device = images.device
    padded = F.pad(images, (CROP_PADDING,) * 4).permute(0, 2, 3, 1)  # N, H+2p, W+2p, C
    offsets = torch.randint(0, 2 * CROP_PADDING + 1, (2, n, 1), generator=generator, device=device)
    flip = torch.rand(n, 1, generator=generator, device=device) < 0.5
    rows = offsets[0] + torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    cols = offsets[1] + torch.where(flip, w - 1 - cols, cols)
    batch = torch.arange(n, device=device).view(n, 1, 1)
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def normalise(images: torch.Tensor, split: DeviceSplit) -> torch.Tensor:
    """uint8 images to channels-last float32, standardised with the training split's statistics."""
    x = images.contiguous(memory_format=torch.channels_last).float()
    return (x / 255.0 - split.mean) / split.std


class BatchSampler:
    """Shuffled epochs of training indices, drawn from a private generator (last partial batch dropped)."""

    def __init__(self, size: int, batch_size: int, generator: torch.Generator) -> None:
        self.size = size
        self.batch_size = batch_size
        self.generator = generator
        self._order = torch.empty(0, dtype=torch.long, device=generator.device)
        self._cursor = 0

    def next(self) -> torch.Tensor:
        if self._cursor + self.batch_size > len(self._order):
            self._order = torch.randperm(self.size, generator=self.generator, device=self.generator.device)
            self._cursor = 0
        batch = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += self.batch_size
        return batch

    def state_dict(self) -> dict:
        """The epoch order, the position in it and the generator (CPU copies)."""
        return {
            "order": self._order.detach().to("cpu", copy=True),
            "cursor": self._cursor,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self._order = state["order"].to(self.generator.device, copy=True)
        self._cursor = int(state["cursor"])
        self.generator.set_state(state["generator"].clone())
