"""The jobs of the "tasks" protocol: learned control trained on a distribution's train tasks,
every agent evaluated on its held-out test tasks (`Suite.tasks`, `benchmarks/suites.py`).

Stage 1 (depends on nothing):

- `train-<agent>-s<seed>`: a learning agent for the suite's budget on the train tasks (its env
  draws a train task at every reset; it never sees a test task);
- `tune-<schedule>-<set><task>-x<multiplier>-s<seed>`: the schedule at one multiplier of the
  task's conventional LR, on one task and one tuning seed: every train task on the train-task
  seeds (for the two distribution-wide choices) and every test task on the tuning seeds (for the
  per-task choice); tuning seeds are never evaluation seeds;
- `eval-<optimizer>`: each tuning-free optimiser in place of each test task's own, at its
  conventional LR under its package's schedule, on every test task x evaluation seed;
- `eval-random`, `eval-<random variant>`: random actions in the env's own action mode and in
  each random variant's (the schedule-relative mode, say).

Stage 2 (once what it needs is done):

- `eval-<agent>-s<seed>`: a trained agent's greedy policy on every test task x evaluation seed;
- `eval-<schedule>-single`, `-per-optimizer`, `-per-task`: the schedule at the multiplier chosen
  on validation (`benchmarks/tuning.py`: final full-validation accuracy of the tune runs; test
  accuracy is never read) for all train tasks, for the train tasks of each optimiser, and for
  each test task on its own; each waits for every tune run.

Job fields beside the runner's: `task_set` and `task` (tune), `tasks` (the test tasks of an
evaluation), `schedule`, `peaks` ({task: LR}) and `multipliers` ({task: multiplier}) of a schedule,
`optimizer` of a tuning-free run, `choice` and `validation` (what a choice was made from).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks._record import read_record
from benchmarks.jobs import RANDOM_AGENT_SEED
from benchmarks.suites import (
    OPTIMIZER_DEFAULT_LR,
    RUNS_DIR,
    Suite,
    task_distribution,
    task_indices,
    task_initial_lr,
)
from benchmarks.tuning import Choices, choices, pooled_score

Job = dict[str, Any]
CHOICES = ("single", "per-optimizer", "per-task")  # the schedule baselines, by how they choose
KINDS = ("learning", "schedule", "tuning-free", "random")


# --- names ------------------------------------------------------------------------------------
def schedule_names(suite: Suite) -> dict[str, str]:
    """{baseline name: its choice}, e.g. {"cosine-single": "single", ...}."""
    assert suite.tasks is not None
    return {f"{suite.tasks.schedule}-{c}": c for c in CHOICES}


def random_names(suite: Suite) -> tuple[str, ...]:
    return (*(["random"] if suite.random else []), *suite.random_variants)


def agent_names(suite: Suite) -> list[str]:
    """Every agent of the suite's results, in the order of its tables."""
    assert suite.tasks is not None
    return [*suite.learning_agents, *schedule_names(suite), *suite.tasks.tuning_free, *random_names(suite)]


def agent_kind(suite: Suite, name: str) -> str:
    """One of `KINDS` for an agent name of the suite's results."""
    assert suite.tasks is not None
    if name in schedule_names(suite):
        return "schedule"
    if name in suite.tasks.tuning_free:
        return "tuning-free"
    if suite.registry_agent(name) == "random":
        return "random"
    return "learning"


def served_agents(job: Job, suite: Suite) -> set[str]:
    """The agents of the results a job contributes to (for the runner's `--only`): a tune job
    serves the schedule baselines its task set chooses."""
    if job["kind"] != "tune":
        return {job["agent"]}
    names = schedule_names(suite)
    wanted = ("per-task",) if job["task_set"] == "test" else ("single", "per-optimizer")
    return {name for name, choice in names.items() if choice in wanted}


def tune_id(suite: Suite, task_set: str, task: int, multiplier: float, seed: int) -> str:
    assert suite.tasks is not None
    return f"tune-{suite.tasks.schedule}-{task_set}{task}-x{multiplier:g}-s{seed}"


def tuning_seeds(suite: Suite, task_set: str) -> tuple[int, ...]:
    assert suite.tasks is not None
    return suite.tasks.train_task_seeds if task_set == "train" else suite.tasks.test_task_seeds


def _job(
    suite: Suite, results_dir: Path, job_id: str, kind: str, agent: str, state: Any, **extra: Any
) -> Job:
    from benchmarks.runner import make_job  # the runner's job format (it imports this module)

    return make_job(suite, results_dir, job_id, kind, agent, state, **extra)


# --- stage 1 ----------------------------------------------------------------------------------
def stage1_jobs(suite: Suite, results_dir: Path, state: Mapping[str, Any] | None = None) -> list[Job]:
    """Training, tuning, the tuning-free optimisers and random actions (longest first)."""
    p = suite.tasks
    assert p is not None
    tests = list(task_indices(suite, "test"))
    jobs = [
        _job(suite, results_dir, f"train-{a}-s{seed}", "train", a, state, train_seed=seed)
        for a in suite.learning_agents
        for seed in suite.train_seeds
    ]
    for optimizer, schedule in p.tuning_free.items():
        lr = OPTIMIZER_DEFAULT_LR[optimizer]
        jobs.append(
            _job(
                suite,
                results_dir,
                f"eval-{optimizer}",
                "evaluate",
                optimizer,
                state,
                schedule=schedule,
                optimizer=optimizer,
                tasks=tests,
                peaks={str(k): lr for k in tests},
            )
        )
    for name in random_names(suite):
        jobs.append(
            _job(
                suite,
                results_dir,
                f"eval-{name}",
                "evaluate",
                name,
                state,
                train_seed=RANDOM_AGENT_SEED,
                tasks=tests,
            )
        )
    for task_set in ("train", "test"):
        for k in task_indices(suite, task_set):
            for m in p.multipliers:
                for seed in tuning_seeds(suite, task_set):
                    jobs.append(
                        _job(
                            suite,
                            results_dir,
                            tune_id(suite, task_set, k, m, seed),
                            "tune",
                            p.schedule,
                            state,
                            schedule=p.schedule,
                            task_set=task_set,
                            task=k,
                            peaks={str(k): m * task_initial_lr(suite, task_set, k)},
                            multipliers={str(k): m},
                            train_seed=seed,
                        )
                    )
    return jobs


# --- the choices, on validation -----------------------------------------------------------------
def validation_tables(
    results_dir: Path, suite: Suite
) -> dict[str, dict[int, dict[float, list[float]]]] | None:
    """{task set: {task: {multiplier: [full-validation accuracy per tuning seed]}}} from the tune
    records, or None while one is missing. Reads `full_val_acc` and nothing else."""
    assert suite.tasks is not None
    runs = Path(results_dir) / RUNS_DIR
    tables: dict[str, dict[int, dict[float, list[float]]]] = {"train": {}, "test": {}}
    for task_set in ("train", "test"):
        for k in task_indices(suite, task_set):
            tables[task_set][k] = {}
            for m in suite.tasks.multipliers:
                accs = []
                for seed in tuning_seeds(suite, task_set):
                    path = runs / f"{tune_id(suite, task_set, k, m, seed)}.json"
                    if not path.is_file():
                        return None
                    (episode,) = read_record(path)["episodes"]
                    accs.append(float(episode["full_val_acc"]))
                tables[task_set][k][m] = accs
    return tables


def optimizers(suite: Suite) -> dict[str, dict[int, str]]:
    """Every task's optimiser, by task set."""
    dist = task_distribution(suite)
    return {s: {k: str(t["optimizer"]) for k, t in enumerate(dist.tasks(s))} for s in ("train", "test")}


def chosen_multipliers(choice: str, chosen: Choices, suite: Suite) -> dict[int, float]:
    """The multiplier of each test task under one of `CHOICES`."""
    test_optimizer = optimizers(suite)["test"]
    tests = task_indices(suite, "test")
    if choice == "single":
        return {k: chosen.single for k in tests}
    if choice == "per-optimizer":
        return {k: chosen.for_optimizer(test_optimizer[k]) for k in tests}
    return {k: chosen.per_task[k] for k in tests}


def train_task_scores(
    tables: Mapping[str, Mapping[int, Mapping[float, list[float]]]], chosen: Choices, suite: Suite
) -> dict[str, float]:
    """Mean full-validation accuracy of the tune runs on the train tasks at the single and at
    the per-optimiser multipliers: how the stronger of the two distribution-wide baselines (the
    reference) is chosen, on validation."""
    train_optimizer = optimizers(suite)["train"]
    train = list(tables["train"])
    return {
        "single": pooled_score([tables["train"][k] for k in train], [chosen.single] * len(train)),
        "per-optimizer": pooled_score(
            [tables["train"][k] for k in train], [chosen.for_optimizer(train_optimizer[k]) for k in train]
        ),
    }


# --- stage 2 ----------------------------------------------------------------------------------
def stage2_jobs(
    suite: Suite, results_dir: Path, state: Mapping[str, Any] | None = None
) -> tuple[list[Job], dict[str, str]]:
    """Evaluations whose prerequisites are done, and {job id: agent} of those still blocked."""
    assert suite.tasks is not None
    jobs: list[Job] = []
    blocked: dict[str, str] = {}
    runs = Path(results_dir) / RUNS_DIR
    tests = list(task_indices(suite, "test"))
    for agent in suite.learning_agents:
        for seed in suite.train_seeds:
            job_id = f"eval-{agent}-s{seed}"
            if (runs / f"train-{agent}-s{seed}.json").is_file():
                jobs.append(
                    _job(suite, results_dir, job_id, "evaluate", agent, state, train_seed=seed, tasks=tests)
                )
            else:
                blocked[job_id] = agent
    tables = validation_tables(results_dir, suite)
    for name, choice in schedule_names(suite).items():
        if tables is None:
            blocked[f"eval-{name}"] = name
            continue
        chosen = choices(tables, optimizers(suite))
        multipliers = chosen_multipliers(choice, chosen, suite)
        jobs.append(
            _job(
                suite,
                results_dir,
                f"eval-{name}",
                "evaluate",
                name,
                state,
                schedule=suite.tasks.schedule,
                choice=choice,
                tasks=tests,
                multipliers={str(k): m for k, m in multipliers.items()},
                peaks={str(k): m * task_initial_lr(suite, "test", k) for k, m in multipliers.items()},
                validation=_validation_summary(tables, choice),
            )
        )
    return jobs, blocked


def _validation_summary(
    tables: Mapping[str, Mapping[int, Mapping[float, list[float]]]], choice: str
) -> dict[str, Any]:
    """What a choice was made from: the validation accuracies of its task set's tune runs."""
    task_set = "test" if choice == "per-task" else "train"
    return {str(k): {f"{m:g}": accs for m, accs in table.items()} for k, table in tables[task_set].items()}
