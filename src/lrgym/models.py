"""Models trained inside an episode: WideResNet-d-k, a small CNN, or a user's model factory.

The built-in models are built on the meta device and initialised from a private
`torch.Generator`, so building one never touches (or depends on) PyTorch's global RNG. A model
factory (see `lrgym.factories`) is built on the CPU with the global RNG seeded from that
generator for the call and restored afterwards, then re-initialised like the built-in models
unless `model_init="factory"`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lrgym import factories
from lrgym.config import DatasetInfo, LRTuningConfig

# The layers whose weights the observation reads, and that `initialise` draws from the generator.
WEIGHT_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


class SeededDropout(nn.Module):
    """Dropout whose masks come from a private generator (set by the trainer), not the global RNG."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class PreActBlock(nn.Module):
    """Pre-activation basic block (BN-ReLU-conv3x3, twice) of Zagoruyko & Komodakis."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.dropout = SeededDropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        # When the shape changes, the 1x1 shortcut sees the pre-activated input (as in WRN).
        residual = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + residual


class WideResNet(nn.Module):
    """WRN-depth-width for any number of input channels and any image size."""

    def __init__(
        self, depth: int, width: int, num_classes: int, in_channels: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"depth={depth} is invalid: WideResNet depth must be 6n+4 (10, 16, 22, 28, 40)")
        blocks = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        layers: list[nn.Module] = []
        in_planes = widths[0]
        for group, stride in enumerate((1, 2, 2)):
            for i in range(blocks):
                layers.append(PreActBlock(in_planes, widths[group + 1], stride if i == 0 else 1, dropout))
                in_planes = widths[group + 1]
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU stages and a linear head; `width` scales the channels."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = 32 * width, 64 * width, 128 * width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1, bias=False),
            nn.BatchNorm2d(c3),
            nn.ReLU(),
        )
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def _call_factory(cfg: LRTuningConfig, info: DatasetInfo) -> nn.Module:
    """The model factory's module for a dataset with `info`, built on the current default device.

    Raises:
        FactoryError: the factory raises, returns no `nn.Module`, or one without a convolution
            or linear layer (the observation reads those); the message names the factory.
    """
    kwargs = {"num_classes": info.num_classes, "in_channels": info.channels, "image_size": info.image_size}
    name = factories.factory_name(cfg.model)
    call = f"called as factory({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    try:
        model = factories.resolve(cfg.model)(**kwargs)
    except Exception as exc:  # a user's code can fail in any way
        raise factories.FactoryError(
            f"model factory {name!r} raised {type(exc).__name__}: {exc} ({call}; it must build on the "
            "meta device, see lrgym.factories)"
        ) from exc
    if not isinstance(model, nn.Module):
        raise factories.FactoryError(
            f"model factory {name!r} returned a {type(model).__name__} ({call}); expected a torch.nn.Module"
        )
    lazy = [n for n, m in model.named_modules() if isinstance(m, nn.modules.lazy.LazyModuleMixin)]
    if lazy:
        raise factories.FactoryError(
            f"model factory {name!r}: lazy modules {lazy[:3]} have no weights before a forward pass; "
            "give their sizes (in_channels, image_size and num_classes are passed to the factory)"
        )
    if not weight_layers(model):
        raise factories.FactoryError(
            f"model factory {name!r} returned a {type(model).__name__} without a convolution or linear "
            "layer; the observation reads the weights of those"
        )
    return model


def architecture(cfg: LRTuningConfig) -> nn.Module:
    """The configured model, on the meta device (no memory, no RNG)."""
    info = cfg.dataset_info
    with torch.device("meta"):
        if factories.is_factory(cfg.model):
            return _call_factory(cfg, info)
        if cfg.model == "wrn":
            return WideResNet(cfg.depth, cfg.width, info.num_classes, info.channels, cfg.dropout)
        return SmallCNN(info.num_classes, info.channels, cfg.width)


def initialise(model: nn.Module, generator: torch.Generator) -> None:
    """He-normal convolutions, PyTorch's default scheme for linear layers, unit norm layers, zero
    biases; all draws from `generator`."""
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, NORM_LAYERS):
            if getattr(module, "weight", None) is not None:
                nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
        elif isinstance(module, nn.Linear):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _build_factory_model(cfg: LRTuningConfig, generator: torch.Generator) -> nn.Module:
    """The factory's module on the CPU, seeded: the global RNG is seeded from `generator` for the
    call (the factory's own initialisation draws from it) and restored afterwards."""
    info = cfg.dataset_info  # before any device context: a dataset factory may be called here
    seed = int(torch.randint(2**62, (), generator=generator))
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.manual_seed(seed)
        model = _call_factory(cfg, info)
    if cfg.model_init == "lrgym":
        initialise(model, generator)
    return model


def build_model(cfg: LRTuningConfig, device: torch.device, generator: torch.Generator) -> nn.Module:
    """A freshly initialised model on `device`, drawn from `generator` (which lives on the CPU)."""
    if factories.is_factory(cfg.model):
        model = _build_factory_model(cfg, generator)
    else:
        model = architecture(cfg).to_empty(device="cpu")
        initialise(model, generator)  # on the CPU so that a seed gives the same weights on any device
    # Channels-last convolutions are faster on current CPUs as well as on CUDA.
    return model.to(device=device, memory_format=torch.channels_last)


def weight_layers(model: nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The conv and linear weight tensors in the order the model registers them (forward order
    for the built-in models): what the observation features read."""
    return [
        (name + ".weight", module.weight)
        for name, module in model.named_modules()
        if isinstance(module, WEIGHT_LAYERS)
    ]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
