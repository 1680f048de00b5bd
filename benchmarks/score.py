"""Score your own agent under a suite's protocol, beside the suite's recorded baselines.

    lrgym score --suite tiny --agent mypkg.module:make_agent            # or: python -m benchmarks.score ...
    lrgym score --suite tiny --toy --agent mypkg.module:make_agent      # seconds: the machinery only

    from benchmarks.score import score
    result = score("tiny", "mypkg.module:make_agent")
    print(result.table)

The agent comes from a factory called as `make_agent(env, seed)` (the contract:
`benchmarks/contract.py`; any object with `learn(total_steps, callback=None)` and
`act(obs, deterministic=True)`). It is scored as the suite's own learning agents are, by the
runner's job code (`benchmarks/jobs.py`) and record writer:

- on each of the suite's training seeds, a fresh agent learns for the suite's budget of
  environment steps (`Suite.train_steps`) on the suite's environment (the learning role of its
  resolved config); a step beyond the budget stops the job with an error;
- its greedy policy (`act(obs, deterministic=True)`) then runs on each held-out evaluation seed
  (or, under the paper suite's alternating protocol, learning and testing alternate);
- one record per training seed (the runner's format: inputs, fingerprint, code state, machine,
  checksum) goes to `--out` (default `runs/score-<suite>-<name>/runs/`).

Its row is then summarised with the statistics of `benchmarks/stats.py` (IQM and mean with
two-level bootstrap intervals, probability of improvement over the best tuned schedule,
accuracy over the budget, normalised score 0 = random, 1 = best tuned schedule), beside the rows
of the suite's recorded baselines (`benchmarks/results/<suite>/`, or `--baselines DIR`). The
baselines are not re-run: they are read if every record is intact and was written for the suite
as it resolves now (its fingerprint); otherwise the command says so, and how to record them, and
prints the agent's row alone. The table goes to `<out>/score.md`, everything to
`<out>/score.json`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import contract, resume, runner, stats
from benchmarks._record import code_state, state_label
from benchmarks.jobs import make_env
from benchmarks.suites import RUNS_DIR, SUITES, Suite, default_results_dir, get_suite

SCORE_JSON, SCORE_MD = "score.json", "score.md"
DEFAULT_OUT_ROOT = Path("runs")  # scoring runs go to runs/score-<suite>-<name>/ (as `lrgym train` runs)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # names become file names


@dataclass
class ScoreResult:
    """What `score` did and found."""

    summary: dict[str, Any]  # stats.summarize_runs of the agent and the baselines it could read
    table: str  # the summary as markdown, with the provenance and baseline notes
    out_dir: Path
    baselines_problem: str | None  # why the baselines are not beside the agent (None: they are)
    report: runner.RunReport


def default_name(spec: str) -> str:
    """The scored agent's name: the factory's name, or its module's if it is `make_agent`."""
    module, _, attr = spec.partition(":")
    base = attr.rsplit(".", 1)[-1] if attr and attr != "make_agent" else module.rsplit(".", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", base) or "agent"


def check_factory(spec: str, suite: Suite) -> None:
    """Builds the agent once on the suite's learning env (nothing learned), so that a factory that
    cannot be imported or called, or returns something without learn/act, fails before any job.

    Raises:
        contract.AgentContractError: naming what is missing.
    """
    env = contract.BudgetedEnv(make_env(suite, "learn"), 0)
    try:
        contract.build(spec, env, suite.train_seeds[0])
    finally:
        env.close()


def baselines(baselines_dir: Path, suite: Suite, toy: bool) -> tuple[list[dict[str, Any]], str | None]:
    """The recorded baselines' records, or [] and why they cannot be used (with how to record them)."""
    base = f"python -m benchmarks.runner --suite {suite.name.removesuffix('-toy')}" + (
        " --toy" if toy else ""
    )
    command = base
    if Path(baselines_dir).resolve() != default_results_dir(suite).resolve():
        command += f" --results-dir {baselines_dir}"
    only = " ".join([*suite.schedules, "random"])
    how = f"record them with `{command}` (the schedules and random only: add `--only {only}`)"
    if not (Path(baselines_dir) / RUNS_DIR).is_dir():
        return (
            [],
            f"no recorded baselines of suite {suite.name!r} in {baselines_dir}: {how}, then score again",
        )
    try:
        records = list(resume.read_all(baselines_dir).values())
    except resume.ResumeError as exc:
        return [], f"the recorded baselines cannot be read: {exc}"
    stale = [r for r in records if r["fingerprint"] != suite.fingerprint()]
    if stale:
        return [], (
            f"the baselines in {baselines_dir} were written for another configuration of suite {suite.name!r} "
            f"(fingerprint {stale[0]['fingerprint']}, now {suite.fingerprint()}: the suite or the environment's "
            f"defaults changed since): re-record them into a fresh directory with `{base} --results-dir NEW_DIR`, "
            "then score again with --baselines NEW_DIR"
        )
    runs = stats.runs_from_records(records, suite)
    missing = [name for name in ("random",) if name not in runs]
    if not any(r.kind == "schedule" for r in runs.values()):
        missing.append("a tuned schedule")
    if missing:
        return records, f"the baselines in {baselines_dir} lack {' and '.join(missing)}: {how}"
    return records, None


def score(
    suite: str | Suite,
    agent: str,
    *,
    toy: bool = False,
    name: str | None = None,
    out_dir: Path | None = None,
    baselines_dir: Path | None = None,
    workers: int = 1,
    resume_run: bool = False,
    allow_mixed: bool = False,
    log: Callable[[str], None] = print,
) -> ScoreResult:
    """Trains and evaluates the agent of factory `agent` under `suite`'s protocol and summarises it
    beside the suite's recorded baselines (see the module docstring).

    Args:
        suite: a suite name of benchmarks/suites.py, or a `Suite`.
        agent: the factory, "package.module:function", called as make_agent(env, seed).
        toy: the suite's toy version (seconds; its baselines are the toy suite's).
        name: the agent's name in records and tables (default: from the factory's name).
        out_dir: where its records go (default runs/score-<suite>-<name>).
        baselines_dir: the recorded baselines (default benchmarks/results/<suite>[/toy]).
        workers: worker processes for its training seeds (1: in this process).
        resume_run: continue a scoring run in `out_dir` (finished seeds are kept after checking
            that they were written with the same inputs, factory source and code state).
        allow_mixed: with `resume_run`, accept records of another code state.
        log: where progress lines go.

    Raises:
        contract.AgentContractError: the factory cannot be loaded or does not fulfil the contract.
        resume.ResumeError: `out_dir` holds records and `resume_run` is not set, or they cannot be
            resumed.
        ValueError: an unknown suite, or a name that is taken or unusable.
    """
    suite = get_suite(suite, toy_version=toy) if isinstance(suite, str) else suite
    if suite.protocol == "tasks":
        raise ValueError(
            f"suite {suite.name!r} evaluates on held-out tasks (protocol 'tasks'), which scoring does not "
            "support yet; score on tiny, fashion, cifar10 or paper"
        )
    name = name or default_name(agent)
    taken = {*runner.agent_names(suite), "random", "pbt"}
    if name in taken or not NAME_PATTERN.match(name):
        raise ValueError(
            f"--name {name!r}: "
            + ("an agent of the suite is called so" if name in taken else "use letters, digits, _.+-")
            + "; choose another name"
        )
    check_factory(agent, suite)
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_OUT_ROOT / f"score-{suite.name}-{name}"
    state = code_state()
    existing = sorted((out_dir / RUNS_DIR).glob("*.json"))
    if existing and not resume_run:
        raise resume.ResumeError(
            f"{out_dir} already holds a scoring run ({len(existing)} records): pass --resume to continue it "
            "(finished training seeds are kept), or choose another --out"
        )
    records = resume.check_records(out_dir, suite, state, allow_mixed) if existing else {}
    kind = "alternate" if suite.protocol == "alternate" else "train_evaluate"
    identity = contract.factory_identity(agent)
    jobs = [
        runner.make_job(
            suite,
            out_dir,
            f"{kind}-{name}-s{seed}",
            kind,
            name,
            state,
            train_seed=seed,
            factory=agent,
            agent_source=identity,
        )
        for seed in suite.train_seeds
    ]
    resume.check_jobs(jobs, records, suite)
    todo = [j for j in jobs if j["id"] not in records]
    log(
        f"scoring {name} ({agent}) on suite {suite.name} ({suite.fingerprint()}): {len(todo)} training "
        f"seeds to run, {len(jobs) - len(todo)} done; {suite.train_steps} env steps each, then "
        f"{len(suite.eval_seeds)} evaluation seeds; records in {out_dir / RUNS_DIR}"
    )
    rep = runner.RunReport(skipped=[j["id"] for j in jobs if j["id"] in records])
    runner.execute(todo, runner.make_executor(workers, log=log), rep, log)

    theirs = list(resume.read_all(out_dir).values())
    baselines_dir = Path(baselines_dir) if baselines_dir is not None else default_results_dir(suite)
    recorded, problem = baselines(baselines_dir, suite, toy)
    usable = recorded if problem is None else []
    runs = stats.runs_from_records(usable + theirs, suite)
    summary = stats.summarize_runs(runs, suite, usable)
    summary["scored_agent"] = {
        "name": name,
        "factory": identity,
        "records": sorted(j["id"] for j in jobs),
        "failed": rep.failed,
        "provenance": stats.provenance(theirs, suite),
        "baselines_dir": str(baselines_dir),
        "baselines_problem": problem,
    }
    table = _table(summary, name, problem)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SCORE_JSON).write_text(json.dumps(summary, indent=1) + "\n")
    (out_dir / SCORE_MD).write_text(table + "\n")
    return ScoreResult(summary, table, out_dir, problem, rep)


def _table(summary: dict[str, Any], name: str, problem: str | None) -> str:
    scored = summary["scored_agent"]
    states = scored["provenance"]["code_states"]
    lines = [
        f"`{name}` ({scored['factory']['factory']}, module sha256 {scored['factory']['module_sha256']}) "
        f"scored at code state {', '.join(state_label(s) for s in states) or '—'}.",
    ]
    if problem is not None:
        lines.append(f"**Without baselines**: {problem}.")
    else:
        lines.append(f"Baselines: the records in {scored['baselines_dir']}, not re-run.")
    if name not in summary["agents"]:
        lines.append(f"**No evaluation of `{name}` finished**: see the failed jobs above.")
    return "\n".join(lines) + "\n\n" + stats.markdown_table(summary)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Score your agent under a suite's protocol, beside its recorded baselines."
    )
    parser.add_argument("--suite", required=True, help=f"one of {', '.join(SUITES)} (benchmarks/suites.py)")
    parser.add_argument(
        "--agent",
        required=True,
        metavar="MODULE:FUNCTION",
        help="a factory make_agent(env, seed), e.g. mypkg.agents:make_agent",
    )
    parser.add_argument("--toy", action="store_true", help="the suite shrunk to seconds (its toy baselines)")
    parser.add_argument("--name", help="the agent's name in records and tables (default: from the factory)")
    parser.add_argument("--out", type=Path, help="where its records go (default runs/score-<suite>-<name>)")
    parser.add_argument(
        "--baselines", type=Path, help="recorded baselines (default benchmarks/results/<suite>[/toy])"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes for its training seeds")
    parser.add_argument("--resume", action="store_true", help="continue the scoring run in --out")
    parser.add_argument(
        "--allow-mixed", action="store_true", help="with --resume: accept records of another commit or diff"
    )
    args = parser.parse_args(argv)
    suite = runner.suite_from_args(parser, args)
    try:
        with runner.stop_on_signals():
            result = score(
                suite,
                args.agent,
                toy=args.toy,
                name=args.name,
                out_dir=args.out,
                baselines_dir=args.baselines,
                workers=args.workers,
                resume_run=args.resume,
                allow_mixed=args.allow_mixed,
            )
    except (contract.AgentContractError, ValueError) as exc:
        print(f"{prog or 'benchmarks.score'}: {exc}", file=sys.stderr)
        return 2
    except resume.ResumeError as exc:
        print(f"{prog or 'benchmarks.score'}: {exc}", file=sys.stderr)
        return 2
    except runner.Interrupted as stop:
        print(
            f"{prog or 'benchmarks.score'}: stopped; run the same command with --resume to continue",
            file=sys.stderr,
        )
        return 128 + stop.signum
    print(result.table)
    print(f"wrote {result.out_dir / SCORE_MD} and {result.out_dir / SCORE_JSON}")
    return 1 if result.report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
