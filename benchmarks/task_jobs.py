"""Running the jobs of the "tasks" protocol: every episode on a pinned task of a distribution.

The jobs come from `benchmarks/task_plan.py`; `benchmarks/jobs.py` runs them (`train` is its own:
a learning agent's env draws a train task at every reset) and writes their records. Here:

- `evaluate_on_tasks`: an agent on every test task of the suite x every evaluation seed, each
  episode from `reset(seed=s, options={"task": k})` (`PinnedTask`). A learning agent or a random
  one acts with one policy on every task; a schedule baseline has one peak per test task (its
  multiplier x the task's conventional LR); a tuning-free optimiser replaces each test task's
  optimiser (the task pinned by a dict of its overrides plus `optimizer` and `initial_lr`).
- `tune_on_task`: a schedule at one peak on one task (train or test) and one tuning seed; the
  runner reads only its final full-validation accuracy.

Every episode's record says which task it ran (`task`, the index of the test task, and
`task_info`, the env's `info["task"]`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from benchmarks import contract
from benchmarks.jobs import Job, _config, _model_dir, build_agent, make_env
from benchmarks.suites import Suite, task_indices, tuning_free_task


class PinnedTask(gym.Wrapper):
    """Every reset of the wrapped env pins `task`: an index into its task set or a dict of
    overrides (`reset(options={"task": task})`)."""

    def __init__(self, env: gym.Env, task: int | dict[str, Any]) -> None:
        super().__init__(env)
        self.task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        return self.env.reset(seed=seed, options={**(options or {}), "task": self.task})


def agent_role(job: Job) -> str:
    """The env role of a job of the "tasks" protocol (`suites.TASK_ROLE_OVERRIDES`)."""
    if job["kind"] == "train":
        return "learn"
    if job["kind"] == "tune":
        return "schedule_train" if job["task_set"] == "train" else "schedule"
    return "schedule" if "schedule" in job else "evaluate"


def build_agents(job: Job, suite: Suite, env: gym.Env) -> dict[int, Any]:
    """The job's agent for each of its tasks: a schedule at each task's peak, or one agent (a
    learner's policy, random actions) for all of them."""
    from lrgym_agents.registry import make_agent

    if "schedule" in job:
        return {int(k): make_agent(job["schedule"], env, peak_lr=peak) for k, peak in job["peaks"].items()}
    agent = build_agent(job, suite, env)
    return {k: agent for k in _tasks(job, suite)}


def _tasks(job: Job, suite: Suite) -> list[int]:
    if job["kind"] == "tune":
        return [int(job["task"])]
    return [int(k) for k in job.get("tasks", task_indices(suite, "test"))]


def _hyperparameters(agents: dict[int, Any], per_task: bool) -> dict[str, Any]:
    if per_task:
        return {str(k): contract.hyperparameters_of(a) for k, a in sorted(agents.items())}
    return contract.hyperparameters_of(next(iter(agents.values())))


def resolve_hyperparameters(job: Job, suite: Suite) -> dict[str, Any]:
    """The hyperparameters the job's agents resolve now (one dict per task for a schedule)."""
    env = make_env(suite, agent_role(job), job["agent"])
    return _hyperparameters(build_agents(job, suite, env), "schedule" in job)


def _episodes(job: Job, suite: Suite, env: gym.Env, agents: dict[int, Any], seeds: list[int]) -> list[dict]:
    from lrgym_agents.evaluation import run_episode

    out = []
    for k in _tasks(job, suite):
        pin = tuning_free_task(suite, k, job["optimizer"]) if "optimizer" in job else k
        pinned = PinnedTask(env, pin)
        for seed in seeds:
            result = run_episode(agents[k], pinned, seed).to_dict()
            out.append({**result, "task": k, "task_info": env.unwrapped.task})
    return out


def evaluate_on_tasks(job: Job, suite: Suite) -> dict[str, Any]:
    """An `evaluate` job: the agent on every test task x evaluation seed (module docstring)."""
    from lrgym_agents.registry import agent_class

    role = agent_role(job)
    env = make_env(suite, role, job["agent"])
    agents = build_agents(job, suite, env)
    per_task = "schedule" in job
    hyperparameters = _hyperparameters(agents, per_task)
    learns = not per_task and agent_class(suite.registry_agent(job["agent"])).learns
    if learns:
        next(iter(agents.values())).load(_model_dir(job))
    return {
        "_env_configs": {role: _config(env)},
        "_hyperparameters": hyperparameters,
        "env_config": _config(env),
        "learns": learns,
        "hyperparameters": hyperparameters,
        "episodes": _episodes(job, suite, env, agents, list(suite.eval_seeds)),
    }


def tune_on_task(job: Job, suite: Suite) -> dict[str, Any]:
    """A `tune` job: the schedule at its peak on its task and tuning seed."""
    role = agent_role(job)
    env = make_env(suite, role, job["agent"])
    agents = build_agents(job, suite, env)
    hyperparameters = _hyperparameters(agents, per_task=True)
    return {
        "_env_configs": {role: _config(env)},
        "_hyperparameters": hyperparameters,
        "env_config": _config(env),
        "hyperparameters": hyperparameters,
        "episodes": _episodes(job, suite, env, agents, [int(job["train_seed"])]),
    }
