"""Variants of the learning agents on `LRTuning-Tiny-v0`, measured on held-out evaluation seeds.

What limits learning, and which change helps, is a question for data: each variant (an agent,
its hyperparameters, overrides of the env, a training budget, a number of training envs) is
trained on every seed of `TRAIN_SEEDS` and its greedy policy evaluated on `EVAL_SEEDS` (the
suites' held-out seeds), and compared with random actions and the `tiny` suite's tuned schedules
(their peaks were chosen on validation in that suite) on the same evaluation seeds.

One file per (variant, training seed) under `results/variants/runs/`: the training episodes
(return, final validation-subset accuracy, LR trajectory, actions), and per evaluation episode
the final test accuracy, the LR trajectory, the actions, the per-step rewards and, for the
custom DQN, the Q-values of every decision. `--report` reads them all and writes
`results/variants/summary.md` / `.json`: mean and IQM final test accuracy with 95% intervals of a
two-level bootstrap (training seeds, then evaluation seeds within them), P(improvement over
random actions) with the same resampling, and diagnostics (Q-values against realised returns,
where the LR ends, the greedy policy's actions).

Usage:
    python -m benchmarks.variants --only dqn dqn-gamma1 --workers 2   # train and evaluate, resumable
    python -m benchmarks.variants --report                           # the comparison table
    python -m benchmarks.variants --list
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import stats
from benchmarks._record import code_state, machine, write_record
from benchmarks.workers import ProcessExecutor

# --- hyperparameters --------------------------------------------------------------------------
ENV_ID = "LRTuning-Tiny-v0"
BASE_ENV_KWARGS: dict[str, Any] = {"device": "cpu"}
TRAIN_SEEDS = (0, 1, 2, 3, 4)  # training seeds: every variant learns on each
EVAL_SEEDS = tuple(range(1000, 1010))  # held out: never trained or tuned on
DEFAULT_STEPS = 1000  # env steps of learning (50 Tiny episodes): the agents' default budget
BOOTSTRAP_REPS = 2000  # resamples per interval
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
RESULTS_DIR = Path(__file__).resolve().parent / "results" / "variants"


@dataclass(frozen=True)
class Variant:
    """One way to train (or not) an agent; `kind` "learning", "random" or "schedule"."""

    agent: str
    description: str
    kind: str = "learning"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    train_steps: int = DEFAULT_STEPS
    num_envs: int = 1  # training envs (a synchronous vector env when > 1)
    action_repeat: int = 1  # env steps per decision (`lrgym.wrappers.ActionRepeat` when > 1)
    keep_signals: tuple[str, ...] | None = None  # observe only these signals (`lrgym.wrappers.KeepSignals`)


ABSOLUTE = {"action_mode": "absolute"}
RELATIVE = {"action_mode": "schedule_relative_discrete"}  # cosine from initial_lr x (0.25, 0.5, 1, 2, 4)
RELATIVE_BOX = {"action_mode": "schedule_relative"}  # cosine from initial_lr x 4^a, a in [-1, 1]
# The DQN's defaults in runs, for decisions of 5 steps: learning after 10 runs (in effect after
# 16, when the replay holds its first batch of 64), a target sync every 5 runs, 5 gradient
# updates per decision (as many updates as at one per step).
_REPEAT5_DQN = {"learning_starts": 40, "target_update_interval": 20, "gradient_steps": 5}
# ... and for one decision per run (50 transitions in all): learning after 10 runs on batches
# of 10 (the default 64 would never be reached), 20 updates per decision.
_REPEAT20_DQN = {"learning_starts": 10, "batch_size": 10, "target_update_interval": 5, "gradient_steps": 20}
VARIANTS: dict[str, Variant] = {
    # the floor and the references (peaks chosen on validation in the `tiny` suite)
    "random": Variant("random", "uniformly random multipliers", kind="random"),
    "random-absolute": Variant("random", "uniformly random absolute LRs", kind="random", env_kwargs=ABSOLUTE),
    "cosine-0.4": Variant(
        "cosine",
        "tuned cosine (tiny suite)",
        kind="schedule",
        env_kwargs=ABSOLUTE,
        agent_kwargs={"peak_lr": 0.4},
    ),
    "step-0.2": Variant(
        "step", "tuned step (tiny suite)", kind="schedule", env_kwargs=ABSOLUTE, agent_kwargs={"peak_lr": 0.2}
    ),
    "random-relative": Variant(
        "random", "uniformly random factors on cosine", kind="random", env_kwargs=RELATIVE
    ),
    "cosine-0.1": Variant(
        "cosine",
        "cosine at the initial LR: the schedule-relative reference",
        kind="schedule",
        env_kwargs=ABSOLUTE,
    ),
    "constant-0.2": Variant(
        "constant",
        "tuned constant (tiny suite)",
        kind="schedule",
        env_kwargs=ABSOLUTE,
        agent_kwargs={"peak_lr": 0.2},
    ),
    # the custom DQN
    "dqn": Variant("dqn", "custom DQN, package defaults"),
    "dqn-gamma1": Variant("dqn", "gamma 1: the return is the accuracy gained", agent_kwargs={"gamma": 1.0}),
    "dqn-gamma1-n5": Variant("dqn", "gamma 1, 5-step returns", agent_kwargs={"gamma": 1.0, "n_step": 5}),
    "dqn-gamma1-mc": Variant(
        "dqn", "gamma 1, 20-step (whole-episode) returns", agent_kwargs={"gamma": 1.0, "n_step": 20}
    ),
    "dqn-terminal": Variant(
        "dqn", "terminal reward, gamma 1", env_kwargs={"reward": "terminal_acc"}, agent_kwargs={"gamma": 1.0}
    ),
    "dqn-relative": Variant("dqn", "schedule-relative factors (0.25-4) on cosine", env_kwargs=RELATIVE),
    "dqn-relative-gamma1": Variant(
        "dqn", "schedule-relative factors, gamma 1", env_kwargs=RELATIVE, agent_kwargs={"gamma": 1.0}
    ),
    "dqn-relative-mc": Variant(
        "dqn",
        "schedule-relative factors, gamma 1, whole-episode returns",
        env_kwargs=RELATIVE,
        agent_kwargs={"gamma": 1.0, "n_step": 20},
    ),
    "dqn-relative-gs4": Variant(
        "dqn",
        "schedule-relative factors, 4 gradient updates per step",
        env_kwargs=RELATIVE,
        agent_kwargs={"gradient_steps": 4},
    ),
    "dqn-relative-2x": Variant(
        "dqn",
        "schedule-relative factors, twice the budget over 2 envs",
        env_kwargs=RELATIVE,
        train_steps=2 * DEFAULT_STEPS,
        num_envs=2,
    ),
    # Fewer decisions: each factor held for 5 of the 20 steps (4 decisions per run), so one
    # decision moves the final accuracy 5 times as much. The same 50 runs; the DQN's schedule
    # per run kept (see _REPEAT5_DQN).
    "dqn-relative-repeat5": Variant(
        "dqn",
        "schedule-relative factors held for 5 steps (4 decisions), gamma 1",
        env_kwargs=RELATIVE,
        agent_kwargs={"gamma": 1.0, **_REPEAT5_DQN},
        train_steps=DEFAULT_STEPS // 5,
        action_repeat=5,
    ),
    # What the DQN sees: only the progress through the run, so its greedy policy is an open-loop
    # schedule of factors (on one fixed task the best schedule hardly depends on the seed). The
    # next state then no longer shows what an action did to the network, so a one-step target
    # credits each action with its immediate reward only (which favours low LRs): these use
    # whole-episode returns, whose sum carries an action's effect on the final accuracy.
    "dqn-relative-progress-mc": Variant(
        "dqn",
        "schedule-relative factors, gamma 1, whole-episode returns, observing only the progress",
        env_kwargs=RELATIVE,
        agent_kwargs={"gamma": 1.0, "n_step": 20},
        keep_signals=("progress",),
    ),
    "dqn-relative-repeat5-progress-mc": Variant(
        "dqn",
        "factors held for 5 steps (4 decisions), gamma 1, whole-episode returns, observing only the progress",
        env_kwargs=RELATIVE,
        agent_kwargs={"gamma": 1.0, "n_step": 4, **_REPEAT5_DQN},
        train_steps=DEFAULT_STEPS // 5,
        action_repeat=5,
        keep_signals=("progress",),
    ),
    "dqn-relative-repeat5-progress-mc-2x": Variant(
        "dqn",
        "as dqn-relative-repeat5-progress-mc, twice the budget (100 runs)",
        env_kwargs=RELATIVE,
        agent_kwargs={"gamma": 1.0, "n_step": 4, **_REPEAT5_DQN},
        train_steps=2 * DEFAULT_STEPS // 5,
        action_repeat=5,
        keep_signals=("progress",),
    ),
    # The same on the terminal reward: with only the progress observed, the whole-episode return
    # from decision d under the per-step reward is final minus the validation-subset accuracy at
    # d, i.e. two noisy readings, and the second depends on the hidden earlier factors; the
    # terminal reward's return from every decision is the final accuracy alone.
    "dqn-relative-repeat5-progress-terminal": Variant(
        "dqn",
        "as dqn-relative-repeat5-progress-mc, on the terminal reward (every decision's return is the final accuracy)",
        env_kwargs={**RELATIVE, "reward": "terminal_acc"},
        agent_kwargs={"gamma": 1.0, "n_step": 4, **_REPEAT5_DQN},
        train_steps=DEFAULT_STEPS // 5,
        action_repeat=5,
        keep_signals=("progress",),
    ),
    # ... with exploration decaying over the whole run (not 40% of it): every factor keeps being
    # tried at every decision, so rarely taken ones are not judged on 1-3 runs.
    "dqn-relative-repeat5-progress-terminal-explore": Variant(
        "dqn",
        "as dqn-relative-repeat5-progress-terminal, epsilon decaying over the whole run",
        env_kwargs={**RELATIVE, "reward": "terminal_acc"},
        agent_kwargs={"gamma": 1.0, "n_step": 4, "exploration_fraction": 1.0, **_REPEAT5_DQN},
        train_steps=DEFAULT_STEPS // 5,
        action_repeat=5,
        keep_signals=("progress",),
    ),
    # One decision per run (the factor held for all 20 steps): the DQN becomes a bandit over the
    # five cosines, i.e. it tunes the cosine's peak from the 50 runs' final accuracies.
    "dqn-relative-repeat20": Variant(
        "dqn",
        "one factor for the whole run (1 decision): a bandit over cosine peaks",
        env_kwargs=RELATIVE,
        agent_kwargs=_REPEAT20_DQN,
        train_steps=DEFAULT_STEPS // 20,
        action_repeat=20,
    ),
    "dqn-relative-repeat20-progress": Variant(
        "dqn",
        "one factor for the whole run, observing only the progress (always 0): a plain bandit",
        env_kwargs=RELATIVE,
        agent_kwargs=_REPEAT20_DQN,
        train_steps=DEFAULT_STEPS // 20,
        action_repeat=20,
        keep_signals=("progress",),
    ),
    "random-relative-repeat5": Variant(
        "random",
        "uniformly random factors on cosine, held for 5 steps",
        kind="random",
        env_kwargs=RELATIVE,
        action_repeat=5,
    ),
    "dqn-small-obs": Variant(
        "dqn",
        "gamma 1, weight statistics of the last layer only (20 inputs, not 150)",
        env_kwargs={"feature_layers": "last"},
        agent_kwargs={"gamma": 1.0},
    ),
    "dqn-2x": Variant(
        "dqn",
        "twice the budget over 2 envs (2 workers: the same wall time)",
        train_steps=2 * DEFAULT_STEPS,
        num_envs=2,
    ),
    # Stable-Baselines3
    "sb3-dqn": Variant("sb3-dqn", "SB3 DQN, package defaults"),
    "sb3-ppo": Variant("sb3-ppo", "SB3 PPO, package defaults (discrete multipliers)"),
    "sb3-ppo-absolute": Variant("sb3-ppo", "SB3 PPO on absolute LRs", env_kwargs=ABSOLUTE),
    "sb3-ppo-relative": Variant(
        "sb3-ppo", "SB3 PPO, schedule-relative (continuous)", env_kwargs=RELATIVE_BOX
    ),
    "sb3-sac-relative": Variant(
        "sb3-sac", "SB3 SAC, schedule-relative (continuous)", env_kwargs=RELATIVE_BOX
    ),
    "sb3-sac-relative-2x": Variant(
        "sb3-sac",
        "SB3 SAC, schedule-relative (continuous), twice the budget",
        env_kwargs=RELATIVE_BOX,
        train_steps=2 * DEFAULT_STEPS,
    ),
    "sb3-sac-relative-ent1e-3": Variant(
        "sb3-sac",
        "SB3 SAC, schedule-relative (continuous), entropy coefficient fixed at 0.001",
        env_kwargs=RELATIVE_BOX,
        agent_kwargs={"ent_coef": 0.001},
    ),
    "sb3-sac-relative-terminal": Variant(
        "sb3-sac",
        "SB3 SAC, schedule-relative (continuous), terminal reward",
        env_kwargs={**RELATIVE_BOX, "reward": "terminal_acc"},
    ),
    "sb3-sac-relative-repeat5": Variant(
        "sb3-sac",
        "SB3 SAC, schedule-relative (continuous), each action held for 5 steps (4 decisions)",
        env_kwargs=RELATIVE_BOX,
        agent_kwargs={"gradient_steps": 10},  # the 2,000 updates of the 1,000-step run
        train_steps=DEFAULT_STEPS // 5,
        action_repeat=5,
    ),
    "sb3-sac-absolute": Variant("sb3-sac", "SB3 SAC on absolute LRs", env_kwargs=ABSOLUTE),
}


# --- one (variant, training seed) -------------------------------------------------------------
def _make_env(variant: Variant, final_eval: bool, num_envs: int = 1):
    import gymnasium as gym

    import lrgym  # noqa: F401 - registers the environments
    from lrgym import wrappers

    kwargs = {**BASE_ENV_KWARGS, **variant.env_kwargs, "final_eval": final_eval}

    def wrap(env: gym.Env) -> gym.Env:
        return wrappers.wrap(env, variant.action_repeat, variant.keep_signals)

    if num_envs == 1:
        return wrap(gym.make(ENV_ID, **kwargs))
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="sync", wrappers=[wrap], **kwargs)


def _training_log(log: list[dict[str, Any]]):
    def callback(record: Any) -> bool:
        for episode in record.finished():
            log.append(
                {
                    "steps_done": record.steps_done,
                    "return": episode.episode_return,
                    "final_val_acc": episode.val_acc[-1],
                    "diverged": bool(episode.final_info.get("diverged", False)),
                    "lr": episode.lr,
                }
            )
        return True

    return callback


def run_one(name: str, seed: int, out: Path) -> dict[str, Any]:
    """Trains variant `name` on training seed `seed` and evaluates it; writes and returns the record."""
    import torch

    from lrgym_agents.dqn import DQNAgent
    from lrgym_agents.registry import make_agent
    from lrgym_agents.rollout import run_policy_episode

    torch.set_num_threads(1)
    variant = VARIANTS[name]
    provenance = code_state()  # the code that runs, read before it can change
    start, cpu_start = time.perf_counter(), time.process_time()
    training: list[dict[str, Any]] = []
    if variant.kind == "learning":
        env = _make_env(variant, final_eval=False, num_envs=variant.num_envs)
        agent = make_agent(variant.agent, env, seed=seed, **variant.agent_kwargs)
        agent.learn(variant.train_steps, callback=_training_log(training))
        eval_env = _make_env(variant, final_eval=True)
        agent.env = eval_env
    else:
        eval_env = _make_env(variant, final_eval=True)
        agent = make_agent(variant.agent, eval_env, seed=seed, **variant.agent_kwargs)
    train_s = time.perf_counter() - start

    episodes = []
    for eval_seed in EVAL_SEEDS:
        steps: list[dict[str, Any]] = []

        def policy(obs: np.ndarray, steps: list = steps) -> Any:
            action = agent.act(obs)
            entry: dict[str, Any] = {"action": np.asarray(action).tolist()}
            if isinstance(agent, DQNAgent):
                entry["q"] = agent.q_values(obs)[0].tolist()
            steps.append(entry)
            return action

        episode, wall_s = run_policy_episode(policy, eval_env, eval_seed)
        info = episode.final_info
        episodes.append(
            {
                "seed": eval_seed,
                "test_acc": float(info.get("test_acc", np.nan)),
                "full_val_acc": float(info.get("full_val_acc", np.nan)),
                "diverged": bool(info.get("diverged", False)),
                "return": episode.episode_return,
                "reward": episode.reward,
                "val_acc": [episode.initial_val_acc, *episode.val_acc],
                "lr": episode.lr,
                "actions": [s["action"] for s in steps],
                "q": [s["q"] for s in steps] if steps and "q" in steps[0] else None,
                "wall_s": wall_s,
            }
        )
    record = {
        "variant": name,
        "definition": dataclasses.asdict(variant),
        "train_seed": seed,
        "eval_seeds": list(EVAL_SEEDS),
        "env_config": eval_env.unwrapped.config.to_dict(),
        "hyperparameters": agent.hyperparameters(),
        "training": training,
        "episodes": episodes,
        "train_wall_s": train_s,
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,
        **provenance,
        "machine": machine(),
        "command": list(sys.argv),
    }
    write_record(out, record)
    return record


def run_file(name: str, seed: int, results_dir: Path = RESULTS_DIR) -> Path:
    return results_dir / "runs" / f"{name}-s{seed}.json"


def _job(job: dict[str, Any]) -> dict[str, Any]:
    os.environ["OMP_NUM_THREADS"] = "1"
    start = time.perf_counter()
    run_one(job["variant"], job["seed"], run_file(job["variant"], job["seed"], Path(job["results_dir"])))
    return {"id": job["id"], "status": "done", "wall_s": time.perf_counter() - start}


def seeds_of(name: str) -> tuple[int, ...]:
    """A schedule does the same on every training seed: it runs once."""
    return TRAIN_SEEDS[:1] if VARIANTS[name].kind == "schedule" else TRAIN_SEEDS


def run(names: list[str], workers: int, results_dir: Path = RESULTS_DIR) -> int:
    """Runs the missing (variant, seed) jobs in worker processes (`benchmarks.workers`: none
    outlives this process); returns how many failed."""
    todo = [
        {"id": f"{n}-s{s}", "variant": n, "seed": s, "results_dir": str(results_dir)}
        for n in names
        for s in seeds_of(n)
        if not run_file(n, s, results_dir).is_file()
    ]
    print(f"{len(todo)} (variant, seed) jobs to run with {workers} worker(s)")
    failed = 0
    for result in ProcessExecutor(workers).map(_job, todo):
        if result["status"] == "done":
            print(f"  done {result['id']} in {result['wall_s']:.0f} s", flush=True)
        else:
            failed += 1
            print(f"  FAILED {result['id']}:\n{result['error']}", flush=True)
    return failed


# --- the comparison ---------------------------------------------------------------------------
def _scores(recs: list[dict[str, Any]]) -> np.ndarray:
    """Final test accuracies as an (evaluation seeds, training seeds) matrix."""
    return np.stack([[e["test_acc"] for e in r["episodes"]] for r in recs], axis=1)


def summarize(results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """Every variant's statistics (two-level bootstrap over training, then evaluation seeds, with
    rliable's code in `benchmarks.stats`); writes summary.json and summary.md."""
    records: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((results_dir / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        records.setdefault(record["variant"], []).append(record)
    names = [n for n in VARIANTS if n in records] + sorted(set(records) - set(VARIANTS))
    by_name = {n: sorted(records[n], key=lambda r: r["train_seed"]) for n in names}
    reps, seed = BOOTSTRAP_REPS, BOOTSTRAP_SEED
    rows: dict[str, dict[str, Any]] = {}
    for name, recs in by_name.items():
        scores = _scores(recs)
        two_level = scores.shape[1] > 1
        rows[name] = {
            "description": recs[0]["definition"]["description"],
            "train_seeds": [r["train_seed"] for r in recs],
            "runs": int(scores.size),
            "mean": stats.interval(scores, "mean", reps, seed, CONFIDENCE, two_level=two_level).to_dict(),
            "iqm": stats.interval(scores, "iqm", reps, seed, CONFIDENCE, two_level=two_level).to_dict(),
            "per_seed_mean": scores.mean(axis=0).tolist(),
            "min": float(scores.min()),
            "diverged": int(sum(e["diverged"] for r in recs for e in r["episodes"])),
            "final_lr_median": float(np.median([e["lr"][-1] for r in recs for e in r["episodes"]])),
            "cpu_s": float(sum(r["cpu_s"] for r in recs)),
            "code_states": sorted({f"{r['git_commit']} {r['git_diff_sha256']}" for r in recs}),
            **_diagnostics(recs),
        }
        # random factors on the cosine are the floor of the schedule-relative variants
        for ref in ("random", "random-relative", "cosine-0.4"):
            if ref in by_name and name != ref:
                ref_scores = _scores(by_name[ref])
                rows[name][f"p_improvement_over_{ref}"] = stats.probability_of_improvement(
                    scores,
                    ref_scores,
                    reps,
                    seed,
                    CONFIDENCE,
                    x_two_level=two_level,
                    y_two_level=ref_scores.shape[1] > 1,
                ).to_dict()
    summary = {
        "variants": rows,
        "bootstrap": {"reps": reps, "seed": seed, "levels": "training, then evaluation seeds"},
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (results_dir / "summary.md").write_text(markdown(summary) + "\n")
    return summary


def _diagnostics(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the greedy policies did, and how well the DQN's Q-values predict their returns."""
    actions = [a for r in recs for e in r["episodes"] for a in e["actions"]]
    out: dict[str, Any] = {}
    if actions and isinstance(actions[0], int):
        counts = np.bincount(actions)
        out["action_shares"] = (counts / counts.sum()).round(3).tolist()
    q_first, g_first = [], []
    for r in recs:
        gamma = r["hyperparameters"].get("gamma")
        for e in r["episodes"]:
            if e.get("q") and gamma is not None:
                rewards = np.array(e["reward"])
                q_first.append(max(e["q"][0]))
                g_first.append(float(np.sum(rewards * gamma ** np.arange(len(rewards)))))
    if q_first:
        out["q0_mean"], out["g0_mean"] = float(np.mean(q_first)), float(np.mean(g_first))
    train_final = [t["final_val_acc"] for r in recs for t in r["training"][-10:]]
    if train_final:
        out["last10_train_val_acc"] = float(np.mean(train_final))
    return out


def markdown(summary: dict[str, Any]) -> str:
    def pct(e: dict[str, float]) -> str:
        return f"{100 * e['point']:.1f} [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"

    def prob(e: dict[str, float] | None) -> str:
        return "—" if e is None else f"{e['point']:.2f} [{e['low']:.2f}, {e['high']:.2f}]"

    lines = [
        "Final test accuracy (%) on LRTuning-Tiny-v0 over held-out evaluation seeds (10 per training seed);",
        "95% intervals from a two-level bootstrap (training seeds, then evaluation seeds within them).",
        "",
        "| variant | what | runs | mean [95% CI] | IQM [95% CI] | mean per training seed | P(> random) [95% CI] | P(> random-relative) [95% CI] | P(> tuned cosine) | final LR (median) | Q(s0) vs G0 | CPU-s |",
        "| --- | --- | ---: | --- | --- | --- | --- | --- | --- | ---: | --- | ---: |",
    ]
    for name, r in summary["variants"].items():
        qg = f"{r['q0_mean']:.3f} vs {r['g0_mean']:.3f}" if "q0_mean" in r else ""
        lines.append(
            f"| {name} | {r['description']} | {r['runs']} | {pct(r['mean'])} | {pct(r['iqm'])} | "
            + " ".join(f"{100 * m:.1f}" for m in r["per_seed_mean"])
            + f" | {prob(r.get('p_improvement_over_random'))} | {prob(r.get('p_improvement_over_random-relative'))}"
            + f" | {prob(r.get('p_improvement_over_cosine-0.4'))}"
            + f" | {r['final_lr_median']:.3g} | {qg} | {r['cpu_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="VARIANT", help="run these variants (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, one torch thread each")
    parser.add_argument("--report", action="store_true", help="summarise the finished runs")
    parser.add_argument("--list", action="store_true", help="list the variants")
    args = parser.parse_args(argv)
    if args.list:
        for name, v in VARIANTS.items():
            print(f"{name:20s} {v.description}")
        return 0
    unknown = sorted(set(args.only or []) - set(VARIANTS))
    if unknown:
        parser.error(f"--only {unknown}: unknown variants (see --list)")
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: must be >= 1")
    failed = 0 if args.report else run(list(args.only or VARIANTS), args.workers)
    print(markdown(summarize()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
