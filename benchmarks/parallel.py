"""Parallel benchmark runs: wall-clock speed-up of N worker processes over one, and Ray versus the
local runner, on the same jobs of a real suite.

The same subset of a suite's jobs runs three times into fresh directories: with one worker
process, with `--workers` worker processes, and as Ray tasks on a Ray instance started here with
`--workers` CPUs. It prints the speed-up (one worker's wall time / N workers') and checks that the
three runs, and the suite's recorded results in benchmarks/results/<suite>/ when they exist, hold
identical per-seed numbers (exact floats: same seeds on the CPU give the same results). The
figures go to benchmarks/results/parallel-<suite>-latest.json.

The default subset (the cosine schedule and the random agent: 15 tuning and 20 evaluation
episodes of the tiny suite) covers both stages of the runner, tuning then evaluating at the
chosen peak, in about 3 minutes of one core.

Usage (from the repository root; keep the machine otherwise idle while it runs):
    python benchmarks/parallel.py                      # tiny suite, cosine + random, 2 workers
    python benchmarks/parallel.py --only constant cosine random --workers 2
    python benchmarks/parallel.py --toy                # seconds: the machinery only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    from benchmarks import agents as runner
    from benchmarks._record import save_result
    from benchmarks.ray_executor import RayExecutor
    from benchmarks.suites import RUNS_DIR, default_results_dir, get_suite
except ImportError:  # run as `python benchmarks/parallel.py`: benchmarks/ itself is on sys.path
    from _record import save_result
    from ray_executor import RayExecutor
    from suites import RUNS_DIR, default_results_dir, get_suite

    import agents as runner


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
    parser.add_argument("--only", nargs="+", default=["cosine", "random"], metavar="AGENT")
    parser.add_argument("--workers", type=int, default=2, help="worker processes to compare with one")
    parser.add_argument("--toy", action="store_true", help="the suite shrunk to seconds (trying it out)")
    args = parser.parse_args(argv)
    suite = get_suite(args.suite, toy_version=args.toy)
    with tempfile.TemporaryDirectory(prefix="lrgym-parallel-") as tmp:
        dirs = {name: Path(tmp) / name for name in ("one_worker", "n_workers", "ray")}
        walls = {
            "one_worker": timed_run(suite, runner.ProcessExecutor(1), args.only, dirs["one_worker"]),
            "n_workers": timed_run(suite, runner.ProcessExecutor(args.workers), args.only, dirs["n_workers"]),
        }
        with RayExecutor(num_cpus=args.workers, init_kwargs={"include_dashboard": False}) as ray_executor:
            walls["ray"] = timed_run(suite, ray_executor, args.only, dirs["ray"])
        tables = {name: per_seed_results(d) for name, d in dirs.items()}
    recorded_dir = default_results_dir(suite)
    recorded = per_seed_results(recorded_dir, args.only) if (recorded_dir / RUNS_DIR).is_dir() else {}
    identical = {
        "n_workers_vs_one_worker": tables["n_workers"] == tables["one_worker"],
        "ray_vs_one_worker": tables["ray"] == tables["one_worker"],
        # only where the suite's recorded files hold every job of the subset
        "one_worker_vs_recorded": tables["one_worker"] == recorded if recorded else None,
    }
    episodes = sum(len(v["episodes"]) for v in tables["one_worker"].values())
    payload = {
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "agents": args.only,
        "jobs": len(tables["one_worker"]),
        "episodes": episodes,
        "workers": args.workers,
        "wall_s": walls,
        "speedup_n_workers_over_one": walls["one_worker"] / walls["n_workers"],
        "speedup_ray_over_one": walls["one_worker"] / walls["ray"],
        "identical_per_seed_results": identical,
        "recorded_results_dir": str(recorded_dir) if recorded else None,
    }
    path = save_result(f"parallel-{suite.name}", payload)
    print(
        f"suite {suite.name}, agents {args.only}: {payload['jobs']} jobs, {episodes} episodes\n"
        f"  1 worker process      {walls['one_worker']:7.1f} s\n"
        f"  {args.workers} worker processes    {walls['n_workers']:7.1f} s   speed-up {payload['speedup_n_workers_over_one']:.2f}x\n"
        f"  Ray, {args.workers} CPUs           {walls['ray']:7.1f} s   speed-up {payload['speedup_ray_over_one']:.2f}x\n"
        f"  identical per-seed results: {identical}\nwrote {path}"
    )
    return 0 if all(v is not False for v in identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
