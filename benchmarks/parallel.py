"""Parallel benchmark runs: wall-clock speed-up of N worker processes over one, and Ray versus the
local runner, on the same jobs of a real suite.

The same subset of a suite's jobs runs four times into fresh directories: as `--workers 1` runs
it (in this process, with torch's default threads), in one single-thread worker process, in
`--workers` such processes, and as Ray tasks on a Ray instance started here with `--workers`
CPUs. It prints the speed-ups and checks that the four runs, and the suite's recorded results in
benchmarks/results/<suite>/ when they exist, hold identical per-seed numbers (exact floats: same
seeds on the CPU give the same results). The figures go to
benchmarks/results/parallel-<suite>-latest.json.

The default subset (two schedules and the random agent: 31 jobs, 60 episodes of the tiny suite)
covers both stages of the runner, tuning then evaluating at the chosen peak. Its speed-up is
below the whole suite's: each evaluation job runs its 10 seeds in one process, and the second
stage has only two of them.

Usage (from the repository root; keep the machine otherwise idle while it runs):
    python -m benchmarks.parallel                      # tiny suite: constant, cosine, random; 2 workers
    python -m benchmarks.parallel --only cosine random --workers 2
    python -m benchmarks.parallel --toy                # seconds: the machinery only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import runner
from benchmarks._record import save_result
from benchmarks.ray_executor import RayExecutor
from benchmarks.suites import RUNS_DIR, default_results_dir, get_suite


def per_seed_results(results_dir: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Every job's per-seed numbers (evaluation episodes, learning episodes, chosen peak), by
    job id, for the agents in `only` (all when None): what must not depend on the executor."""
    table: dict[str, Any] = {}
    for path in sorted((Path(results_dir) / RUNS_DIR).glob("*.json")):
        record = json.loads(path.read_text())
        if only is not None and record["job"]["agent"] not in only:
            continue
        table[path.stem] = {
            "episodes": [
                (e["seed"], e["test_acc"], e["full_val_acc"], e["val_acc"], e["lr"], e["diverged"])
                for e in record.get("episodes", [])
            ],
            "training": [
                (e["lr"], e["final_val_acc"]) for e in record.get("training", {}).get("episodes", [])
            ],
            "peak": record["job"].get("peak"),
        }
    return table


def timed_run(suite: Any, executor: Any, only: list[str], out: Path) -> float:
    """Wall seconds of running `only`'s jobs of `suite` into the empty directory `out`."""
    start = time.perf_counter()
    rep = runner.run_suite(suite, out, executor, only=only, report=False, log=lambda line: None)
    wall = time.perf_counter() - start
    if rep.failed or rep.blocked:
        raise SystemExit(f"{type(executor).__name__}: jobs failed {rep.failed} or blocked {rep.blocked}")
    return wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="tiny", help="a suite of benchmarks/suites.py (default tiny)")
    parser.add_argument("--only", nargs="+", default=["constant", "cosine", "random"], metavar="AGENT")
    parser.add_argument("--workers", type=int, default=2, help="worker processes to compare with one")
    parser.add_argument("--toy", action="store_true", help="the suite shrunk to seconds (trying it out)")
    args = parser.parse_args(argv)
    try:
        suite = get_suite(args.suite, toy_version=args.toy)
    except ValueError as exc:
        parser.error(str(exc))
    if args.workers < 2:
        parser.error(f"--workers {args.workers}: must be >= 2 (it is compared with one worker)")
    known = set(runner.agent_names(suite))
    if not set(args.only) <= known:  # an unknown agent would run no job and compare nothing
        parser.error(
            f"--only {sorted(set(args.only) - known)}: not in suite {suite.name!r} ({', '.join(sorted(known))})"
        )
    import torch  # after the argument check: a usage error should not wait for torch

    serial_threads = torch.get_num_threads()
    executors = {  # what --workers 1 does; one single-thread worker; N of them; Ray with N CPUs
        "serial": lambda: runner.SerialExecutor(),
        "one_worker": lambda: runner.ProcessExecutor(1),
        "n_workers": lambda: runner.ProcessExecutor(args.workers),
        "ray": lambda: RayExecutor(num_cpus=args.workers, init_kwargs={"include_dashboard": False}),
    }
    walls, tables = {}, {}
    with tempfile.TemporaryDirectory(prefix="lrgym-parallel-") as tmp:
        for name, make in executors.items():
            executor = make()
            try:
                walls[name] = timed_run(suite, executor, args.only, Path(tmp) / name)
            finally:
                if hasattr(executor, "close"):
                    executor.close()
            tables[name] = per_seed_results(Path(tmp) / name)
    recorded_dir = default_results_dir(suite)
    recorded = per_seed_results(recorded_dir, args.only) if (recorded_dir / RUNS_DIR).is_dir() else {}
    identical = {
        f"{name}_vs_serial": tables[name] == tables["serial"] for name in executors if name != "serial"
    }
    # only where the suite's recorded files hold every job of the subset
    identical["serial_vs_recorded"] = tables["serial"] == recorded if recorded else None
    episodes = sum(len(v["episodes"]) for v in tables["serial"].values())
    speedups = {
        f"{name}_over_{base}": walls[base] / walls[name]
        for base in ("serial", "one_worker")
        for name in ("n_workers", "ray")
    }
    payload = {
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "agents": args.only,
        "jobs": len(tables["serial"]),
        "episodes": episodes,
        "workers": args.workers,
        "serial_torch_threads": serial_threads,
        "wall_s": walls,
        "speedup": speedups,
        "identical_per_seed_results": identical,
        "recorded_results_dir": str(recorded_dir) if recorded else None,
    }
    path = save_result(f"parallel-{suite.name}", payload)
    n = args.workers
    print(
        f"suite {suite.name}, agents {args.only}: {payload['jobs']} jobs, {episodes} episodes\n"
        f"  --workers 1 (this process, {serial_threads} torch threads) {walls['serial']:7.1f} s\n"
        f"  1 worker process (1 thread)              {walls['one_worker']:7.1f} s\n"
        f"  {n} worker processes (1 thread each)      {walls['n_workers']:7.1f} s   "
        f"speed-up {speedups['n_workers_over_serial']:.2f}x over --workers 1, "
        f"{speedups['n_workers_over_one_worker']:.2f}x over 1 worker process\n"
        f"  Ray, {n} CPUs                              {walls['ray']:7.1f} s   "
        f"speed-up {speedups['ray_over_serial']:.2f}x, {speedups['ray_over_one_worker']:.2f}x\n"
        f"  identical per-seed results: {identical}\nwrote {path}"
    )
    return 0 if all(v is not False for v in identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
