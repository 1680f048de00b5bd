"""Compare agents on a benchmark suite: train, tune, evaluate, then summarise and plot.

A suite (`benchmarks/suites.py`) becomes independent jobs (`benchmarks/jobs.py`), each a dict
that the pure top-level function `run_job` runs and records as one JSON file under
`<results>/runs/`:

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
chosen peak. Suites of the "tasks" protocol (a task distribution: train tasks for learning,
held-out test tasks for every evaluation) plan their jobs in `benchmarks/task_plan.py`. A job whose file exists is skipped, so an interrupted suite resumes where it
stopped, but only after `benchmarks/resume.py` has checked that every file is intact, written for
the suite as it resolves now (its fingerprint, and each job's resolved env configs and
hyperparameters) and by the same code state (commit and diff hash); records of another code
state are added to only with `--allow-mixed`, and the summary then says so. Every file records
the suite config, its fingerprint, the job's inputs, the git commit and diff hash, the machine,
the command, the per-seed metrics (`EpisodeResult.to_dict()`) and a checksum (`_record.py`).

Executors share one small interface (`Executor.map`): `SerialExecutor` runs jobs in this
process, `ProcessExecutor` (`benchmarks/workers.py`) in spawned worker processes (`--workers N`)
that exit when the runner dies and are stopped on Ctrl-C or SIGTERM. Any other executor (a Ray
cluster, say) only has to map `run_job` over job dicts and yield the results.

Usage (from the repository root):
    python -m benchmarks.runner --suite tiny --workers 2
    python -m benchmarks.runner --suite tiny --toy                  # seconds: the machinery only
    python -m benchmarks.runner --suite tinymix --workers 2         # learned control across tasks
    python -m benchmarks.runner --suite fashion --only dqn cosine   # a subset of the agents
    python -m benchmarks.runner --suite tiny --ray                  # jobs as Ray tasks, Ray started here
    python -m benchmarks.runner --suite cifar10 --ray-address auto --gpus-per-job 0.5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks import resume, task_plan
from benchmarks._record import code_state, read_record, state_label, write_json_atomic
from benchmarks.jobs import RANDOM_AGENT_SEED, run_job
from benchmarks.suites import RUNS_DIR, Suite, default_results_dir, get_suite
from benchmarks.tuning import choose_peak
from benchmarks.workers import ProcessExecutor

__all__ = [
    "Executor",
    "ProcessExecutor",
    "RunReport",
    "SerialExecutor",
    "choose_peak",
    "execute",
    "make_job",
    "run_job",
    "run_suite",
    "stage1_jobs",
    "stage2_jobs",
    "tune_id",
    "tuning_scores",
    "write_json_atomic",
]

Job = dict[str, Any]
JobFn = Callable[[Job], dict[str, Any]]

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


def make_executor(workers: int, log: Callable[[str], None] | None = None) -> Executor:
    return SerialExecutor() if workers <= 1 else ProcessExecutor(workers, log=log)


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
            (episode,) = read_record(path)["episodes"]
            table[peak].append(float(episode["full_val_acc"]))
    return table


# --- jobs -------------------------------------------------------------------------------------
def tune_id(schedule: str, peak: float, seed: int) -> str:
    return f"tune-{schedule}-p{peak:g}-s{seed}"


def make_job(
    suite: Suite,
    results_dir: Path,
    job_id: str,
    kind: str,
    agent: str,
    state: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Job:
    return {
        "id": job_id,
        "kind": kind,
        "agent": agent,
        "suite": suite.to_dict(),
        "results_dir": str(results_dir),
        "command": list(sys.argv),
        "code_state": dict(state) if state is not None else None,
        **extra,
    }


def stage1_jobs(suite: Suite, results_dir: Path, state: Mapping[str, Any] | None = None) -> list[Job]:
    """Jobs that depend on nothing: training (or the alternating protocol), tuning, random.

    Longest first, so that a pool finishes them together rather than waiting on a late start.
    """
    if suite.protocol == "tasks":
        return task_plan.stage1_jobs(suite, results_dir, state)
    jobs = []
    kind = "alternate" if suite.protocol == "alternate" else "train"
    for agent in suite.learning_agents:
        for seed in suite.train_seeds:
            jobs.append(
                make_job(suite, results_dir, f"{kind}-{agent}-s{seed}", kind, agent, state, train_seed=seed)
            )
    for schedule in suite.schedules:
        for peak in suite.peak_grid:
            for seed in suite.train_seeds:
                job_id = tune_id(schedule, peak, seed)
                jobs.append(
                    make_job(suite, results_dir, job_id, "tune", schedule, state, peak=peak, train_seed=seed)
                )
    for name in (*(["random"] if suite.random else []), *suite.random_variants):
        jobs.append(
            make_job(
                suite, results_dir, f"eval-{name}", "evaluate", name, state, train_seed=RANDOM_AGENT_SEED
            )
        )
    return jobs


def stage2_jobs(
    suite: Suite, results_dir: Path, state: Mapping[str, Any] | None = None
) -> tuple[list[Job], dict[str, str]]:
    """Evaluations whose prerequisites are done, and {job id: agent} of those still blocked."""
    if suite.protocol == "tasks":
        return task_plan.stage2_jobs(suite, results_dir, state)
    jobs: list[Job] = []
    blocked: dict[str, str] = {}
    runs = Path(results_dir) / RUNS_DIR
    if suite.protocol == "standard":
        for agent in suite.learning_agents:
            for seed in suite.train_seeds:
                job_id = f"eval-{agent}-s{seed}"
                if (runs / f"train-{agent}-s{seed}.json").is_file():
                    jobs.append(
                        make_job(suite, results_dir, job_id, "evaluate", agent, state, train_seed=seed)
                    )
                else:
                    blocked[job_id] = agent
    for schedule in suite.schedules:
        table = tuning_scores(results_dir, schedule, suite.peak_grid, suite.train_seeds)
        if table is None:
            blocked[f"eval-{schedule}"] = schedule
            continue
        tuning = {f"{p:g}": v for p, v in table.items()}
        jobs.append(
            make_job(
                suite,
                results_dir,
                f"eval-{schedule}",
                "evaluate",
                schedule,
                state,
                peak=choose_peak(table),
                tuning=tuning,
            )
        )
    return jobs, blocked


def agent_names(suite: Suite) -> list[str]:
    """The agent names of a suite's results (what `--only` accepts)."""
    if suite.protocol == "tasks":
        return task_plan.agent_names(suite)
    randoms = [*(["random"] if suite.random else []), *suite.random_variants]
    return [*suite.learning_agents, *suite.schedules, *randoms]


def serves(job: Job, suite: Suite, only: Sequence[str]) -> bool:
    """Whether a job contributes to one of the agents in `only`."""
    agents = task_plan.served_agents(job, suite) if suite.protocol == "tasks" else {job["agent"]}
    return bool(agents & set(only))


# --- the runner -------------------------------------------------------------------------------
@dataclass
class RunReport:
    """What one invocation of `run_suite` did."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False


def execute(
    jobs: Sequence[Job], executor: Executor, rep: RunReport, log: Callable[[str], None] = print
) -> None:
    """Runs `jobs` on `executor`, recording each outcome in `rep` and logging it."""
    for n, result in enumerate(executor.map(run_job, list(jobs)), start=1):
        if result["status"] == "failed":
            rep.failed[result["id"]] = result["error"]
            log(f"  [{_now()}] FAILED {result['id']} ({n}/{len(jobs)}):\n{result['error']}")
        elif result["status"] == "skipped":
            rep.skipped.append(result["id"])
        else:
            rep.done.append(result["id"])
            log(f"  [{_now()}] {result['id']} done in {result['wall_s']:.0f} s ({n}/{len(jobs)})")


def run_suite(
    suite: Suite,
    results_dir: Path,
    executor: Executor,
    only: Sequence[str] | None = None,
    report: bool = True,
    log: Callable[[str], None] = print,
    allow_mixed: bool = False,
) -> RunReport:
    """Runs every job of `suite` not yet done, in dependency order, then the summary and plots.

    Args:
        suite: what to run.
        results_dir: where run files, models, the summary and the plots go.
        executor: how jobs run (`SerialExecutor`, `ProcessExecutor`, ...).
        only: run only the jobs of these agents (the summary covers whatever files exist).
        report: write the summary (stats.py) and plots (plots.py) afterwards.
        log: where progress lines go.
        allow_mixed: add to records of another code state (commit or diff); the summary then
            says the results are mixed.

    Raises:
        resume.ResumeError: the results directory holds damaged records, records of another
            configuration, or (without `allow_mixed`) of another code state; nothing is run.
    """
    results_dir = Path(results_dir)
    state = code_state()
    records = resume.check_records(results_dir, suite, state, allow_mixed)
    start = time.perf_counter()
    rep = RunReport()
    try:
        for stage in (1, 2):
            blocked: dict[str, str] = {}
            if stage == 1:
                jobs = stage1_jobs(suite, results_dir, state)
            else:
                jobs, blocked = stage2_jobs(suite, results_dir, state)
                records = resume.read_all(results_dir)
            if only:
                jobs = [j for j in jobs if serves(j, suite, only)]
                blocked = {job_id: agent for job_id, agent in blocked.items() if agent in only}
            resume.check_jobs(jobs, records, suite)
            rep.blocked += list(blocked)
            todo = [j for j in jobs if j["id"] not in records]
            rep.skipped += [j["id"] for j in jobs if j["id"] in records]
            log(f"stage {stage}: {len(todo)} jobs to run, {len(jobs) - len(todo)} already done")
            execute(todo, executor, rep, log)
    except (KeyboardInterrupt, Interrupted):
        rep.interrupted = True
        raise
    finally:
        rep.wall_s = time.perf_counter() - start
        _log_invocation(results_dir, suite, executor, rep, state)
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


def _log_invocation(
    results_dir: Path, suite: Suite, executor: Executor, rep: RunReport, state: Mapping[str, Any]
) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    line = {
        "utc_time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": list(sys.argv),
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "git_commit": state.get("git_commit"),
        "git_diff_sha256": state.get("git_diff_sha256"),
        "executor": type(executor).__name__,
        "workers": getattr(executor, "workers", 1),
        "wall_s": rep.wall_s,
        "jobs_run": len(rep.done),
        "jobs_skipped": len(rep.skipped),
        "jobs_failed": sorted(rep.failed),
        "interrupted": rep.interrupted,
    }
    with (results_dir / INVOCATIONS_FILE).open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


# --- the command line -------------------------------------------------------------------------
class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the runner (a BaseException: no job's `except Exception` eats it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread while inside, so that executors
    stop their workers (`ProcessExecutor.map`'s cleanup) before the runner exits."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, previous in saved.items():
            signal.signal(s, previous)


def suite_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Suite:
    """The suite `--suite`/`--toy` name, after checking `--workers`; a usage error otherwise."""
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: must be >= 1")
    try:
        return get_suite(args.suite, toy_version=args.toy)
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite", required=True, help="tiny, fashion, cifar10, paper, tinymix or mix (benchmarks/suites.py)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1: run in this process)")
    parser.add_argument(
        "--toy", action="store_true", help="the suite shrunk to seconds (tests, trying it out)"
    )
    parser.add_argument("--only", nargs="+", metavar="AGENT", help="run only these agents' jobs")
    parser.add_argument("--results-dir", type=Path, help="default benchmarks/results/<suite>[/toy]")
    parser.add_argument("--no-report", action="store_true", help="skip the summary and the plots")
    parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="add to records written by another commit or diff (the summary then says the results are mixed)",
    )
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
    suite = suite_from_args(parser, args)
    known = set(agent_names(suite))
    if args.only and not set(args.only) <= known:
        parser.error(
            f"--only {sorted(set(args.only) - known)}: not in suite {suite.name!r} ({', '.join(sorted(known))})"
        )
    results_dir = args.results_dir or default_results_dir(suite)
    print(f"suite {suite.name} ({suite.fingerprint()}): {suite.description}; results in {results_dir}")
    print(f"code state {state_label(code_state())}")
    if use_ray:
        from benchmarks.ray_executor import RayExecutor

        try:
            executor = RayExecutor(args.ray_address, num_gpus_per_job=args.gpus_per_job)
        except ValueError as exc:  # e.g. a negative --gpus-per-job
            parser.error(str(exc))
    else:
        executor = make_executor(args.workers, log=print)
    try:
        with stop_on_signals():
            rep = run_suite(
                suite,
                results_dir,
                executor,
                only=args.only,
                report=not args.no_report,
                allow_mixed=args.allow_mixed,
            )
    except resume.ResumeError as exc:
        print(f"benchmarks.runner: {exc}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(
            f"benchmarks.runner: stopped by {signal.Signals(stop.signum).name}; the workers were stopped "
            "and the jobs they were running left no file. Finished jobs are kept: run the same command "
            "again to resume.",
            file=sys.stderr,
        )
        return 128 + stop.signum
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
