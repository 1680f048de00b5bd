"""Observation features: invariance to hidden-unit permutations, correctness, finiteness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrgym import features
from lrgym.config import LRTuningConfig
from lrgym.models import WideResNet, build_model, weight_layers
from lrgym.training import Trainer

FEATURE_SETS = ("paper", "quantiles", "histogram")
SIGNALS = np.zeros(len(features.TRAINING_SIGNALS))


def _observe(model: torch.nn.Module, feature_set: str) -> np.ndarray:
    cfg = LRTuningConfig(features=feature_set, feature_layers="all")
    return features.observation([p for _, p in weight_layers(model)], cfg, SIGNALS)


def _permute_hidden_units(model: WideResNet, generator: torch.Generator) -> None:
    """A function-preserving permutation inside every block: conv1's output channels, bn2's
    parameters and running statistics, and conv2's input channels, all by the same permutation."""
    with torch.no_grad():
        for block in model.blocks:
            perm = torch.randperm(block.conv1.out_channels, generator=generator)
            block.conv1.weight.copy_(block.conv1.weight[perm])
            for tensor in (block.bn2.weight, block.bn2.bias, block.bn2.running_mean, block.bn2.running_var):
                tensor.copy_(tensor[perm])
            block.conv2.weight.copy_(block.conv2.weight[:, perm])


@pytest.fixture(scope="module")
def trained_model() -> tuple[torch.nn.Module, torch.Tensor]:
    """A WRN-16-2 trained for a few mini-batches (non-trivial weights and BN statistics)."""
    cfg = LRTuningConfig(
        dataset="synthetic",
        depth=16,
        width=2,
        synthetic_train_size=600,
        synthetic_test_size=64,
        val_size=100,
        val_subset_size=64,
        batch_size=64,
        device="cpu",
    )
    trainer = Trainer(cfg, 0)
    trainer.train(4)
    trainer.model.eval()
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return trainer.model, x


@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_function_preserving_permutation_leaves_every_feature_unchanged(
    trained_model, feature_set: str
) -> None:
    model, x = trained_model
    permuted = build_model(
        LRTuningConfig(depth=16, width=2, device="cpu"), torch.device("cpu"), torch.Generator()
    )
    permuted.load_state_dict(model.state_dict())
    permuted.eval()
    _permute_hidden_units(permuted, torch.Generator().manual_seed(2))

    # The permutation really moved weights, and the network computes the same function.
    assert not torch.equal(permuted.blocks[0].conv1.weight, model.blocks[0].conv1.weight)
    with torch.no_grad():
        torch.testing.assert_close(permuted(x), model(x), rtol=1e-4, atol=1e-5)

    np.testing.assert_allclose(
        _observe(permuted, feature_set), _observe(model, feature_set), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_a_change_of_function_changes_the_observation(trained_model, feature_set: str) -> None:
    model, _ = trained_model
    changed = build_model(
        LRTuningConfig(depth=16, width=2, device="cpu"), torch.device("cpu"), torch.Generator()
    )
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.blocks[2].conv2.weight[3] += 0.2 * torch.randn_like(changed.blocks[2].conv2.weight[3])
    before, after = _observe(model, feature_set), _observe(changed, feature_set)
    assert np.abs(after - before).max() > 1e-3


def _is_quantile(values: torch.Tensor, estimate: torch.Tensor, level: float, slack: float) -> bool:
    """`estimate` is a `level` quantile of `values` up to `slack` in value and one sample in rank."""
    n = values.numel()
    below = (values < estimate - slack).float().mean().item()
    at_or_below = (values <= estimate + slack).float().mean().item()
    return below <= level + 1 / n and at_or_below >= level - 1 / n


def test_histogram_quantiles_are_quantiles_up_to_one_bin() -> None:
    w = torch.randn(300, 40, 9, generator=torch.Generator().manual_seed(0)) * 0.05
    levels = (0.01, 0.25, 0.5, 0.75, 0.99)
    quants = features.Quantiles(w)
    bin_width = float(w.max() - w.min()) / features.HISTOGRAM_QUANTILE_BINS
    whole = quants(features.WHOLE, levels)[0]
    exact = torch.quantile(w.reshape(-1), torch.tensor(levels))
    assert torch.all((whole - exact).abs() <= bin_width)  # many samples: within one bin of torch
    by_filter = quants(features.BY_OUTPUT, levels)
    by_position = quants(features.BY_POSITION, levels)
    assert by_filter.shape == (300, 5) and by_position.shape == (9, 5)
    for g in range(0, 300, 37):
        for k, level in enumerate(levels):
            assert _is_quantile(w[g].reshape(-1), by_filter[g, k], level, bin_width)
    for g in range(9):
        for k, level in enumerate(levels):
            assert _is_quantile(w[:, :, g].reshape(-1), by_position[g, k], level, bin_width)


def test_padded_quantiles_match_torch_row_by_row() -> None:
    rows = [torch.randn(n, generator=torch.Generator().manual_seed(n)) for n in (33, 5, 1, 16)]
    padded = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=float("inf"))
    levels = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    out = features.padded_quantiles(padded, torch.tensor([len(r) for r in rows]), levels)
    for row, expected in zip(out, rows, strict=True):
        torch.testing.assert_close(row, torch.quantile(expected, levels))


def test_paper_statistics_match_their_definitions() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    w = torch.randn(16, 3, 3, 3, generator=torch.Generator().manual_seed(0)) * 0.1 + 0.01
    out = features.paper_features([w], LRTuningConfig())
    assert out.shape == (features.PAPER_PER_LAYER,)
    flat = w.reshape(-1).double().numpy()
    expected_whole = [
        flat.mean(),
        flat.std(),
        scipy_stats.skew(flat),
        scipy_stats.kurtosis(flat, fisher=False),
    ]
    np.testing.assert_allclose(out[[0, 4, 5, 6]].numpy(), expected_whole, rtol=1e-3)
    np.testing.assert_allclose(
        out[7:12].numpy(), [np.mean(flat**k) for k in range(1, 6)], rtol=1e-3, atol=1e-9
    )
    # Per output filter: the mean over filters of each filter's standard deviation.
    per_filter_std = w.reshape(16, -1).double().std(dim=1, correction=0).mean()
    assert out[12 + 4].item() == pytest.approx(per_filter_std.item(), rel=1e-4)


def test_observation_is_finite_and_bounded_for_broken_weights() -> None:
    model = build_model(
        LRTuningConfig(depth=10, width=1, device="cpu"), torch.device("cpu"), torch.Generator()
    )
    with torch.no_grad():
        model.conv1.weight[0, 0, 0, 0] = float("nan")
        model.fc.weight[0, 0] = float("inf")
        model.blocks[0].conv2.weight.mul_(1e30)
    signals = features.training_signals(
        train_loss=float("nan"),
        val_loss=float("inf"),
        val_acc=0.1,
        lr=1e-5,
        progress=0.5,
        grad_norm=0.0,
        update_ratio=float("inf"),
    )
    for feature_set in FEATURE_SETS:
        cfg = LRTuningConfig(features=feature_set)
        obs = features.observation([p for _, p in weight_layers(model)], cfg, signals)
        assert obs.dtype == np.float32 and np.all(np.isfinite(obs))
        assert np.all(np.abs(obs) <= features.OBS_BOUND)


def test_layer_selection() -> None:
    layers = list(range(10))
    assert features.select_layers(layers, "first") == [0]
    assert features.select_layers(layers, "last") == [9]
    assert features.select_layers(layers, (0, -1, 4)) == [0, 9, 4]
    with pytest.raises(ValueError, match="10 weight layers"):
        features.select_layers(layers, (10,))
