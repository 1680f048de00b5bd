"""The benchmark suites: every knob of every agent comparison, in one place.

A suite is an environment (id and keyword arguments), the learning agents with their training
budget and training seeds, the hand schedules with the grid of peak learning rates they are tuned
over, the random agent, and the held-out evaluation seeds. `benchmarks/runner.py` turns a suite
into jobs; `benchmarks/stats.py` and `benchmarks/plots.py` read what those jobs wrote.

An agent of a suite is a registry name (`lrgym_agents.registry`), or a name of the suite's own
(`Suite.variants`) for a registry agent run with env overrides: "dqn-relative", the custom DQN in
the schedule-relative action mode, say. Its results, models and `agent_kwargs` go by that name.

Suites of the "tasks" protocol (`TaskProtocol`, on a task distribution: `tinymix`, `mix`) train
the learning agents on the distribution's train tasks and evaluate every agent on its held-out
test tasks; their jobs are planned by `benchmarks/task_plan.py`.

Rules every suite follows, so that the comparison is fair and cannot leak the test set:

- every learning agent gets the same training budget (`train_steps` environment steps) on each
  of the same training seeds, with its package defaults (`lrgym_agents`) unless
  `agent_kwargs` says otherwise;
- each hand schedule's peak LR is chosen from `peak_grid` by the mean final accuracy on the
  full validation split over the training seeds; the test set is read only for the final report;
- evaluation seeds are never used for training or tuning;
- under the "tasks" protocol, test tasks are never trained on: learning draws train tasks, and
  the only runs on test tasks before the evaluation are the per-task baseline's tuning runs, on
  tuning seeds, read through their validation accuracy.

`toy(suite)` shrinks any suite to seconds, for tests and for trying the machinery.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrgym import tasks as task_tables
from lrgym.config import OPTIMIZER_DEFAULT_LR, TUNING_FREE_OPTIMIZERS, LRTuningConfig
from lrgym.layout import TRAINING_SIGNALS
from lrgym.presets import PRESETS, TINY
from lrgym_agents.registry import AGENTS, DEFAULT_TRAIN_STEPS

PROTOCOLS = ("standard", "alternate", "tasks")
# Layout of a suite's results directory (benchmarks/results/<suite>/, see `default_results_dir`).
RESULTS_ROOT = Path(__file__).resolve().parent / "results"
RUNS_DIR = "runs"  # <results>/runs/<job id>.json: one record per finished job
MODELS_DIR = "models"  # <results>/models/<agent>-s<seed>/: trained agents
PLOTS_DIR = "plots"  # <results>/plots/*.png
EVAL_SEEDS = tuple(range(1000, 1010))  # 10 held-out evaluation seeds, shared by every suite
TRAIN_SEEDS = (0, 1, 2)  # training (and tuning) seeds: disjoint from EVAL_SEEDS
# Suite fields that do not change results: left out of the fingerprint.
NOT_FINGERPRINTED = ("description", "expected_time", "bootstrap_reps", "bootstrap_seed", "confidence")
# How each role of a job changes the suite's env: learning never runs the final validation and
# test passes (nothing reads them), hand schedules set the LR itself (absolute actions).
JOB_ENV_OVERRIDES: dict[str, dict[str, Any]] = {
    "evaluate": {},
    "learn": {"final_eval": False},
    "schedule": {"action_mode": "absolute"},
}
# The same under the "tasks" protocol: learning draws train tasks, evaluations pin test tasks,
# schedules run on test tasks (the per-task baseline, the evaluations) or on train tasks (the
# tuning of one multiplier for the distribution).
TASK_ROLE_OVERRIDES: dict[str, dict[str, Any]] = {
    "evaluate": {"task_set": "test"},
    "learn": {"final_eval": False, "task_set": "train"},
    "schedule": {"action_mode": "absolute", "task_set": "test"},
    "schedule_train": {"action_mode": "absolute", "task_set": "train"},
}
TUNING_FREE_SCHEDULES = ("constant", "cosine")  # what a tuning-free optimiser may run under


@dataclass(frozen=True)
class AgentSpec:
    """A suite's own name for a registry agent run with env overrides (its action mode, say) and
    `lrgym.wrappers` around its envs (what it observes, how often it decides)."""

    agent: str  # a registry name (lrgym_agents.registry)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # LRTuningConfig overrides of its envs
    action_repeat: int = 1  # env steps per decision (`lrgym.wrappers.ActionRepeat` when > 1)
    keep_signals: tuple[str, ...] | None = None  # observe only these signals (`lrgym.wrappers.KeepSignals`)

    def to_dict(self) -> dict[str, Any]:
        """Its fields, the wrappers only when set: a spec without them reads (and fingerprints)
        as it did before they existed, so the records of suites that use none stay current."""
        data = dataclasses.asdict(self)
        for name, unset in (("action_repeat", 1), ("keep_signals", None)):
            if data[name] == unset:
                del data[name]
        return data


@dataclass(frozen=True)
class TaskProtocol:
    """The baselines of a suite on a task distribution (protocol "tasks"; `task_plan.py`).

    Every hand schedule peak is a multiplier of each task's conventional LR (`initial_lr`, which
    every task sets), so that one multiplier means the same on every task. Three baselines come
    from one grid of multipliers, all chosen by final full-validation accuracy:

    - `<schedule>-single`: the one multiplier best for the train tasks together;
    - `<schedule>-per-optimizer`: one multiplier per optimiser, each best for that optimiser's
      train tasks (the stronger of the two on the train tasks by construction);
    - `<schedule>-per-task`: each test task's own best, tuned on that task with tuning seeds.

    Beside them the tuning-free optimisers replace each test task's optimiser, at their
    conventional LR (`lrgym.config.OPTIMIZER_DEFAULT_LR`, 1.0) under the schedule their package
    recommends.
    """

    multipliers: tuple[float, ...]  # the grid, x each task's initial_lr
    train_task_seeds: tuple[int, ...]  # seeds of each train task's grid run (single, per optimiser)
    test_task_seeds: tuple[int, ...]  # tuning seeds of each test task's grid run (per task)
    tuning_free: dict[str, str]  # optimiser -> the schedule it runs under (constant or cosine)
    schedule: str = "cosine"  # the hand schedule of the three baselines
    train_tasks: tuple[int, ...] | None = None  # train tasks that tune the multipliers (None: all)
    test_tasks: tuple[int, ...] | None = None  # test tasks of the evaluation (None: all)


@dataclass(frozen=True)
class Suite:
    """One agent comparison. Field comments give units; `runner.py` documents the jobs."""

    name: str
    description: str  # one line: what the suite measures
    env_id: str  # a registered LRTuning-* id
    env_kwargs: dict[str, Any]  # LRTuningConfig overrides of the preset
    learning_agents: tuple[
        str, ...
    ]  # registry or variant names; in the env's own action mode unless a variant sets one
    train_steps: int  # env steps of learning per agent and training seed (same for every agent)
    schedules: tuple[str, ...]  # hand schedules; they act in action_mode="absolute"
    peak_grid: tuple[float, ...]  # peak LRs each schedule is tuned over
    agent_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-agent overrides
    random: bool = True  # also evaluate uniformly random actions (in the env's own action mode)
    train_seeds: tuple[int, ...] = TRAIN_SEEDS  # learning agents train on, schedules tune on these
    eval_seeds: tuple[int, ...] = EVAL_SEEDS  # held out: final report only
    # "standard": train for train_steps, then evaluate the greedy policy on every eval seed.
    # "alternate": the original paper's protocol: one learning episode, then one greedy test
    # episode on the next eval seed, and so on (len(eval_seeds) learning episodes in all).
    protocol: str = "standard"
    # statistics (benchmarks/stats.py)
    bootstrap_reps: int = 10_000  # stratified-bootstrap resamples per interval
    bootstrap_seed: int = 0  # seeds the resampling, so that summaries are reproducible
    confidence: float = 0.95  # coverage of every interval
    budget_fractions: tuple[float, ...] = (0.5, 0.75, 1.0)  # where "accuracy reached" is read
    expected_time: str = ""  # measured or estimated wall time of the whole suite, with the machine
    variants: dict[str, AgentSpec] = field(default_factory=dict)  # the suite's own agent names
    random_variants: tuple[str, ...] = ()  # further random agents (variants of "random"), evaluated like it
    tasks: TaskProtocol | None = None  # the baselines of protocol "tasks" (None for the others)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"Suite.protocol={self.protocol!r} is invalid: allowed values are {PROTOCOLS}")
        overlap = set(self.train_seeds) & set(self.eval_seeds)
        if overlap:
            raise ValueError(
                f"suite {self.name!r}: seeds {sorted(overlap)} are both training and evaluation seeds"
            )
        if self.train_steps < 0:
            raise ValueError(f"suite {self.name!r}: train_steps={self.train_steps} must be >= 0")
        for name, spec in self.variants.items():
            if name in AGENTS or spec.agent not in AGENTS:
                raise ValueError(
                    f"suite {self.name!r}: variant {name!r} must have a name of its own (not a registry "
                    f"name) and a registry agent (got {spec.agent!r}; known: {', '.join(AGENTS)})"
                )
        for name, spec in self.variants.items():
            _check_wrappers(self, name, spec)
        for name in self.random_variants:
            if self.registry_agent(name) != "random":
                raise ValueError(f"suite {self.name!r}: random variant {name!r} is no variant of 'random'")
        if (self.protocol == "tasks") != (self.tasks is not None):
            raise ValueError(f"suite {self.name!r}: protocol 'tasks' and a TaskProtocol go together")
        if self.tasks is not None:
            _check_task_protocol(self)

    def registry_agent(self, name: str) -> str:
        """The registry name behind an agent name of the suite (a variant's agent, or the name)."""
        return self.variants[name].agent if name in self.variants else name

    def decisions(self, agent: str) -> int:
        """The learning budget of `agent` in its own decisions: `train_steps` env steps, of which
        its variant's `action_repeat` make one decision."""
        spec = self.variants.get(agent)
        return self.train_steps // (spec.action_repeat if spec else 1)

    def role_overrides(self, role: str) -> dict[str, Any]:
        """How a job's role changes the suite's env (`JOB_ENV_OVERRIDES`, `TASK_ROLE_OVERRIDES`)."""
        return (TASK_ROLE_OVERRIDES if self.protocol == "tasks" else JOB_ENV_OVERRIDES)[role]

    def roles(self) -> tuple[str, ...]:
        """The roles a job of this suite gives the env."""
        return tuple(TASK_ROLE_OVERRIDES if self.protocol == "tasks" else JOB_ENV_OVERRIDES)

    def role_kwargs(self, role: str, agent: str | None = None) -> dict[str, Any]:
        """The env keyword arguments of a job's role for `agent` (its variant's overrides included)."""
        variant = self.variants[agent].env_kwargs if agent in self.variants else {}
        return {**self.env_kwargs, **variant, **self.role_overrides(role)}

    def role_config(self, role: str, agent: str | None = None) -> LRTuningConfig:
        """The resolved config of the env `role_kwargs` builds."""
        return PRESETS[self.env_id].replace(**self.role_kwargs(role, agent))

    def config(self, **overrides: Any) -> LRTuningConfig:
        """The environment's resolved config (preset + env_kwargs + `overrides`)."""
        return PRESETS[self.env_id].replace(**{**self.env_kwargs, **overrides})

    def job_configs(self) -> dict[str, dict[str, Any]]:
        """The resolved env config of every role a job gives the env (`JOB_ENV_OVERRIDES`)."""
        return {role: self.role_config(role).to_dict() for role in self.roles()}

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["variants"] = {name: spec.to_dict() for name, spec in self.variants.items()}
        return json.loads(json.dumps(data))

    def fingerprint(self) -> str:
        """A short hash of everything of the suite that changes results: its fields (not the
        description, time notes or statistics settings) and the env config each job resolves
        from them, so that a changed default of the environment changes it too.

        Run files record it, so a changed suite never silently resumes on another suite's files.
        Each job's record adds what only the job resolves (its agent's hyperparameters, its
        seeds: `benchmarks/resume.py`).
        """
        data = {k: v for k, v in self.to_dict().items() if k not in NOT_FINGERPRINTED}
        data["resolved_env_configs"] = self.job_configs()
        distribution = self.config().task_distribution
        if distribution is not None:  # the tasks live in lrgym.tasks: an edited task table counts
            dist = task_tables.get_distribution(distribution)
            data["task_distribution"] = {"train": dist.train, "test": dist.test}
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_wrappers(suite: Suite, name: str, spec: AgentSpec) -> None:
    """Refuses wrappers that cannot keep the budget every learning agent gets (named, with what is
    allowed): decisions of `action_repeat` steps must make up `train_steps` exactly."""
    repeat = spec.action_repeat
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(
            f"suite {suite.name!r}: variant {name!r} action_repeat={repeat!r}: expected an integer >= 1"
        )
    if suite.train_steps % repeat:
        raise ValueError(
            f"suite {suite.name!r}: variant {name!r} action_repeat={repeat} does not divide train_steps="
            f"{suite.train_steps}: its budget in decisions would not be the others' in env steps"
        )
    signals = spec.keep_signals
    if signals is not None and (not signals or any(s not in TRAINING_SIGNALS for s in signals)):
        raise ValueError(
            f"suite {suite.name!r}: variant {name!r} keep_signals={signals!r}: expected None or names from "
            f"{TRAINING_SIGNALS}"
        )


# --- the "tasks" protocol: helpers ----------------------------------------------------------
def _check_task_protocol(suite: Suite) -> None:
    """Refuses a "tasks" suite that cannot run as its protocol says (named, with what is allowed)."""
    p = suite.tasks
    assert p is not None
    if suite.config().task_distribution is None:
        raise ValueError(f"suite {suite.name!r}: protocol 'tasks' needs an env with a task distribution")
    if suite.schedules or suite.peak_grid:
        raise ValueError(
            f"suite {suite.name!r}: under protocol 'tasks' the schedule baselines come from TaskProtocol "
            "(schedule, multipliers); leave schedules and peak_grid empty"
        )
    leaked = (set(p.train_task_seeds) | set(p.test_task_seeds)) & set(suite.eval_seeds)
    if leaked:
        raise ValueError(f"suite {suite.name!r}: seeds {sorted(leaked)} are both tuning and evaluation seeds")
    if not p.multipliers or not all(m > 0 for m in p.multipliers):
        raise ValueError(f"suite {suite.name!r}: multipliers {p.multipliers} must be positive numbers")
    if not p.train_task_seeds or not p.test_task_seeds:
        raise ValueError(f"suite {suite.name!r}: the grid needs at least one seed on each task set")
    if AGENTS.get(p.schedule, ("", {}, ""))[1].get("schedule") != p.schedule:
        raise ValueError(f"suite {suite.name!r}: {p.schedule!r} is not a hand schedule of the registry")
    for optimizer, schedule in p.tuning_free.items():
        if optimizer not in TUNING_FREE_OPTIMIZERS or schedule not in TUNING_FREE_SCHEDULES:
            raise ValueError(
                f"suite {suite.name!r}: tuning_free {optimizer!r}: {schedule!r}; optimisers are "
                f"{TUNING_FREE_OPTIMIZERS}, schedules {TUNING_FREE_SCHEDULES}"
            )
    dist = task_distribution(suite)
    for task_set, chosen in (("train", p.train_tasks), ("test", p.test_tasks)):
        count = len(dist.tasks(task_set))
        if chosen is not None and not (chosen and all(0 <= k < count for k in chosen)):
            raise ValueError(f"suite {suite.name!r}: {task_set} tasks {chosen} must index 0..{count - 1}")


def task_distribution(suite: Suite) -> task_tables.TaskDistribution:
    """The task distribution of a suite's env."""
    name = suite.config().task_distribution
    if name is None:
        raise ValueError(f"suite {suite.name!r}: its env {suite.env_id} has no task distribution")
    return task_tables.get_distribution(name)


def task_indices(suite: Suite, task_set: str) -> tuple[int, ...]:
    """The train tasks that tune the multipliers, or the test tasks of the evaluation."""
    assert suite.tasks is not None
    chosen = suite.tasks.train_tasks if task_set == "train" else suite.tasks.test_tasks
    return tuple(range(len(task_distribution(suite).tasks(task_set)))) if chosen is None else chosen


def task_initial_lr(suite: Suite, task_set: str, task: int) -> float:
    """A task's conventional LR (the unit of the multipliers)."""
    return float(task_distribution(suite).tasks(task_set)[task]["initial_lr"])


def tuning_free_task(suite: Suite, task: int, optimizer: str) -> dict[str, Any]:
    """Test task `task` with its optimiser replaced by a tuning-free one at its conventional LR:
    the dict of overrides that `reset(options={"task": ...})` pins."""
    overrides = dict(task_distribution(suite).test[task])
    return {**overrides, "optimizer": optimizer, "initial_lr": OPTIMIZER_DEFAULT_LR[optimizer]}


# --- agents in the schedule-relative action mode (the suites' own names, `Suite.variants`) ---
RELATIVE_DISCRETE = {"action_mode": "schedule_relative_discrete"}  # cosine from initial_lr x (0.25 .. 4)
RELATIVE_BOX = {"action_mode": "schedule_relative"}  # cosine from initial_lr x 4^a, a in [-1, 1]
RELATIVE_VARIANTS = {
    "dqn-relative": AgentSpec("dqn", RELATIVE_DISCRETE),
    "sb3-ppo-relative": AgentSpec("sb3-ppo", RELATIVE_BOX),
    "sb3-sac-relative": AgentSpec("sb3-sac", RELATIVE_BOX),
    "random-relative": AgentSpec("random", RELATIVE_DISCRETE),
}


# --- tiny: the embedded environment ---------------------------------------------------------
# The custom DQN that learns a schedule of cosine factors: 4 decisions per run (each factor held
# for 5 of the 20 steps), observing only the progress through the run, on the terminal reward
# with gamma 1 and whole-episode returns; the best learner of `benchmarks/variants.py`
# (`dqn-relative-repeat5-progress-terminal`). Its hyperparameters are the package defaults in
# runs of 4 decisions: learning after 10 runs, a target sync every 5, 5 updates per decision.
PROGRESS_DQN = AgentSpec(
    "dqn", {**RELATIVE_DISCRETE, "reward": "terminal_acc"}, action_repeat=5, keep_signals=("progress",)
)
PROGRESS_DQN_KWARGS = {
    "gamma": 1.0,
    "n_step": 4,
    "learning_starts": 40,
    "target_update_interval": 20,
    "gradient_steps": 5,
}
# One Tiny episode (20 decisions, 2 epochs of 39 mini-batches) took 5.3-5.5 s on one thread of
# the 2-core AMD EPYC machine the results were recorded on.
TINY_SUITE = Suite(
    name="tiny",
    description="LRTuning-Tiny-v0 (synthetic data, WRN-10-1, 2 epochs, 20 decisions): learned control vs tuned schedules",
    env_id="LRTuning-Tiny-v0",
    env_kwargs={"device": "cpu"},
    # The custom DQN in the env's multipliers, in the schedule-relative mode (7.6 points higher
    # on held-out seeds in benchmarks/variants.py) and learning a schedule of its factors
    # (`dqn-relative-progress`); SB3 SAC on continuous factors; random actions in both modes.
    learning_agents=(
        "dqn",
        "dqn-relative",
        "dqn-relative-progress",
        "sb3-dqn",
        "sb3-ppo",
        "sb3-sac-relative",
    ),
    variants={**RELATIVE_VARIANTS, "dqn-relative-progress": PROGRESS_DQN},
    agent_kwargs={"dqn-relative-progress": PROGRESS_DQN_KWARGS},
    random_variants=("random-relative",),
    train_steps=DEFAULT_TRAIN_STEPS,  # the agents' default budget: 1000 env steps = 50 episodes
    schedules=("constant", "step", "cosine", "onecycle"),
    peak_grid=(0.05, 0.1, 0.2, 0.4, 0.8),  # learning rates
    train_seeds=(0, 1, 2, 3, 4),  # 5 policies per learning agent, each on the 10 evaluation seeds
    expected_time="about 2.3 h with --workers 2 on 2 CPU cores (16,260 s of jobs, two side by side, on an "
    "Intel Xeon; 30 learning jobs of 375-486 s), plus ~10 min of PBT",
)

# --- fashion: a real dataset on the CPU -----------------------------------------------------
# WRN-10-1 trains at ~1,000 Fashion-MNIST images/s on one thread of the recording machine; an
# evaluation pass runs at ~2,000 images/s. With 5,000 training images, 3 epochs and 15 decisions
# an episode is ~18 s of training and ~25 s with the final validation and test passes.
FASHION_SUITE = Suite(
    name="fashion",
    description="Fashion-MNIST (5,000 training images, WRN-10-1, 3 epochs, 15 decisions) on the CPU",
    env_id="LRTuning-v0",
    env_kwargs={
        "dataset": "fashion_mnist",
        "train_subset_size": 5000,  # training images per epoch (39 mini-batches of 128)
        "val_size": 2000,  # images of the fixed validation split (full-validation accuracy, tuning)
        "val_subset_size": 500,  # images evaluated after every decision (reward, observation)
        "depth": 10,  # WRN-10-1: 77,850 parameters for 1x28x28 inputs
        "width": 1,
        "epochs": 3.0,  # training budget per episode
        "steps_per_epoch": 5,  # decisions per epoch: 15 per episode
        "batch_size": 128,  # images per mini-batch
        "device": "cpu",
    },
    learning_agents=("dqn", "sb3-ppo"),
    train_steps=600,  # env steps = 40 episodes per agent and seed (20 PPO rollouts of 2 episodes)
    schedules=("constant", "cosine"),
    peak_grid=(0.01, 0.03, 0.1, 0.3),  # learning rates
    expected_time="about 1 h with --workers 2 on 2 CPU cores (see benchmarks/README.md for the measured time)",
)

# --- cifar10: the real task, for a GPU ------------------------------------------------------
# Not run on the recording machine (no GPU). Cost estimate, not a measurement: WRN-16-4 takes
# about 2.36 GFLOP per training image (forward + backward) and a third of that per evaluated
# image, so one episode (45,000 images x 10 epochs, 100 x 1,000 subset images, 15,000 final)
# is about 1.15 PFLOP; see `estimate_hours`. benchmarks/gpu_throughput.py measures the rate.
CIFAR10_SUITE = Suite(
    name="cifar10",
    description="LRTuning-v0 as registered (CIFAR-10, WRN-16-4, 10 epochs, 100 decisions), for a GPU",
    env_id="LRTuning-v0",
    env_kwargs={},
    learning_agents=("dqn", "sb3-dqn", "sb3-ppo"),
    train_steps=3000,  # env steps = 30 episodes per agent and seed (15 PPO rollouts of 2 episodes)
    schedules=("constant", "step", "cosine", "onecycle"),
    peak_grid=(0.05, 0.1, 0.2, 0.4),  # learning rates
    expected_time=(
        "estimate, not a measurement: 458 episodes of ~1.15 PFLOP each; about 5 h on one GPU "
        "sustaining 30 TFLOP/s (bf16, WRN-16-4 at batch 128), 1.5 h at 100 TFLOP/s"
    ),
)

# --- paper: the original protocol at Tiny scale ---------------------------------------------
# LRTuning-Paper-v0's MDP (one mini-batch per decision, the paper's 193 first-layer features,
# x0.97-or-restart actions, the paper's reward, 4 stacked states) on the Tiny preset's data,
# model and budget: 2 epochs of 39 mini-batches = 78 decisions per episode.
PAPER_TINY_KWARGS = {
    name: getattr(TINY, name)
    for name in (
        "dataset",
        "depth",
        "width",
        "epochs",
        "synthetic_train_size",
        "val_size",
        "val_subset_size",
        "eval_batch_size",
    )
}
_PAPER_STEPS = PRESETS["LRTuning-Paper-v0"].replace(**PAPER_TINY_KWARGS).num_steps  # 78 decisions
PAPER_LEARNING_EPISODES = len(EVAL_SEEDS)  # one learning episode before each test episode
PAPER_SUITE = Suite(
    name="paper",
    description="the original protocol at Tiny scale: DQN learning and greedy testing alternate, 10 episodes each",
    env_id="LRTuning-Paper-v0",
    env_kwargs={**PAPER_TINY_KWARGS, "device": "cpu"},
    learning_agents=("dqn-paper",),
    # Exploration decays over 40% of all learning steps (the DQN's exploration_fraction), set
    # explicitly because the protocol calls learn() once per episode.
    agent_kwargs={"dqn-paper": {"exploration_steps": round(0.4 * PAPER_LEARNING_EPISODES * _PAPER_STEPS)}},
    train_steps=PAPER_LEARNING_EPISODES * _PAPER_STEPS,  # env steps: 10 episodes of 78 decisions
    schedules=("paper-rule",),
    peak_grid=(0.025, 0.05, 0.1),  # restart learning rates (the preset's lr_max is 0.1)
    protocol="alternate",
    expected_time="about 15 min with --workers 2 on 2 CPU cores (see benchmarks/README.md for the measured time)",
)


# --- tinymix: learned control across tasks, on the CPU ---------------------------------------
# LRTuning-TinyMix-v0: 16 train and 8 held-out test tasks (synthetic datasets, WRN-10-1/16-1/10-2
# and a CNN, batch 32-256, 1-4 epochs, weight decay 0-5e-2, SGD or Adam), 20 decisions each.
# benchmarks/task_spread.py measured 5.3 CPU-s per episode on average (at most 10.6) on one
# thread of the 2-core recording machine, and that the per-task best cosine peaks span 16x.
# Costs, in episodes (`episode_count`): tuning cosine per test task takes 7 multipliers x 2
# tuning seeds = 14 episodes, 112 for the 8 test tasks, and each learning agent trains for those
# same 112 episodes (2,240 steps) per training seed. Evaluation: 8 test tasks x 5 seeds = 40
# runs per policy (120 per learning agent over its 3 training seeds).
TINYMIX_EPISODE_CPU_S = 5.3  # mean CPU seconds per TinyMix episode (benchmarks/task_spread.py)
TINYMIX_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # x each task's initial_lr (task_spread's grid)
TINYMIX_TUNING_SEEDS = (0, 1)  # each test task's grid runs on these (never evaluation seeds)
_TINYMIX_TESTS = len(task_tables.TINYMIX.test)
TINYMIX_RL_EPISODES = len(TINYMIX_MULTIPLIERS) * len(TINYMIX_TUNING_SEEDS) * _TINYMIX_TESTS  # 112
# Each tuning-free optimiser at LR 1.0 under its package's advice: Schedule-Free needs no
# schedule (its warm-up is built in: `schedulefree_warmup`); Prodigy recommends no scheduler or
# cosine annealing over the whole run; D-Adaptation says to keep the scheduler one would use
# anyway, which here is cosine.
TUNING_FREE = {"schedulefree_sgd": "constant", "prodigy": "cosine", "dadapt_sgd": "cosine"}
TINYMIX_SUITE = Suite(
    name="tinymix",
    description="LRTuning-TinyMix-v0: learned LR control trained on 16 tasks, evaluated on 8 held-out "
    "tasks, against cosine tuned for the distribution, per optimiser and per task, and tuning-free optimisers",
    env_id="LRTuning-TinyMix-v0",
    env_kwargs={"device": "cpu"},
    learning_agents=("dqn-relative", "dqn", "sb3-ppo-relative", "sb3-sac-relative"),
    variants=RELATIVE_VARIANTS,
    train_steps=TINYMIX_RL_EPISODES * task_tables.TINYMIX_DECISIONS,  # 2,240 env steps = 112 episodes
    schedules=(),
    peak_grid=(),
    random_variants=("random-relative",),
    eval_seeds=EVAL_SEEDS[:5],  # x 8 test tasks: 40 runs per policy
    protocol="tasks",
    tasks=TaskProtocol(
        multipliers=TINYMIX_MULTIPLIERS,
        train_task_seeds=(0,),  # 7 x 16 train tasks = 112 episodes for the two distribution-wide choices
        test_task_seeds=TINYMIX_TUNING_SEEDS,
        tuning_free=TUNING_FREE,
    ),
    expected_time=(
        "2,368 episodes, about 3.5 CPU-hours at the measured 5.3 CPU-s per episode: about 1 h 45 min "
        "with --workers 2 on 2 free CPU cores, up to 3 h on a shared machine (its records carry each "
        "job's CPU-seconds)"
    ),
)

# --- mix: the same on real datasets, for a GPU ------------------------------------------------
# LRTuning-Mix-v0: 39 train and 9 test tasks (CIFAR-10/100, Fashion-MNIST, MNIST; WRN-16-4/28-2/
# 10-8 and a CNN; batch 64-256; 2-10 epochs), 40 decisions each. Not run on the recording machine
# (no GPU). Tuning cosine per test task costs 7 x 2 = 14 episodes, 126 for the 9 test tasks; each
# learning agent trains for 126 episodes (5,040 steps) per training seed. Evaluation: 9 test tasks
# x 3 seeds = 27 runs per policy. The time is an estimate from the FLOPs of every episode
# (`benchmarks/flops.py`), not a measurement.
MIX_TUNING_SEEDS = (0, 1)
_MIX_TESTS = len(task_tables.MIX.test)
MIX_RL_EPISODES = len(TINYMIX_MULTIPLIERS) * len(MIX_TUNING_SEEDS) * _MIX_TESTS  # 126
MIX_SUITE = Suite(
    name="mix",
    description="LRTuning-Mix-v0 (real datasets and WideResNets, for a GPU): learned LR control on held-out "
    "tasks against cosine tuned for the distribution, per optimiser and per task, and tuning-free optimisers",
    env_id="LRTuning-Mix-v0",
    env_kwargs={},
    learning_agents=("dqn-relative", "dqn", "sb3-ppo-relative", "sb3-sac-relative"),
    variants=RELATIVE_VARIANTS,
    train_steps=MIX_RL_EPISODES * task_tables.MIX_DECISIONS,  # 5,040 env steps = 126 episodes
    schedules=(),
    peak_grid=(),
    random_variants=("random-relative",),
    eval_seeds=EVAL_SEEDS[:3],  # x 9 test tasks: 27 runs per policy
    protocol="tasks",
    tasks=TaskProtocol(
        multipliers=TINYMIX_MULTIPLIERS,
        train_task_seeds=(0,),  # 7 x 39 train tasks = 273 episodes
        test_task_seeds=MIX_TUNING_SEEDS,
        tuning_free=TUNING_FREE,
    ),
    expected_time=(
        "estimate, not a measurement: 2,451 episodes of about 1,150 PFLOP in all, counted per task "
        "(python -m benchmarks.flops --suite mix); about 11 h on one GPU sustaining 30 TFLOP/s "
        "(bf16), 3 h at 100 TFLOP/s"
    ),
)


def suite_from_dict(data: dict[str, Any]) -> Suite:
    """The inverse of `Suite.to_dict` (JSON turns tuples into lists)."""
    values = _tuples(Suite, data)
    values["variants"] = {
        name: AgentSpec(**_tuples(AgentSpec, spec)) for name, spec in values.get("variants", {}).items()
    }
    if values.get("tasks") is not None:
        values["tasks"] = TaskProtocol(**_tuples(TaskProtocol, values["tasks"]))
    return Suite(**values)


def _tuples(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with the lists of `cls`'s tuple-typed fields as tuples."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return {
        k: tuple(v) if isinstance(v, list) and "tuple" in str(fields[k].type) else v for k, v in data.items()
    }


SUITES: dict[str, Suite] = {
    s.name: s for s in (TINY_SUITE, FASHION_SUITE, CIFAR10_SUITE, PAPER_SUITE, TINYMIX_SUITE, MIX_SUITE)
}

# --- toy: any suite shrunk to seconds -------------------------------------------------------
TOY_ENV_KWARGS: dict[str, Any] = {  # smaller than tests/conftest.py's FAST_TINY_KWARGS, on synthetic data
    "dataset": "synthetic",
    "train_subset_size": None,
    "depth": 10,
    "width": 1,
    "device": "cpu",
    "synthetic_train_size": 1000,  # images before the validation split: 25 mini-batches per epoch
    "synthetic_test_size": 200,
    "val_size": 200,
    "val_subset_size": 100,
    "batch_size": 32,
    "eval_batch_size": 200,
    "epochs": 1.0,
    "steps_per_epoch": 10,  # 10 decisions per episode
}
TOY_TRAIN_EPISODES = 2  # learning episodes per agent (protocol "standard")
TOY_AGENT_KWARGS: dict[str, dict[str, Any]] = {  # by registry agent: so that a few steps include updates
    "dqn": {"learning_starts": 5, "batch_size": 8},
    "dqn-paper": {"learning_starts": 5, "batch_size": 8, "exploration_steps": 10},
    "sb3-dqn": {"learning_starts": 5, "batch_size": 8},
    "sb3-sac": {"learning_starts": 5, "batch_size": 8},
}
# A task distribution's env refuses kwargs that its tasks set (data, model, batch, budget), so
# its toy shrinks only the rest: small, low-resolution images and cheap evaluations. 1,300
# training images still give the batch-256, 4-epoch tasks a mini-batch per decision.
TOY_TASK_ENV_KWARGS: dict[str, Any] = {
    "synthetic_train_size": 1400,  # images before the validation split
    "synthetic_test_size": 100,
    "synthetic_image_size": 8,  # pixels per side (TinyMix: 16)
    "synthetic_channels": 1,
    "val_size": 100,
    "val_subset_size": 50,
    "eval_batch_size": 100,
    "schedulefree_bn_images": 128,  # Schedule-Free's BatchNorm pass before each evaluation (1,024)
}


def _toy_agent_kwargs(suite: Suite) -> dict[str, dict[str, Any]]:
    return {
        a: {**suite.agent_kwargs.get(a, {}), **TOY_AGENT_KWARGS.get(suite.registry_agent(a), {})}
        for a in suite.learning_agents
    }


def _toy_tasks(suite: Suite) -> Suite:
    """A "tasks" suite shrunk to seconds: the first task of each optimiser in each half, one
    training, tuning and evaluation seed, two learning episodes, the two middle multipliers."""
    assert suite.tasks is not None
    dist = task_distribution(suite)

    def first_per_optimizer(task_set: str) -> tuple[int, ...]:
        firsts: dict[str, int] = {}
        for k, task in enumerate(dist.tasks(task_set)):
            firsts.setdefault(task["optimizer"], k)
        return tuple(sorted(firsts.values()))

    grid = suite.tasks.multipliers
    middle = len(grid) // 2
    tasks = dataclasses.replace(
        suite.tasks,
        multipliers=tuple(grid[max(0, middle - 1) : middle + 1]),
        train_task_seeds=suite.tasks.train_task_seeds[:1],
        test_task_seeds=suite.tasks.test_task_seeds[:1],
        train_tasks=first_per_optimizer("train"),
        test_tasks=first_per_optimizer("test"),
    )
    return dataclasses.replace(
        suite,
        name=f"{suite.name}-toy",
        env_kwargs={**suite.env_kwargs, **TOY_TASK_ENV_KWARGS},
        agent_kwargs=_toy_agent_kwargs(suite),
        train_steps=TOY_TRAIN_EPISODES * suite.config().num_steps,
        train_seeds=suite.train_seeds[:1],
        eval_seeds=suite.eval_seeds[:1],
        tasks=tasks,
        bootstrap_reps=200,
        expected_time="seconds",
    )


def toy(suite: Suite) -> Suite:
    """`suite` shrunk to seconds: tiny synthetic data (about 10 decisions per episode), 1 training
    seed, 2 evaluation seeds, two learning episodes per agent, the two middle peaks of the grid
    and few bootstrap resamples (a "tasks" suite: `_toy_tasks`)."""
    if suite.protocol == "tasks":
        return _toy_tasks(suite)
    env_kwargs = {**suite.env_kwargs, **TOY_ENV_KWARGS}
    if suite.config().batches_per_step is not None:  # one-mini-batch decisions: 3 per step instead
        env_kwargs["batches_per_step"] = 3  # 25 mini-batches of the toy epoch: 9 decisions
    middle = len(suite.peak_grid) // 2
    eval_seeds = suite.eval_seeds[:2]
    small = dataclasses.replace(suite, env_kwargs=env_kwargs, eval_seeds=eval_seeds)
    episodes = len(eval_seeds) if suite.protocol == "alternate" else TOY_TRAIN_EPISODES
    return dataclasses.replace(
        small,
        name=f"{suite.name}-toy",
        agent_kwargs=_toy_agent_kwargs(suite),
        train_steps=episodes * small.config().num_steps,
        train_seeds=suite.train_seeds[:1],
        peak_grid=tuple(suite.peak_grid[max(0, middle - 1) : middle + 1]),
        bootstrap_reps=200,
        expected_time="seconds",
    )


def get_suite(name: str, toy_version: bool = False) -> Suite:
    """The suite called `name` (its toy version if asked); unknown names raise `ValueError`."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; suites are {', '.join(SUITES)}")
    return toy(SUITES[name]) if toy_version else SUITES[name]


def default_results_dir(suite: Suite) -> Path:
    """benchmarks/results/<suite>/, and benchmarks/results/<suite>/toy/ for a toy suite."""
    base, _, toy_part = suite.name.partition("-")
    return RESULTS_ROOT / base / toy_part if toy_part else RESULTS_ROOT / base


def episode_count(suite: Suite) -> dict[str, int]:
    """Training runs (env episodes) the suite costs, by job kind: for sizing it."""
    if suite.protocol == "tasks":
        return task_episode_count(suite)
    cfg = suite.config()
    seeds, evals = len(suite.train_seeds), len(suite.eval_seeds)
    learning = len(suite.learning_agents) * seeds
    counts = {
        "train": learning * -(-suite.train_steps // cfg.num_steps),
        "evaluate_learning": learning * evals,
        "tune": len(suite.schedules) * len(suite.peak_grid) * seeds,
        "evaluate_schedules": len(suite.schedules) * evals,
        "evaluate_random": (int(suite.random) + len(suite.random_variants)) * evals,
    }
    return counts


def rl_episodes(suite: Suite) -> int:
    """Episodes of learning per learning agent and training seed (the RL training cost)."""
    return -(-suite.train_steps // suite.config().num_steps)


def per_task_tuning_episodes(suite: Suite) -> int:
    """Episodes it costs to tune the schedule on one test task (grid x tuning seeds)."""
    assert suite.tasks is not None
    return len(suite.tasks.multipliers) * len(suite.tasks.test_task_seeds)


def task_episode_count(suite: Suite) -> dict[str, int]:
    """`episode_count` of a "tasks" suite: every run of every kind of job."""
    p = suite.tasks
    assert p is not None
    tests, trains = len(task_indices(suite, "test")), len(task_indices(suite, "train"))
    runs = tests * len(suite.eval_seeds)  # evaluation runs per policy
    learning = len(suite.learning_agents) * len(suite.train_seeds)
    return {
        "train": learning * rl_episodes(suite),
        "evaluate_learning": learning * runs,
        "tune_train_tasks": len(p.multipliers) * trains * len(p.train_task_seeds),
        "tune_test_tasks": per_task_tuning_episodes(suite) * tests,
        "evaluate_schedules": 3 * runs,  # the single, per-optimiser and per-task multipliers
        "evaluate_tuning_free": len(p.tuning_free) * runs,
        "evaluate_random": (int(suite.random) + len(suite.random_variants)) * runs,
    }


def estimate_hours(suite: Suite, gflop_per_train_image: float, tflops: float) -> float:
    """Wall hours of `suite` for a model costing `gflop_per_train_image` (forward + backward) at a
    sustained `tflops`, counting evaluation passes at a third of a training image. An estimate:
    it ignores data movement, Python overhead and the agents' own compute."""
    cfg = suite.config()
    evaluated = cfg.num_steps * cfg.val_subset_size + cfg.val_size + cfg.dataset_info.test_count
    per_episode = (
        cfg.total_batches * cfg.batch_size * gflop_per_train_image + evaluated * gflop_per_train_image / 3
    )
    episodes = sum(episode_count(suite).values())
    return episodes * per_episode * 1e9 / (tflops * 1e12) / 3600
