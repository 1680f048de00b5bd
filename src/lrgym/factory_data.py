"""Reading what a dataset factory returns into lrgym's in-memory form, checking it on the way.

The accepted return values are described in `lrgym.factories`. Every problem raises
`DatasetError` naming the factory, the part of its output and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from lrgym.config import DatasetInfo
from lrgym.datasets import DatasetError, RawDataset
from lrgym.factories import FactoryError, ImageData, factory_name, resolve

EXPECTED = (
    "an lrgym.factories.ImageData, a tuple (train_images, train_labels, test_images, test_labels) "
    "of uint8 N x C x H x W images and integer labels, or a pair (train_dataset, test_dataset) of "
    "torchvision-style datasets"
)


def read_factory(value: str | Callable[..., Any]) -> tuple[RawDataset, DatasetInfo]:
    """Calls the dataset factory `value` and returns its data (on the CPU) and facts.

    Raises:
        DatasetError: the factory cannot be imported, raises, or returns something that is not a
            dataset in one of the documented forms (the message names the factory).
    """
    name = factory_name(value)
    try:
        factory = resolve(value)
    except FactoryError as exc:
        raise DatasetError(f"dataset {exc}") from exc
    try:
        out = factory()
    except Exception as exc:  # a user's code can fail in any way
        raise DatasetError(f"dataset factory {name!r} raised {type(exc).__name__}: {exc}") from exc
    return _convert(out, name)


def _convert(out: Any, name: str) -> tuple[RawDataset, DatasetInfo]:
    classes: Any = None
    if isinstance(out, ImageData):
        arrays = (out.train_images, out.train_labels, out.test_images, out.test_labels)
        classes = out.num_classes
    elif isinstance(out, (tuple, list)) and len(out) == 4:
        arrays = tuple(out)
    elif isinstance(out, (tuple, list)) and len(out) == 2:
        if any(isinstance(part, (torch.Tensor, np.ndarray)) for part in out):
            raise DatasetError(
                f"dataset factory {name!r} returned a pair of arrays; a pair must be (train_dataset, "
                "test_dataset), arrays come as four: (train_images, train_labels, test_images, test_labels)"
            )
        arrays = (*_from_dataset(out[0], name, "train_dataset"), *_from_dataset(out[1], name, "test_dataset"))
        declared = getattr(out[0], "classes", None)
        classes = len(declared) if isinstance(declared, Sequence) and len(declared) >= 2 else None
    else:
        raise DatasetError(f"dataset factory {name!r} returned {_describe(out)}; expected {EXPECTED}")

    train_images = _images(arrays[0], name, "train_images")
    test_images = _images(arrays[2], name, "test_images")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DatasetError(
            f"dataset factory {name!r}: train_images are C x H x W = {tuple(train_images.shape[1:])} "
            f"but test_images {tuple(test_images.shape[1:])}; both splits need the same image shape"
        )
    train_labels = _labels(arrays[1], len(train_images), name, "train_labels")
    test_labels = _labels(arrays[3], len(test_images), name, "test_labels")
    classes = _classes(classes, (train_labels, test_labels), name)
    channels, size = train_images.shape[1], train_images.shape[2]
    info = DatasetInfo(channels, size, classes, len(train_images), len(test_images))
    return RawDataset(train_images, train_labels, test_images, test_labels), info


def _describe(value: Any) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"a {type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def _tensor(value: Any, name: str, part: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    if isinstance(value, np.ndarray):
        try:
            return torch.from_numpy(np.ascontiguousarray(value))
        except TypeError:  # object arrays, strings
            raise DatasetError(
                f"dataset factory {name!r}: {part} is {_describe(value)}, which torch cannot hold"
            ) from None
    raise DatasetError(
        f"dataset factory {name!r}: {part} is {_describe(value)}; expected a torch tensor or a numpy array"
    )


def _images(value: Any, name: str, part: str) -> torch.Tensor:
    images = _tensor(value, name, part)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise DatasetError(
            f"dataset factory {name!r}: {part} has dtype {images.dtype} and shape {tuple(images.shape)}; "
            "expected uint8 images N x C x H x W (values 0..255; lrgym normalises them itself)"
        )
    n, channels, height, width = images.shape
    if n < 1 or channels < 1 or height < 1 or height != width:
        raise DatasetError(
            f"dataset factory {name!r}: {part} has shape {tuple(images.shape)}; expected at least one "
            "square image (N x C x H x W with N, C >= 1 and H == W >= 1)"
        )
    return images.contiguous()


def _labels(value: Any, count: int, name: str, part: str) -> torch.Tensor:
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    labels = _tensor(value, name, part)
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise DatasetError(f"dataset factory {name!r}: {part} has dtype {labels.dtype}; expected integers")
    if labels.shape != (count,):
        raise DatasetError(
            f"dataset factory {name!r}: {part} has shape {tuple(labels.shape)}; expected ({count},), one "
            "label per image"
        )
    return labels.long().contiguous()


def _classes(declared: Any, labels: tuple[torch.Tensor, torch.Tensor], name: str) -> int:
    low = min(int(t.min()) for t in labels)
    high = max(int(t.max()) for t in labels)
    if declared is None:
        if high < 1:
            raise DatasetError(
                f"dataset factory {name!r}: every label is {high}; a classification task needs "
                "labels of at least 2 classes"
            )
        declared = high + 1
    if isinstance(declared, bool) or not isinstance(declared, (int, np.integer)) or declared < 2:
        raise DatasetError(f"dataset factory {name!r}: num_classes={declared!r}; expected an integer >= 2")
    if low < 0 or high >= declared:
        raise DatasetError(
            f"dataset factory {name!r}: labels range over {low}..{high}, outside 0..{int(declared) - 1} "
            f"({int(declared)} classes)"
        )
    return int(declared)


# --- torchvision-style datasets -------------------------------------------------------------------


def _from_dataset(ds: Any, name: str, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 N x C x H x W images, labels) of a map-style dataset of (image, label) items."""
    arrays = _torchvision_arrays(ds)
    if arrays is not None:
        return arrays
    try:
        count = len(ds)
    except TypeError:
        raise DatasetError(
            f"dataset factory {name!r}: {part} is {_describe(ds)}, which has no len(); expected {EXPECTED}"
        ) from None
    images, labels = [], []
    for index in range(count):
        try:
            item = ds[index]
        except Exception as exc:  # a user's dataset can fail in any way
            raise DatasetError(
                f"dataset factory {name!r}: {part}[{index}] raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DatasetError(
                f"dataset factory {name!r}: {part}[{index}] is {_describe(item)}; expected (image, label)"
            )
        images.append(_item_image(item[0], name, f"{part}[{index}]"))
        labels.append(_item_label(item[1], name, f"{part}[{index}]"))
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise DatasetError(
            f"dataset factory {name!r}: the images of {part} differ in shape ({sorted(shapes)[:3]}...); "
            "every image needs the same C x H x W"
        )
    if not images:
        raise DatasetError(f"dataset factory {name!r}: {part} is empty")
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def _torchvision_arrays(ds: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The arrays of torchvision's CIFAR and MNIST datasets, read directly (no per-item decoding);
    None for any other dataset, or one with transforms (those are applied item by item)."""
    from torchvision import datasets as tvd

    plain = getattr(ds, "transform", None) is None and getattr(ds, "target_transform", None) is None
    if not plain or isinstance(ds, tvd.QMNIST):  # QMNIST's targets hold more than the class
        return None
    if isinstance(ds, tvd.CIFAR10):  # and CIFAR-100: N x H x W x C numpy arrays
        return torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(
            ds.targets
        )
    if isinstance(ds, tvd.MNIST):  # and Fashion-MNIST, KMNIST, EMNIST: N x H x W tensors
        return ds.data.unsqueeze(1).contiguous(), torch.as_tensor(ds.targets)
    return None


def _item_image(image: Any, name: str, where: str) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        tensor = image.detach().to("cpu")
        tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor  # C x H x W, torchvision's layout
    else:
        try:
            from PIL import Image
        except ImportError:  # without Pillow no item can be a PIL image
            Image = None  # noqa: N806
        if Image is None or not isinstance(image, (Image.Image, np.ndarray)):
            raise DatasetError(
                f"dataset factory {name!r}: the image of {where} is {_describe(image)}; expected a PIL "
                "image or a uint8 tensor C x H x W (build the dataset without transforms)"
            )
        array = np.array(image)  # H x W or H x W x C, as PIL gives it (a writable copy)
        tensor = torch.from_numpy(array)
        tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    if tensor.dtype != torch.uint8 or tensor.ndim != 3:
        raise DatasetError(
            f"dataset factory {name!r}: the image of {where} has dtype {tensor.dtype} and shape "
            f"{tuple(tensor.shape)}; expected uint8 C x H x W (build the dataset without transforms: "
            "lrgym normalises and augments images itself)"
        )
    return tensor


def _item_label(label: Any, name: str, where: str) -> int:
    if isinstance(label, torch.Tensor) and label.numel() == 1 and not label.is_floating_point():
        label = label.item()
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise DatasetError(
            f"dataset factory {name!r}: the label of {where} is {label!r}; expected an integer"
        )
    return int(label)
