"""Your own model and data: the contracts of model and dataset factories, and how they are named.

`LRTuningConfig.model` and `LRTuningConfig.dataset` accept, beside the built-in names, a factory:
an importable `"package.module:function"` string (what `gym.make` kwargs, JSON and the command
line can carry) or, when the config is built in Python, the callable itself.

Model factory, called as `factory(num_classes=..., in_channels=..., image_size=...)` (keywords:
the dataset's class count, image channels and side), returns a `torch.nn.Module` that maps a
float batch N x C x H x W to N x num_classes logits.

- It is called once on the meta device (under `torch.device("meta")`) when the env is built,
  to count the layers the observation reads; so it must create its parameters on the default
  device (no `.to(...)`, no `device=` of its own, no lazy modules) and not read weight values.
- It is called again at every `reset()`, on the CPU, with torch's global RNG seeded from the
  episode's generator for the duration of the call (and restored afterwards), so its own
  initialisation is reproducible. With `model_init="lrgym"` (the default) lrgym then
  re-initialises every convolution (He-normal, fan-out), linear layer (PyTorch's default
  scheme), batch, group and layer norm (unit scale, zero shift) from the episode's private
  generator, as it does the built-in models; other parameters keep the factory's seeded
  initialisation. With `model_init="factory"` the factory's own (seeded) initialisation is kept.
- The observation reads the weights of its convolution and linear layers, in the order the
  module registers them (`feature_layers="first"` is the first one registered); it needs one
  at least.
- Dropout should be `lrgym.models.SeededDropout`, whose masks come from the episode's
  generator; `torch.nn.Dropout` draws from torch's global RNG, which lrgym does not seed, so
  episodes with it are not reproducible.

Dataset factory, called as `factory()` once per process (the first time a config names it; the
result is cached, split and held on the training device like a built-in dataset), returns one of

- an `ImageData` (below): uint8 images N x C x H x W with H == W, integer labels of shape N,
  for train and test, and optionally the number of classes;
- the same four arrays as a tuple `(train_images, train_labels, test_images, test_labels)`
  (torch tensors or numpy arrays), the number of classes being the largest label + 1;
- a pair `(train_dataset, test_dataset)` of torchvision-style datasets without transforms:
  `len(ds)` items `ds[i] = (image, label)` with a PIL image (H x W or H x W x C) or a uint8
  tensor C x H x W. torchvision's CIFAR and MNIST families are read from their arrays directly.

Its `DatasetInfo` (channels, image size, classes, image counts), which the spaces and the
config's checks need, comes from that data, so a config that names a dataset factory loads the
dataset when it is built. `data_root` and `download` do not apply to factories. Wrong types,
shapes, dtypes, labels outside 0..classes-1, or a factory that raises, raise
`lrgym.datasets.DatasetError` naming the factory and what was wrong.

A callable config value is recorded by its qualified name, `"module:qualname"`, in
`LRTuningConfig.to_dict()` (JSON records, checkpoints); a string is recorded as given. This
module does not import torch.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SPEC_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
MODEL_INITS = ("lrgym", "factory")  # who initialises a factory's model (see the module docstring)


@dataclass(frozen=True)
class ImageData:
    """What a dataset factory may return: a whole dataset as arrays.

    Attributes:
        train_images: uint8, N x C x H x W (H == W), a torch tensor or a numpy array.
        train_labels: integers in 0..num_classes-1, shape N.
        test_images: uint8, M x C x H x W, the same C, H and W.
        test_labels: integers in 0..num_classes-1, shape M.
        num_classes: the number of classes (>= 2); None: the largest label + 1.
    """

    train_images: Any
    train_labels: Any
    test_images: Any
    test_labels: Any
    num_classes: int | None = None


class FactoryError(ValueError):
    """A model or dataset factory cannot be imported, called or used; the message names it."""


def is_factory_spec(value: Any) -> bool:
    """Whether `value` is a `"package.module:function"` string."""
    return isinstance(value, str) and SPEC_PATTERN.match(value) is not None


def is_factory(value: Any) -> bool:
    """Whether a `model` / `dataset` config value names a factory (a spec string or a callable)."""
    return is_factory_spec(value) or (callable(value) and not isinstance(value, str))


def factory_name(value: Any) -> str:
    """How a factory is named in messages and records: a spec as given, a callable as
    `"module:qualname"` (a `functools.partial` as `functools.partial(module:qualname, ...)`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, functools.partial):
        return f"functools.partial({factory_name(value.func)}, ...)"
    module = getattr(value, "__module__", None) or type(value).__module__
    qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{module}:{qualname}"


@functools.lru_cache(maxsize=64)
def _import(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # a user's module can fail in any way while it is imported
        raise FactoryError(
            f"cannot import module {module_name!r} of factory {spec!r}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise FactoryError(f"factory {spec!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise FactoryError(f"factory {spec!r} is a {type(target).__name__}, not a callable")
    return target


def resolve(value: str | Callable[..., Any]) -> Callable[..., Any]:
    """The callable a factory config value names (imported once per process for a spec).

    Raises:
        FactoryError: the module cannot be imported, lacks the attribute, or it is not callable.
    """
    if isinstance(value, str):
        return _import(value)
    return value
