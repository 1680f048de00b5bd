"""benchmarks/task_spread.py: peaks are chosen on validation, the spread and the gap computed from them."""

from __future__ import annotations

import pytest

from benchmarks.task_spread import HYP, summarise


def test_choices_read_validation_and_the_gap_reads_the_evaluation_seeds() -> None:
    val = {
        # Test task 0 is best at x0.5, task 1 at x4 (by validation accuracy).
        "test": {
            0: {0.5: [0.90, 0.88], 1.0: [0.80, 0.82], 4.0: [0.10, 0.10]},
            1: {0.5: [0.5, 0.5], 1.0: [0.7, 0.7], 4.0: [0.9, 0.8]},
        },
        # Pooled over the train tasks x1 is best (mean 0.8 against 0.6 and 0.55).
        "train": {0: {0.5: [0.7], 1.0: [0.8], 4.0: [0.4]}, 1: {0.5: [0.5], 1.0: [0.8], 4.0: [0.7]}},
    }
    # Test accuracies that disagree with validation: the choice must not follow them.
    test_at = {0: {0.5: [0.70, 0.72], 1.0: [0.95, 0.95]}, 1: {4.0: [0.60, 0.62], 1.0: [0.99, 0.97]}}
    summary = summarise(HYP, val, test_at, initial_lr={0: 0.1, 1: 1e-3})
    assert summary["per_task_best_multiplier"] == {"0": 0.5, "1": 4.0}
    assert summary["single_best_multiplier"] == 1.0
    assert summary["spread"] == 8.0 and summary["spread_meets_target"]
    assert summary["spread_absolute_lr"] == pytest.approx(0.05 / 0.004)
    assert summary["mean_test_acc_per_task_best"] == pytest.approx((0.71 + 0.61) / 2)
    assert summary["mean_test_acc_single_best"] == pytest.approx((0.95 + 0.98) / 2)
    assert summary["gap"] == pytest.approx((0.71 + 0.61) / 2 - (0.95 + 0.98) / 2)
    assert not summary["gap_meets_target"]  # the gap may come out negative; it is reported as measured
