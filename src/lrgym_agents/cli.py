"""`lrgym`: train, evaluate and compare agents on the LRTuning environments.

lrgym list
lrgym train --agent dqn --env LRTuning-Tiny-v0 --steps 1000 --seed 0 --out runs/dqn
lrgym train --resume runs/dqn
lrgym evaluate --agent dqn --model runs/dqn/agent --env LRTuning-Tiny-v0 --seeds 1000 1001 1002
lrgym evaluate --agent cosine --env LRTuning-Tiny-v0 --env-kwargs action_mode=absolute --seeds 1000
lrgym demo        # the main job: train the DQN, compare it with hand schedules on held-out seeds
lrgym score --suite tiny --agent mypkg.module:make_agent   # your agent beside a suite's baselines
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

import lrgym
from lrgym_agents.base import AgentError, read_metadata
from lrgym_agents.evaluation import EpisodeResult, evaluate
from lrgym_agents.monitor import TrainingMonitor, restore_checkpoint
from lrgym_agents.registry import AGENTS, DEFAULT_TRAIN_STEPS, agent_class, make_agent

RUN_FILE = "run.json"


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


def make_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    try:
        return gym.make(env_id, **env_kwargs)
    except gym.error.Error as exc:  # unknown id or version
        known = sorted(e for e in gym.registry if e.startswith("LRTuning-"))
        raise SystemExit(f"{exc}; the LRTuning environments are {known}") from exc


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


def cmd_train(args: argparse.Namespace) -> None:
    if args.resume:
        out = Path(args.resume)
        if not (out / RUN_FILE).is_file():
            raise SystemExit(f"lrgym train --resume: {out / RUN_FILE} not found (not a run directory)")
        run = json.loads((out / RUN_FILE).read_text())
    else:
        if not args.agent:
            raise SystemExit("lrgym train: --agent is required (or --resume DIR)")
        out = Path(args.out or f"runs/{args.agent}-{time.strftime('%Y%m%d-%H%M%S')}")
        run = {
            "agent": args.agent,
            "env": args.env,
            "env_kwargs": parse_kwargs(args.env_kwargs, "--env-kwargs"),
            "agent_kwargs": parse_kwargs(args.agent_kwargs, "--agent-kwargs"),
            "steps": args.steps,
            "seed": args.seed,
            "checkpoint_every": args.checkpoint_every,
        }
    train(run, out, resume=bool(args.resume), progress=not args.quiet)


def train(run: dict[str, Any], out: Path, resume: bool = False, progress: bool = True) -> Path:
    """Trains the agent `run` describes into `out` (run.json, episodes.csv, checkpoint/, agent/)."""
    env = make_env(run["env"], run["env_kwargs"])
    agent = make_agent(run["agent"], env, seed=run["seed"], **run["agent_kwargs"])
    if resume:
        restore_checkpoint(agent, out)
        print(f"resuming {out} at step {agent.steps_done} of {run['steps']}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        (out / RUN_FILE).write_text(json.dumps({**run, "lrgym_version": lrgym.__version__}, indent=2))
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


# --- evaluate ------------------------------------------------------------------------------


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


def cmd_evaluate(args: argparse.Namespace) -> None:
    name = args.agent
    if args.model and not name:
        name = read_metadata(args.model)["agent"]
    if not name:
        raise SystemExit("lrgym evaluate: --agent is required (or --model DIR of a saved agent)")
    env_kwargs = parse_kwargs(args.env_kwargs, "--env-kwargs")
    env = make_env(args.env, env_kwargs)
    agent = make_agent(name, env, **parse_kwargs(args.agent_kwargs, "--agent-kwargs"))
    if args.model:
        agent.load(args.model)
    elif agent_class(name).learns:
        raise SystemExit(f"lrgym evaluate: agent {name!r} learns; pass --model DIR (written by lrgym train)")
    results = {name: evaluate(agent, env, args.seeds)}
    print(_result_table(results))
    out = Path(args.out or f"runs/eval-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    _write_results(
        out, results, {"env": args.env, "env_kwargs": env_kwargs, "seeds": args.seeds, "model": args.model}
    )
    print(f"wrote {out / 'results.json'} and {out / 'results.csv'}")


# --- demo (the main job) -------------------------------------------------------------------

DEMO = {
    "env": "LRTuning-Tiny-v0",
    "train_steps": DEFAULT_TRAIN_STEPS,  # environment steps of DQN training: 50 Tiny episodes
    "train_seed": 0,
    "eval_seeds": [1000, 1001, 1002, 1003, 1004],  # held out: never used in training
    "schedules": ["constant", "step", "cosine", "onecycle"],  # at the env's initial LR, untuned
}


def cmd_demo(args: argparse.Namespace) -> None:
    env_kwargs = parse_kwargs(args.env_kwargs, "--env-kwargs")
    out = Path(args.out)
    seeds = DEMO["eval_seeds"][: args.eval_seeds]
    print(
        f"1/2 training the custom DQN on {DEMO['env']} for {args.train_steps} steps (seed {DEMO['train_seed']})"
    )
    run = {
        "agent": "dqn",
        "env": DEMO["env"],
        "env_kwargs": env_kwargs,
        "agent_kwargs": {},
        "steps": args.train_steps,
        "seed": DEMO["train_seed"],
        "checkpoint_every": 5,
    }
    model = train(run, out / "dqn", progress=not args.quiet)
    print(
        f"2/2 evaluating on held-out seeds {seeds}: the DQN's greedy policy, random actions, hand schedules"
    )
    env = make_env(DEMO["env"], env_kwargs)
    dqn = make_agent("dqn", env).load(model)
    rows = {
        "dqn": evaluate(dqn, env, seeds),
        "random": evaluate(make_agent("random", env, seed=1), env, seeds),
    }
    schedule_env = make_env(DEMO["env"], {**env_kwargs, "action_mode": "absolute"})
    for name in DEMO["schedules"]:
        rows[name] = evaluate(make_agent(name, schedule_env), schedule_env, seeds)
    print(f"\nfinal test accuracy on {DEMO['env']} (schedules at the env's initial LR, untuned):")
    print(_result_table(rows))
    _write_results(
        out,
        rows,
        {"env": DEMO["env"], "env_kwargs": env_kwargs, "seeds": seeds, "train_steps": args.train_steps},
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrgym", description="Train and compare learning-rate agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="registered environments and agents").set_defaults(func=cmd_list)

    train = sub.add_parser("train", help="train an agent (checkpoints every --checkpoint-every episodes)")
    train.add_argument("--agent", help=f"one of: {', '.join(AGENTS)}")
    train.add_argument("--env", default="LRTuning-Tiny-v0")
    train.add_argument("--env-kwargs", nargs="*", metavar="KEY=VALUE", help="LRTuningConfig fields")
    train.add_argument("--agent-kwargs", nargs="*", metavar="KEY=VALUE", help="agent hyperparameters")
    train.add_argument(
        "--steps", type=int, default=DEFAULT_TRAIN_STEPS, help="environment steps to train for"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="run directory (default runs/<agent>-<time>)")
    train.add_argument("--checkpoint-every", type=int, default=1, metavar="EPISODES")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="greedy episodes on held-out seeds; prints and writes a table")
    ev.add_argument("--agent", help=f"one of: {', '.join(AGENTS)} (default: the one saved in --model)")
    ev.add_argument("--model", help="directory written by `lrgym train` (its agent/ folder)")
    ev.add_argument("--env", default="LRTuning-Tiny-v0")
    ev.add_argument("--env-kwargs", nargs="*", metavar="KEY=VALUE")
    ev.add_argument("--agent-kwargs", nargs="*", metavar="KEY=VALUE")
    ev.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    ev.add_argument("--out", help="where to write results.json/.csv (default runs/eval-<agent>-<time>)")
    ev.set_defaults(func=cmd_evaluate)

    demo = sub.add_parser("demo", help="train the DQN on LRTuning-Tiny-v0, compare it with hand schedules")
    demo.add_argument("--train-steps", type=int, default=DEMO["train_steps"])
    demo.add_argument(
        "--eval-seeds", type=int, default=len(DEMO["eval_seeds"]), help="how many held-out seeds"
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
