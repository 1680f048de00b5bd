"""One benchmark job: build its env and agent, train, tune or evaluate, and write its record.

A job is a JSON-able dict (id, kind, agent, seeds, the suite, the results directory, the command
and the code state that dispatched it) that the pure top-level function `run_job` runs, writing
one record, `<results>/runs/<job id>.json` (`benchmarks/_record.py`). Kinds:

- `train`          one learning agent on one training seed for the suite's budget -> a saved model;
- `evaluate`       a trained agent's greedy policy, a hand schedule at its chosen peak, or the
                   random agent, on every evaluation seed;
- `tune`           one hand schedule at one peak LR on one training seed;
- `alternate`      the original paper's protocol: one learning episode, then one greedy test
                   episode on the next evaluation seed, and so on;
- `train_evaluate` an agent from a user's factory (`benchmarks/score.py`): learning on the
                   training seed, then its greedy policy on every evaluation seed, in one process
                   (its save/load are optional, so the trained agent is not reloaded).

Under the "tasks" protocol `train` is the same (its env draws train tasks), and `evaluate` and
`tune` pin tasks at every reset: `benchmarks/task_jobs.py`.

Every record holds what decided its result, as `inputs` (and their hash, `job_fingerprint`): the
suite's fingerprint, the job's kind, agent and seeds, the resolved env config of every env it
built and the agent's resolved hyperparameters. `benchmarks/resume.py` compares them with what a
job would resolve now before a finished job is skipped.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from benchmarks import contract
from benchmarks._record import JobClock, job_record, write_record
from benchmarks.suites import MODELS_DIR, RUNS_DIR, Suite, suite_from_dict
from lrgym import wrappers
from lrgym_agents.rollout import StepRecord

Job = dict[str, Any]

RANDOM_AGENT_SEED = 0  # seeds the random agent's own action generator
EVALUATION_KINDS = ("evaluate", "alternate", "train_evaluate")  # kinds that run the evaluation seeds
LEARNING_KINDS = ("train", "alternate", "train_evaluate")  # kinds that spend the training budget
JOB_ROLES = {  # the env roles each kind of job builds (others: its agent's role, `agent_role`)
    "train": ("learn",),
    "tune": ("schedule",),
    "alternate": ("learn", "evaluate"),
    "train_evaluate": ("learn", "evaluate"),
}
# Fields of the "tasks" protocol's jobs (`benchmarks/task_plan.py`) that decide their results.
TASK_JOB_FIELDS = ("schedule", "task_set", "tasks", "peaks", "multipliers", "optimizer")


# --- envs, agents and what decided a result -------------------------------------------------------
def make_env(suite: Suite, role: str, agent: str | None = None) -> gym.Env:
    """The suite's env for a role of `Suite.roles()` ("learn", "evaluate", "schedule", ...),
    with the env overrides and wrappers of `agent` if it is one of the suite's variants.

    Raises:
        RuntimeError: the env built for the id does not have the config the suite resolves (and
            fingerprints): its registration and `Suite.config()` disagree.
    """
    import lrgym  # noqa: F401 - registers the LRTuning environments

    env = gym.make(suite.env_id, **suite.role_kwargs(role, agent))
    built, resolved = env.unwrapped.config.to_dict(), suite.role_config(role, agent).to_dict()
    if _json(built) != _json(resolved):
        changed = sorted(k for k in resolved if _json(built.get(k)) != _json(resolved[k]))
        raise RuntimeError(
            f"{suite.env_id} built with {changed} differing from Suite.config(); results would not "
            "match the suite's fingerprint"
        )
    spec = suite.variants.get(agent) if agent is not None else None
    return wrappers.wrap(env, spec.action_repeat, spec.keep_signals) if spec else env


def agent_role(job: Job, suite: Suite) -> str:
    """The role of the env a job's agent is built with."""
    if suite.protocol == "tasks":
        from benchmarks import task_jobs

        return task_jobs.agent_role(job)
    if job["kind"] in LEARNING_KINDS:
        return "learn"
    return "schedule" if job["kind"] == "tune" or job["agent"] in suite.schedules else "evaluate"


def job_roles(job: Job, suite: Suite) -> tuple[str, ...]:
    """The roles of every env a job builds."""
    if suite.protocol == "tasks":
        return (agent_role(job, suite),)
    return JOB_ROLES.get(job["kind"], (agent_role(job, suite),))


def resolve_hyperparameters(job: Job, suite: Suite) -> dict[str, Any]:
    """The hyperparameters a job's agent resolves now (built as the job builds it, nothing
    learned): what `benchmarks/resume.py` compares with a finished job's record."""
    if suite.protocol == "tasks":
        from benchmarks import task_jobs

        return task_jobs.resolve_hyperparameters(job, suite)
    env = make_env(suite, agent_role(job, suite), job["agent"])
    if job.get("factory") and job["kind"] in LEARNING_KINDS:
        env = contract.BudgetedEnv(env, 0)
    return _hyperparameters(build_agent(job, suite, env))


def build_agent(job: Job, suite: Suite, env: gym.Env) -> Any:
    """The job's agent for `env`: from the user's factory (`job["factory"]`) or the registry, with
    the suite's hyperparameters (a schedule at the job's peak)."""
    if job.get("factory"):
        return contract.build(job["factory"], env, int(job["train_seed"]))
    from lrgym_agents.registry import make_agent

    name = job["agent"]
    registered = suite.registry_agent(name)
    if name in suite.schedules:
        return make_agent(name, env, peak_lr=job["peak"])
    if registered == "random":
        return make_agent(registered, env, seed=job["train_seed"])
    return make_agent(registered, env, seed=job["train_seed"], **suite.agent_kwargs.get(name, {}))


def job_inputs(
    job: Job, suite: Suite, env_configs: dict[str, dict[str, Any]], hyperparameters: dict[str, Any]
) -> dict[str, Any]:
    """What decides a job's result: the suite's fingerprint, the job's kind, agent (and a factory's
    source), seeds, budget and peak, the env config of each role it used, the agent's resolved
    hyperparameters, and under the "tasks" protocol its tasks, schedule and peaks
    (`TASK_JOB_FIELDS`). JSON-normalised, so that recorded and resolved inputs compare equal."""
    kind = job["kind"]
    task_fields = {k: job[k] for k in TASK_JOB_FIELDS if k in job}
    return _json(
        {
            **({"task_job": task_fields} if task_fields else {}),
            "suite_fingerprint": suite.fingerprint(),
            "kind": kind,
            "agent": job["agent"],
            "agent_source": job.get("agent_source"),
            "train_seed": job.get("train_seed"),
            "eval_seeds": list(suite.eval_seeds) if kind in EVALUATION_KINDS else [],
            "train_steps": suite.train_steps if kind in LEARNING_KINDS else 0,
            "peak": job.get("peak"),
            "env_configs": env_configs,
            "hyperparameters": hyperparameters,
        }
    )


def inputs_fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _hyperparameters(agent: Any) -> dict[str, Any]:
    return contract.hyperparameters_of(agent)


# --- running one job ------------------------------------------------------------------------------
def run_job(job: Job) -> dict[str, Any]:
    """Runs one job and writes its record; never raises (a failure is returned as data).

    Returns {"id", "status": "done" | "skipped" | "failed", "wall_s", "path", "error"}.
    """
    clock = JobClock()
    out = Path(job["results_dir"]) / RUNS_DIR / f"{job['id']}.json"
    status = {"id": job["id"], "path": str(out), "wall_s": 0.0, "error": None}
    if out.is_file():
        return {**status, "status": "skipped"}
    try:
        import torch

        torch.set_num_threads(1)  # every job on one thread: comparable wall times on any executor
        suite = suite_from_dict(job["suite"])
        body = job_kinds(suite)[job["kind"]](job, suite)
        inputs = job_inputs(job, suite, body.pop("_env_configs"), body.pop("_hyperparameters"))
        body = {"inputs": inputs, "job_fingerprint": inputs_fingerprint(inputs), **body}
        record = job_record(job, job["suite"], suite.fingerprint(), clock, body, state=job.get("code_state"))
        write_record(out, record)
    except Exception:  # reported to the runner, which carries on with the other jobs
        return {
            **status,
            "status": "failed",
            "wall_s": time.perf_counter() - clock.wall,
            "error": traceback.format_exc(),
        }
    return {**status, "status": "done", "wall_s": record["wall_s"]}


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
            row = {
                "steps_done": record.steps_done,
                "return": episode.episode_return,
                "final_val_acc": float(episode.final_info["val_acc"]),
                "diverged": bool(episode.final_info["diverged"]),
                "lr": episode.lr,
            }
            if "task" in episode.final_info:  # a task distribution: which task it trained on
                row["task"] = episode.final_info["task"]
            self.episodes.append(row)
        return not (finished and self.stop_at_episode_end)


def _config(env: gym.Env) -> dict[str, Any]:
    return env.unwrapped.config.to_dict()


def _train(job: Job, suite: Suite) -> dict[str, Any]:
    # No final validation/test pass while learning: nothing reads it, and it costs time.
    env = make_env(suite, "learn", job["agent"])
    agent = build_agent(job, suite, env)
    hyperparameters = _hyperparameters(agent)
    log = _EpisodeLog()
    agent.learn(suite.decisions(job["agent"]), callback=log)
    agent.save(_model_dir(job))
    return {
        "_env_configs": {"learn": _config(env)},
        "_hyperparameters": hyperparameters,
        "env_config": _config(env),
        "model_dir": str(_model_dir(job)),
        "training": {"steps_done": int(agent.steps_done), "episodes": log.episodes},
        "hyperparameters": agent.hyperparameters(),
    }


def _evaluate(job: Job, suite: Suite) -> dict[str, Any]:
    from lrgym_agents.evaluation import evaluate
    from lrgym_agents.registry import agent_class

    role = agent_role(job, suite)
    env = make_env(suite, role, job["agent"])
    agent = build_agent(job, suite, env)
    hyperparameters = _hyperparameters(agent)
    learns = agent_class(suite.registry_agent(job["agent"])).learns
    if learns:
        agent.load(_model_dir(job))
    results = evaluate(agent, env, list(suite.eval_seeds))
    return {
        "_env_configs": {role: _config(env)},
        "_hyperparameters": hyperparameters,
        "env_config": _config(env),
        "learns": learns,
        "hyperparameters": agent.hyperparameters(),
        "episodes": [r.to_dict() for r in results],
    }


def _tune(job: Job, suite: Suite) -> dict[str, Any]:
    from lrgym_agents.evaluation import run_episode

    env = make_env(suite, "schedule")
    agent = build_agent(job, suite, env)
    result = run_episode(agent, env, job["train_seed"])
    return {
        "_env_configs": {"schedule": _config(env)},
        "_hyperparameters": _hyperparameters(agent),
        "env_config": _config(env),
        "hyperparameters": agent.hyperparameters(),
        "episodes": [result.to_dict()],
    }


def _alternate(job: Job, suite: Suite) -> dict[str, Any]:
    """The original protocol: learn one episode, test greedily on the next evaluation seed, repeat.

    A registry agent stops learning at the end of each episode (its callback); an agent from a
    factory learns `num_steps` env steps before each test (one episode unless one diverged).
    """
    from lrgym_agents.evaluation import run_episode

    factory = bool(job.get("factory"))
    train_env = make_env(suite, "learn", job["agent"])
    test_env = make_env(suite, "evaluate", job["agent"])
    learn_env = contract.BudgetedEnv(train_env, 0) if factory else train_env
    agent = build_agent(job, suite, learn_env)
    hyperparameters = _hyperparameters(agent)
    log = _EpisodeLog(stop_at_episode_end=True)
    episode_steps = train_env.unwrapped.config.num_steps
    tests = []
    for seed in suite.eval_seeds:
        if factory:
            learn_env.budget += episode_steps
            agent.learn(episode_steps)
        else:
            learned = len(log.episodes)
            agent.learn(episode_steps, callback=log)  # one episode: fewer steps only if it diverged
            if len(log.episodes) == learned:  # the budget ran out mid-episode (impossible unless truncated)
                raise RuntimeError(f"learning episode {learned + 1} did not end within {episode_steps} steps")
        result = run_episode(agent, test_env, seed).to_dict()
        result["learning_episodes"] = len(learn_env.episodes if factory else log.episodes)
        tests.append(result)
    model_dir = _save(agent, job)
    return {
        "_env_configs": {"learn": _config(train_env), "evaluate": _config(test_env)},
        "_hyperparameters": hyperparameters,
        "env_config": _config(test_env),
        "learns": True,
        "model_dir": model_dir,
        "training": {
            "steps_done": int(learn_env.steps if factory else agent.steps_done),
            "episodes": learn_env.episodes if factory else log.episodes,
        },
        "hyperparameters": _hyperparameters(agent),
        "episodes": tests,
    }


def _train_evaluate(job: Job, suite: Suite) -> dict[str, Any]:
    """A factory's agent: learn on the training seed within the budget, then greedy evaluation."""
    from lrgym_agents.evaluation import evaluate

    learn_env = contract.BudgetedEnv(make_env(suite, "learn", job["agent"]), suite.train_steps)
    agent = build_agent(job, suite, learn_env)
    hyperparameters = _hyperparameters(agent)
    agent.learn(suite.train_steps)
    model_dir = _save(agent, job)
    env = make_env(suite, "evaluate", job["agent"])
    results = evaluate(agent, env, list(suite.eval_seeds))
    return {
        "_env_configs": {"learn": _config(learn_env), "evaluate": _config(env)},
        "_hyperparameters": hyperparameters,
        "env_config": _config(env),
        "learns": True,
        "model_dir": model_dir,
        "training": {"steps_done": learn_env.steps, "episodes": learn_env.episodes},
        "hyperparameters": _hyperparameters(agent),
        "episodes": [r.to_dict() for r in results],
    }


def _save(agent: Any, job: Job) -> str | None:
    """Saves the trained agent where the runner keeps models, if it can be saved."""
    if not callable(getattr(agent, "save", None)):
        return None
    agent.save(_model_dir(job))
    return str(_model_dir(job))


JobKind = Callable[[Job, Suite], dict[str, Any]]
_JOB_KINDS: dict[str, JobKind] = {
    "train": _train,
    "evaluate": _evaluate,
    "tune": _tune,
    "alternate": _alternate,
    "train_evaluate": _train_evaluate,
}


def job_kinds(suite: Suite) -> dict[str, JobKind]:
    """What runs each kind of job of `suite` (the "tasks" protocol's own evaluate and tune)."""
    if suite.protocol != "tasks":
        return _JOB_KINDS
    from benchmarks import task_jobs

    return {"train": _train, "evaluate": task_jobs.evaluate_on_tasks, "tune": task_jobs.tune_on_task}
