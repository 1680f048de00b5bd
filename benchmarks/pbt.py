"""Population Based Training of the learning rate: the standard non-RL competitor of LR control.

PBT (Jaderberg et al., 2017) trains a population of the same network at different learning
rates; at every perturbation interval the worst members copy the state of the best (exploit)
and continue at a perturbed or resampled LR (explore). The LR a member ends up with is a
schedule that was searched for, not learned as a policy, and it costs a whole population of
training runs. Here it runs with Ray Tune's `PopulationBasedTraining` over the same training
core the environment drives (`lrgym.training.Trainer`), so the comparison with the agents of a
suite is fair:

1. For each training seed of the suite, one PBT run: `population` members, each a
   `Trainer(cfg, seed)` built exactly as the environment's `reset(seed=...)` builds it, train
   the run's decisions (`cfg.batch_boundaries()`) `decisions_per_interval` at a time at their
   LR, report the validation-subset accuracy (never the test set) and save a checkpoint
   (`Trainer.state_dict()` and the LR applied at every decision so far). When PBT makes a member
   exploit another, the member restores the other's checkpoint, so its history is its lineage.
2. The member with the best final full-validation accuracy wins (how the suite tunes its hand
   schedules too); its lineage's LR at every decision becomes a fixed per-decision schedule.
   LRs are snapped to what the environment's `absolute` action can express, so replaying the
   schedule on the training seed reproduces the winning run exactly (on the CPU).
3. The schedule is evaluated on the suite's held-out evaluation seeds through the environment
   (`action_mode="absolute"`, the `table` schedule), and written as the runner's evaluation jobs
   are: `<results>/runs/eval-pbt-s<seed>.json`, beside `<results>/runs/pbt-s<seed>.json` (the
   search: members, lineage, exploits and compute; job kind "pbt").

Compute, recorded in each search file: `population` whole training runs per training seed (every
member trains the full budget; an exploit copies a state, it does not save training), i.e.
`population x num_steps` decisions, against one run per peak of the grid for a tuned hand
schedule and `train_steps` decisions for a learning agent.

Usage (from the repository root):
    python -m benchmarks.pbt --suite tiny [--toy] [--population 4] [--ray-address ADDR]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks import resume, stats
from benchmarks._record import JobClock, code_state, job_record, read_record, write_record
from benchmarks.jobs import inputs_fingerprint, job_inputs, make_env
from benchmarks.ray_executor import RayExecutor
from benchmarks.suites import JOB_ENV_OVERRIDES, RUNS_DIR, Suite, default_results_dir, get_suite
from lrgym.actions import absolute_action, absolute_lr
from lrgym.config import LRTuningConfig
from lrgym.integrations.optional import require
from lrgym.layout import episode_trainer_seed
from lrgym_agents.schedules import ScheduleAgent

# --- hyperparameters --------------------------------------------------------------------------
POPULATION = 4  # members per training seed (whole training runs); 2 run at a time on 2 cores
INTERVALS = 5  # perturbation intervals per training run (tiny: 20 decisions, 4 per interval)
QUANTILE_FRACTION = 0.25  # the bottom quarter of the population copies the top quarter
RESAMPLE_PROBABILITY = 0.25  # an exploiting member draws a fresh LR this often ...
PERTURBATION_FACTORS = (0.8, 1.25)  # ... else it multiplies the copied LR by one of these
LR_BELOW_GRID = 10.0  # LR search space: log-uniform on [min(peak_grid) / this, max(peak_grid)]
SEARCH_SEED = 0  # + the training seed: seeds PBT's explore draws and its choice of member to copy
CPUS_PER_MEMBER = 1  # Ray resources of one member (it trains on one torch thread)
AGENT = "pbt"  # the agent's name in run files, the summary and the plots
METRIC = "val_acc"  # what PBT ranks members by: validation-subset accuracy after the interval
TIME_ATTR = "decisions"  # PBT's clock: LR decisions of the run trained so far

TRAINER_FILE, LINEAGE_FILE = "trainer.pt", "lineage.json"  # one checkpoint's files
REPORTED = (TIME_ATTR, METRIC, "lr", "diverged", "interval_cpu_s")  # kept of each report


def schedule_agent(env: gym.Env, lrs: Sequence[float]) -> ScheduleAgent:
    """The PBT schedule as an agent: the `table` schedule of its per-decision LRs, named "pbt"."""
    return ScheduleAgent(env, name=AGENT, schedule="table", lrs=list(lrs))


# --- one member of the population (runs inside Ray Tune) --------------------------------------
def expressible_lr(cfg: LRTuningConfig, lr: float) -> float:
    """`lr` clipped to [lr_min, lr_max] and rounded to what an `absolute` action (float32) sets."""
    return absolute_lr(cfg, float(absolute_action(cfg, lr)[0]))


def member(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one member, one perturbation interval per report.

    `config` holds "lr" (the member's current LR, which PBT mutates), "env_config" (the
    resolved `LRTuningConfig` as a dict), "trainer_seed" and "decisions_per_interval". Starting
    from a checkpoint (after a pause, or after PBT made this member exploit another), it
    continues that checkpoint's run and lineage.
    """
    import torch
    from ray import tune

    from lrgym.training import Trainer

    torch.set_num_threads(1)
    cfg = LRTuningConfig.from_kwargs(**config["env_config"])
    boundaries = cfg.batch_boundaries()
    trainer = Trainer(cfg, int(config["trainer_seed"]))
    lineage: list[dict[str, Any]] = []  # per decision: the LR applied and the trial that trained it
    diverged = False
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trainer.load_state_dict(torch.load(Path(folder) / TRAINER_FILE, weights_only=True))
            saved = json.loads((Path(folder) / LINEAGE_FILE).read_text())
        lineage, diverged = saved["lineage"], saved["diverged"]
    trial = tune.get_context().get_trial_id()
    lr = expressible_lr(cfg, float(config["lr"]))
    while len(lineage) < len(boundaries):
        start, cpu_start = time.perf_counter(), time.process_time()
        first = len(lineage)
        last = min(len(boundaries), first + int(config["decisions_per_interval"]))
        if not diverged:  # as in the environment: no training after a divergence
            trainer.set_lr(lr)
            trained = trainer.train(boundaries[last - 1] - (boundaries[first - 1] if first else 0))
            diverged = trained.diverged
        lineage += [{"lr": lr, "trial": trial}] * (last - first)
        subset = trainer.evaluate("subset")
        metrics = {
            TIME_ATTR: last,
            METRIC: 0.0 if diverged else subset.accuracy,  # a diverged member ranks last
            "val_loss": subset.loss,
            "lr": lr,
            "diverged": diverged,
            "epoch": trainer.epoch,
        }
        if last == len(boundaries):  # the full validation split picks the winner, never the test set
            metrics["full_val_acc"] = 0.0 if diverged else trainer.evaluate("val").accuracy
        metrics["interval_wall_s"] = time.perf_counter() - start
        metrics["interval_cpu_s"] = time.process_time() - cpu_start
        with tempfile.TemporaryDirectory(prefix="lrgym-pbt-") as folder:
            torch.save(trainer.state_dict(), Path(folder) / TRAINER_FILE)
            (Path(folder) / LINEAGE_FILE).write_text(json.dumps({"lineage": lineage, "diverged": diverged}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


# --- one PBT run per training seed ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PBTSettings:
    """One PBT run's knobs (defaults: the hyperparameters at the top of this file)."""

    population: int = POPULATION
    intervals: int = INTERVALS
    quantile_fraction: float = QUANTILE_FRACTION
    resample_probability: float = RESAMPLE_PROBABILITY
    perturbation_factors: tuple[float, ...] = PERTURBATION_FACTORS
    lr_below_grid: float = LR_BELOW_GRID
    search_seed: int = SEARCH_SEED
    cpus_per_member: float = CPUS_PER_MEMBER
    gpus_per_member: float = 0.0

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(f"population={self.population}: PBT needs at least 2 members")
        if self.intervals < 1:
            raise ValueError(f"intervals={self.intervals} must be >= 1")


def lr_range(suite: Suite, settings: PBTSettings) -> tuple[float, float]:
    """The log-uniform range PBT samples LRs from: the suite's peak grid, extended below by
    `lr_below_grid` (room to decay), within the env's [lr_min, lr_max]."""
    cfg = suite.config()
    low = max(cfg.lr_min, min(suite.peak_grid) / settings.lr_below_grid)
    return low, min(cfg.lr_max, max(suite.peak_grid))


def initial_lrs(low: float, high: float, population: int) -> list[float]:
    """One LR per member at the midpoints of `population` equal slices of [log low, log high]:
    a small population covers the range instead of clustering where random draws fall."""
    lo, hi = math.log(low), math.log(high)
    return [math.exp(lo + (i + 0.5) / population * (hi - lo)) for i in range(population)]


def search(suite: Suite, seed: int, settings: PBTSettings, storage: str | Path | None) -> dict[str, Any]:
    """One PBT run on training seed `seed`; returns the search record (see the module docstring).

    Ray must be initialised (`RayExecutor.connect()`).
    """
    tune = require("ray.tune", "ray")
    cfg = suite.config()
    steps = cfg.num_steps
    per_interval = math.ceil(steps / settings.intervals)
    low, high = lr_range(suite, settings)
    reports = _report_log()
    scheduler = tune.schedulers.PopulationBasedTraining(
        time_attr=TIME_ATTR,
        perturbation_interval=per_interval,
        quantile_fraction=settings.quantile_fraction,
        # The LR's resampling and perturbation, with PBT's semantics but a private generator:
        # PBT's built-in explore draws from Python's global one, and two identical searches
        # explored differently with it even when it was seeded.
        custom_explore_fn=ExploreLR(
            low,
            high,
            cfg.lr_min,
            cfg.lr_max,
            settings.resample_probability,
            settings.perturbation_factors,
            settings.search_seed + seed,
        ),
        synch=True,  # every member perturbs at the same decision: a fair comparison of states
    )
    name = f"pbt-{suite.name}-s{seed}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"  # a fresh directory
    tuner = tune.Tuner(
        tune.with_resources(member, {"cpu": settings.cpus_per_member, "gpu": settings.gpus_per_member}),
        param_space={
            "lr": tune.grid_search(initial_lrs(low, high, settings.population)),
            "env_config": cfg.to_dict(),
            "trainer_seed": episode_trainer_seed(seed),
            "decisions_per_interval": per_interval,
        },
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            metric=METRIC,
            mode="max",
            num_samples=1,
            reuse_actors=True,  # a paused member resumes in a warm process (torch, data loaded)
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=_storage_path(storage),
            stop={TIME_ATTR: steps},  # stopped before PBT sees the last result: no exploit at the end
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),  # every interval's checkpoint
            callbacks=[reports],
            verbose=0,
        ),
    )
    start = time.perf_counter()
    saved = random.getstate()
    # Which of the top members an exploiting member copies is PBT's draw from the global
    # generator; a real choice only when the top quantile holds several members.
    random.seed(settings.search_seed + seed)
    try:
        grid = tuner.fit()
    finally:
        random.setstate(saved)
    wall = time.perf_counter() - start
    errors = [str(r.error) for r in grid if r.error is not None]
    if errors:
        raise RuntimeError(f"PBT on training seed {seed}: {len(errors)} member(s) failed: {errors[0]}")
    return _search_record(suite, seed, settings, grid, reports.rows, wall, per_interval, (low, high))


class ExploreLR:
    """PBT's explore step for the LR (a picklable `custom_explore_fn`), from a private generator.

    With probability `resample_probability` the exploiting member draws a fresh LR
    log-uniformly from [low, high]; otherwise it multiplies the copied LR by one of `factors`.
    The result is clipped to the environment's [lr_min, lr_max].
    """

    def __init__(
        self,
        low: float,
        high: float,
        lr_min: float,
        lr_max: float,
        resample_probability: float,
        factors: Sequence[float],
        seed: int,
    ) -> None:
        self.low, self.high, self.lr_min, self.lr_max = low, high, lr_min, lr_max
        self.resample_probability, self.factors = resample_probability, tuple(factors)
        self.rng = random.Random(seed)

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        if self.rng.random() < self.resample_probability:
            lr = math.exp(self.rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            lr = config["lr"] * self.rng.choice(self.factors)
        return {**config, "lr": min(max(lr, self.lr_min), self.lr_max)}


def _storage_path(storage: str | Path | None) -> str | None:
    """Tune's storage_path: a URI ("s3://...") as given, a local path made absolute."""
    if storage is None or "://" in str(storage):
        return None if storage is None else str(storage)
    return str(Path(storage).resolve())


def _report_log() -> Any:
    """A Tune callback that keeps every member's reports as they reach the driver.

    Tune's own per-trial files are not enough: a member that PBT pauses and resumes can lose its
    earlier rows of progress.csv, and Ray names an exploiting member's next checkpoint after the
    index of the one it copied, so that member's abandoned checkpoint directory is reused.
    """
    tune = require("ray.tune", "ray")

    class ReportLog(tune.Callback):
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []

        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            row = {"trial": trial.trial_id, "tag": trial.experiment_tag}
            row.update({k: result.get(k) for k in REPORTED})
            row["checkpoint"] = result.get("checkpoint_dir_name")  # None: no checkpoint with it
            self.rows.append(row)

    return ReportLog()


def _search_record(
    suite: Suite,
    seed: int,
    settings: PBTSettings,
    grid: Any,
    reports: list[dict[str, Any]],
    wall: float,
    per_interval: int,
    space: tuple[float, float],
) -> dict[str, Any]:
    members = []
    for result in grid:
        trial = result.metrics["trial_id"]
        with result.checkpoint.as_directory() as folder:
            saved = json.loads((Path(folder) / LINEAGE_FILE).read_text())
        own = [r for r in reports if r["trial"] == trial]
        members.append(
            {
                "trial": trial,
                "tag": own[0]["tag"].split("@perturbed")[0],  # PBT's log names members by it
                "initial_lr": own[0]["lr"],
                "final_full_val_acc": float(result.metrics["full_val_acc"]),
                "final_val_acc": float(result.metrics[METRIC]),
                "diverged": bool(result.metrics["diverged"]),
                "reports": [{k: r[k] for k in (*REPORTED, "checkpoint")} for r in own],
                "lineage": saved["lineage"],
                "final_checkpoint": result.checkpoint.path,
            }
        )
    winner = max(members, key=lambda m: (m["final_full_val_acc"], m["final_val_acc"]))  # first on ties
    experiment = Path(grid.experiment_path)
    trial_of_tag = {m["tag"]: m["trial"] for m in members}
    exploits = []
    if (experiment / "pbt_global.txt").is_file():  # PBT's own log of every exploit
        for line in (experiment / "pbt_global.txt").read_text().splitlines():
            # [member, copied member, their report counts (not reliable in synch mode), configs]
            target, clone, _, _, _, new = json.loads(line)
            exploits.append(
                {
                    "member": trial_of_tag.get(target, target),
                    "copied": trial_of_tag.get(clone, clone),
                    "new_lr": new["lr"],
                }
            )
    cfg = suite.config()
    return {
        "train_seed": seed,
        "trainer_seed": episode_trainer_seed(seed),
        "settings": dataclasses.asdict(settings),
        "decisions_per_interval": per_interval,
        "lr_space": {"distribution": "loguniform", "low": space[0], "high": space[1]},
        "schedule": [step["lr"] for step in winner["lineage"]],
        "winner": {
            k: winner[k] for k in ("trial", "final_full_val_acc", "final_val_acc", "final_checkpoint")
        },
        "exploits": exploits,
        "members": members,
        "experiment_path": str(experiment),
        "compute": {
            "training_episodes": settings.population,
            "decisions_trained": settings.population * cfg.num_steps,
            "mini_batches_trained": settings.population * cfg.total_batches,
            "member_cpu_s": sum(r["interval_cpu_s"] for r in reports),
            "search_wall_s": wall,
        },
    }


# --- evaluation and records -------------------------------------------------------------------
def evaluate_schedule(
    suite: Suite, lrs: Sequence[float], seeds: Sequence[int]
) -> tuple[dict[str, Any], list]:
    """Greedy episodes of the schedule on `seeds` through the suite's env (absolute actions), on
    one torch thread as the runner's jobs run (comparable wall times)."""
    import torch

    from lrgym_agents.evaluation import evaluate

    torch.set_num_threads(1)

    env = make_env(suite, "schedule")
    agent = schedule_agent(env, lrs)
    results = evaluate(agent, env, list(seeds))
    return env.unwrapped.config.to_dict(), [r.to_dict() for r in results]


def _record(
    suite: Suite,
    job: dict[str, Any],
    clock: JobClock,
    state: dict[str, Any],
    role: str,
    resolved: dict[str, Any],
    **body: Any,
) -> dict:
    """A run file as every job writes one (`_record.job_record`), with the job's inputs (the env
    config of `role` and the `resolved` settings)."""
    inputs = job_inputs(job, suite, {role: suite.config(**JOB_ENV_OVERRIDES[role]).to_dict()}, resolved)
    body = {"inputs": inputs, "job_fingerprint": inputs_fingerprint(inputs), **body}
    return job_record(job, suite.to_dict(), suite.fingerprint(), clock, body, state=state)


def run_seed(
    suite: Suite,
    results_dir: Path,
    seed: int,
    settings: PBTSettings,
    storage: str | Path | None,
    log: Any = print,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """PBT on one training seed, then its schedule on the evaluation seeds; resumable per file."""
    state = code_state() if state is None else state
    runs = Path(results_dir) / RUNS_DIR
    search_path, eval_path = runs / f"{AGENT}-s{seed}.json", runs / f"eval-{AGENT}-s{seed}.json"
    if eval_path.is_file():
        log(f"  {eval_path.name} exists: skipped")
        return read_record(eval_path)
    base = {"agent": AGENT, "train_seed": seed, "command": list(sys.argv)}
    settings_dict = json.loads(json.dumps(dataclasses.asdict(settings)))
    if search_path.is_file():
        found = read_record(search_path)
        if found["pbt"]["settings"] != settings_dict:
            raise SystemExit(
                f"{search_path} was searched with other PBT settings; move it away to search again"
            )
        searched = found["pbt"]
    else:
        clock = JobClock()
        searched = search(suite, seed, settings, storage)
        job = {"id": search_path.stem, "kind": "pbt", **base}
        # The search's wall time is the job's; the members' CPU time is in pbt.compute.
        record = _record(
            suite,
            job,
            clock,
            state,
            "evaluate",
            settings_dict,
            env_config=suite.config().to_dict(),
            pbt=searched,
        )
        write_record(search_path, record)
        log(
            f"  PBT on training seed {seed}: {len(searched['exploits'])} exploits in "
            f"{searched['compute']['search_wall_s']:.0f} s; winner full-val acc "
            f"{searched['winner']['final_full_val_acc']:.3f}"
        )
    clock = JobClock()
    env_cfg, episodes = evaluate_schedule(suite, searched["schedule"], suite.eval_seeds)
    job = {"id": eval_path.stem, "kind": "evaluate", **base}
    hyperparameters = {"lrs": searched["schedule"], **searched["settings"]}
    record = _record(
        suite,
        job,
        clock,
        state,
        "schedule",
        hyperparameters,
        env_config=env_cfg,
        learns=False,
        hyperparameters=hyperparameters,
        pbt={k: searched[k] for k in ("winner", "compute", "decisions_per_interval", "lr_space")},
        episodes=episodes,
    )
    write_record(eval_path, record)
    log(f"  {eval_path.name}: mean test acc {np.mean([e['test_acc'] for e in episodes]):.3f}")
    return record


def run(
    suite: Suite,
    results_dir: Path,
    settings: PBTSettings,
    storage: str | Path | None = None,
    executor: RayExecutor | None = None,
    log: Any = print,
    allow_mixed: bool = False,
) -> dict[str, Any]:
    """PBT on every training seed of `suite`, then the suite's summary (with PBT); returns it.

    Its records join the suite's results directory under the runner's rules
    (`benchmarks/resume.py`): intact, of the same configuration, and of the same code state
    unless `allow_mixed`.
    """
    state = code_state()
    resume.check_records(results_dir, suite, state, allow_mixed)
    executor = executor or RayExecutor(init_kwargs={"include_dashboard": False})
    runs = Path(results_dir) / RUNS_DIR
    try:
        for seed in suite.train_seeds:
            if not (runs / f"{AGENT}-s{seed}.json").is_file():
                executor.connect()  # Ray only where a search is still to run
            run_seed(suite, results_dir, seed, settings, storage, log, state)
    finally:
        executor.close()
    return stats.summarize(results_dir, suite)  # the suite's summary, PBT listed beside the agents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite", required=True, help="tiny, fashion, cifar10 or paper (benchmarks/suites.py)"
    )
    parser.add_argument("--toy", action="store_true", help="the suite shrunk to seconds")
    parser.add_argument("--population", type=int, default=POPULATION, help="members per training seed")
    parser.add_argument("--intervals", type=int, default=INTERVALS, help="perturbation intervals per run")
    parser.add_argument("--ray-address", help="a Ray cluster to run on (default: Ray on this machine)")
    parser.add_argument(
        "--gpus-per-member", type=float, default=0.0, help="GPUs per member (0.25: 4 per GPU)"
    )
    parser.add_argument("--results-dir", type=Path, help="default benchmarks/results/<suite>[/toy]")
    parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="add to records written by another commit or diff (the summary then says the results are mixed)",
    )
    parser.add_argument(
        "--storage",
        help="where Ray Tune keeps the members' checkpoints: a path (on a cluster, one every node "
        "mounts) or a URI such as s3://bucket/dir (default ~/ray_results)",
    )
    args = parser.parse_args(argv)
    try:
        suite = get_suite(args.suite, toy_version=args.toy)
        settings = PBTSettings(
            population=args.population, intervals=args.intervals, gpus_per_member=args.gpus_per_member
        )
    except ValueError as exc:
        parser.error(str(exc))
    if suite.protocol != "standard":
        parser.error(f"suite {suite.name!r} uses the {suite.protocol!r} protocol; PBT needs training seeds")
    results_dir = args.results_dir or default_results_dir(suite)
    print(
        f"PBT on suite {suite.name} ({suite.fingerprint()}): population {settings.population}, "
        f"{settings.intervals} intervals, training seeds {list(suite.train_seeds)}; results in {results_dir}"
    )
    executor = RayExecutor(
        args.ray_address,
        num_cpus_per_job=settings.cpus_per_member,
        num_gpus_per_job=settings.gpus_per_member,
        init_kwargs={"include_dashboard": False},
    )
    start = time.perf_counter()
    try:
        summary = run(suite, results_dir, settings, args.storage, executor, allow_mixed=args.allow_mixed)
    except resume.ResumeError as exc:
        print(f"benchmarks.pbt: {exc}", file=sys.stderr)
        return 2
    print(stats.markdown_table(summary))
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
