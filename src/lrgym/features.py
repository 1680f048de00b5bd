"""Observation features: order-invariant statistics of the network's weights, and training signals.

Every weight statistic is a function of multisets only: of a layer's weights, or of the
per-group statistics over the groups of a layer (output filters, input channels, kernel
positions). Permuting hidden units (output channels of one layer together with the input
channels of the next) therefore leaves every feature unchanged: two networks that compute the
same function up to the order of their units give the same observation.

Feature sets (one function each, applied to every selected layer; a layer is viewed as
[out, in, kernel positions], a linear layer having one position):

- `paper`: the original code's 192 numbers per layer: 12 statistics of all weights (mean;
  25/50/75% quantiles; std; skewness; kurtosis; raw moments E[w^k], k = 1..5), then for each of
  the three groupings the mean/median/std/max/min over groups of the same 12 per-group statistics.
- `quantiles`: 13 numbers per layer: log10 std, mean/std, the 1/5/25/50/75/95/99% quantiles of
  the standardised weights, and the spread of the output filters' norms (10/50/90% quantiles
  relative to their mean, log10 of the mean).
- `histogram`: `histogram_bins` + 2 numbers per layer: log10 std, mean/std, and the fraction of
  standardised weights in equal bins over [-4, 4] (the outer bins take the tails).

Weight quantiles are read from a 1024-bin histogram over the layer's range, shared by all
groupings (error at most 1/1024 of that range), which keeps the cost linear in the number of
weights; quantiles of the few filter norms are exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from lrgym.config import LRTuningConfig
from lrgym.layout import TRAINING_SIGNALS, WEIGHT_DECAY_FLOOR

OBS_BOUND = 100.0  # every observation entry is clipped to [-OBS_BOUND, OBS_BOUND]
HISTOGRAM_QUANTILE_BINS = 1024
HISTOGRAM_RANGE = 4.0  # standard deviations covered by the `histogram` feature set
PAPER_STATS = 12
PAPER_PER_LAYER = PAPER_STATS * (1 + 3 * 5)
QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
FILTER_NORM_LEVELS = (0.1, 0.5, 0.9)
_TINY = 1e-12


# --- building blocks -----------------------------------------------------------------------

# A layer is viewed as [out, in, kernel positions]; a grouping is the dims it reduces over.
WHOLE, BY_OUTPUT, BY_INPUT, BY_POSITION = (0, 1, 2), (1, 2), (0, 2), (0, 1)
GROUPINGS = (BY_OUTPUT, BY_INPUT, BY_POSITION)


def _as_3d(weight: torch.Tensor) -> torch.Tensor:
    w = weight.detach().float()
    return w.reshape(w.shape[0], w.shape[1], -1)


class Quantiles:
    """Per-group quantiles of one layer for every grouping, computed once per layer.

    One shared binning of the layer's range into `HISTOGRAM_QUANTILE_BINS` bins, then one
    `bincount` per grouping; each quantile is interpolated inside its bin (error at most
    range / bins). Linear in the number of weights.
    """

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w
        bins = HISTOGRAM_QUANTILE_BINS
        lo, hi = torch.aminmax(w)
        self.lo = lo
        self.width = (hi - lo).clamp_min(_TINY) / bins
        self.bin = ((w - lo) / self.width).long().clamp_(0, bins - 1)

    def __call__(self, dims: tuple[int, ...], levels: Sequence[float]) -> torch.Tensor:
        """[groups, len(levels)] for the grouping that reduces over `dims`."""
        w = self.w
        q = _levels(levels, w)
        kept = [d for d in range(3) if d not in dims]
        bins = HISTOGRAM_QUANTILE_BINS
        groups = math.prod(w.shape[d] for d in kept)
        index = self.bin
        if kept:
            shape = [1, 1, 1]
            shape[kept[0]] = w.shape[kept[0]]
            group = torch.arange(groups, device=w.device).view(shape)
            index = index + group * bins
        counts = torch.bincount(index.flatten(), minlength=groups * bins).view(groups, bins).to(w.dtype)
        return quantiles_from_histogram(counts, self.lo, self.width, q)


@functools.lru_cache(maxsize=32)
def _cached_levels(levels: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(levels, dtype=dtype, device=device)


def _levels(levels: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return _cached_levels(tuple(levels), like.dtype, like.device)


def padded_quantiles(rows: torch.Tensor, lengths: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Exact quantiles [rows, levels] of rows padded with +inf beyond `lengths`, linearly
    interpolated as `torch.quantile` does."""
    ordered = rows.sort(dim=1).values
    last = (lengths - 1).view(-1, 1)
    position = levels * last
    below = position.floor().long()
    fraction = position - below
    low, high = ordered.gather(1, below), ordered.gather(1, torch.minimum(below + 1, last))
    return low + (high - low) * fraction


def quantiles_from_histogram(
    counts: torch.Tensor, lo: torch.Tensor, width: torch.Tensor, levels: torch.Tensor
) -> torch.Tensor:
    """Quantiles [groups, levels] of values binned into `counts` [groups, bins] from `lo`."""
    groups, bins = counts.shape
    cdf = counts.cumsum(dim=1)
    target = (levels * cdf[:, -1:]).contiguous()
    b = torch.searchsorted(cdf, target).clamp_(max=bins - 1)
    in_bin = counts.gather(1, b)
    below = cdf.gather(1, b) - in_bin
    fraction = ((target - below) / in_bin.clamp_min(1)).clamp_(0, 1)
    return lo + (b + fraction) * width


def _paper_stats(powers: list[torch.Tensor], quants: Quantiles, dims: tuple[int, ...]) -> torch.Tensor:
    """The 12 statistics of every group of a grouping -> [groups, 12]."""
    raw = [p.mean(dim=dims).reshape(-1) for p in powers]  # E[w^k], k = 1..5
    mean = raw[0]
    var = (raw[1] - mean**2).clamp_min(0)
    std = var.sqrt()
    third = raw[2] - 3 * mean * raw[1] + 2 * mean**3
    fourth = raw[3] - 4 * mean * raw[2] + 6 * mean**2 * raw[1] - 3 * mean**4
    skew = third / std.clamp_min(_TINY) ** 3
    kurt = fourth / var.clamp_min(_TINY**2) ** 2
    q = quants(dims, (0.25, 0.5, 0.75))
    return torch.stack([mean, q[:, 0], q[:, 1], q[:, 2], std, skew, kurt, *raw], dim=1)


def _over_groups(stats: torch.Tensor) -> torch.Tensor:
    """mean, median, std, max, min over groups of per-group statistics [groups, k] -> [5k]."""
    return torch.cat(
        [
            stats.mean(0),
            stats.median(0).values,
            stats.std(0, correction=0),
            stats.amax(0),
            stats.amin(0),
        ]
    )


# --- feature sets --------------------------------------------------------------------------


def paper_features(layers: Sequence[torch.Tensor], cfg: LRTuningConfig) -> torch.Tensor:
    out = []
    for weight in layers:
        w = _as_3d(weight)
        w2 = w * w
        w4 = w2 * w2
        powers = [w, w2, w2 * w, w4, w4 * w]
        quants = Quantiles(w)
        out.append(_paper_stats(powers, quants, WHOLE)[0])
        out += [_over_groups(_paper_stats(powers, quants, dims)) for dims in GROUPINGS]
    return torch.cat(out)


def quantile_features(layers: Sequence[torch.Tensor], cfg: LRTuningConfig) -> torch.Tensor:
    # Per layer, only the passes over its weights; everything after that is batched over layers
    # (small networks would otherwise pay dozens of tiny tensor operations per layer).
    bins = HISTOGRAM_QUANTILE_BINS
    counts, low, width, mean, mean_sq, norms = [], [], [], [], [], []
    for weight in layers:
        w = weight.detach().float().reshape(weight.shape[0], -1)  # [filters, fan-in]
        lo, hi = torch.aminmax(w)
        step = (hi - lo).clamp_min(_TINY) / bins
        counts.append(torch.bincount(((w - lo) / step).long().clamp_(0, bins - 1).view(-1), minlength=bins))
        squares = (w * w).sum(dim=1)
        norms.append(squares.sqrt())
        low.append(lo)
        width.append(step)
        mean.append(w.mean())
        mean_sq.append(squares.sum() / w.numel())
    low, width, mean, mean_sq = (torch.stack(v).view(-1, 1) for v in (low, width, mean, mean_sq))
    std = (mean_sq - mean * mean).clamp_min(_TINY * _TINY).sqrt()
    levels = _levels(QUANTILE_LEVELS, mean)
    z = (quantiles_from_histogram(torch.stack(counts).to(mean.dtype), low, width, levels) - mean) / std
    lengths = torch.tensor([len(n) for n in norms], device=mean.device)
    padded = torch.nn.utils.rnn.pad_sequence(norms, batch_first=True, padding_value=math.inf)
    mean_norm = (torch.stack([n.mean() for n in norms]).view(-1, 1)).clamp_min(_TINY)
    spread = padded_quantiles(padded / mean_norm, lengths, _levels(FILTER_NORM_LEVELS, mean))
    return torch.cat([std.log10(), mean / std, z, spread, mean_norm.log10()], dim=1).reshape(-1)


def histogram_features(layers: Sequence[torch.Tensor], cfg: LRTuningConfig) -> torch.Tensor:
    bins = cfg.histogram_bins
    rows = []
    for weight in layers:
        w = weight.detach().float().reshape(-1)
        mean = w.mean()
        std = ((w * w).mean() - mean * mean).clamp_min(_TINY * _TINY).sqrt()
        z = ((w - mean) / std + HISTOGRAM_RANGE) * (bins / (2 * HISTOGRAM_RANGE))
        counts = torch.bincount(z.long().clamp_(0, bins - 1), minlength=bins) / w.numel()
        rows.append(torch.cat([torch.stack([std.log10(), mean / std]), counts]))
    return torch.cat(rows)


FEATURE_FUNCTIONS: dict[str, Callable[[Sequence[torch.Tensor], LRTuningConfig], torch.Tensor]] = {
    "paper": paper_features,
    "quantiles": quantile_features,
    "histogram": histogram_features,
}


def features_per_layer(cfg: LRTuningConfig) -> int:
    if cfg.features == "paper":
        return PAPER_PER_LAYER
    if cfg.features == "quantiles":
        return 2 + len(QUANTILE_LEVELS) + len(FILTER_NORM_LEVELS) + 1
    return cfg.histogram_bins + 2


# --- observation ---------------------------------------------------------------------------


def select_layers(layers: Sequence[torch.Tensor], spec: str | tuple[int, ...]) -> list[torch.Tensor]:
    """The layers that `feature_layers` names ("first", "last", "all" or indices)."""
    if spec == "first":
        return [layers[0]]
    if spec == "last":
        return [layers[-1]]
    if spec == "all":
        return list(layers)
    try:
        return [layers[i] for i in spec]
    except IndexError:
        raise ValueError(
            f"feature_layers={spec} is invalid for this model: it has {len(layers)} weight layers "
            f"(indices {-len(layers)}..{len(layers) - 1})"
        ) from None


def observation_size(cfg: LRTuningConfig, n_layers: int) -> int:
    return n_layers * features_per_layer(cfg) + len(TRAINING_SIGNALS)


def control_signals(controls: Sequence[str], momentum: float, weight_decay: float) -> np.ndarray:
    """The observation entries of the controls after the LR (`lrgym.layout.CONTROL_SIGNALS`)."""
    values = {"momentum": momentum, "weight_decay": math.log10(max(weight_decay, WEIGHT_DECAY_FLOOR))}
    return np.array([values[c] for c in controls[1:]], dtype=np.float64)


def training_signals(
    *,
    train_loss: float,
    val_loss: float,
    val_acc: float,
    lr: float,
    progress: float,
    grad_norm: float,
    update_ratio: float,
) -> np.ndarray:
    def log(x: float, base: float = math.e) -> float:
        return math.log(x, base) if x > 0 and math.isfinite(x) else (-OBS_BOUND if x == 0 else OBS_BOUND)

    return np.array(
        [
            log(train_loss),
            log(val_loss),
            val_acc,
            log(lr, 10),
            progress,
            log(grad_norm, 10),
            log(update_ratio, 10),
        ],
        dtype=np.float64,
    )


@torch.inference_mode()
def observation(weights: Sequence[torch.Tensor], cfg: LRTuningConfig, signals: np.ndarray) -> np.ndarray:
    """The finite float32 observation: weight features of the selected layers, then `signals`."""
    stats = FEATURE_FUNCTIONS[cfg.features](weights, cfg).cpu().numpy()
    obs = np.concatenate([stats, signals])
    obs = np.nan_to_num(obs, nan=0.0, posinf=OBS_BOUND, neginf=-OBS_BOUND)
    return np.clip(obs, -OBS_BOUND, OBS_BOUND).astype(np.float32)
