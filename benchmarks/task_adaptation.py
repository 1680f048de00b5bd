"""Does an agent of a "tasks" suite run each held-out task at that task's best learning rate?

The per-task best cosine beats one cosine for all tasks only because the tasks want different
LRs. A controller that closes that gap must therefore run different tasks at different LRs, in
line with each task's best. This reads a finished "tasks" suite's evaluation runs and reports,
per agent and test task, its *effective multiplier*: the geometric mean over decisions of the LR
it applied divided by the task's reference cosine at x1 (the schedule the schedule-relative
modes start from). A cosine schedule at peak M x the task's LR has effective multiplier M
exactly, so the numbers compare directly with the per-task best multipliers, which the suite's
summary took from validation (the tuning-free optimisers are left out: they run at LR 1.0 and
set their own step size). It also reports, per agent, the correlation over test tasks
between its log effective multiplier and the log per-task best, and the largest effective
multiplier the schedule-relative modes can reach (their largest factor).

Usage (from the repository root, after the suite has run):
    python -m benchmarks.task_adaptation --suite tinymix [--toy] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._record import save_result
from benchmarks.stats import load_records
from benchmarks.suites import Suite, default_results_dir, get_suite
from benchmarks.task_stats import runs_from_records
from lrgym.actions import reference_lr
from lrgym.config import LRTuningConfig

# Below this spread (in log2) the multipliers count as one value, without a correlation: a cosine
# at one multiplier reads back within ~1e-3 of it (the absolute mode's float32 action encoding).
CONSTANT_LOG2 = 0.05


def effective_multiplier(episode: dict[str, Any]) -> float:
    """Geometric mean over the episode's decisions of LR / the task's reference cosine at x1."""
    overrides = episode["task_info"]["overrides"]
    lrs = np.asarray(episode["lr"], dtype=float)
    cfg = LRTuningConfig(initial_lr=float(overrides["initial_lr"]), epochs=1.0, steps_per_epoch=len(lrs))
    reference = np.array([reference_lr(cfg, t) for t in range(len(lrs))])
    return float(np.exp(np.mean(np.log(lrs / reference))))


def adaptation(records: list[dict[str, Any]], suite: Suite, summary: dict[str, Any]) -> dict[str, Any]:
    """Per agent: the median effective multiplier on each test task and its log correlation with
    the per-task best multipliers; beside them the per-task best and the distribution-wide choices."""
    best = {int(k): float(v) for k, v in summary["choices"]["per_task"].items()}
    tasks = sorted(best)
    log_best = np.log2([best[k] for k in tasks])
    agents: dict[str, Any] = {}
    for name, runs in runs_from_records(records, suite).items():
        if runs.kind == "tuning-free":  # they run at LR 1.0 and set their own step size
            continue
        by_task: dict[int, list[float]] = {k: [] for k in tasks}
        for e in runs.episodes:
            by_task[int(e["task"])].append(effective_multiplier(e))
        median = {k: float(np.median(v)) for k, v in by_task.items()}
        log_agent = np.log2([median[k] for k in tasks])
        varies = np.ptp(log_agent) > CONSTANT_LOG2 and np.ptp(log_best) > CONSTANT_LOG2
        agents[name] = {
            "kind": runs.kind,
            "median_effective_multiplier": {str(k): median[k] for k in tasks},
            # log2 distance from each task's best, averaged over tasks: 1.0 = a factor 2 away
            "mean_abs_log2_distance_to_best": float(np.mean(np.abs(log_agent - log_best))),
            "log_correlation_with_best": float(np.corrcoef(log_agent, log_best)[0, 1]) if varies else None,
        }
    config = next(r["env_config"] for r in records if r["job"]["kind"] == "evaluate")
    return {
        "suite": summary["suite"],
        "per_task_best_multiplier": {str(k): best[k] for k in tasks},
        "choices": {k: v for k, v in summary["choices"].items() if k in ("single", "per_optimizer")},
        "test_tasks": summary["test_tasks"],
        "largest_relative_factor": max(*config["schedule_factors"], config["schedule_max_factor"]),
        "agents": agents,
    }


def markdown(result: dict[str, Any]) -> str:
    tasks = list(result["per_task_best_multiplier"])
    head = (
        "| agent | "
        + " | ".join(f"task {k}" for k in tasks)
        + " | mean abs log2 distance | log correlation |"
    )
    lines = [head, "| --- |" + " ---: |" * (len(tasks) + 2)]
    best = result["per_task_best_multiplier"]
    lines.append(
        "| **per-task best (validation)** | " + " | ".join(f"x{best[k]:g}" for k in tasks) + " | 0 | 1 |"
    )
    for name, a in result["agents"].items():
        m = a["median_effective_multiplier"]
        corr = a["log_correlation_with_best"]
        cells = " | ".join(f"x{m[k]:.2g}" for k in tasks)
        lines.append(
            f"| {name} | {cells} | {a['mean_abs_log2_distance_to_best']:.2f} | "
            f"{'—' if corr is None else f'{corr:+.2f}'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Effective LR multipliers of a tasks suite's agents.")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--toy", action="store_true")
    parser.add_argument("--results-dir", type=Path)
    args = parser.parse_args(argv)
    try:
        suite = get_suite(args.suite, toy_version=args.toy)
    except ValueError as exc:  # an unknown suite: the message lists the suites there are
        parser.error(str(exc))
    if suite.protocol != "tasks":
        parser.error(
            f"--suite {args.suite}: protocol {suite.protocol!r}; this reads suites of protocol 'tasks'"
        )
    results_dir = args.results_dir or default_results_dir(suite)
    summary_file = results_dir / "summary.json"
    if not summary_file.is_file():
        parser.error(
            f"{summary_file} does not exist: run the suite first "
            f"(python -m benchmarks.runner --suite {args.suite}{' --toy' if args.toy else ''}), or name its --results-dir"
        )
    summary = json.loads(summary_file.read_text())
    result = adaptation(load_records(results_dir), suite, summary)
    print(
        f"median effective LR multiplier (x the task's reference cosine at its conventional LR) per test "
        f"task, suite {suite.name}; the schedule-relative modes reach at most x{result['largest_relative_factor']:g}:\n"
    )
    print(markdown(result))
    path = save_result(f"task_adaptation-{suite.name}", result, results_dir if args.toy else None)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
