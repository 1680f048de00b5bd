"""`lrgym`: train, evaluate and compare agents on the LRTuning environments.

lrgym list
lrgym train --agent dqn --env LRTuning-Tiny-v0 --steps 1000 --seed 0 --out runs/dqn
lrgym train --resume runs/dqn                # continue after an interruption
lrgym train --resume runs/dqn --steps 2000   # train further
lrgym evaluate --agent dqn --model runs/dqn/agent --env LRTuning-Tiny-v0 --seeds 1000 1001 1002
lrgym evaluate --agent cosine --env LRTuning-Tiny-v0 --seeds 1000   # schedules pick action_mode=absolute
lrgym demo        # the main job: train SB3 SAC, compare it with hand schedules on held-out seeds
lrgym score --suite tiny --agent mypkg.module:make_agent   # your agent beside a suite's baselines
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

import lrgym
from lrgym import wrappers
from lrgym.layout import TRAINING_SIGNALS
from lrgym_agents.base import AgentError, read_metadata
from lrgym_agents.comparison import comparison_table
from lrgym_agents.evaluation import EpisodeResult, evaluate
from lrgym_agents.monitor import (
    CHECKPOINT_DIR,
    EPISODES_FILE,
    PROGRESS_FILE,
    TrainingMonitor,
    restore_checkpoint,
)
from lrgym_agents.registry import AGENTS, DEFAULT_TRAIN_STEPS, agent_class, env_kwargs_for, make_agent

RUN_FILE = "run.json"
# What `lrgym train` writes into a run directory; `--overwrite` removes these and nothing else.
RUN_ENTRIES = (
    RUN_FILE,
    EPISODES_FILE,
    CHECKPOINT_DIR,
    CHECKPOINT_DIR + ".partial",
    CHECKPOINT_DIR + ".old",
    "agent",
    "tensorboard",
)
# The settings that decide what a run trains; a resumed run keeps them (only `steps` may grow).
RUN_SETTINGS = ("agent", "env", "env_kwargs", "agent_kwargs", "seed", "checkpoint_every")
SEED_MAX = 2**32 - 1  # numpy's legacy seeding (used by Stable-Baselines3) takes seeds below 2**32
DEFAULT_ENV = "LRTuning-Tiny-v0"


def parse_kwargs(items: list[str] | None, flag: str) -> dict[str, Any]:
    """`key=value` pairs; values are read as Python/JSON literals where possible, else strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag}: expected key=value, got {item!r}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = {"true": True, "false": False, "none": None}.get(raw.lower(), raw)
        out[key] = value
    return out


def make_env(env_id: str, env_kwargs: dict[str, Any], env_wrappers: dict[str, Any] | None = None) -> gym.Env:
    """`gym.make(env_id, **env_kwargs)`, then `lrgym.wrappers.wrap(env, **env_wrappers)`."""
    try:
        env = gym.make(env_id, **env_kwargs)
    except gym.error.Error as exc:  # unknown id or version
        known = sorted(e for e in gym.registry if e.startswith("LRTuning-"))
        raise SystemExit(f"{exc}; the LRTuning environments are {known}") from exc
    try:
        return wrappers.wrap(env, **(env_wrappers or {}))
    except ValueError as exc:
        raise SystemExit(f"lrgym: {exc}") from exc


def wrapper_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `lrgym.wrappers.wrap` arguments given as --action-repeat / --keep-signals."""
    options: dict[str, Any] = {}
    if args.action_repeat is not None:
        options["action_repeat"] = args.action_repeat
    if args.keep_signals is not None:
        options["keep_signals"] = list(args.keep_signals)
    return options


# --- list ----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> None:
    print("environments:")
    for env_id, cfg in lrgym.PRESETS.items():
        print(
            f"  {env_id:20s} {cfg.dataset}, {cfg.model.upper()}-{cfg.depth}-{cfg.width}, {cfg.epochs:g} epochs, "
            f"{cfg.num_steps} decisions, actions={cfg.action_mode}, reward={cfg.reward}"
        )
    print("agents:")
    for name, (_, _, description) in AGENTS.items():
        print(f"  {name:12s} {description}")


# --- train ---------------------------------------------------------------------------------


TRAIN_EPILOG = f"""\
A run directory holds one run. --out onto a directory that already holds files is refused;
--resume DIR continues the run in DIR from its last checkpoint, and --overwrite starts a new run
there after removing the earlier run's files and nothing else:
  {", ".join(RUN_ENTRIES)}.

A resumed run keeps the settings in DIR/{RUN_FILE}: --agent, --env, --env-kwargs, --agent-kwargs,
--seed or --checkpoint-every that differ from them are refused. The one exception is a larger
--steps, which trains further: the run continues from its last checkpoint up to the new total,
and {RUN_FILE} records it. That is not the run a larger --steps would have given from the
start (the custom DQN's exploration schedule, for one, was set by the first budget).
"""


def cmd_train(args: argparse.Namespace) -> None:
    if args.resume:
        if args.overwrite:
            raise SystemExit("lrgym train: --resume continues a run and --overwrite replaces it; pass one")
        out = Path(args.resume)
        if args.out is not None and Path(args.out) != out:
            raise SystemExit(f"lrgym train: --resume {out} trains in {out}; drop --out {args.out}")
        run = _resumed_run(args, out)
    else:
        if not args.agent:
            raise SystemExit("lrgym train: --agent is required (or --resume DIR)")
        out = Path(args.out or f"runs/{args.agent}-{time.strftime('%Y%m%d-%H%M%S')}")
        env_id = args.env or DEFAULT_ENV
        run = {
            "agent": args.agent,
            "env": env_id,
            "env_kwargs": _with_action_mode(
                args.agent, env_id, parse_kwargs(args.env_kwargs, "--env-kwargs")
            ),
            "agent_kwargs": parse_kwargs(args.agent_kwargs, "--agent-kwargs"),
            "wrappers": wrapper_options(args),
            "steps": DEFAULT_TRAIN_STEPS if args.steps is None else args.steps,
            "seed": 0 if args.seed is None else args.seed,
            "checkpoint_every": 1 if args.checkpoint_every is None else args.checkpoint_every,
        }
    try:
        train(run, out, resume=bool(args.resume), overwrite=args.overwrite, progress=not args.quiet)
    except KeyboardInterrupt:
        progress = out / CHECKPOINT_DIR / PROGRESS_FILE
        if progress.is_file():
            done = json.loads(progress.read_text())["steps_done"]
            saved = f"its last checkpoint is at step {done}: continue with `lrgym train --resume {out}`"
        else:
            saved = f"it has no checkpoint yet: start it again with --overwrite --out {out}"
        print(f"lrgym train: interrupted; {out} is kept and {saved}", file=sys.stderr)
        raise SystemExit(130) from None


def _read_run(out: Path) -> dict[str, Any]:
    """The settings of the run in `out`, from its run.json; a missing or damaged file says so."""
    file = out / RUN_FILE
    if not file.is_file():
        raise SystemExit(f"lrgym train --resume: {file} not found (not a run directory)")
    try:
        run = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SystemExit(
            f"lrgym train --resume: {file} is not valid JSON ({exc}); the run cannot be resumed"
        ) from exc
    if not isinstance(run, dict):
        raise SystemExit(f"lrgym train --resume: {file} holds no JSON object; the run cannot be resumed")
    missing = [key for key in (*RUN_SETTINGS, "steps") if key not in run]
    if missing:
        raise SystemExit(f"lrgym train --resume: {file} lacks {missing}; the run cannot be resumed")
    return run


def _resumed_run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The run in `out`, checked against the options given with --resume (only a larger --steps)."""
    run = _read_run(out)
    given = {
        "agent": args.agent,
        "env": args.env,
        "env_kwargs": None if args.env_kwargs is None else parse_kwargs(args.env_kwargs, "--env-kwargs"),
        "agent_kwargs": None
        if args.agent_kwargs is None
        else parse_kwargs(args.agent_kwargs, "--agent-kwargs"),
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
    }
    clashes = [
        f"--{key.replace('_', '-')} {value!r} differs from the run's {run[key]!r}"
        for key, value in given.items()
        if value is not None and json.loads(json.dumps(value, default=str)) != run[key]  # as run.json has it
    ]
    saved_wrappers = run.get("wrappers", {})  # runs written before wrappers were options have none
    clashes += [
        f"--{key.replace('_', '-')} {value!r} differs from the run's {saved_wrappers.get(key)!r}"
        for key, value in wrapper_options(args).items()
        if value != saved_wrappers.get(key)
    ]
    if args.steps is not None and args.steps < run["steps"]:
        clashes.append(f"--steps {args.steps} is fewer than the run's {run['steps']}")
    if clashes:
        raise SystemExit(
            f"lrgym train --resume {out}: " + "; ".join(clashes) + f". A resumed run keeps the settings in "
            f"{out / RUN_FILE}, and only a larger --steps (train further) is accepted; to train with "
            "other settings, start a new run with another --out"
        )
    if args.steps is not None and args.steps > run["steps"]:
        print(f"training further: from {run['steps']} to {args.steps} steps")
        run = {**run, "steps": args.steps}
    return run


def check_run_dir(out: Path, overwrite: bool) -> None:
    """Refuses a new run in `out` if that would mix it with files already there.

    With `overwrite`, a directory holding an earlier run (its run.json) is accepted, to be
    cleared by `clear_run_dir`; other non-empty directories are refused either way.
    """
    if out.exists() and not out.is_dir():
        raise SystemExit(f"lrgym train: --out {out} is a file, not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    is_run = (out / RUN_FILE).is_file()
    if not overwrite:
        what = "a run" if is_run else "files"
        resume = f"continue it with --resume {out}, " if is_run else ""
        raise SystemExit(
            f"lrgym train: {out} already holds {what} ({', '.join(sorted(p.name for p in out.iterdir()))}); "
            f"{resume}replace it with --overwrite, or choose another --out"
        )
    if not is_run:
        raise SystemExit(
            f"lrgym train --overwrite: {out} holds files but no {RUN_FILE}, so it is not a run directory; "
            "nothing was removed: choose another --out"
        )


def clear_run_dir(out: Path) -> None:
    """Removes what an earlier run wrote into `out` (`RUN_ENTRIES`), and nothing else."""
    removed = []
    for name in RUN_ENTRIES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    if removed:
        print(f"removed the earlier run's {', '.join(removed)} from {out}; a new run starts there")


def train(
    run: dict[str, Any], out: Path, resume: bool = False, overwrite: bool = False, progress: bool = True
) -> Path:
    """Trains the agent `run` describes into `out` (run.json, episodes.csv, checkpoint/, agent/).

    A new run refuses an `out` that already holds files, unless `overwrite` (an earlier run's
    files are then removed, once the env and the agent have been built without error).
    """
    if not resume:
        check_run_dir(out, overwrite)
    env = make_env(run["env"], run["env_kwargs"], run.get("wrappers"))
    agent = make_agent(run["agent"], env, seed=run["seed"], **run["agent_kwargs"])
    if resume:
        try:
            restore_checkpoint(agent, out)
        except FileNotFoundError as exc:
            raise SystemExit(
                f"lrgym train --resume: {exc}; the run stopped before its first checkpoint: "
                f"start it again with --overwrite --out {out}"
            ) from exc
        if json.loads((out / RUN_FILE).read_text())["steps"] != run["steps"]:  # training further
            _write_run(out, run)
        print(f"resuming {out} at step {agent.steps_done} of {run['steps']}")
    else:
        if overwrite and out.is_dir():
            clear_run_dir(out)
        out.mkdir(parents=True, exist_ok=True)
        _write_run(out, {**run, "lrgym_version": lrgym.__version__})
    monitor = TrainingMonitor(agent, out, run["steps"], run["checkpoint_every"], progress=progress)
    try:
        remaining = run["steps"] - agent.steps_done
        if remaining > 0:
            agent.learn(remaining, callback=monitor)
    finally:
        monitor.close()
    agent.save(out / "agent")
    print(
        f"trained {run['agent']} for {agent.steps_done} steps ({len(monitor.episodes)} episodes); saved {out / 'agent'}"
    )
    return out / "agent"


def _write_run(out: Path, run: dict[str, Any]) -> None:
    (out / RUN_FILE).write_text(json.dumps(run, indent=2))


# --- evaluate ------------------------------------------------------------------------------


def _with_action_mode(name: str, env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The env kwargs with the action mode the agent needs, when the user left it to us (say so)."""
    if name not in AGENTS:
        return env_kwargs  # make_agent names the known agents
    chosen = env_kwargs_for(name, env_id, env_kwargs)
    if chosen is not env_kwargs:
        print(f"agent {name!r} acts through action_mode={chosen['action_mode']!r}: using it on {env_id}")
    return chosen


def _result_table(rows: dict[str, list[EpisodeResult]]) -> str:
    lines = [f"{'agent':14s} {'mean test acc':>13s} {'std':>6s} {'diverged':>8s}  per seed"]
    for name, results in rows.items():
        accs = [r.test_acc for r in results]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        per_seed = " ".join(f"{r.seed}:{r.test_acc:.3f}" for r in results)
        diverged = sum(r.diverged for r in results)
        lines.append(f"{name:14s} {statistics.fmean(accs):13.4f} {std:6.3f} {diverged:8d}  {per_seed}")
    return "\n".join(lines)


def _write_results(out: Path, rows: dict[str, list[EpisodeResult]], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "results": {name: [r.to_dict() for r in res] for name, res in rows.items()}}
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["agent", "seed", "test_acc", "full_val_acc", "best_val_acc", "return", "diverged", "wall_s"]
        )
        for name, results in rows.items():
            for r in results:
                writer.writerow(
                    [
                        name,
                        r.seed,
                        r.test_acc,
                        r.full_val_acc,
                        r.best_val_acc,
                        r.episode_return,
                        r.diverged,
                        r.wall_s,
                    ]
                )


def _training_settings(args: argparse.Namespace) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The env id, env kwargs and wrappers to evaluate on: those given, and for what is not given,
    those of the run a `--model DIR` of `lrgym train` came from (its run.json beside DIR), so that
    a model is evaluated on the env it learned on (an action repeat or a schedule-relative mode
    left out would change what its actions mean without any error)."""
    env_kwargs = None if args.env_kwargs is None else parse_kwargs(args.env_kwargs, "--env-kwargs")
    given_wrappers = wrapper_options(args)
    file = Path(args.model).parent / RUN_FILE if args.model else None
    if file is None or not file.is_file():
        return args.env or DEFAULT_ENV, env_kwargs or {}, given_wrappers
    try:
        run = json.loads(file.read_text())
        settings = {"env": run["env"], "env_kwargs": run["env_kwargs"], **run.get("wrappers", {})}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise SystemExit(
            f"lrgym evaluate: {file} (the settings of the model's run) is damaged: {type(exc).__name__}: {exc}; "
            "repair or remove it and pass --env, --env-kwargs, --action-repeat and --keep-signals yourself"
        ) from exc
    given = {"env": args.env, "env_kwargs": env_kwargs, **given_wrappers}
    taken = {k: v for k, v in settings.items() if given.get(k) is None}
    if taken:
        print(f"evaluating on the settings of the model's run ({file}) not given: {taken}")
    chosen = {**settings, **{k: v for k, v in given.items() if v is not None}}
    return (
        chosen["env"],
        chosen["env_kwargs"],
        {k: chosen[k] for k in ("action_repeat", "keep_signals") if k in chosen},
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    name = args.agent
    if args.model and not name:
        name = read_metadata(args.model)["agent"]
    if not name:
        raise SystemExit("lrgym evaluate: --agent is required (or --model DIR of a saved agent)")
    env_id, env_kwargs, env_wrappers = _training_settings(args)
    env_kwargs = _with_action_mode(name, env_id, env_kwargs)
    env = make_env(env_id, env_kwargs, env_wrappers)
    agent = make_agent(name, env, **parse_kwargs(args.agent_kwargs, "--agent-kwargs"))
    if args.model:
        agent.load(args.model)
    elif agent_class(name).learns:
        raise SystemExit(f"lrgym evaluate: agent {name!r} learns; pass --model DIR (written by lrgym train)")
    results = {name: evaluate(agent, env, args.seeds)}
    print(_result_table(results))
    out = Path(args.out or f"runs/eval-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    _write_results(
        out,
        results,
        {
            "env": env_id,
            "env_kwargs": env_kwargs,
            "wrappers": env_wrappers,
            "seeds": args.seeds,
            "model": args.model,
        },
    )
    print(f"wrote {out / 'results.json'} and {out / 'results.csv'}")


# --- demo (the main job) -------------------------------------------------------------------

DEMO = {
    "env": "LRTuning-Tiny-v0",
    # The custom DQN choosing a factor (0.25x-4x) of the cosine schedule from the env's initial
    # LR, held for 5 of the 20 steps (4 decisions), seeing only the progress through the run and
    # learning from the final accuracy (the terminal reward, whole-episode returns): on held-out
    # seeds the best learner that acts during the run in benchmarks/results/variants
    # (`dqn-relative-repeat5-progress-terminal`: 95.3% against 93.5% on the per-step reward, SB3
    # SAC's 91.9% and 87.9% for random factors held the same way; the tuned cosine 96.0%).
    "agent": "dqn",
    "agent_env_kwargs": {"action_mode": "schedule_relative_discrete", "reward": "terminal_acc"},
    "wrappers": {"action_repeat": 5, "keep_signals": ["progress"]},
    # gamma 1 on whole-episode (4-decision) returns; learning after 10 runs (in effect 16: the
    # first batch of 64), a target sync every 5, 5 updates per decision (the package defaults in
    # runs of 20 decisions)
    "agent_kwargs": {
        "gamma": 1.0,
        "n_step": 4,
        "learning_starts": 40,
        "target_update_interval": 20,
        "gradient_steps": 5,
    },
    "train_steps": 200,  # decisions of training: 50 Tiny episodes
    "train_seed": 0,
    "eval_seeds": [1000, 1001, 1002, 1003, 1004],  # held out: never used in training
    "schedules": ["constant", "step", "cosine", "onecycle"],  # at the env's initial LR, untuned
}


def _describe_wrappers(options: dict[str, Any]) -> str:
    return f"each action held for {options['action_repeat']} steps, observing only {', '.join(options['keep_signals'])}"


def cmd_demo(args: argparse.Namespace) -> None:
    env_kwargs = parse_kwargs(args.env_kwargs, "--env-kwargs")
    learner, learner_kwargs = DEMO["agent"], {**DEMO["agent_env_kwargs"], **env_kwargs}
    out = Path(args.out)
    seeds = DEMO["eval_seeds"][: args.eval_seeds]
    print(
        f"1/2 training {learner} on {DEMO['env']} for {args.train_steps} steps (seed {DEMO['train_seed']}), "
        f"action_mode={learner_kwargs['action_mode']}, reward={learner_kwargs['reward']}, "
        f"{_describe_wrappers(DEMO['wrappers'])}"
    )
    run = {
        "agent": learner,
        "env": DEMO["env"],
        "env_kwargs": learner_kwargs,
        "agent_kwargs": DEMO["agent_kwargs"],
        "wrappers": DEMO["wrappers"],
        "steps": args.train_steps,
        "seed": DEMO["train_seed"],
        "checkpoint_every": 5,
    }
    model = train(run, out / learner, overwrite=True, progress=not args.quiet)  # each demo starts afresh
    print(
        f"2/2 evaluating on held-out seeds {seeds}: {learner}'s deterministic policy, random actions, hand schedules"
    )
    learner_env = make_env(DEMO["env"], learner_kwargs, DEMO["wrappers"])
    env = make_env(DEMO["env"], env_kwargs)
    rows = {
        learner: evaluate(make_agent(learner, learner_env).load(model), learner_env, seeds),
        "random": evaluate(make_agent("random", env, seed=1), env, seeds),
    }
    relative = learner_env.unwrapped.config.action_mode != env.unwrapped.config.action_mode
    if relative:  # random actions in the learner's own action space too
        rows["random-relative"] = evaluate(make_agent("random", learner_env, seed=1), learner_env, seeds)
    schedule_env = make_env(DEMO["env"], {**env_kwargs, "action_mode": "absolute"})
    for name in DEMO["schedules"]:
        rows[name] = evaluate(make_agent(name, schedule_env), schedule_env, seeds)
    initial_lr = schedule_env.unwrapped.config.initial_lr
    labels = {
        learner: f"{learner} (trained {args.train_steps} decisions)",
        "random": f"random ({env.unwrapped.config.action_mode} actions)",
        "random-relative": f"random ({learner_env.unwrapped.config.action_mode} actions, held {DEMO['wrappers']['action_repeat']} steps)",
        **{name: f"{name} (LR {initial_lr:g}, untuned)" for name in DEMO["schedules"]},
    }
    print(
        f"\nfinal test accuracy on {DEMO['env']}, {len(seeds)} held-out seeds (higher is better); each agent "
        "against random actions on the same seeds:\n"
    )
    print(comparison_table(rows, reference="random", labels=labels))
    if relative:
        print(
            f"\n{learner} against random actions in its own action space (random factors on the same cosine):\n"
        )
        own = {name: rows[name] for name in ("random-relative", learner)}
        print(comparison_table(own, reference="random-relative", labels=labels))
    _write_results(
        out,
        rows,
        {
            "env": DEMO["env"],
            "env_kwargs": env_kwargs,
            "agent": learner,
            "agent_env_kwargs": learner_kwargs,
            "agent_wrappers": DEMO["wrappers"],
            "seeds": seeds,
            "train_steps": args.train_steps,
        },
    )
    print(
        f"\nwrote {out / 'results.json'}; for tuned comparisons with confidence intervals see benchmarks/README.md"
    )


# --- score (benchmarks/score.py, in a checkout of the repository) --------------------------

SCORE_NEEDS_CHECKOUT = (
    "lrgym score needs a checkout of the lrgym repository: the suites, their recorded baselines "
    "and the scoring protocol live in its benchmarks/ folder, which the installed package does not "
    "include (lrgym_agents is installed at {where}). Clone the repository, install it from its root "
    "with `pip install -e '.[all]'`, and run `lrgym score` there (or `python -m benchmarks.score` "
    "from the root)."
)


def checkout_root() -> Path | None:
    """The repository checkout this package runs from (an editable install), or one holding the
    current directory; None when neither has benchmarks/score.py."""
    candidates = [Path(__file__).resolve().parents[2], *Path.cwd().resolve().parents]
    candidates.insert(1, Path.cwd().resolve())
    for root in candidates:
        if (root / "benchmarks" / "score.py").is_file() and (root / "src" / "lrgym").is_dir():
            return root
    return None


def _score_module() -> Any:
    """benchmarks.score of the checkout (importable already, or made so by adding its root)."""
    root = checkout_root()
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))  # benchmarks/ is a folder of the checkout, not an installed package
    try:
        module = importlib.import_module("benchmarks.score")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", "benchmarks.score"):
            raise
        raise SystemExit(SCORE_NEEDS_CHECKOUT.format(where=Path(__file__).resolve().parent)) from None
    if not callable(getattr(module, "score", None)):  # another package called benchmarks
        raise SystemExit(
            SCORE_NEEDS_CHECKOUT.format(where=Path(__file__).resolve().parent)
            + f" (the `benchmarks` imported here, {getattr(module, '__file__', '?')}, is another package)"
        )
    return module


def cmd_score(argv: list[str]) -> int:
    """`lrgym score ...`: the scoring protocol of benchmarks/score.py, with its own options."""
    return int(_score_module().main(argv, prog="lrgym score"))


# --- entry point ---------------------------------------------------------------------------


def int_arg(low: int, high: int | None = None, why: str = "") -> Callable[[str], int]:
    """An argparse `type=`: an integer in [low, high], else a one-line error naming the range."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    allowed += f" ({why})" if why else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {value}")
        return value

    return parse


STEPS = int_arg(1)
SEED = int_arg(0, SEED_MAX)


def add_wrapper_options(parser: argparse.ArgumentParser, defaults: str = "1 and all") -> None:
    parser.add_argument(
        "--action-repeat",
        type=STEPS,
        metavar="K",
        help="hold each action for K env steps (lrgym.wrappers.ActionRepeat)",
    )
    parser.add_argument(
        "--keep-signals",
        nargs="+",
        metavar="NAME",
        help=f"observe only these training signals (lrgym.wrappers.KeepSignals): {', '.join(TRAINING_SIGNALS)}; "
        f"defaults of both: {defaults}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrgym", description="Train and compare learning-rate agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="registered environments and agents").set_defaults(func=cmd_list)

    # Defaults are None here and filled in by cmd_train, so that --resume can tell what was given.
    train = sub.add_parser(
        "train",
        help="train an agent (checkpoints every --checkpoint-every episodes)",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--agent", help=f"one of: {', '.join(AGENTS)}")
    train.add_argument("--env", help=f"environment id (default {DEFAULT_ENV})")
    train.add_argument("--env-kwargs", nargs="*", metavar="KEY=VALUE", help="LRTuningConfig fields")
    train.add_argument("--agent-kwargs", nargs="*", metavar="KEY=VALUE", help="agent hyperparameters")
    train.add_argument(
        "--steps", type=STEPS, help=f"environment steps to train for, >= 1 (default {DEFAULT_TRAIN_STEPS})"
    )
    add_wrapper_options(train)
    train.add_argument("--seed", type=SEED, help=f"agent seed in [0, {SEED_MAX}] (default 0)")
    train.add_argument("--out", help="run directory (default runs/<agent>-<time>); must be new or empty")
    train.add_argument(
        "--checkpoint-every", type=int_arg(1), metavar="EPISODES", help="checkpoint interval (default 1)"
    )
    train.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR from its last checkpoint (a larger --steps trains further)",
    )
    train.add_argument(
        "--overwrite", action="store_true", help="start a new run in --out, removing the earlier run there"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="greedy episodes on held-out seeds; prints and writes a table")
    ev.add_argument("--agent", help=f"one of: {', '.join(AGENTS)} (default: the one saved in --model)")
    ev.add_argument("--model", help="directory written by `lrgym train` (its agent/ folder)")
    # Unset options default to those of the --model's run (its run.json), else to the defaults.
    ev.add_argument("--env", help=f"environment id (default: the model's, else {DEFAULT_ENV})")
    ev.add_argument(
        "--env-kwargs", nargs="*", metavar="KEY=VALUE", help="LRTuningConfig fields (default: the model's)"
    )
    ev.add_argument("--agent-kwargs", nargs="*", metavar="KEY=VALUE")
    add_wrapper_options(ev, defaults="the model's, else 1 and all")
    ev.add_argument(
        "--seeds", type=SEED, nargs="+", default=[1000, 1001, 1002], help=f"env seeds in [0, {SEED_MAX}]"
    )
    ev.add_argument("--out", help="where to write results.json/.csv (default runs/eval-<agent>-<time>)")
    ev.set_defaults(func=cmd_evaluate)

    demo = sub.add_parser("demo", help="train the DQN on LRTuning-Tiny-v0, compare it with hand schedules")
    demo.add_argument(
        "--train-steps", type=STEPS, default=DEMO["train_steps"], help="training decisions, >= 1"
    )
    demo.add_argument(
        "--eval-seeds",
        type=int_arg(1, len(DEMO["eval_seeds"]), "the held-out seeds there are"),
        default=len(DEMO["eval_seeds"]),
        help=f"how many held-out seeds, 1..{len(DEMO['eval_seeds'])}",
    )
    demo.add_argument("--env-kwargs", nargs="*", metavar="KEY=VALUE", help="overrides of the Tiny preset")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=cmd_demo)

    sub.add_parser(
        "score",
        add_help=False,
        help="your agent (--agent MODULE:FUNCTION) under a suite's protocol, beside its recorded "
        "baselines; `lrgym score --help` for its options (needs a checkout of the repository)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["score"]:  # its options are benchmarks.score's
        code = cmd_score(argv[1:])
        if code:
            raise SystemExit(code)
        return
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (AgentError, ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"lrgym {args.command}: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
