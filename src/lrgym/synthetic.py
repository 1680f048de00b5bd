"""A synthetic image-classification dataset generated in-process from a seed.

Each class is a random mixture of a shared bank of smooth patterns, so classes overlap and a
convolutional network has to learn which mixtures tell them apart. Every image is its class
mixture with per-image jitter of the mixture weights, a random translation, a random contrast
and pixel noise, quantised to uint8 like a real image file. It is learnable by a small WRN in a
couple of epochs, but only with a sensible learning rate: too small and it barely moves, too
large and training diverges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PATTERNS = 24  # size of the shared pattern bank
PATTERN_GRID = 4  # patterns are random fields on this grid, upsampled: smooth at image scale
PATTERNS_PER_CLASS = 6  # non-zero mixture weights of each class
WEIGHT_JITTER = 0.3  # per-image std of every mixture weight (classes overlap through it)
MAX_SHIFT = 2  # pixels of random translation
# The std of the additive pixel noise (patterns have unit std) is the config's `synthetic_noise`.


def _pattern_bank(channels: int, size: int, generator: torch.Generator) -> torch.Tensor:
    coarse = torch.randn(PATTERNS, channels, PATTERN_GRID, PATTERN_GRID, generator=generator)
    bank = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return bank / bank.flatten(1).std(dim=1).view(-1, 1, 1, 1)


def _class_mixtures(classes: int, generator: torch.Generator) -> torch.Tensor:
    weights = torch.zeros(classes, PATTERNS)
    for c in range(classes):
        chosen = torch.randperm(PATTERNS, generator=generator)[:PATTERNS_PER_CLASS]
        weights[c, chosen] = torch.randn(PATTERNS_PER_CLASS, generator=generator).sign()
    return weights


def _images(
    labels: torch.Tensor,
    bank: torch.Tensor,
    mixtures: torch.Tensor,
    generator: torch.Generator,
    noise: float,
) -> torch.Tensor:
    n = labels.numel()
    weights = mixtures[labels] + WEIGHT_JITTER * torch.randn(n, PATTERNS, generator=generator)
    x = torch.einsum("np,pchw->nchw", weights, bank)
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (n, 2), generator=generator)
    x = torch.stack(
        [torch.roll(img, (int(dy), int(dx)), dims=(1, 2)) for img, (dy, dx) in zip(x, shifts, strict=True)]
    )
    contrast = torch.empty(n, 1, 1, 1).uniform_(0.6, 1.4, generator=generator)
    return contrast * x + noise * torch.randn(x.shape, generator=generator)


def _quantise(x: torch.Tensor, scale: float) -> torch.Tensor:
    """To uint8 like an image file: +-3 `scale` spans the range."""
    return ((x / (6 * scale) + 0.5) * 255).round().clamp(0, 255).to(torch.uint8)


def generate(
    seed: int,
    train_size: int,
    test_size: int,
    image_size: int,
    channels: int,
    classes: int,
    noise: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, test images, test labels); images uint8 NCHW, labels int64.

    `noise` is the std of the additive pixel noise, relative to the patterns' unit std.
    """
    generator = torch.Generator().manual_seed(seed)
    bank = _pattern_bank(channels, image_size, generator)
    mixtures = _class_mixtures(classes, generator)
    train_labels = torch.randint(0, classes, (train_size,), generator=generator)
    test_labels = torch.randint(0, classes, (test_size,), generator=generator)
    train = _images(train_labels, bank, mixtures, generator, noise)
    test = _images(test_labels, bank, mixtures, generator, noise)
    scale = float(train.std())  # one scale for both splits, as a camera would have
    return _quantise(train, scale), train_labels, _quantise(test, scale), test_labels
