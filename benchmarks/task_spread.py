"""Does the best learning rate differ between the tasks of LRTuning-TinyMix-v0, and by how much?

A task distribution is only worth controlling the LR on if one schedule does not fit all of it.
This measures that for cosine schedules, on the CPU:

1. Every test task runs a cosine schedule (`action_mode="absolute"`, the `cosine` formula of
   `lrgym_agents.schedules.schedule_lr`) at every peak of `HYP.multipliers` on the selection
   seeds. A peak is a multiple of the task's own `initial_lr`, its optimiser's conventional LR
   (0.1 for SGD, 1e-3 for Adam), so that one multiplier means the same thing on every task. The
   task's best peak is the one with the highest mean final full-validation accuracy.
2. Every train task runs the same grid on the train seeds; the single best multiplier for the
   train tasks is chosen the same way (validation accuracy averaged over tasks and seeds).
3. Both choices are then scored on fresh evaluation seeds of every test task, on the test set.

It reports (a) the spread: the largest over the smallest per-task best peak on the test tasks
(target >= 8, in multipliers; in absolute LRs the spread is larger still, since SGD and Adam
start 100x apart), and (b) the gap: mean test accuracy of the per-task best peaks minus that of
the single best multiplier, on the test tasks (target >= 3 points). Beside the single best it
also scores one multiplier per optimiser (each chosen on the train tasks of that optimiser): the
part of the gap that knowing the optimiser closes without any adaptation. Selection never reads
test accuracy. Results go to benchmarks/results/task_spread-latest.json.

Usage (from the repository root; one process, one thread):
    python -m benchmarks.task_spread            # the measurement (tens of minutes on one core)
    python -m benchmarks.task_spread --toy      # seconds: two tasks, two peaks, cheap evaluations
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import lrgym  # noqa: F401  (registers the environments)
from benchmarks._record import save_result
from benchmarks.tuning import Accuracies, choices
from lrgym import tasks
from lrgym.actions import absolute_action
from lrgym_agents.schedules import schedule_lr


@dataclass(frozen=True)
class Hyp:
    env_id: str = "LRTuning-TinyMix-v0"
    multipliers: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # x the task's initial_lr
    selection_seeds: tuple[int, ...] = (0, 1)  # test tasks: each task's best peak is chosen on these
    train_seeds: tuple[int, ...] = (0,)  # train tasks: the single best multiplier is chosen on these
    evaluation_seeds: tuple[int, ...] = (100, 101)  # fresh runs at the chosen peaks, scored on test
    spread_target: float = 8.0  # largest / smallest per-task best peak, test tasks
    gap_target: float = 0.03  # accuracy (fraction) the single best loses to the per-task best
    env_kwargs: tuple[tuple[str, Any], ...] = ()  # extra gym.make kwargs (the toy run's cheap evaluations)
    max_tasks: int | None = None  # use only the first this many tasks of each set (None: all)


HYP = Hyp()
TOY = replace(
    HYP,
    multipliers=(0.5, 2.0),
    selection_seeds=(0,),
    evaluation_seeds=(100,),
    env_kwargs=(("val_subset_size", 50), ("synthetic_test_size", 100), ("eval_batch_size", 100)),
    max_tasks=1,
)


def cosine_episode(env: gym.Env, task: int, peak: float, seed: int) -> dict[str, Any]:
    """One episode of `task` under cosine from `peak`; its final numbers."""
    start = time.process_time()
    _, info = env.reset(seed=seed, options={"task": task})
    cfg = env.unwrapped.task_config
    steps = cfg.num_steps
    for t in range(steps):
        lr = schedule_lr("cosine", t / steps, peak, cfg)
        _, _, terminated, _, info = env.step(absolute_action(cfg, lr))
        if terminated:
            break
    return {
        "full_val_acc": info["full_val_acc"],
        "test_acc": info["test_acc"],
        "diverged": info["diverged"],
        "cpu_seconds": time.process_time() - start,
    }


class Runs:
    """Episodes by (task set, task index, multiplier, seed), kept in a JSON-lines file so that an
    interrupted measurement resumes where it stopped."""

    def __init__(self, hyp: Hyp, path: Path | None) -> None:
        kwargs = dict(hyp.env_kwargs)
        self.envs = {
            name: gym.make(hyp.env_id, action_mode="absolute", task_set=name, **kwargs)
            for name in ("train", "test")
        }
        self.distribution = tasks.get_distribution(self.envs["test"].unwrapped.config.task_distribution)
        self.path = path
        self.done: dict[tuple, dict[str, Any]] = {}
        self.env_kwargs = kwargs
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if row["task"] == self.task(row["key"][0], row["key"][1]) and row["env_kwargs"] == kwargs:
                    self.done[tuple(row["key"])] = row["result"]  # else the task has changed since

    def task(self, task_set: str, task: int) -> dict[str, Any] | None:
        tasks_ = self.distribution.tasks(task_set)
        return tasks_[task] if task < len(tasks_) else None

    def initial_lr(self, task_set: str, task: int) -> float:
        return self.distribution.tasks(task_set)[task]["initial_lr"]

    def get(self, task_set: str, task: int, multiplier: float, seed: int) -> dict[str, Any]:
        key = (task_set, task, multiplier, seed)
        if key not in self.done:
            peak = multiplier * self.initial_lr(task_set, task)
            result = cosine_episode(self.envs[task_set], task, peak, seed)
            self.done[key] = result
            if self.path is not None:
                with self.path.open("a") as f:
                    row = {"key": list(key), "task": self.task(task_set, task), "env_kwargs": self.env_kwargs}
                    f.write(json.dumps({**row, "result": result}) + "\n")
            print(
                f"{task_set}[{task}] x{multiplier:g} seed {seed}: val {result['full_val_acc']:.3f} "
                f"test {result['test_acc']:.3f}{' diverged' if result['diverged'] else ''} "
                f"({result['cpu_seconds']:.1f} CPU s)",
                flush=True,
            )
        return self.done[key]


def summarise(
    hyp: Hyp,
    val: Accuracies,
    test_at: dict[int, dict[float, list[float]]],
    initial_lr: dict[int, float],
    optimizer: dict[str, dict[int, str]],
) -> dict[str, Any]:
    """The spread and the gaps from validation accuracies and evaluation-seed test accuracies.

    Args:
        hyp: the measurement's settings (its targets).
        val: final full-validation accuracies.
        test_at: test accuracies on the evaluation seeds by test task and multiplier (at least
            at every multiplier `choices` picks for the task).
        initial_lr: every test task's initial LR (to express its best peak in absolute terms).
        optimizer: every task's optimiser, by task set and task.
    """
    chosen = choices(val, optimizer)
    best = chosen.per_task
    per_task = [float(np.mean(test_at[task][best[task]])) for task in best]
    at_single = [float(np.mean(test_at[task][chosen.single])) for task in best]
    at_optimizer = [
        float(np.mean(test_at[task][chosen.for_optimizer(optimizer["test"][task])])) for task in best
    ]
    spread = max(best.values()) / min(best.values())
    absolute = {task: best[task] * initial_lr[task] for task in best}
    gap = float(np.mean(per_task) - np.mean(at_single))
    return {
        "per_task_best_multiplier": {str(task): best[task] for task in best},
        "per_task_best_peak_lr": {str(task): lr for task, lr in absolute.items()},
        "single_best_multiplier": chosen.single,
        "single_best_multiplier_per_optimizer": chosen.per_optimizer,
        "spread": spread,
        "spread_absolute_lr": max(absolute.values()) / min(absolute.values()),
        "mean_test_acc_per_task_best": float(np.mean(per_task)),
        "mean_test_acc_single_best": float(np.mean(at_single)),
        "mean_test_acc_single_best_per_optimizer": float(np.mean(at_optimizer)),
        "per_task_test_acc": {
            "per_task_best": per_task,
            "single_best": at_single,
            "single_best_per_optimizer": at_optimizer,
        },
        "gap": gap,
        "gap_to_single_best_per_optimizer": float(np.mean(per_task) - np.mean(at_optimizer)),
        "spread_meets_target": spread >= hyp.spread_target,
        "gap_meets_target": gap >= hyp.gap_target,
    }


def measure(hyp: Hyp, cache: Path | None) -> dict[str, Any]:
    """Runs (or reads from `cache`) every episode the measurement needs and summarises them."""
    runs = Runs(hyp, cache)
    count = {name: len(runs.distribution.tasks(name)) for name in ("train", "test")}
    if hyp.max_tasks is not None:
        count = {name: min(n, hyp.max_tasks) for name, n in count.items()}
    seeds = {"train": hyp.train_seeds, "test": hyp.selection_seeds}
    val: dict[str, dict[int, dict[float, list[float]]]] = {"train": {}, "test": {}}
    for name in ("test", "train"):
        for task in range(count[name]):
            val[name][task] = {
                m: [runs.get(name, task, m, s)["full_val_acc"] for s in seeds[name]] for m in hyp.multipliers
            }
    optimizer = {name: {t: runs.task(name, t)["optimizer"] for t in val[name]} for name in val}
    chosen = choices(val, optimizer)
    test_at = {
        task: {
            m: [runs.get("test", task, m, s)["test_acc"] for s in hyp.evaluation_seeds]
            for m in {chosen.per_task[task], chosen.single, chosen.for_optimizer(optimizer["test"][task])}
        }
        for task in val["test"]
    }
    initial_lr = {task: runs.initial_lr("test", task) for task in val["test"]}
    episodes = [{"key": list(k), **v} for k, v in sorted(runs.done.items(), key=lambda kv: str(kv[0]))]
    return {
        "summary": summarise(hyp, val, test_at, initial_lr, optimizer),
        "validation": {
            name: {str(t): {str(m): accs for m, accs in table.items()} for t, table in by_task.items()}
            for name, by_task in val.items()
        },
        "test_tasks": [runs.distribution.test[t] for t in range(count["test"])],
        "episodes": episodes,
        "episodes_run": len(episodes),
        "cpu_seconds": float(sum(e["cpu_seconds"] for e in episodes)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="seconds: the machinery only, nothing recorded")
    parser.add_argument(
        "--cache", type=Path, default=None, help="JSON-lines file of finished episodes (resume)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    hyp = TOY if args.toy else HYP
    start = time.time()
    result = measure(hyp, args.cache)
    result["wall_seconds"] = time.time() - start
    s = result["summary"]
    print(
        f"per-task best multipliers {s['per_task_best_multiplier']}; single best x{s['single_best_multiplier']:g}\n"
        f"spread {s['spread']:.1f}x (target >= {hyp.spread_target:g}x; absolute LRs {s['spread_absolute_lr']:.0f}x); "
        f"gap {100 * s['gap']:.1f} points of test accuracy (target >= {100 * hyp.gap_target:g}): "
        f"{100 * s['mean_test_acc_per_task_best']:.1f}% per-task best vs {100 * s['mean_test_acc_single_best']:.1f}% single best\n"
        f"one multiplier per optimizer {s['single_best_multiplier_per_optimizer']}: "
        f"{100 * s['mean_test_acc_single_best_per_optimizer']:.1f}%, "
        f"gap {100 * s['gap_to_single_best_per_optimizer']:.1f} points\n"
        f"{result['episodes_run']} episodes, {result['cpu_seconds'] / 60:.1f} CPU minutes"
    )
    if not args.toy:
        path = save_result("task_spread", {"hyperparameters": asdict(hyp), **result})
        print(f"saved {path}")
    return result


if __name__ == "__main__":
    main()
