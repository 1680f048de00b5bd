"""Statistics of a suite's runs: IQM and mean with stratified-bootstrap intervals, by rliable.

What is compared is the final test accuracy of each evaluation episode (a whole training run on
a held-out seed). The bootstrap, the aggregates and the probability of improvement are rliable's
own code (`rliable.library`, `rliable.metrics`); how the runs are laid out for it decides what an
interval means:

- A **learning agent**'s runs are its training seeds x evaluation seeds, and the runs of one
  training seed share a policy. Its scores form a (evaluation seeds, training seeds) matrix, and
  rliable's `StratifiedBootstrap` with `task_bootstrap=True` resamples it in two levels: training
  seeds (the matrix's columns) with replacement, then evaluation seeds within each drawn training
  seed. Its intervals cover the spread over training seeds, which resampling the runs as if
  independent would hide.
- A **hand schedule**'s and the **random agent**'s runs are the evaluation seeds (there is
  nothing to train): one level, rliable's stratified bootstrap of runs.

Reported per agent (95% percentile intervals, `Suite.bootstrap_reps` resamples; rliable draws
from numpy's global generator, which is seeded with `Suite.bootstrap_seed` for each interval and
restored afterwards):

- IQM (mean of the middle 50% of runs) and mean of the final test accuracy;
- the normalised score, 0 = the random agent, 1 = the best hand schedule: (s - s_random) /
  (s_best - s_random) for the IQM and the mean, undefined ("—") where s_best <= s_random (s the statistic of the agent, of random and of
  the best schedule; the references' point estimates are constants of the transformation);
- the probability of improvement over the best hand schedule: P(X > Y) + P(X = Y)/2 for a random
  run X of the agent and Y of the schedule (`metrics.probability_of_improvement` on the pooled
  runs), each side resampled as above (two levels for a learning agent), independently; and
  the same over the random agent, the floor any controller must clear;
- the validation-subset accuracy reached at 50%, 75% and 100% of the training budget (the
  decision closest to that many epochs; a run that diverged earlier keeps its last value), which
  is what a claim of "accelerating training" is about.

The **best hand schedule** (the reference) is chosen on validation, as each schedule's peak is:
the schedule whose chosen peak has the highest mean full-validation accuracy over the training
seeds (its tuning runs). Test accuracy is never read to choose anything.

The summary also says where its records come from: the code states (commit and diff hash), and
whether they are mixed, records of another configuration, and records without a checksum.

Cost: rliable's bootstrap calls the statistic once per resample in Python; 10,000 resamples of
an IQM take a few seconds, so a full suite's summary takes minutes.

Suites of the "tasks" protocol (held-out test tasks of a task distribution) are summarised by
`benchmarks/task_stats.py`, with these intervals and its own references.

Usage (from the repository root; the runner calls it at the end):
    python -m benchmarks.stats --suite tiny [--toy] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rliable import library, metrics

from benchmarks._record import CHECKSUM_KEY, RecordError, read_record, state_label
from benchmarks.suites import RUNS_DIR, Suite, default_results_dir, get_suite

SUMMARY_JSON, SUMMARY_CSV, SUMMARY_MD = "summary.json", "summary.csv", "summary.md"
KINDS = ("learning", "schedule", "random")
EVALUATION_KINDS = ("evaluate", "alternate", "train_evaluate")  # job kinds whose records hold test runs
INVOCATIONS_FILE = "invocations.jsonl"  # the runner's log of its invocations


# --- the statistics -------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A point estimate and its confidence interval [low, high]."""

    point: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high}


def as_matrix(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores as rliable's (runs, tasks) matrix; a flat sequence is one column."""
    x = np.asarray(scores, dtype=float)
    return x.reshape(-1, 1) if x.ndim == 1 else x


def iqm(scores: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean (rliable's): the mean of the middle 50% of all scores."""
    return float(metrics.aggregate_iqm(as_matrix(scores)))


def mean(scores: Sequence[float] | np.ndarray) -> float:
    """Mean over columns of the mean over runs (rliable's); the mean of all scores when every
    column holds as many runs."""
    return float(metrics.aggregate_mean(as_matrix(scores)))


AGGREGATES: dict[str, Callable[[np.ndarray], Any]] = {
    "iqm": metrics.aggregate_iqm,
    "mean": metrics.aggregate_mean,
}


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """numpy's global generator seeded with `seed` inside, restored afterwards: rliable draws its
    resampling indices from it."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def interval(
    scores: Sequence[float] | np.ndarray,
    statistic: str,
    reps: int,
    seed: int,
    confidence: float = 0.95,
    two_level: bool = False,
) -> Estimate:
    """`statistic` ("iqm" or "mean") with its percentile interval from rliable's stratified bootstrap.

    Args:
        scores: runs as a flat sequence (one level), or a (evaluation seeds, training seeds)
            matrix of one learning agent.
        statistic: "iqm" or "mean" (rliable's `aggregate_iqm`, `aggregate_mean`).
        reps: bootstrap resamples.
        seed: seeds the resampling.
        confidence: the interval's coverage.
        two_level: resample the matrix's columns (training seeds) with replacement, then rows
            (evaluation seeds) within each drawn column: `task_bootstrap=True` in rliable.
    """
    aggregate = AGGREGATES[statistic]
    x = as_matrix(scores)
    with seeded_global_rng(seed):
        points, intervals = library.get_interval_estimates(
            {"x": x},
            lambda s: np.array([aggregate(s)]),
            method="percentile",
            task_bootstrap=two_level,
            reps=reps,
            confidence_interval_size=confidence,
        )
    return Estimate(float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0]))


class IndependentTwoLevelBootstrap(library.StratifiedIndependentBootstrap):
    """rliable's `StratifiedIndependentBootstrap` (each input resampled independently), where an
    input marked in `task_bootstrap` is resampled in two levels as `StratifiedBootstrap` does with
    `task_bootstrap=True`: its last axis (the training seeds) with replacement, then its rows (the
    evaluation seeds) within each drawn column. Inputs are (runs, training seeds) or (runs, tasks,
    training seeds); in the second case one draw of training seeds serves every task."""

    def __init__(self, *args: np.ndarray, task_bootstrap: Sequence[bool], random_state: Any = None) -> None:
        super().__init__(*args, random_state=random_state)
        if len(task_bootstrap) != len(args):
            raise ValueError(f"task_bootstrap has {len(task_bootstrap)} entries for {len(args)} inputs")
        self._task_bootstrap = tuple(task_bootstrap)

    def update_indices(self) -> tuple[list[tuple[np.ndarray, ...]], dict[str, tuple[np.ndarray, ...]]]:
        pos_indices, kw_indices = super().update_indices()
        for i, two_level in enumerate(self._task_bootstrap):
            if two_level:
                *within, columns = pos_indices[i]
                drawn = np.random.choice(self._args_shapes[i][-1], columns.shape, replace=True)
                pos_indices[i] = (*within, drawn)
        return pos_indices, kw_indices


def _pooled_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([metrics.probability_of_improvement(x.reshape(-1, 1), y.reshape(-1, 1))])


def probability_of_improvement(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    reps: int,
    seed: int,
    confidence: float = 0.95,
    x_two_level: bool = False,
    y_two_level: bool = False,
) -> Estimate:
    """rliable's probability of improvement of `x` over `y` over all pairs of runs (the
    Mann-Whitney U statistic over nx * ny, ties counted half), with a percentile interval from
    resampling both independently; a side marked two-level is a (evaluation seeds, training
    seeds) matrix resampled in two levels (see `interval`)."""
    xs, ys = as_matrix(x), as_matrix(y)
    return paired_statistic(_pooled_improvement, xs, ys, reps, seed, confidence, (x_two_level, y_two_level))


def paired_statistic(
    statistic: Any,
    x: np.ndarray,
    y: np.ndarray,
    reps: int,
    seed: int,
    confidence: float,
    two_level: tuple[bool, bool],
) -> Estimate:
    """`statistic(x, y)` (a one-element array) with a percentile interval from resampling `x` and
    `y` independently, each in two levels where `two_level` says so (`IndependentTwoLevelBootstrap`)."""
    point = float(statistic(x, y)[0])
    with seeded_global_rng(seed):
        bootstrap = IndependentTwoLevelBootstrap(x, y, task_bootstrap=two_level)
        low, high = bootstrap.conf_int(statistic, reps=reps, size=confidence, method="percentile")
    return Estimate(point, float(low[0]), float(high[0]))


def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """The fraction of scores above each threshold: rliable's `score_distributions`, vectorised
    (rliable's own loops over thresholds in Python)."""
    return (np.asarray(scores).reshape(-1, 1) > np.asarray(taus).reshape(1, -1)).mean(axis=0)


def performance_profile(
    scores: Sequence[float] | np.ndarray,
    taus: np.ndarray,
    reps: int,
    seed: int,
    confidence: float = 0.95,
    two_level: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """rliable's performance profile (the fraction of runs above each threshold) and its
    bootstrap band, shape (2, len(taus)); `scores` and `two_level` as for `interval`."""
    with seeded_global_rng(seed):
        profiles, bands = library.create_performance_profile(
            {"x": as_matrix(scores)},
            taus,
            custom_profile_func=score_distribution,
            task_bootstrap=two_level,
            reps=reps,
            confidence_interval_size=confidence,
        )
    return profiles["x"], bands["x"]


def normalised(e: Estimate, zero: float, one: float) -> Estimate | None:
    """`e` mapped so that `zero` -> 0 and `one` -> 1; None unless `one` is above `zero` (where the
    best schedule does not beat random the scale would flip, and the score means nothing)."""
    if not math.isfinite(zero) or not math.isfinite(one) or one <= zero:
        return None
    scale = 1.0 / (one - zero)
    return Estimate((e.point - zero) * scale, (e.low - zero) * scale, (e.high - zero) * scale)


def acc_at_fraction(episode: dict[str, Any], fraction: float, budget_epochs: float) -> float:
    """Validation-subset accuracy at the decision closest to `fraction` of the budget.

    Decision 0 is the untrained network (epoch 0). A run that ended early (divergence) has no
    later decisions, so its last accuracy stands for the rest of the budget.
    """
    epochs = np.array([0.0, *episode["epoch"]])
    index = int(np.argmin(np.abs(epochs - fraction * budget_epochs)))
    return float(episode["val_acc"][index])


# --- the runs -------------------------------------------------------------------------------
@dataclass
class AgentRuns:
    """Every evaluation episode of one agent in a suite."""

    name: str
    kind: str  # one of KINDS
    episodes: list[dict[str, Any]] = field(default_factory=list)  # EpisodeResult dicts + "train_seed"
    peak_lr: float | None = None  # a schedule's chosen peak
    tuning: dict[str, list[float]] | None = None  # a schedule's full-validation accuracy per peak
    budget_epochs: float = 0.0
    wall_s: float = 0.0  # evaluation wall time (all its jobs)

    @property
    def two_level(self) -> bool:
        """Whether its runs are resampled in two levels (training seeds, then evaluation seeds)."""
        return self.kind == "learning"

    def scores(self, key: str = "test_acc") -> np.ndarray:
        return np.array([float(e[key]) for e in self.episodes])

    def acc_at(self, fraction: float) -> np.ndarray:
        return np.array([acc_at_fraction(e, fraction, self.budget_epochs) for e in self.episodes])

    def matrix(self, values: np.ndarray) -> np.ndarray:
        """Per-run `values` laid out for the bootstrap: (evaluation seeds, training seeds) for a
        learning agent (a column per policy), one column otherwise.

        Raises:
            ValueError: a learning agent's training seeds have different numbers of runs.
        """
        values = np.asarray(values, dtype=float)
        if not self.two_level:
            return values.reshape(-1, 1)
        seeds = sorted({e["train_seed"] for e in self.episodes})
        columns = [values[[i for i, e in enumerate(self.episodes) if e["train_seed"] == s]] for s in seeds]
        if len({len(c) for c in columns}) > 1:
            counts = {str(s): len(c) for s, c in zip(seeds, columns, strict=True)}
            raise ValueError(
                f"agent {self.name!r}: its training seeds have different numbers of evaluation runs "
                f"({counts}); the two-level bootstrap needs as many runs per training seed"
            )
        return np.stack(columns, axis=1)

    def tuning_score(self) -> float:
        """A schedule's mean full-validation accuracy over the training seeds at its chosen peak
        (a run without one counts as 0, as when the peak was chosen).

        Raises:
            ValueError: the runs hold no tuning scores (not a tuned schedule).
        """
        if self.tuning is None or self.peak_lr is None:
            raise ValueError(
                f"schedule {self.name!r} has no tuning scores: the reference schedule is chosen on "
                "validation and cannot be chosen without them"
            )
        return float(np.mean(np.nan_to_num(np.asarray(self.tuning[f"{self.peak_lr:g}"], dtype=float))))


def load_records(results_dir: Path) -> list[dict[str, Any]]:
    """Every finished job's record under `results_dir`/runs, each checked (`read_record`).

    Raises:
        RecordError: a record is damaged or was edited; the message names it and the remedy.
    """
    return [read_record(p) for p in sorted((Path(results_dir) / RUNS_DIR).glob("*.json"))]


def runs_from_records(records: Sequence[dict[str, Any]], suite: Suite) -> dict[str, AgentRuns]:
    """The evaluation episodes of every agent that has any, in the suite's order of agents;
    agents evaluated beside the suite (PBT, scored agents) come after its learning agents."""
    found: dict[str, AgentRuns] = {}
    for record in records:
        job = record["job"]
        if job["kind"] not in EVALUATION_KINDS:
            continue
        name = job["agent"]
        registered = suite.registry_agent(name)
        kind = "schedule" if name in suite.schedules else "random" if registered == "random" else "learning"
        runs = found.setdefault(
            name, AgentRuns(name, kind, budget_epochs=float(record["env_config"]["epochs"]))
        )
        runs.episodes += [{**e, "train_seed": job.get("train_seed")} for e in record["episodes"]]
        runs.wall_s += float(record["wall_s"])
        if kind == "schedule":
            runs.peak_lr, runs.tuning = job.get("peak"), job.get("tuning")
    randoms = ["random", *suite.random_variants]
    extra = sorted(set(found) - {*suite.learning_agents, *suite.schedules, *randoms})
    order = [*suite.learning_agents, *extra, *suite.schedules, *randoms]
    return {name: found[name] for name in order if name in found}


def load_runs(results_dir: Path, suite: Suite) -> dict[str, AgentRuns]:
    """`runs_from_records` of the records under `results_dir`."""
    return runs_from_records(load_records(results_dir), suite)


def best_schedule(runs: dict[str, AgentRuns]) -> str | None:
    """The reference: the hand schedule whose chosen peak has the highest mean full-validation
    accuracy over the training seeds (`AgentRuns.tuning_score`), the first in order on ties;
    None without schedules. Test accuracy is never read."""
    best, best_score = None, -math.inf
    for r in runs.values():
        if r.kind == "schedule" and r.tuning_score() > best_score:
            best, best_score = r.name, r.tuning_score()
    return best


# --- the summary ----------------------------------------------------------------------------
def summarize(results_dir: Path, suite: Suite, write: bool = True) -> dict[str, Any]:
    """Computes every statistic of the records under `results_dir` and (if `write`) saves
    summary.json, summary.csv and summary.md there (a "tasks" suite: `task_stats.summarize`)."""
    if suite.protocol == "tasks":
        from benchmarks import task_stats  # it imports this module

        return task_stats.summarize(results_dir, suite, write)
    results_dir = Path(results_dir)
    records = load_records(results_dir)
    summary = summarize_runs(
        runs_from_records(records, suite), suite, records, invocations=read_invocations(results_dir)
    )
    if write:
        write_summary(results_dir, summary)
    return summary


def write_summary(results_dir: Path, summary: dict[str, Any]) -> None:
    (results_dir / SUMMARY_JSON).write_text(json.dumps(summary, indent=1) + "\n")
    _write_csv(results_dir / SUMMARY_CSV, summary)
    (results_dir / SUMMARY_MD).write_text(markdown_table(summary) + "\n")


def summarize_runs(
    runs: dict[str, AgentRuns],
    suite: Suite,
    records: Sequence[dict[str, Any]],
    invocations: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Every statistic of `runs` (see the module docstring), with the provenance of `records`."""
    reps, seed, conf = suite.bootstrap_reps, suite.bootstrap_seed, suite.confidence
    best = best_schedule(runs)
    agents: dict[str, Any] = {}
    for name, r in runs.items():
        test = r.matrix(r.scores())
        entry: dict[str, Any] = {
            "kind": r.kind,
            "runs": int(test.size),
            "bootstrap_levels": 2 if r.two_level else 1,
            "train_seeds": sorted({e["train_seed"] for e in r.episodes}) if r.kind == "learning" else [],
            "peak_lr": r.peak_lr,
            "tuning_full_val_acc": r.tuning,
            "test_acc": {
                s: interval(test, s, reps, seed, conf, r.two_level).to_dict() for s in ("iqm", "mean")
            },
            "normalised_score": None,
            "full_val_acc_mean": mean(r.scores("full_val_acc")),
            "p_improvement_over_best_schedule": None,
            "p_improvement_over_random": None,
            "acc_at_budget": {
                f"{f:g}": interval(r.matrix(r.acc_at(f)), "iqm", reps, seed, conf, r.two_level).to_dict()
                for f in suite.budget_fractions
            },
            "diverged_runs": int(sum(bool(e["diverged"]) for e in r.episodes)),
            "per_train_seed_mean_test_acc": _per_seed_means(r) if r.kind == "learning" else {},
            "eval_wall_s_per_episode": r.wall_s / max(1, test.size),
        }
        if best is not None and name != best:
            entry["p_improvement_over_best_schedule"] = _improvement(r, runs[best], suite)
        if "random" in runs and name != "random":  # the floor every controller must clear
            entry["p_improvement_over_random"] = _improvement(r, runs["random"], suite)
        agents[name] = entry
    _add_normalised_scores(agents, best)
    return {
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "description": suite.description,
        "utc_time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commits": sorted({str(r.get("git_commit")) for r in records}),
        "provenance": provenance(records, suite),
        "machines": sorted({_machine_line(r["machine"]) for r in records}),
        "bootstrap": {
            "reps": reps,
            "seed": seed,
            "confidence": conf,
            "method": "percentile",
            "levels": "learning agents: training seeds, then evaluation seeds within them; others: evaluation seeds",
            "library": "rliable",
        },
        "best_schedule": best,
        "best_schedule_chosen_by": "mean full-validation accuracy over the training seeds at the chosen peak",
        "budget_fractions": list(suite.budget_fractions),
        "agents": agents,
        "compute": _compute(records, invocations),
    }


def _improvement(r: AgentRuns, reference: AgentRuns, suite: Suite) -> dict[str, float]:
    """`probability_of_improvement` of `r`'s test accuracies over `reference`'s."""
    return probability_of_improvement(
        r.matrix(r.scores()),
        reference.matrix(reference.scores()),
        suite.bootstrap_reps,
        suite.bootstrap_seed,
        suite.confidence,
        x_two_level=r.two_level,
        y_two_level=reference.two_level,
    ).to_dict()


def _add_normalised_scores(agents: dict[str, Any], best: str | None) -> None:
    """Each agent's IQM and mean mapped to 0 = random, 1 = the best schedule (if both exist)."""
    if best is None or "random" not in agents:
        return
    for entry in agents.values():
        scores = {}
        for statistic in ("iqm", "mean"):
            zero = agents["random"]["test_acc"][statistic]["point"]
            one = agents[best]["test_acc"][statistic]["point"]
            e = normalised(Estimate(**entry["test_acc"][statistic]), zero, one)
            scores[statistic] = None if e is None else e.to_dict()
        entry["normalised_score"] = scores


def provenance(records: Sequence[dict[str, Any]], suite: Suite) -> dict[str, Any]:
    """Where the records come from: code states (commit + diff hash) with their record counts,
    whether they are mixed, records of another configuration, records without a checksum."""
    states: dict[tuple[str, str], int] = {}
    fingerprints: dict[str, int] = {}
    for r in records:
        key = (str(r.get("git_commit")), str(r.get("git_diff_sha256")))
        states[key] = states.get(key, 0) + 1
        fingerprints[str(r.get("fingerprint"))] = fingerprints.get(str(r.get("fingerprint")), 0) + 1
    current = suite.fingerprint()
    return {
        "code_states": [
            {"git_commit": c, "git_diff_sha256": d, "records": n} for (c, d), n in sorted(states.items())
        ],
        "mixed": len(states) > 1,
        "dirty": any(c.endswith("-dirty") for c, _ in states),
        "records_of_another_configuration": sum(n for fp, n in fingerprints.items() if fp != current),
        "records_without_checksum": sum(1 for r in records if CHECKSUM_KEY not in r),
    }


def read_invocations(results_dir: Path) -> list[dict[str, Any]]:
    log = Path(results_dir) / INVOCATIONS_FILE
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _per_seed_means(r: AgentRuns) -> dict[str, float]:
    seeds = sorted({e["train_seed"] for e in r.episodes})
    return {str(s): mean([e["test_acc"] for e in r.episodes if e["train_seed"] == s]) for s in seeds}


def _machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m.get('cpu_model')} ({m.get('cpu_count')} cores, {m.get('torch_threads')} torch threads), "
        f"GPU {m.get('cuda_device')}, torch {m.get('torch')}"
    )


def _compute(records: Sequence[dict[str, Any]], invocations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Wall and CPU time spent per kind of job (summed over jobs), the machine's load while they
    ran, and each runner invocation's wall time."""
    by_kind: dict[str, float] = {}
    cpu_by_kind: dict[str, float] = {}
    for r in records:
        kind = r["job"]["kind"]
        by_kind[kind] = by_kind.get(kind, 0.0) + float(r["wall_s"])
        # a PBT search's members run in Ray workers: their CPU time is recorded beside the driver's
        member_cpu_s = r["pbt"]["compute"]["member_cpu_s"] if kind == "pbt" else 0.0
        cpu_by_kind[kind] = cpu_by_kind.get(kind, 0.0) + float(r.get("cpu_s", float("nan"))) + member_cpu_s
    loads = [x for r in records for x in r.get("load_avg_1min", [])]
    return {
        "job_wall_s_by_kind": by_kind,
        "job_wall_s_total": sum(by_kind.values()),
        "job_cpu_s_by_kind": cpu_by_kind,
        "job_cpu_s_total": sum(cpu_by_kind.values()),
        "load_avg_1min_median": float(np.median(loads)) if loads else None,
        "invocations": [
            {k: i.get(k) for k in ("utc_time", "workers", "wall_s", "jobs_run", "jobs_failed")}
            for i in invocations
        ],
    }


def _pct(e: dict[str, float] | None) -> str:
    if e is None:
        return "—"
    return f"{100 * e['point']:.1f} [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"


def _prob(e: dict[str, float] | None) -> str:
    if e is None:
        return "—"
    return f"{e['point']:.2f} [{e['low']:.2f}, {e['high']:.2f}]"


def _label(name: str, a: dict[str, Any]) -> str:
    if a["kind"] == "schedule":
        return f"{name} (peak {a['peak_lr']:g})"
    return name


def provenance_lines(summary: dict[str, Any]) -> list[str]:
    """Warnings about where the records come from (mixed, stale, unsealed), for the tables."""
    p = summary.get("provenance") or {}
    lines = []
    states = p.get("code_states", [])
    if p.get("mixed"):
        listed = "; ".join(f"{state_label(s)}: {s['records']} records" for s in states)
        lines.append(
            f"**Mixed results**: these records come from {len(states)} code states ({listed}). "
            "A suite's reported results should come from one clean commit."
        )
    elif states:
        lines.append(f"All records come from one code state: {state_label(states[0])}.")
    if p.get("records_of_another_configuration"):
        lines.append(
            f"**{p['records_of_another_configuration']} records were written for another configuration** "
            f"(a fingerprint other than {summary['fingerprint']})."
        )
    if p.get("records_without_checksum"):
        lines.append(
            f"{p['records_without_checksum']} records carry no checksum (written before records were "
            "checksummed): edits to them cannot be detected."
        )
    return lines


def markdown_table(summary: dict[str, Any]) -> str:
    """The summary as two markdown tables: final test accuracy, and accuracy over the budget (a
    "tasks" suite's: `task_stats.markdown_table`)."""
    if summary.get("protocol") == "tasks":
        from benchmarks import task_stats

        return task_stats.markdown_table(summary)
    best = summary["best_schedule"]
    fractions = [f"{f:g}" for f in summary["budget_fractions"]]
    half = "0.5" if "0.5" in fractions else fractions[0]
    reference = (
        f"best hand schedule (by full-validation accuracy): `{best}`; normalised IQM: 0 = random, 1 = `{best}`"
        if best
        else "no hand schedule to compare with"
    )
    lines = [
        f"Suite `{summary['suite']}`: final test accuracy (%) over held-out runs, IQM and mean with "
        "95% stratified-bootstrap CIs (rliable; learning agents resampled over training seeds, then "
        f"evaluation seeds); {reference}.",
        *provenance_lines(summary),
        "",
        "| agent | kind | runs | IQM test acc [95% CI] | mean test acc [95% CI] | normalised IQM [95% CI] | "
        f"P(improvement over {best or 'best schedule'}) [95% CI] | P(improvement over random) [95% CI] | "
        f"val acc at {float(half):.0%} of budget, IQM [95% CI] | diverged |",
        "| --- | --- | ---: | --- | --- | --- | --- | --- | --- | ---: |",
    ]
    for name, a in summary["agents"].items():
        poi = a["p_improvement_over_best_schedule"]
        norm = (a.get("normalised_score") or {}).get("iqm")
        lines.append(
            f"| {_label(name, a)} | {a['kind']} | {a['runs']} | {_pct(a['test_acc']['iqm'])} | "
            f"{_pct(a['test_acc']['mean'])} | {_prob(norm)} | "
            f"{_prob(poi) if name != best else '(reference)'} | "
            f"{_prob(a.get('p_improvement_over_random')) if name != 'random' else '(reference)'} | "
            f"{_pct(a['acc_at_budget'].get(half))} | {a['diverged_runs']} |"
        )
    lines += [
        "",
        "Validation-subset accuracy (%) reached at a fraction of the training budget, IQM [95% CI]:",
        "",
        "| agent | " + " | ".join(f"{float(f):.0%} of budget" for f in fractions) + " |",
        "| --- |" + " --- |" * len(fractions),
    ]
    for name, a in summary["agents"].items():
        lines.append(
            f"| {_label(name, a)} | " + " | ".join(_pct(a["acc_at_budget"][f]) for f in fractions) + " |"
        )
    return "\n".join(lines)


def _write_csv(path: Path, summary: dict[str, Any]) -> None:
    fractions = [f"{f:g}" for f in summary["budget_fractions"]]
    header = ["agent", "kind", "runs", "bootstrap_levels", "peak_lr", "diverged_runs"]
    for metric in ("iqm", "mean"):
        header += [f"test_acc_{metric}", f"test_acc_{metric}_low", f"test_acc_{metric}_high"]
    for metric in ("iqm", "mean"):
        header += [f"normalised_{metric}", f"normalised_{metric}_low", f"normalised_{metric}_high"]
    header += ["p_improvement", "p_improvement_low", "p_improvement_high"]
    header += ["p_improvement_over_random", "p_improvement_over_random_low", "p_improvement_over_random_high"]
    for f in fractions:
        header += [f"val_acc_at_{f}_iqm", f"val_acc_at_{f}_low", f"val_acc_at_{f}_high"]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for name, a in summary["agents"].items():
            row = [name, a["kind"], a["runs"], a["bootstrap_levels"], a["peak_lr"], a["diverged_runs"]]
            for metric in ("iqm", "mean"):
                e = a["test_acc"][metric]
                row += [e["point"], e["low"], e["high"]]
            for metric in ("iqm", "mean"):
                e = (a.get("normalised_score") or {}).get(metric)
                row += [e["point"], e["low"], e["high"]] if e else ["", "", ""]
            poi = a["p_improvement_over_best_schedule"]
            row += [poi["point"], poi["low"], poi["high"]] if poi else ["", "", ""]
            por = a.get("p_improvement_over_random")
            row += [por["point"], por["low"], por["high"]] if por else ["", "", ""]
            for f in fractions:
                e = a["acc_at_budget"][f]
                row += [e["point"], e["low"], e["high"]]
            writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise a suite's runs (IQM, mean, CIs).")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--toy", action="store_true")
    parser.add_argument("--results-dir", type=Path)
    args = parser.parse_args(argv)
    try:
        suite = get_suite(args.suite, toy_version=args.toy)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        summary = summarize(args.results_dir or default_results_dir(suite), suite)
    except (RecordError, ValueError) as exc:
        raise SystemExit(f"benchmarks.stats: {exc}") from exc
    print(markdown_table(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
