"""A comparison table a reader needs no statistics course for: which agent is better, by how
much, and how sure that is, from evaluation episodes that share their seeds.

Every agent ran on the same held-out seeds, so each seed gives a paired difference against the
reference agent. The table shows the mean difference in accuracy points with a 95% bootstrap
interval over seeds (resampling the seeds, with replacement), on how many seeds the agent was
ahead, and a verdict: "better" or "worse" only when the whole interval lies on one side of zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lrgym_agents.evaluation import EpisodeResult

BOOTSTRAP_REPS = 10_000  # resamples of the seeds
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def paired_difference(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Mean of x - y over paired seeds and its percentile-bootstrap interval (low, high)."""
    diff = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = diff[rng.integers(0, len(diff), size=(BOOTSTRAP_REPS, len(diff)))].mean(axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), float(low), float(high)


def verdict(low: float, high: float, reference: str) -> str:
    if low > 0:
        return f"better than {reference}"
    if high < 0:
        return f"worse than {reference}"
    return f"no clear difference from {reference}"


def comparison_table(
    rows: Mapping[str, Sequence[EpisodeResult]], reference: str, labels: Mapping[str, str] | None = None
) -> str:
    """Final test accuracy of every agent and its paired difference from `reference`."""
    labels = labels or {}
    ref = {r.seed: r.test_acc for r in rows[reference]}
    width = max(len(labels.get(name, name)) for name in rows)
    header = (
        f"{'agent':{width}s}  {'mean test acc':>13s}  {f'vs {reference} (points, 95% CI)':>28s}  "
        f"{'ahead on':>10s}  verdict"
    )
    lines = [header, "-" * len(header)]
    for name, results in rows.items():
        accs = [r.test_acc for r in results]
        label = f"{labels.get(name, name):{width}s}  {100 * np.mean(accs):12.1f}%"
        if name == reference:
            lines.append(f"{label}  {'(the reference)':>28s}")
            continue
        paired = [(r.test_acc, ref[r.seed]) for r in results if r.seed in ref]
        mean, low, high = paired_difference([a for a, _ in paired], [b for _, b in paired])
        ahead = sum(a > b for a, b in paired)
        ci = f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
        lines.append(
            f"{label}  {ci:>28s}  {f'{ahead} of {len(paired)}':>10s}  {verdict(low, high, reference)}"
        )
    return "\n".join(lines)
