"""The benchmark suites: every knob of every agent comparison, in one place.

A suite is an environment (id and keyword arguments), the learning agents with their training
budget and training seeds, the hand schedules with the grid of peak learning rates they are tuned
over, the random agent, and the held-out evaluation seeds. `benchmarks/runner.py` turns a suite
into jobs; `benchmarks/stats.py` and `benchmarks/plots.py` read what those jobs wrote.

Rules every suite follows, so that the comparison is fair and cannot leak the test set:

- every learning agent gets the same training budget (`train_steps` environment steps) on each
  of the same training seeds, with its package defaults (`lrgym_agents`) unless
  `agent_kwargs` says otherwise;
- each hand schedule's peak LR is chosen from `peak_grid` by the mean final accuracy on the
  full validation split over the training seeds; the test set is read only for the final report;
- evaluation seeds are never used for training or tuning.

`toy(suite)` shrinks any suite to seconds, for tests and for trying the machinery.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrgym.config import LRTuningConfig
from lrgym.presets import PRESETS, TINY
from lrgym_agents.registry import DEFAULT_TRAIN_STEPS

PROTOCOLS = ("standard", "alternate")
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


@dataclass(frozen=True)
class Suite:
    """One agent comparison. Field comments give units; `runner.py` documents the jobs."""

    name: str
    description: str  # one line: what the suite measures
    env_id: str  # a registered LRTuning-* id
    env_kwargs: dict[str, Any]  # LRTuningConfig overrides of the preset
    learning_agents: tuple[str, ...]  # registry names; they act in the env's own action mode
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

    def config(self, **overrides: Any) -> LRTuningConfig:
        """The environment's resolved config (preset + env_kwargs + `overrides`)."""
        return PRESETS[self.env_id].replace(**{**self.env_kwargs, **overrides})

    def job_configs(self) -> dict[str, dict[str, Any]]:
        """The resolved env config of every role a job gives the env (`JOB_ENV_OVERRIDES`)."""
        return {role: self.config(**overrides).to_dict() for role, overrides in JOB_ENV_OVERRIDES.items()}

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

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
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# --- tiny: the embedded environment ---------------------------------------------------------
# One Tiny episode (20 decisions, 2 epochs of 39 mini-batches) took 5.3-5.5 s on one thread of
# the 2-core AMD EPYC machine the results were recorded on.
TINY_SUITE = Suite(
    name="tiny",
    description="LRTuning-Tiny-v0 (synthetic data, WRN-10-1, 2 epochs, 20 decisions): learned control vs tuned schedules",
    env_id="LRTuning-Tiny-v0",
    env_kwargs={"device": "cpu"},
    learning_agents=("dqn", "sb3-dqn", "sb3-ppo"),
    train_steps=DEFAULT_TRAIN_STEPS,  # the agents' default budget: 1000 env steps = 50 episodes
    schedules=("constant", "step", "cosine", "onecycle"),
    peak_grid=(0.05, 0.1, 0.2, 0.4, 0.8),  # learning rates
    expected_time="about 30 min with --workers 2 on 2 CPU cores (see benchmarks/README.md for the measured time)",
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


def suite_from_dict(data: dict[str, Any]) -> Suite:
    """The inverse of `Suite.to_dict` (JSON turns tuples into lists)."""
    fields = {f.name: f for f in dataclasses.fields(Suite)}
    values = {
        k: tuple(v) if isinstance(v, list) and "tuple" in str(fields[k].type) else v for k, v in data.items()
    }
    return Suite(**values)


SUITES: dict[str, Suite] = {s.name: s for s in (TINY_SUITE, FASHION_SUITE, CIFAR10_SUITE, PAPER_SUITE)}

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
TOY_AGENT_KWARGS: dict[str, dict[str, Any]] = {  # so that a few steps include gradient updates
    "dqn": {"learning_starts": 5, "batch_size": 8},
    "dqn-paper": {"learning_starts": 5, "batch_size": 8, "exploration_steps": 10},
    "sb3-dqn": {"learning_starts": 5, "batch_size": 8},
}


def toy(suite: Suite) -> Suite:
    """`suite` shrunk to seconds: tiny synthetic data (about 10 decisions per episode), 1 training
    seed, 2 evaluation seeds, two learning episodes per agent, the two middle peaks of the grid
    and few bootstrap resamples."""
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
        agent_kwargs={
            a: {**suite.agent_kwargs.get(a, {}), **TOY_AGENT_KWARGS.get(a, {})} for a in suite.learning_agents
        },
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
    cfg = suite.config()
    seeds, evals = len(suite.train_seeds), len(suite.eval_seeds)
    learning = len(suite.learning_agents) * seeds
    counts = {
        "train": learning * -(-suite.train_steps // cfg.num_steps),
        "evaluate_learning": learning * evals,
        "tune": len(suite.schedules) * len(suite.peak_grid) * seeds,
        "evaluate_schedules": len(suite.schedules) * evals,
        "evaluate_random": evals if suite.random else 0,
    }
    return counts


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
