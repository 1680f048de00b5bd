"""Statistics of a "tasks" suite: every agent on the held-out test tasks, against the schedule
tuned for the distribution and the schedule tuned per task (`benchmarks/task_plan.py`).

Each agent's runs are its test tasks x evaluation seeds (x training seeds for a learning agent);
the score is the final test accuracy. With rliable's code throughout (`stats.py` for the
intervals it shares with the other protocols), except that its probability of improvement is
computed vectorised (`average_improvement`, equal to rliable's function):

- **IQM and mean** with 95% percentile intervals of rliable's stratified bootstrap
  (`stats.interval`): a learning agent's runs form a (test tasks x evaluation seeds, training
  seeds) matrix resampled in two levels, training seeds then runs within each; a baseline's
  runs are one column.
- **The reference** is the stronger of the two distribution-wide schedules, chosen on
  validation: the one multiplier for all train tasks (`<schedule>-single`) or one multiplier per
  optimiser (`<schedule>-per-optimizer`), by the mean final full-validation accuracy of their
  tune runs on the train tasks (ties to the single one). A comparison is only as good as its
  weakest baseline, so the targets are checked against it; both are reported.
- **P(improvement)** of an agent over a baseline: rliable's average probability of improvement
  with the test tasks as its tasks, P(X_k > Y_k) + P(X_k = Y_k) / 2 over the runs of each test
  task k, averaged over the test tasks (pooling runs across tasks would compare one task's runs
  with another's). Interval: each side resampled independently, runs within each task, and a
  learning agent's training seeds first (one draw for all tasks, since a seed is one policy).
  Each resample's statistic is `average_improvement`, rliable's definition without its one scipy
  call per task: rliable's function took 8 ms a resample on 8 tasks, half an hour for 10,000
  resamples of the 22 comparisons of a tinymix summary.
- **The normalised score**, 0 = the reference, 1 = the per-task best schedule, defined on the
  mean test accuracy: (mean_agent - mean_ref) / (mean_per_task - mean_ref). Per-run ratios
  explode on the tasks where the two baselines coincide; the ratio of means does not. Its
  interval resamples the runs paired (the three ran on the same test tasks and evaluation
  seeds: rliable's `StratifiedBootstrap` with one set of indices for the three), training seeds
  first for a learning agent. Resamples where the per-task best does not beat the reference
  leave the ratio undefined: they are dropped from the interval and their share is reported.
- **Validation-subset accuracy at 50%, 75% and 100% of the budget**: IQM with intervals, at the
  decision closest to that fraction of each run's own task budget.
- **A per-task table**: each agent's mean test accuracy on each test task, and who wins it.

No statistic reads anything but test accuracy of evaluation runs, except the reference's choice
(validation accuracy of tune runs). The target of the suites, stated with every summary:
`TARGET`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rliable import library

from benchmarks import stats, task_plan
from benchmarks.stats import Estimate, interval, seeded_global_rng
from benchmarks.suites import (
    Suite,
    per_task_tuning_episodes,
    rl_episodes,
    task_distribution,
    task_indices,
)
from benchmarks.tuning import choices

TARGET = (
    "a learned controller, at an RL training cost no larger than the per-task tuning cost of the "
    "test tasks, with P(improvement over the best single tuned cosine) above 0.5 and its 95% "
    "interval above 0.5 on held-out tasks, and a normalised score of at least 0.5"
)
TARGET_P = 0.5  # P(improvement) and its lower bound must exceed this
TARGET_NORMALISED = 0.5  # the normalised score must reach this


# --- the runs -------------------------------------------------------------------------------
@dataclass
class TaskRuns:
    """Every evaluation episode of one agent of a "tasks" suite."""

    name: str
    kind: str  # one of task_plan.KINDS
    episodes: list[dict[str, Any]] = field(default_factory=list)  # EpisodeResult dicts + task, train_seed
    multipliers: dict[str, float] | None = None  # a schedule baseline's multiplier per test task
    wall_s: float = 0.0

    @property
    def two_level(self) -> bool:
        return self.kind == "learning"

    @property
    def train_seeds(self) -> list[Any]:
        return sorted({e["train_seed"] for e in self.episodes}, key=str) if self.two_level else [None]

    def cube(self, values: Sequence[float], tasks: Sequence[int], seeds: Sequence[int]) -> np.ndarray:
        """Per-episode `values` as an (evaluation seeds, test tasks, training seeds) array.

        Raises:
            ValueError: a (task, seed, training seed) run is missing or repeated.
        """
        columns = self.train_seeds
        index = {
            (seed, task, column): (i, k, j)
            for i, seed in enumerate(seeds)
            for k, task in enumerate(tasks)
            for j, column in enumerate(columns)
        }
        out = np.full((len(seeds), len(tasks), len(columns)), np.nan)
        seen: set[tuple[int, int, int]] = set()
        for e, value in zip(self.episodes, values, strict=True):
            key = (e["seed"], e["task"], e["train_seed"] if self.two_level else None)
            if key not in index or index[key] in seen:
                raise ValueError(
                    f"agent {self.name!r}: run (seed, task, training seed) {key} is repeated or outside "
                    "the suite's test tasks and evaluation seeds"
                )
            seen.add(index[key])
            out[index[key]] = value
        if len(seen) < out.size:
            raise ValueError(
                f"agent {self.name!r}: {out.size - len(seen)} of its {out.size} runs (test tasks x evaluation "
                "seeds x training seeds) are missing; the statistics need every run"
            )
        return out

    def scores(self, suite: Suite, key: str = "test_acc") -> np.ndarray:
        return self.cube([float(e[key]) for e in self.episodes], *_layout(suite))

    def acc_at(self, suite: Suite, fraction: float) -> np.ndarray:
        values = [
            stats.acc_at_fraction(e, fraction, float(e["task_info"]["overrides"]["epochs"]))
            for e in self.episodes
        ]
        return self.cube(values, *_layout(suite))


def _layout(suite: Suite) -> tuple[list[int], list[int]]:
    return list(task_indices(suite, "test")), list(suite.eval_seeds)


def matrix(cube: np.ndarray) -> np.ndarray:
    """(runs = evaluation seeds x test tasks, training seeds): the layout of `stats.interval`."""
    s, k, j = cube.shape
    return cube.reshape(s * k, j)


def per_task(cube: np.ndarray) -> np.ndarray:
    """(runs = evaluation seeds x training seeds, test tasks): rliable's (runs, tasks) layout."""
    s, k, j = cube.shape
    return cube.transpose(0, 2, 1).reshape(s * j, k)


def runs_from_records(records: Sequence[dict[str, Any]], suite: Suite) -> dict[str, TaskRuns]:
    """The evaluation episodes of every agent, in the order of the suite's tables."""
    found: dict[str, TaskRuns] = {}
    for record in records:
        job = record["job"]
        if job["kind"] != "evaluate":
            continue
        name = job["agent"]
        runs = found.setdefault(name, TaskRuns(name, task_plan.agent_kind(suite, name)))
        runs.episodes += [{**e, "train_seed": job.get("train_seed")} for e in record["episodes"]]
        runs.wall_s += float(record["wall_s"])
        runs.multipliers = job.get("multipliers") if runs.kind == "schedule" else None
    return {name: found[name] for name in task_plan.agent_names(suite) if name in found}


def validation_tables(
    records: Sequence[dict[str, Any]], suite: Suite
) -> dict[str, dict[int, dict[float, list[float]]]] | None:
    """The tune runs' full-validation accuracies by task set, task and multiplier, or None while
    one is missing (`task_plan.validation_tables` from records already read)."""
    assert suite.tasks is not None
    found: dict[tuple[str, int, float, int], float] = {}
    for record in records:
        job = record["job"]
        if job["kind"] == "tune":
            key = (
                job["task_set"],
                int(job["task"]),
                float(job["multipliers"][str(job["task"])]),
                int(job["train_seed"]),
            )
            found[key] = float(record["episodes"][0]["full_val_acc"])
    tables: dict[str, dict[int, dict[float, list[float]]]] = {"train": {}, "test": {}}
    for task_set in ("train", "test"):
        for k in task_indices(suite, task_set):
            tables[task_set][k] = {}
            for m in suite.tasks.multipliers:
                keys = [(task_set, k, float(m), s) for s in task_plan.tuning_seeds(suite, task_set)]
                if not all(key in found for key in keys):
                    return None
                tables[task_set][k][m] = [found[key] for key in keys]
    return tables


# --- the statistics ---------------------------------------------------------------------------
def average_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """rliable's `metrics.probability_of_improvement` of (runs, tasks) matrices, vectorised over
    the tasks and the pairs of runs: per task the Mann-Whitney U statistic over nx * ny, that is
    P(X > Y) + P(X = Y) / 2 (0.5 where both sides are the same runs, as rliable has it; NaN where
    a run is NaN, as scipy has it), averaged over the tasks. rliable calls scipy once per task,
    about 1 ms each: too slow for 10,000 resamples of a dozen comparisons on 8 tasks."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    greater = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))
    ties = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
    per_task_p = greater + 0.5 * ties
    per_task_p[np.isnan(x).any(axis=0) | np.isnan(y).any(axis=0)] = np.nan
    return float(np.mean(per_task_p))


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([average_improvement(per_task(x), per_task(y))])


def probability_of_improvement(
    x: np.ndarray,
    y: np.ndarray,
    reps: int,
    seed: int,
    confidence: float = 0.95,
    x_two_level: bool = False,
    y_two_level: bool = False,
) -> Estimate:
    """rliable's average probability of improvement of `x` over `y`, the test tasks as its tasks,
    with a percentile interval (see the module docstring). `x`, `y`: (evaluation seeds, tasks,
    training seeds) arrays (`TaskRuns.cube`)."""
    return stats.paired_statistic(_improvement, x, y, reps, seed, confidence, (x_two_level, y_two_level))


def normalised_value(x: np.ndarray, zero: np.ndarray, one: np.ndarray) -> float:
    """(mean x - mean zero) / (mean one - mean zero); NaN unless `one` beats `zero` on average."""
    gap = float(np.mean(one) - np.mean(zero))
    return (float(np.mean(x)) - float(np.mean(zero))) / gap if gap > 0 else math.nan


@dataclass(frozen=True)
class Normalised:
    """A normalised score, its interval and the share of resamples where it is undefined."""

    point: float
    low: float
    high: float
    undefined_share: float

    def to_dict(self) -> dict[str, float]:
        return {
            "point": self.point,
            "low": self.low,
            "high": self.high,
            "undefined_share": self.undefined_share,
        }


def normalised_score(
    x: np.ndarray,
    zero: np.ndarray,
    one: np.ndarray,
    reps: int,
    seed: int,
    confidence: float = 0.95,
    two_level: bool = False,
) -> Normalised | None:
    """`normalised_value` of an agent's runs between two baselines, with a paired bootstrap
    interval (module docstring); None when the point estimate is undefined.

    Args:
        x: the agent's (runs, training seeds) matrix (`matrix`); one column for a baseline.
        zero, one: the baselines' runs, one column, in the same row order (same tasks and seeds).
        reps, seed, confidence: as for `stats.interval`.
        two_level: resample `x`'s training seeds first (a learning agent).
    """
    zero, one = as_columns(zero, x.shape[1]), as_columns(one, x.shape[1])
    point = normalised_value(x, zero, one)
    if not math.isfinite(point):
        return None
    with seeded_global_rng(seed):
        bootstrap = library.StratifiedBootstrap(x, zero, one, task_bootstrap=two_level)
        values = np.array([normalised_value(*pos) for pos, _ in bootstrap.bootstrap(reps)])
    finite = values[np.isfinite(values)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (math.nan, math.nan)
    return Normalised(point, float(low), float(high), float(1 - finite.size / len(values)))


def as_columns(runs: np.ndarray, columns: int) -> np.ndarray:
    """A baseline's runs repeated into `columns` identical columns, to be resampled with an agent's."""
    runs = np.asarray(runs, dtype=float).reshape(-1, 1)
    return np.repeat(runs, columns, axis=1)


# --- the summary ----------------------------------------------------------------------------
def summarize(results_dir: Path, suite: Suite, write: bool = True) -> dict[str, Any]:
    """Every statistic of the records under `results_dir`; saved as summary.json/.csv/.md."""
    results_dir = Path(results_dir)
    records = stats.load_records(results_dir)
    summary = summarize_records(records, suite, stats.read_invocations(results_dir))
    if write:
        (results_dir / stats.SUMMARY_JSON).write_text(json.dumps(summary, indent=1) + "\n")
        write_csv(results_dir / stats.SUMMARY_CSV, summary)
        (results_dir / stats.SUMMARY_MD).write_text(markdown_table(summary) + "\n")
    return summary


def reference_choice(tables: dict | None, suite: Suite) -> tuple[str | None, dict[str, Any]]:
    """The reference baseline's name (chosen on the train tasks' validation accuracy) and the
    choices it was made from; None while a tune run is missing."""
    if tables is None:
        return None, {}
    chosen = choices(tables, task_plan.optimizers(suite))
    scores = task_plan.train_task_scores(tables, chosen, suite)
    names = {c: n for n, c in task_plan.schedule_names(suite).items()}
    best = "per-optimizer" if scores["per-optimizer"] > scores["single"] else "single"
    return names[best], {
        "single": chosen.single,
        "per_optimizer": chosen.per_optimizer,
        "per_task": {str(k): m for k, m in chosen.per_task.items()},
        "train_task_validation": scores,
    }


def summarize_records(
    records: Sequence[dict[str, Any]], suite: Suite, invocations: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """Every statistic of the module docstring, with the provenance of `records`."""
    reps, seed, conf = suite.bootstrap_reps, suite.bootstrap_seed, suite.confidence
    runs = runs_from_records(records, suite)
    reference, chosen = reference_choice(validation_tables(records, suite), suite)
    names = {c: n for n, c in task_plan.schedule_names(suite).items()}
    top = names["per-task"]
    cubes = {name: r.scores(suite) for name, r in runs.items()}
    tests = list(task_indices(suite, "test"))
    rl_cost, tuning_cost = rl_episodes(suite), per_task_tuning_episodes(suite) * len(tests)
    agents: dict[str, Any] = {}
    for name, r in runs.items():
        cube, two = cubes[name], r.two_level
        entry: dict[str, Any] = {
            "kind": r.kind,
            "runs": int(cube.size),
            "bootstrap_levels": 2 if two else 1,
            "train_seeds": r.train_seeds if two else [],
            "cost_episodes": _cost(suite, r, rl_cost, tuning_cost),
            "multipliers": r.multipliers,
            "test_acc": {
                s: interval(matrix(cube), s, reps, seed, conf, two).to_dict() for s in ("iqm", "mean")
            },
            "full_val_acc_mean": float(np.mean(r.scores(suite, "full_val_acc"))),
            "p_improvement": {},
            "normalised_score": {},
            "acc_at_budget": {
                f"{f:g}": interval(matrix(r.acc_at(suite, f)), "iqm", reps, seed, conf, two).to_dict()
                for f in suite.budget_fractions
            },
            "per_task_mean_test_acc": {str(k): float(np.mean(cube[:, i, :])) for i, k in enumerate(tests)},
            "diverged_runs": int(sum(bool(e["diverged"]) for e in r.episodes)),
            "eval_wall_s_per_episode": r.wall_s / max(1, cube.size),
        }
        for base in (names["single"], names["per-optimizer"]):
            if base in runs and base != name:
                entry["p_improvement"][base] = probability_of_improvement(
                    cube, cubes[base], reps, seed, conf, x_two_level=two
                ).to_dict()
            if base in runs and top in runs:
                score = normalised_score(
                    matrix(cube), matrix(cubes[base]), matrix(cubes[top]), reps, seed, conf, two
                )
                entry["normalised_score"][base] = None if score is None else score.to_dict()
        agents[name] = entry
    for entry in agents.values():
        entry["target"] = (
            _target(entry, reference, rl_cost, tuning_cost) if entry["kind"] == "learning" else None
        )
    return {
        "protocol": "tasks",
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "description": suite.description,
        "utc_time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commits": sorted({str(r.get("git_commit")) for r in records}),
        "provenance": stats.provenance(records, suite),
        "machines": sorted({stats._machine_line(r["machine"]) for r in records}),
        "bootstrap": {
            "reps": reps,
            "seed": seed,
            "confidence": conf,
            "method": "percentile",
            "levels": "learning agents: training seeds, then runs (test task x evaluation seed) within them; "
            "others: runs",
            "library": "rliable",
        },
        "target": TARGET,
        "reference": reference,
        "reference_chosen_by": "the higher mean full-validation accuracy of the tune runs on the train tasks "
        "(single multiplier vs one per optimiser)",
        "per_task_best": top,
        "choices": chosen,
        "costs": {
            "rl_episodes_per_training_seed": rl_cost,
            "per_task_tuning_episodes_per_test_task": per_task_tuning_episodes(suite),
            "per_task_tuning_episodes": tuning_cost,
        },
        "test_tasks": {str(k): describe_task(task_distribution(suite).test[k]) for k in tests},
        "budget_fractions": list(suite.budget_fractions),
        "agents": agents,
        "per_task": _per_task_table(agents, tests),
        "compute": stats._compute(records, invocations),
    }


def _cost(suite: Suite, r: TaskRuns, rl_cost: int, tuning_cost: int) -> int:
    """Episodes an agent costs before its evaluation (per training seed for a learning agent)."""
    assert suite.tasks is not None
    if r.kind == "learning":
        return rl_cost
    if r.kind != "schedule":
        return 0
    if r.name.endswith("-per-task"):
        return tuning_cost
    p = suite.tasks
    return len(p.multipliers) * len(p.train_task_seeds) * len(task_indices(suite, "train"))


def _target(entry: dict[str, Any], reference: str | None, rl_cost: int, tuning_cost: int) -> dict[str, Any]:
    """Which parts of `TARGET` a learning agent meets, against the reference."""
    p = entry["p_improvement"].get(reference) if reference else None
    n = entry["normalised_score"].get(reference) if reference else None
    parts = {
        "cost_within_per_task_tuning": rl_cost <= tuning_cost,
        "p_improvement_above_half": p is not None and p["point"] > TARGET_P,
        "p_improvement_interval_above_half": p is not None and p["low"] > TARGET_P,
        "normalised_at_least_half": n is not None and n["point"] >= TARGET_NORMALISED,
    }
    return {**parts, "met": all(parts.values())}


def _per_task_table(agents: dict[str, Any], tests: list[int]) -> dict[str, Any]:
    table = {}
    for k in tests:
        means = {name: a["per_task_mean_test_acc"][str(k)] for name, a in agents.items()}
        best = max(means.values()) if means else math.nan
        table[str(k)] = {"winners": [n for n, v in means.items() if v == best], "best_mean_test_acc": best}
    return table


def describe_task(task: dict[str, Any]) -> str:
    """A test task in one short line: optimiser, model, batch, budget, weight decay, data."""
    model = f"WRN-{task['depth']}-{task['width']}" if task.get("model") == "wrn" else str(task.get("model"))
    data = task.get("dataset")
    if data == "synthetic":
        data = f"synthetic #{task.get('synthetic_seed')}, {task.get('synthetic_classes')} classes"
    return (
        f"{task['optimizer']}, {model}, batch {task['batch_size']}, {task['epochs']:g} "
        f"epoch{'' if task['epochs'] == 1 else 's'}, "
        f"wd {task['weight_decay']:g}, {data}"
    )


# --- tables ---------------------------------------------------------------------------------
def _label(name: str, a: dict[str, Any]) -> str:
    return f"{name} (x{_multipliers(a)})" if a["kind"] == "schedule" else name


def _multipliers(a: dict[str, Any]) -> str:
    values = sorted({float(m) for m in (a.get("multipliers") or {}).values()})
    return ", x".join(f"{m:g}" for m in values) if values else "?"


def markdown_table(summary: dict[str, Any]) -> str:
    """The summary as markdown: the comparison, the target per learning agent, the per-task table."""
    ref, top = summary["reference"], summary["per_task_best"]
    single = next((n for n in summary["agents"] if n.endswith("-single")), None)
    costs = summary["costs"]
    fractions = [f"{f:g}" for f in summary["budget_fractions"]]
    lines = [
        f"Suite `{summary['suite']}` (protocol `tasks`): final test accuracy (%) on the held-out test tasks x "
        "evaluation seeds, IQM and mean with 95% stratified-bootstrap CIs (rliable; learning agents resampled "
        "over training seeds, then runs). Reference: "
        + (
            f"`{ref}`, the stronger distribution-wide cosine on the train tasks' validation"
            if ref
            else "(not yet run)"
        )
        + f"; normalised score: 0 = `{ref}`, 1 = `{top}` (per-task cosine tuned on validation, "
        f"{costs['per_task_tuning_episodes_per_test_task']} episodes per test task, "
        f"{costs['per_task_tuning_episodes']} in all), on mean test accuracy. Learning agents trained "
        f"{costs['rl_episodes_per_training_seed']} episodes per training seed, on the train tasks only.",
        *stats.provenance_lines(summary),
        "",
        f"| agent | kind | cost (episodes; per training seed for learners) | runs | IQM test acc [95% CI] | mean test acc [95% CI] | "
        f"P(improvement over {single}) | P(improvement over {ref}) | normalised score [95% CI] | "
        + " | ".join(f"val acc at {float(f):.0%}, IQM" for f in fractions if f != "1")
        + " | diverged |",
        "| --- | --- | ---: | ---: | --- | --- | --- | --- | --- | "
        + "--- | " * (len(fractions) - ("1" in fractions))
        + "---: |",
    ]
    for name, a in summary["agents"].items():
        norm = a["normalised_score"].get(ref) if ref else None
        lines.append(
            f"| {_label(name, a)} | {a['kind']} | {a['cost_episodes']} | {a['runs']} | "
            f"{stats._pct(a['test_acc']['iqm'])} | {stats._pct(a['test_acc']['mean'])} | "
            f"{_prob(a['p_improvement'].get(single), name == single)} | {_prob(a['p_improvement'].get(ref), name == ref)} | "
            f"{_normalised(norm)} | "
            + " | ".join(stats._pct(a["acc_at_budget"][f]) for f in fractions if f != "1")
            + f" | {a['diverged_runs']} |"
        )
    if any(ref and a["normalised_score"].get(ref) is None for a in summary["agents"].values()):
        lines += [
            "",
            f"—: no normalised score, as `{top}` does not beat `{ref}` on mean test accuracy (no gap to scale by).",
        ]
    lines += ["", f"Target: {summary['target']}. Against `{ref}`:", ""]
    for name, a in summary["agents"].items():
        if a["target"] is not None:
            lines.append(f"- `{name}`: {_target_line(a)}")
    lines += _per_task_lines(summary)
    return "\n".join(lines)


def _prob(e: dict[str, float] | None, itself: bool) -> str:
    return "(itself)" if itself else stats._prob(e)


def _normalised(e: dict[str, float] | None) -> str:
    if e is None:
        return "—"
    undefined = f", {100 * e['undefined_share']:.0f}% of resamples undefined" if e["undefined_share"] else ""
    return f"{e['point']:.2f} [{e['low']:.2f}, {e['high']:.2f}]{undefined}"


def _target_line(a: dict[str, Any]) -> str:
    t = a["target"]
    if t["met"]:
        return "**meets the target**"
    missing = [
        text
        for key, text in (
            ("cost_within_per_task_tuning", "its RL cost exceeds the per-task tuning cost"),
            ("p_improvement_above_half", "P(improvement) is not above 0.5"),
            ("p_improvement_interval_above_half", "its interval is not above 0.5"),
            ("normalised_at_least_half", "the normalised score is below 0.5"),
        )
        if not t[key]
    ]
    return "misses the target: " + "; ".join(missing)


def _per_task_lines(summary: dict[str, Any]) -> list[str]:
    tests = list(summary["test_tasks"])
    lines = [
        "",
        "Mean test accuracy (%) on each test task (bold: the best there); the per-task best multiplier "
        "was chosen on that task's validation:",
        "",
        "| agent | " + " | ".join(f"task {k}" for k in tests) + " |",
        "| --- |" + " ---: |" * len(tests),
    ]
    for name, a in summary["agents"].items():
        cells = []
        for k in tests:
            value = a["per_task_mean_test_acc"][k]
            text = f"{100 * value:.1f}"
            cells.append(f"**{text}**" if name in summary["per_task"][k]["winners"] else text)
        lines.append(f"| {_label(name, a)} | " + " | ".join(cells) + " |")
    lines += ["", "Test tasks:", ""]
    lines += [f"- task {k}: {text}" for k, text in summary["test_tasks"].items()]
    return lines


def write_csv(path: Path, summary: dict[str, Any]) -> None:
    """One row per agent: its statistics against the reference, flat."""
    ref = summary["reference"]
    fractions = [f"{f:g}" for f in summary["budget_fractions"]]
    header = ["agent", "kind", "cost_episodes", "runs", "diverged_runs"]
    for metric in ("iqm", "mean"):
        header += [f"test_acc_{metric}", f"test_acc_{metric}_low", f"test_acc_{metric}_high"]
    header += ["p_improvement_over_reference", "p_improvement_low", "p_improvement_high"]
    header += ["normalised", "normalised_low", "normalised_high", "normalised_undefined_share"]
    for f in fractions:
        header += [f"val_acc_at_{f}_iqm", f"val_acc_at_{f}_low", f"val_acc_at_{f}_high"]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for name, a in summary["agents"].items():
            row: list[Any] = [name, a["kind"], a["cost_episodes"], a["runs"], a["diverged_runs"]]
            for metric in ("iqm", "mean"):
                e = a["test_acc"][metric]
                row += [e["point"], e["low"], e["high"]]
            p = a["p_improvement"].get(ref) if ref else None
            row += [p["point"], p["low"], p["high"]] if p else ["", "", ""]
            n = a["normalised_score"].get(ref) if ref else None
            row += [n["point"], n["low"], n["high"], n["undefined_share"]] if n else ["", "", "", ""]
            for f in fractions:
                e = a["acc_at_budget"][f]
                row += [e["point"], e["low"], e["high"]]
            writer.writerow(row)
