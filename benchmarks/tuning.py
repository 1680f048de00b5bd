"""Choosing a schedule's peak from tuning runs: by mean full-validation accuracy, never test.

- `choose_peak`: the best entry of a {peak: [validation accuracy per seed]} table; the runner's
  hand schedules and the task distributions' multipliers are both chosen with it.
- `choices`: on a task distribution, where a peak is a multiplier of each task's conventional
  LR, the best multiplier of each test task, the single best for all train tasks together, and
  the best for the train tasks of each optimiser (`benchmarks/task_spread.py` and the suites of
  the "tasks" protocol, `benchmarks/task_plan.py`).

This module reads tables of validation accuracies only: what goes into them decides what can
leak, and every caller fills them from `full_val_acc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

Table = Mapping[float, list[float]]  # {peak or multiplier: full-validation accuracy per seed}
Accuracies = Mapping[str, Mapping[int, Table]]  # by task set ("train", "test") and task index


def choose_peak(table: Table) -> float:
    """The peak with the highest mean full-validation accuracy (a run without one counts as 0);
    ties go to the smaller peak."""
    means = {
        peak: float(np.mean(np.nan_to_num(np.asarray(v, dtype=float), nan=0.0))) for peak, v in table.items()
    }
    return max(sorted(means), key=lambda p: means[p])


def pooled_best(tables: list[Table]) -> float:
    """The best peak of several tables pooled: each peak's runs of every table together."""
    pooled: dict[float, list[float]] = {}
    for table in tables:
        for peak, accs in table.items():
            pooled.setdefault(peak, []).extend(accs)
    return choose_peak(pooled)


def pooled_score(tables: list[Table], peak_of: list[float]) -> float:
    """Mean full-validation accuracy of the runs of each table at its own chosen peak, pooled
    (a run without one counts as 0, as when the peaks were chosen)."""
    runs = [acc for table, peak in zip(tables, peak_of, strict=True) for acc in table[peak]]
    return float(np.mean(np.nan_to_num(np.asarray(runs, dtype=float), nan=0.0)))


@dataclass(frozen=True)
class Choices:
    """The multipliers chosen on validation accuracy."""

    per_task: dict[int, float]  # each test task's best
    single: float  # the best for all train tasks together
    per_optimizer: dict[str, float]  # the best for the train tasks of each optimiser

    def for_optimizer(self, optimizer: str) -> float:
        return self.per_optimizer.get(optimizer, self.single)


def choices(val: Accuracies, optimizer: Mapping[str, Mapping[int, str]]) -> Choices:
    """Each test task's best multiplier, the single best one for the train tasks, and the best
    one for the train tasks of each optimiser, all by mean final full-validation accuracy.

    Args:
        val: final full-validation accuracies by task set, task and multiplier (one per seed).
        optimizer: every task's optimiser, by task set and task.
    """
    names = sorted({optimizer["train"][task] for task in val["train"]})
    return Choices(
        per_task={task: choose_peak(table) for task, table in val["test"].items()},
        single=pooled_best(list(val["train"].values())),
        per_optimizer={
            name: pooled_best([t for task, t in val["train"].items() if optimizer["train"][task] == name])
            for name in names
        },
    )
