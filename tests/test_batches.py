"""Device-resident data: disjoint splits, augmentation as a valid crop plus flip, normalisation,
and a sampler that visits every training image once per epoch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lrgym.batches import CROP_PADDING, BatchSampler, augment, device_split, normalise
from lrgym.config import LRTuningConfig
from lrgym.datasets import load_dataset


def _rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(img.flatten().tolist()) for img in images}


def test_train_validation_and_test_splits_are_disjoint(micro_cfg: LRTuningConfig) -> None:
    split = device_split(micro_cfg, torch.device("cpu"))
    raw = load_dataset(micro_cfg)
    assert len(split.train_images) == micro_cfg.train_count and len(split.val_images) == micro_cfg.val_size
    train, val, test = _rows(split.train_images), _rows(split.val_images), _rows(split.test_images)
    assert not train & val and not train & test and not val & test
    # together, train and validation are the dataset's training images, each used once
    assert len(train) + len(val) == len(raw.train_images) and train | val == _rows(raw.train_images)
    other = device_split(micro_cfg.replace(split_seed=1), torch.device("cpu"))
    assert _rows(other.val_images) != val  # the split follows split_seed


def test_augmentation_is_a_four_pixel_crop_of_the_padded_image_possibly_flipped() -> None:
    images = torch.randint(1, 256, (64, 3, 12, 12), dtype=torch.uint8)  # no zero pixels: padding shows
    out = augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    pad = CROP_PADDING
    padded = F.pad(images, (pad,) * 4)
    offsets, flips = set(), 0
    for img, aug in zip(padded, out, strict=True):
        crops = {
            (dy, dx): img[:, dy : dy + 12, dx : dx + 12]
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
        }
        matches = [
            (dy, dx, flip)
            for (dy, dx), crop in crops.items()
            for flip in (False, True)
            if torch.equal(crop.flip(-1) if flip else crop, aug)
        ]
        assert matches, "an augmented image is not a crop of the padded original"
        dy, dx, flip = matches[0]
        offsets.add((dy, dx))
        flips += flip
    assert len(offsets) > 10 and 10 < flips < 54  # crops and flips really vary
    again = augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # seeded


def test_normalisation_standardises_with_the_training_statistics(micro_cfg: LRTuningConfig) -> None:
    split = device_split(micro_cfg, torch.device("cpu"))
    x = normalise(split.train_images, split)
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    per_channel = x.transpose(0, 1).flatten(1)
    torch.testing.assert_close(per_channel.mean(dim=1), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(per_channel.std(dim=1), torch.ones(3), atol=1e-3, rtol=0)


def test_sampler_covers_every_index_once_per_epoch() -> None:
    size, batch = 103, 10  # the last partial batch (3 images) is dropped each epoch
    sampler = BatchSampler(size, batch, torch.Generator().manual_seed(0))
    epochs = []
    for _ in range(3):
        seen = torch.cat([sampler.next() for _ in range(size // batch)])
        assert len(seen) == len(set(seen.tolist())) == size // batch * batch  # no index twice
        assert seen.min() >= 0 and seen.max() < size
        epochs.append(seen)
    assert not torch.equal(epochs[0], epochs[1])  # each epoch reshuffles
    # over the epochs every index is drawn (the dropped tail differs from epoch to epoch)
    assert set(torch.cat(epochs).tolist()) == set(range(size))
