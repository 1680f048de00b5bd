"""Model architectures: published parameter counts, any input shape, private-RNG initialisation."""

from __future__ import annotations

import pytest
import torch

from lrgym.config import LRTuningConfig
from lrgym.models import SmallCNN, WideResNet, architecture, build_model, count_parameters, weight_layers


@pytest.mark.parametrize(
    ("depth", "width", "published"),
    [(16, 4, 2_748_890), (28, 10, 36_479_194), (40, 4, 8_949_210)],
)
def test_wrn_parameter_counts_match_the_published_ones(depth: int, width: int, published: int) -> None:
    assert count_parameters(architecture(LRTuningConfig(depth=depth, width=width))) == published


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32), (3, 16), (2, 20)])
def test_models_take_any_channels_and_image_size(channels: int, size: int) -> None:
    x = torch.zeros(2, channels, size, size)
    assert WideResNet(10, 1, num_classes=7, in_channels=channels, dropout=0.3)(x).shape == (2, 7)
    assert SmallCNN(num_classes=7, in_channels=channels)(x).shape == (2, 7)


def test_shortcut_convolutions_only_where_the_shape_changes() -> None:
    model = WideResNet(16, 4, 10)
    shortcuts = [b.shortcut is not None for b in model.blocks]
    assert shortcuts == [True, False, True, False, True, False]
    assert [b.shortcut is not None for b in WideResNet(10, 1, 10).blocks] == [False, True, True]


def test_invalid_depth_is_rejected() -> None:
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNet(12, 1, 10)


def test_initialisation_uses_only_the_given_generator() -> None:
    cfg = LRTuningConfig(depth=10, width=1)
    global_state = torch.get_rng_state()
    a = build_model(cfg, torch.device("cpu"), torch.Generator().manual_seed(3))
    b = build_model(cfg, torch.device("cpu"), torch.Generator().manual_seed(3))
    c = build_model(cfg, torch.device("cpu"), torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), global_state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    assert all(torch.isfinite(p).all() for p in a.parameters())
    assert torch.equal(a.bn.running_var, torch.ones_like(a.bn.running_var))


def test_weight_layers_are_the_convolutions_and_the_head_in_order() -> None:
    layers = weight_layers(WideResNet(10, 1, 10))
    assert layers[0][0] == "conv1.weight" and layers[-1][0] == "fc.weight"
    assert len(layers) == 1 + 3 * 2 + 2 + 1  # stem, two convs per block, two shortcuts, head
