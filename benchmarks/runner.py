"""Compare agents on a benchmark suite: train, tune, evaluate, then summarise and plot.

A suite (`benchmarks/suites.py`) becomes independent jobs, each a dict that the pure top-level
function `run_job` runs and records as one JSON file under `<results>/runs/`:

- `train`     one learning agent on one training seed for the suite's budget -> a saved model;
- `evaluate`  a trained agent's greedy policy on every evaluation seed;
- `tune`      one hand schedule at one peak LR on one training seed;
- `evaluate`  each schedule at the peak with the best mean full-validation accuracy over the
              training seeds (test accuracy is never read to choose it), and the random agent,
              on every evaluation seed;
- `alternate` (protocol "alternate", the original paper's): one learning episode, then one
              greedy test episode on the next evaluation seed, and so on.

Jobs run in two stages, so that dependencies hold whatever the executor: stage 1 holds the
training, tuning and random-agent jobs, stage 2 the evaluations that need a trained model or a
chosen peak. A job whose file exists is skipped, so an interrupted suite resumes where it
stopped. Every file records the suite config, its fingerprint, the resolved env config, the git
commit, the machine, the command and the per-seed metrics (`EpisodeResult.to_dict()`).

Executors share one small interface (`Executor.map`): `SerialExecutor` runs jobs in this
process, `ProcessExecutor` in a pool of spawned processes (`--workers N`). Any other executor
(a Ray cluster, say) only has to map `run_job` over job dicts and yield the results.

Usage (from the repository root):
    python -m benchmarks.runner --suite tiny --workers 2
    python -m benchmarks.runner --suite tiny --toy                  # seconds: the machinery only
    python -m benchmarks.runner --suite fashion --only dqn cosine   # a subset of the agents
    python -m benchmarks.runner --suite tiny --ray                  # jobs as Ray tasks, Ray started here
    python -m benchmarks.runner --suite cifar10 --ray-address auto --gpus-per-job 0.5
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchmarks._record import REPO_ROOT, git_commit, machine
from benchmarks.suites import (
    MODELS_DIR,
    RUNS_DIR,
    Suite,
    default_results_dir,
    get_suite,
    suite_from_dict,
)
from lrgym_agents.rollout import StepRecord

Job = dict[str, Any]
JobFn = Callable[[Job], dict[str, Any]]

RANDOM_AGENT_SEED = 0  # seeds the random agent's own action generator
INVOCATIONS_FILE = "invocations.jsonl"  # one line per runner invocation: command, wall time, counts


# --- executors --------------------------------------------------------------------------------
class Executor(Protocol):
    """Runs `fn` on every job and yields the results in any order (as they finish).

    `fn` is `run_job`: a pure top-level function of a JSON-able dict, so it can be pickled to
    processes or shipped to remote workers. Jobs of one `map` call are independent.
    """

    def map(self, fn: JobFn, jobs: Sequence[Job]) -> Iterator[dict[str, Any]]: ...


class SerialExecutor:
    """Runs jobs one after another in this process (tests, debugging)."""

    def map(self, fn: JobFn, jobs: Sequence[Job]) -> Iterator[dict[str, Any]]:
        for job in jobs:
            yield fn(job)


def _init_worker() -> None:
    """One intra-op torch thread per worker: more oversubscribes the cores of a small machine."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


class ProcessExecutor:
    """Runs jobs in `workers` spawned processes (spawn: no forked torch state), one torch thread
    each. Processes live for one `map` call, so each loads its dataset once per stage."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers} must be >= 1")
        self.workers = workers

    def map(self, fn: JobFn, jobs: Sequence[Job]) -> Iterator[dict[str, Any]]:
        if not jobs:
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker) as pool:
            futures = [pool.submit(fn, job) for job in jobs]  # submitted in order: long jobs first
            for future in as_completed(futures):
                yield future.result()


def make_executor(workers: int) -> Executor:
    return SerialExecutor() if workers <= 1 else ProcessExecutor(workers)


# --- files ------------------------------------------------------------------------------------
def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Writes `data` so that `path` either does not exist or holds the whole file (a job is done
    exactly when its file exists, also if the process is killed mid-write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def check_fingerprint(results_dir: Path, suite: Suite) -> None:
    """Refuses to resume on files written for a different suite configuration."""
    for path in sorted((Path(results_dir) / RUNS_DIR).glob("*.json")):
        found = json.loads(path.read_text()).get("fingerprint")
        if found != suite.fingerprint():
            raise SystemExit(
                f"{path} was written for another configuration of suite {suite.name!r} (fingerprint {found}, "
                f"now {suite.fingerprint()}); move {results_dir} away or pass --results-dir to start afresh"
            )


# --- tuning -----------------------------------------------------------------------------------
def tuning_scores(results_dir: Path, schedule: str, peaks: Sequence[float], seeds: Sequence[int]) -> dict:
    """{peak: [full-validation accuracy per training seed]} from the tune files, or None while one
    is missing. Reads `full_val_acc` and nothing else: the test set plays no part in tuning."""
    table: dict[float, list[float]] = {}
    for peak in peaks:
        table[peak] = []
        for seed in seeds:
            path = Path(results_dir) / RUNS_DIR / f"{tune_id(schedule, peak, seed)}.json"
            if not path.is_file():
                return None
            (episode,) = json.loads(path.read_text())["episodes"]
            table[peak].append(float(episode["full_val_acc"]))
    return table


def choose_peak(table: dict[float, list[float]]) -> float:
    """The peak with the highest mean full-validation accuracy (a run without one counts as 0);
    ties go to the smaller peak."""
    means = {
        peak: float(np.mean(np.nan_to_num(np.asarray(v, dtype=float), nan=0.0))) for peak, v in table.items()
    }
    return max(sorted(means), key=lambda p: means[p])


# --- jobs -------------------------------------------------------------------------------------
def tune_id(schedule: str, peak: float, seed: int) -> str:
    return f"tune-{schedule}-p{peak:g}-s{seed}"


def _job(suite: Suite, results_dir: Path, job_id: str, kind: str, agent: str, **extra: Any) -> Job:
    return {
        "id": job_id,
        "kind": kind,
        "agent": agent,
        "suite": suite.to_dict(),
        "results_dir": str(results_dir),
        "command": list(sys.argv),
        **extra,
    }


def stage1_jobs(suite: Suite, results_dir: Path) -> list[Job]:
    """Jobs that depend on nothing: training (or the alternating protocol), tuning, random.

    Longest first, so that a pool finishes them together rather than waiting on a late start.
    """
    jobs = []
    kind = "alternate" if suite.protocol == "alternate" else "train"
    for agent in suite.learning_agents:
        for seed in suite.train_seeds:
            jobs.append(_job(suite, results_dir, f"{kind}-{agent}-s{seed}", kind, agent, train_seed=seed))
    for schedule in suite.schedules:
        for peak in suite.peak_grid:
            for seed in suite.train_seeds:
                jobs.append(
                    _job(
                        suite,
                        results_dir,
                        tune_id(schedule, peak, seed),
                        "tune",
                        schedule,
                        peak=peak,
                        train_seed=seed,
                    )
                )
    if suite.random:
        jobs.append(
            _job(suite, results_dir, "eval-random", "evaluate", "random", train_seed=RANDOM_AGENT_SEED)
        )
    return jobs


def stage2_jobs(suite: Suite, results_dir: Path) -> tuple[list[Job], dict[str, str]]:
    """Evaluations whose prerequisites are done, and {job id: agent} of those still blocked."""
    jobs: list[Job] = []
    blocked: dict[str, str] = {}
    runs = Path(results_dir) / RUNS_DIR
    if suite.protocol == "standard":
        for agent in suite.learning_agents:
            for seed in suite.train_seeds:
                job_id = f"eval-{agent}-s{seed}"
                if (runs / f"train-{agent}-s{seed}.json").is_file():
                    jobs.append(_job(suite, results_dir, job_id, "evaluate", agent, train_seed=seed))
                else:
                    blocked[job_id] = agent
    for schedule in suite.schedules:
        table = tuning_scores(results_dir, schedule, suite.peak_grid, suite.train_seeds)
        if table is None:
            blocked[f"eval-{schedule}"] = schedule
            continue
        tuning = {f"{p:g}": v for p, v in table.items()}
        jobs.append(
            _job(
                suite,
                results_dir,
                f"eval-{schedule}",
                "evaluate",
                schedule,
                peak=choose_peak(table),
                tuning=tuning,
            )
        )
    return jobs, blocked


def run_job(job: Job) -> dict[str, Any]:
    """Runs one job and writes its record; never raises (a failure is returned as data).

    Returns {"id", "status": "done" | "skipped" | "failed", "wall_s", "path", "error"}.
    """
    start, cpu_start, load_start = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    out = Path(job["results_dir"]) / RUNS_DIR / f"{job['id']}.json"
    status = {"id": job["id"], "path": str(out), "wall_s": 0.0, "error": None}
    if out.is_file():
        return {**status, "status": "skipped"}
    try:
        import torch

        torch.set_num_threads(1)  # every job on one thread: comparable wall times on any executor
        suite = suite_from_dict(job["suite"])
        record = _JOB_KINDS[job["kind"]](job, suite)
    except Exception:  # reported to the runner, which carries on with the other jobs
        return {
            **status,
            "status": "failed",
            "wall_s": time.perf_counter() - start,
            "error": traceback.format_exc(),
        }
    wall = time.perf_counter() - start
    write_json_atomic(
        out,
        {
            "job": {k: v for k, v in job.items() if k not in ("suite", "results_dir")},
            "suite": job["suite"],
            "fingerprint": suite.fingerprint(),
            "utc_time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "git_diff_sha256": git_diff_sha256(),
            "machine": machine(),
            "wall_s": wall,
            # CPU seconds of this process (one thread): the job's cost without other processes'
            # contention, which the 1-minute load averages at its start and end indicate.
            "cpu_s": time.process_time() - cpu_start,
            "load_avg_1min": [load_start, os.getloadavg()[0]],
            **record,
        },
    )
    return {**status, "status": "done", "wall_s": wall}


def git_diff_sha256() -> str | None:
    """A hash of the uncommitted changes to tracked files: with a "-dirty" commit, it tells
    whether two records ran the same code (None without git)."""
    try:
        diff = subprocess.run(
            ["git", "diff", "HEAD"], cwd=REPO_ROOT, capture_output=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return hashlib.sha256(diff).hexdigest()[:16]


def _make_env(suite: Suite, **overrides: Any):
    import gymnasium as gym

    import lrgym  # noqa: F401 - registers the LRTuning environments

    return gym.make(suite.env_id, **{**suite.env_kwargs, **overrides})


def _model_dir(job: Job) -> Path:
    return Path(job["results_dir"]) / MODELS_DIR / f"{job['agent']}-s{job['train_seed']}"


class _EpisodeLog:
    """The `Agent.learn` callback of a training job: one row per finished learning episode."""

    def __init__(self, stop_at_episode_end: bool = False) -> None:
        self.episodes: list[dict[str, Any]] = []
        self.stop_at_episode_end = stop_at_episode_end

    def __call__(self, record: StepRecord) -> bool:
        finished = record.finished()
        for episode in finished:
            self.episodes.append(
                {
                    "steps_done": record.steps_done,
                    "return": episode.episode_return,
                    "final_val_acc": float(episode.final_info["val_acc"]),
                    "diverged": bool(episode.final_info["diverged"]),
                    "lr": episode.lr,
                }
            )
        return not (finished and self.stop_at_episode_end)


def _train(job: Job, suite: Suite) -> dict[str, Any]:
    from lrgym_agents.registry import make_agent

    # No final validation/test pass while learning: nothing reads it, and it costs time.
    env = _make_env(suite, final_eval=False)
    agent = make_agent(job["agent"], env, seed=job["train_seed"], **suite.agent_kwargs.get(job["agent"], {}))
    log = _EpisodeLog()
    agent.learn(suite.train_steps, callback=log)
    agent.save(_model_dir(job))
    return {
        "env_config": env.unwrapped.config.to_dict(),
        "model_dir": str(_model_dir(job)),
        "training": {"steps_done": int(agent.steps_done), "episodes": log.episodes},
        "hyperparameters": agent.hyperparameters(),
    }


def _evaluate(job: Job, suite: Suite) -> dict[str, Any]:
    from lrgym_agents.evaluation import evaluate
    from lrgym_agents.registry import agent_class, make_agent

    name = job["agent"]
    if name in suite.schedules:  # a hand schedule at its chosen peak
        env = _make_env(suite, action_mode="absolute")
        agent = make_agent(name, env, peak_lr=job["peak"])
    elif name == "random":
        env = _make_env(suite)
        agent = make_agent(name, env, seed=job["train_seed"])
    else:
        env = _make_env(suite)
        agent = make_agent(name, env, seed=job["train_seed"], **suite.agent_kwargs.get(name, {}))
        agent.load(_model_dir(job))
    results = evaluate(agent, env, list(suite.eval_seeds))
    return {
        "env_config": env.unwrapped.config.to_dict(),
        "learns": agent_class(name).learns,
        "hyperparameters": agent.hyperparameters(),
        "episodes": [r.to_dict() for r in results],
    }


def _tune(job: Job, suite: Suite) -> dict[str, Any]:
    from lrgym_agents.evaluation import run_episode
    from lrgym_agents.registry import make_agent

    env = _make_env(suite, action_mode="absolute")
    agent = make_agent(job["agent"], env, peak_lr=job["peak"])
    result = run_episode(agent, env, job["train_seed"])
    return {"env_config": env.unwrapped.config.to_dict(), "episodes": [result.to_dict()]}


def _alternate(job: Job, suite: Suite) -> dict[str, Any]:
    """The original protocol: learn one episode, test greedily on the next evaluation seed, repeat."""
    from lrgym_agents.evaluation import run_episode
    from lrgym_agents.registry import make_agent

    name = job["agent"]
    train_env, test_env = _make_env(suite, final_eval=False), _make_env(suite)
    agent = make_agent(name, train_env, seed=job["train_seed"], **suite.agent_kwargs.get(name, {}))
    log = _EpisodeLog(stop_at_episode_end=True)
    episode_steps = train_env.unwrapped.config.num_steps
    tests = []
    for seed in suite.eval_seeds:
        learned = len(log.episodes)
        agent.learn(episode_steps, callback=log)  # one episode: fewer steps only if it diverged
        if len(log.episodes) == learned:  # the budget ran out mid-episode (impossible unless truncated)
            raise RuntimeError(f"learning episode {learned + 1} did not end within {episode_steps} steps")
        result = run_episode(agent, test_env, seed).to_dict()
        result["learning_episodes"] = len(log.episodes)
        tests.append(result)
    agent.save(_model_dir(job))
    return {
        "env_config": test_env.unwrapped.config.to_dict(),
        "learns": True,
        "model_dir": str(_model_dir(job)),
        "training": {"steps_done": int(agent.steps_done), "episodes": log.episodes},
        "hyperparameters": agent.hyperparameters(),
        "episodes": tests,
    }


_JOB_KINDS: dict[str, Callable[[Job, Suite], dict[str, Any]]] = {
    "train": _train,
    "evaluate": _evaluate,
    "tune": _tune,
    "alternate": _alternate,
}


# --- the runner -------------------------------------------------------------------------------
@dataclass
class RunReport:
    """What one invocation of `run_suite` did."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def run_suite(
    suite: Suite,
    results_dir: Path,
    executor: Executor,
    only: Sequence[str] | None = None,
    report: bool = True,
    log: Callable[[str], None] = print,
) -> RunReport:
    """Runs every job of `suite` not yet done, in dependency order, then the summary and plots.

    Args:
        suite: what to run.
        results_dir: where run files, models, the summary and the plots go.
        executor: how jobs run (`SerialExecutor`, `ProcessExecutor`, ...).
        only: run only the jobs of these agents (the summary covers whatever files exist).
        report: write the summary (stats.py) and plots (plots.py) afterwards.
        log: where progress lines go.
    """
    results_dir = Path(results_dir)
    check_fingerprint(results_dir, suite)
    start = time.perf_counter()
    rep = RunReport()
    for stage in (1, 2):
        blocked: dict[str, str] = {}
        if stage == 1:
            jobs = stage1_jobs(suite, results_dir)
        else:
            jobs, blocked = stage2_jobs(suite, results_dir)
        if only:
            jobs = [j for j in jobs if j["agent"] in only]
            blocked = {job_id: agent for job_id, agent in blocked.items() if agent in only}
        rep.blocked += list(blocked)
        todo = [j for j in jobs if not (results_dir / RUNS_DIR / f"{j['id']}.json").is_file()]
        rep.skipped += [j["id"] for j in jobs if j not in todo]
        log(f"stage {stage}: {len(todo)} jobs to run, {len(jobs) - len(todo)} already done")
        for n, result in enumerate(executor.map(run_job, todo), start=1):
            if result["status"] == "failed":
                rep.failed[result["id"]] = result["error"]
                log(f"  [{_now()}] FAILED {result['id']} ({n}/{len(todo)}):\n{result['error']}")
            elif result["status"] == "skipped":
                rep.skipped.append(result["id"])
            else:
                rep.done.append(result["id"])
                log(f"  [{_now()}] {result['id']} done in {result['wall_s']:.0f} s ({n}/{len(todo)})")
    rep.wall_s = time.perf_counter() - start
    _log_invocation(results_dir, suite, executor, rep)
    if rep.blocked:
        log(f"not run, waiting on failed or filtered jobs: {', '.join(rep.blocked)}")
    if report and (results_dir / RUNS_DIR).is_dir():
        from benchmarks import plots, stats

        summary = stats.summarize(results_dir, suite)
        log(stats.markdown_table(summary))
        for path in plots.plot_all(results_dir, suite, summary):
            log(f"wrote {path}")
    log(
        f"{len(rep.done)} jobs run, {len(rep.skipped)} skipped, {len(rep.failed)} failed in {rep.wall_s:.0f} s"
    )
    return rep


def _now() -> str:
    return time.strftime("%H:%M:%S")


def _log_invocation(results_dir: Path, suite: Suite, executor: Executor, rep: RunReport) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    line = {
        "utc_time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": list(sys.argv),
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "git_commit": git_commit(),
        "executor": type(executor).__name__,
        "workers": getattr(executor, "workers", 1),
        "wall_s": rep.wall_s,
        "jobs_run": len(rep.done),
        "jobs_skipped": len(rep.skipped),
        "jobs_failed": sorted(rep.failed),
    }
    with (results_dir / INVOCATIONS_FILE).open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite", required=True, help="tiny, fashion, cifar10 or paper (benchmarks/suites.py)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1: run in this process)")
    parser.add_argument(
        "--toy", action="store_true", help="the suite shrunk to seconds (tests, trying it out)"
    )
    parser.add_argument("--only", nargs="+", metavar="AGENT", help="run only these agents' jobs")
    parser.add_argument("--results-dir", type=Path, help="default benchmarks/results/<suite>[/toy]")
    parser.add_argument("--no-report", action="store_true", help="skip the summary and the plots")
    parser.add_argument("--ray", action="store_true", help="run the jobs as Ray tasks (starts Ray here)")
    parser.add_argument(
        "--ray-address", metavar="ADDR", help="run the jobs on this Ray cluster (implies --ray)"
    )
    parser.add_argument(
        "--gpus-per-job", type=float, default=0, help="GPUs (or a fraction) Ray reserves per job; needs --ray"
    )
    args = parser.parse_args(argv)
    use_ray = args.ray or args.ray_address is not None
    if args.gpus_per_job and not use_ray:
        parser.error("--gpus-per-job needs --ray or --ray-address (the local executors do not place GPUs)")
    try:
        suite = get_suite(args.suite, toy_version=args.toy)
    except ValueError as exc:
        parser.error(str(exc))
    known = {*suite.learning_agents, *suite.schedules, *(["random"] if suite.random else [])}
    if args.only and not set(args.only) <= known:
        parser.error(
            f"--only {sorted(set(args.only) - known)}: not in suite {suite.name!r} ({', '.join(sorted(known))})"
        )
    results_dir = args.results_dir or default_results_dir(suite)
    print(f"suite {suite.name} ({suite.fingerprint()}): {suite.description}; results in {results_dir}")
    if use_ray:
        from benchmarks.ray_executor import RayExecutor

        try:
            executor = RayExecutor(args.ray_address, num_gpus_per_job=args.gpus_per_job)
        except ValueError as exc:  # e.g. a negative --gpus-per-job
            parser.error(str(exc))
    else:
        executor = make_executor(args.workers)
    try:
        rep = run_suite(suite, results_dir, executor, only=args.only, report=not args.no_report)
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
