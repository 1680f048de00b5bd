"""Statistics of a suite's runs: IQM and mean with stratified-bootstrap intervals (rliable's).

What is compared is the final test accuracy of each evaluation episode (a whole training run on
a held-out seed). A learning agent's runs are its training seeds x evaluation seeds; a hand
schedule's and the random agent's are the evaluation seeds (they have nothing to train). Every
agent is one set of runs on a single task, so the stratified bootstrap resamples runs: the
interval says how much the estimate would move with other seeds of the same kind. Runs of one
learning agent that share a training seed share its policy, so with 3 training seeds its
interval is narrower than one over independent training runs would be; `summary.json` keeps the
mean per training seed for that reason.

Reported per agent (95% percentile intervals, `Suite.bootstrap_reps` resamples seeded by
`Suite.bootstrap_seed`):

- IQM (mean of the middle 50% of runs) and mean of the final test accuracy;
- the probability of improvement over the best hand schedule (the schedule with the highest
  IQM): P(X > Y) + P(X = Y)/2 for a random run X of the agent and Y of the schedule;
- the validation-subset accuracy reached at 50%, 75% and 100% of the training budget (the
  decision closest to that many epochs; a run that diverged earlier keeps its last value), which
  is what a claim of "accelerating training" is about.

The aggregate metrics are rliable's (`rliable.metrics`). The bootstrap follows rliable's
`StratifiedBootstrap` (runs resampled with replacement within each task; percentile interval)
but is written here in numpy: `rliable.library` needs the `arch` package, whose 7.x releases do
not import with pandas 3 and whose 8.x releases no longer accept the arguments rliable passes.
It is also vectorised, and seeded through its own `numpy.random.Generator`.

Usage (from the repository root; the runner calls it at the end):
    python -m benchmarks.stats --suite tiny [--toy] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
from rliable import metrics

from benchmarks.suites import RUNS_DIR, Suite, default_results_dir, get_suite

SUMMARY_JSON, SUMMARY_CSV, SUMMARY_MD = "summary.json", "summary.csv", "summary.md"
KINDS = ("learning", "schedule", "random")


# --- the statistics -------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A point estimate and its confidence interval [low, high]."""

    point: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high}


def _as_matrix(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores as rliable's (runs, tasks) matrix; a flat sequence is one task."""
    x = np.asarray(scores, dtype=float)
    return x.reshape(-1, 1) if x.ndim == 1 else x


def iqm(scores: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean (rliable's): the mean of the middle 50% of all scores."""
    return float(metrics.aggregate_iqm(_as_matrix(scores)))


def mean(scores: Sequence[float] | np.ndarray) -> float:
    """Mean over tasks of the mean over runs (rliable's)."""
    return float(metrics.aggregate_mean(_as_matrix(scores)))


# Each statistic as (point estimate on a (runs, tasks) matrix, the same over a batch of resampled
# matrices of shape (reps, runs, tasks)), defined as rliable defines them.
STATISTICS: dict[str, tuple[Callable[[np.ndarray], float], Callable[[np.ndarray], np.ndarray]]] = {
    "iqm": (iqm, lambda b: scipy.stats.trim_mean(b.reshape(len(b), -1), 0.25, axis=1)),
    "mean": (mean, lambda b: b.mean(axis=1).mean(axis=1)),
}


def stratified_resamples(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """`reps` bootstrap copies of a (runs, tasks) matrix, runs drawn with replacement within each
    task (rliable's stratified bootstrap); shape (reps, runs, tasks). Indices are drawn as one
    (reps, runs, tasks) array from `rng`."""
    runs, tasks = scores.shape
    idx = rng.integers(0, runs, size=(reps, runs, tasks))
    return scores[idx, np.arange(tasks)]


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` share of bootstrap values (numpy's linear percentiles)."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def interval(
    scores: Sequence[float] | np.ndarray, statistic: str, reps: int, seed: int, confidence: float = 0.95
) -> Estimate:
    """`statistic` ("iqm" or "mean") of `scores` with its stratified-bootstrap percentile interval."""
    point_fn, batch_fn = STATISTICS[statistic]
    x = _as_matrix(scores)
    boot = batch_fn(stratified_resamples(x, reps, np.random.default_rng(seed)))
    return Estimate(point_fn(x), *percentile_interval(boot, confidence))


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y)/2 over all pairs, for batches x (reps, nx) and y (reps, ny)."""
    diff = x[:, :, None] - y[:, None, :]
    return (diff > 0).mean(axis=(1, 2)) + 0.5 * (diff == 0).mean(axis=(1, 2))


def probability_of_improvement(
    x: Sequence[float], y: Sequence[float], reps: int, seed: int, confidence: float = 0.95
) -> Estimate:
    """rliable's probability of improvement of `x` over `y` (the Mann-Whitney U statistic over
    nx * ny, ties counted half), with an interval from resampling both sets independently (as
    rliable's StratifiedIndependentBootstrap does)."""
    xs, ys = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    point = float(metrics.probability_of_improvement(xs.reshape(-1, 1), ys.reshape(-1, 1)))
    rng = np.random.default_rng(seed)
    bx = stratified_resamples(xs.reshape(-1, 1), reps, rng)[:, :, 0]
    by = stratified_resamples(ys.reshape(-1, 1), reps, rng)[:, :, 0]
    return Estimate(point, *percentile_interval(_improvement(bx, by), confidence))


def performance_profile(
    scores: Sequence[float], taus: np.ndarray, reps: int, seed: int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of runs scoring above each threshold (rliable's score distribution), and its
    bootstrap band as an array of shape (2, len(taus))."""
    x = np.asarray(scores, dtype=float).ravel()
    profile = (x[:, None] > taus[None, :]).mean(axis=0)
    boot = stratified_resamples(x.reshape(-1, 1), reps, np.random.default_rng(seed))[:, :, 0]
    boot_profiles = (boot[:, :, None] > taus[None, None, :]).mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    return profile, np.percentile(boot_profiles, [tail, 100 - tail], axis=0)


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

    def scores(self, key: str = "test_acc") -> np.ndarray:
        return np.array([float(e[key]) for e in self.episodes])

    def acc_at(self, fraction: float) -> np.ndarray:
        return np.array([acc_at_fraction(e, fraction, self.budget_epochs) for e in self.episodes])


def load_records(results_dir: Path) -> list[dict[str, Any]]:
    """Every finished job's record under `results_dir`/runs."""
    return [json.loads(p.read_text()) for p in sorted((Path(results_dir) / RUNS_DIR).glob("*.json"))]


def load_runs(results_dir: Path, suite: Suite) -> dict[str, AgentRuns]:
    """The evaluation episodes of every agent that has any, in the suite's order of agents; agents
    evaluated beside the suite (PBT, benchmarks/pbt.py) come after its learning agents."""
    found: dict[str, AgentRuns] = {}
    for record in load_records(results_dir):
        job = record["job"]
        if job["kind"] not in ("evaluate", "alternate"):
            continue
        name = job["agent"]
        kind = "schedule" if name in suite.schedules else "random" if name == "random" else "learning"
        runs = found.setdefault(
            name, AgentRuns(name, kind, budget_epochs=float(record["env_config"]["epochs"]))
        )
        runs.episodes += [{**e, "train_seed": job.get("train_seed")} for e in record["episodes"]]
        runs.wall_s += float(record["wall_s"])
        if kind == "schedule":
            runs.peak_lr, runs.tuning = job["peak"], job["tuning"]
    extra = sorted(set(found) - {*suite.learning_agents, *suite.schedules, "random"})
    order = [*suite.learning_agents, *extra, *suite.schedules, "random"]
    return {name: found[name] for name in order if name in found}


def best_schedule(runs: dict[str, AgentRuns]) -> str | None:
    """The hand schedule with the highest IQM of final test accuracy (None without schedules)."""
    schedules = [r for r in runs.values() if r.kind == "schedule"]
    return max(schedules, key=lambda r: iqm(r.scores())).name if schedules else None


# --- the summary ----------------------------------------------------------------------------
def summarize(results_dir: Path, suite: Suite, write: bool = True) -> dict[str, Any]:
    """Computes every statistic and (if `write`) saves summary.json, summary.csv and summary.md."""
    results_dir = Path(results_dir)
    runs = load_runs(results_dir, suite)
    records = load_records(results_dir)
    reps, seed, conf = suite.bootstrap_reps, suite.bootstrap_seed, suite.confidence
    best = best_schedule(runs)
    agents: dict[str, Any] = {}
    for name, r in runs.items():
        test = r.scores()
        entry: dict[str, Any] = {
            "kind": r.kind,
            "runs": len(test),
            "train_seeds": sorted({e["train_seed"] for e in r.episodes}) if r.kind == "learning" else [],
            "peak_lr": r.peak_lr,
            "tuning_full_val_acc": r.tuning,
            "test_acc": {
                "iqm": interval(test, "iqm", reps, seed, conf).to_dict(),
                "mean": interval(test, "mean", reps, seed, conf).to_dict(),
            },
            "full_val_acc_mean": mean(r.scores("full_val_acc")),
            "p_improvement_over_best_schedule": None,
            "acc_at_budget": {
                f"{f:g}": interval(r.acc_at(f), "iqm", reps, seed, conf).to_dict()
                for f in suite.budget_fractions
            },
            "diverged_runs": int(sum(bool(e["diverged"]) for e in r.episodes)),
            "per_train_seed_mean_test_acc": _per_seed_means(r) if r.kind == "learning" else {},
            "eval_wall_s_per_episode": r.wall_s / max(1, len(test)),
        }
        if best is not None and name != best:
            entry["p_improvement_over_best_schedule"] = probability_of_improvement(
                test, runs[best].scores(), reps, seed, conf
            ).to_dict()
        agents[name] = entry
    summary = {
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "description": suite.description,
        "utc_time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commits": sorted({r["git_commit"] for r in records}),
        "machines": sorted({_machine_line(r["machine"]) for r in records}),
        "bootstrap": {"reps": reps, "seed": seed, "confidence": conf, "method": "percentile"},
        "best_schedule": best,
        "budget_fractions": list(suite.budget_fractions),
        "agents": agents,
        "compute": _compute(records, results_dir),
    }
    if write:
        (results_dir / SUMMARY_JSON).write_text(json.dumps(summary, indent=1) + "\n")
        _write_csv(results_dir / SUMMARY_CSV, summary)
        (results_dir / SUMMARY_MD).write_text(markdown_table(summary) + "\n")
    return summary


def _per_seed_means(r: AgentRuns) -> dict[str, float]:
    seeds = sorted({e["train_seed"] for e in r.episodes})
    return {str(s): mean([e["test_acc"] for e in r.episodes if e["train_seed"] == s]) for s in seeds}


def _machine_line(m: dict[str, Any]) -> str:
    return f"{m.get('cpu_model')} ({m.get('cpu_count')} cores), GPU {m.get('cuda_device')}, torch {m.get('torch')}"


def _compute(records: list[dict[str, Any]], results_dir: Path) -> dict[str, Any]:
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
    invocations = []
    log = results_dir / "invocations.jsonl"
    if log.is_file():
        invocations = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
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
        return "(reference)"
    return f"{e['point']:.2f} [{e['low']:.2f}, {e['high']:.2f}]"


def _label(name: str, a: dict[str, Any]) -> str:
    if a["kind"] == "schedule":
        return f"{name} (peak {a['peak_lr']:g})"
    return name


def markdown_table(summary: dict[str, Any]) -> str:
    """The summary as two markdown tables: final test accuracy, and accuracy over the budget."""
    best = summary["best_schedule"]
    fractions = [f"{f:g}" for f in summary["budget_fractions"]]
    half = "0.5" if "0.5" in fractions else fractions[0]
    lines = [
        f"Suite `{summary['suite']}`: final test accuracy (%) over held-out runs, "
        f"IQM and mean with 95% stratified-bootstrap CIs; best hand schedule (highest IQM): `{best}`.",
        "",
        "| agent | kind | runs | IQM test acc [95% CI] | mean test acc [95% CI] | "
        f"P(improvement over {best}) [95% CI] | val acc at {float(half):.0%} of budget, IQM [95% CI] | diverged |",
        "| --- | --- | ---: | --- | --- | --- | --- | ---: |",
    ]
    for name, a in summary["agents"].items():
        poi = a["p_improvement_over_best_schedule"]
        lines.append(
            f"| {_label(name, a)} | {a['kind']} | {a['runs']} | {_pct(a['test_acc']['iqm'])} | "
            f"{_pct(a['test_acc']['mean'])} | {_prob(poi) if name != best else '(reference)'} | "
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
    header = ["agent", "kind", "runs", "peak_lr", "diverged_runs"]
    for metric in ("iqm", "mean"):
        header += [f"test_acc_{metric}", f"test_acc_{metric}_low", f"test_acc_{metric}_high"]
    header += ["p_improvement", "p_improvement_low", "p_improvement_high"]
    for f in fractions:
        header += [f"val_acc_at_{f}_iqm", f"val_acc_at_{f}_low", f"val_acc_at_{f}_high"]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for name, a in summary["agents"].items():
            row = [name, a["kind"], a["runs"], a["peak_lr"], a["diverged_runs"]]
            for metric in ("iqm", "mean"):
                e = a["test_acc"][metric]
                row += [e["point"], e["low"], e["high"]]
            poi = a["p_improvement_over_best_schedule"]
            row += [poi["point"], poi["low"], poi["high"]] if poi else ["", "", ""]
            for f in fractions:
                e = a["acc_at_budget"][f]
                row += [e["point"], e["low"], e["high"]]
            writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Summarise a suite's runs (IQM, mean, CIs).")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--toy", action="store_true")
    parser.add_argument("--results-dir", type=Path)
    args = parser.parse_args(argv)
    suite = get_suite(args.suite, toy_version=args.toy)
    summary = summarize(args.results_dir or default_results_dir(suite), suite)
    print(markdown_table(summary))


if __name__ == "__main__":
    main()
