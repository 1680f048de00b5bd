"""The benchmark runner on Ray: the same per-seed results as the serial runner, in the same files.

One local Ray instance (two CPUs) serves the module. The toy version of the tiny suite runs
serially and through `RayExecutor`, once with the results directory shared as on one machine and
once as on a cluster (the working tree shipped as Ray's working_dir, jobs run in scratch
directories and their files brought back). To keep the test short it runs the agents whose jobs
cover every dependency of the runner: a learning agent (train, then evaluate its saved model), a
schedule (tune on training seeds, then evaluate at the chosen peak) and the random agent.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import start_ray

from benchmarks import runner, suites
from benchmarks._record import code_state, read_record
from benchmarks.parallel import per_seed_results
from benchmarks.ray_executor import REPO_ROOT, SCRATCH_PREFIX, RayExecutor

AGENTS = ("dqn", "cosine", "random")  # one learning agent, one schedule and random: every job kind
CLUSTER_AGENTS = ("dqn",)  # the jobs whose files travel both ways: a model out, then back in


@pytest.fixture(scope="module")
def ray_session(ray_instance: Any) -> Any:
    start_ray(ray_instance, __name__)  # probes travel by value
    return ray_instance


@pytest.fixture(scope="module")
def suite() -> suites.Suite:
    return suites.get_suite("tiny", toy_version=True)


@pytest.fixture(scope="module")
def serial_dir(tmp_path_factory: pytest.TempPathFactory, suite: suites.Suite) -> Path:
    out = tmp_path_factory.mktemp("serial")
    rep = runner.run_suite(suite, out, runner.SerialExecutor(), only=AGENTS, report=False, log=_quiet)
    assert rep.failed == {} and rep.blocked == []
    return out


def _quiet(line: str) -> None:
    pass


def _check_same_results(
    got_dir: Path, serial_dir: Path, suite: suites.Suite, agents: tuple[str, ...] = AGENTS
) -> None:
    got, expected = per_seed_results(got_dir), per_seed_results(serial_dir)
    (seed,) = suite.train_seeds
    assert {"train-dqn-s0", "eval-dqn-s0", "eval-cosine", "eval-random"} <= set(expected)
    expected = {job_id: v for job_id, v in expected.items() if any(f"-{a}-" in f"{job_id}-" for a in agents)}
    assert set(got) == set(expected)
    assert got == expected  # exact: same seeds on the CPU give the same floats
    evaluated = [e for job_id, job in expected.items() if job_id.startswith("eval-") for e in job["episodes"]]
    assert {e[0] for e in evaluated} == set(suite.eval_seeds)
    assert all(len(e[4]) == suite.config().num_steps for e in evaluated)  # an LR per decision
    model = got_dir / suites.MODELS_DIR / f"dqn-s{seed}"
    assert (model / "agent.json").is_file()
    record = json.loads((got_dir / "runs" / f"train-dqn-s{seed}.json").read_text())
    assert record["model_dir"] == str(model) and record["fingerprint"] == suite.fingerprint()
    state = code_state()  # the driver's, also where the workers run a shipped copy without .git
    for path in (got_dir / "runs").glob("*.json"):
        landed = read_record(path)  # intact: its checksum covers the rewritten paths
        assert (landed["git_commit"], landed["git_diff_sha256"]) == (
            state["git_commit"],
            state["git_diff_sha256"],
        )


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"pip install 'lrgym\[ray\]'"):
        list(RayExecutor().map(runner.run_job, [{"id": "x"}]))
    with pytest.raises(ValueError, match="num_gpus_per_job"):
        RayExecutor(num_gpus_per_job=1.5)


def test_ray_runs_the_toy_suite_as_the_serial_runner_does(
    ray_session: Any, suite: suites.Suite, serial_dir: Path, tmp_path: Path
) -> None:
    executor = RayExecutor(num_cpus_per_job=1)
    rep = runner.run_suite(suite, tmp_path, executor, only=AGENTS, report=False, log=_quiet)
    assert rep.failed == {} and rep.blocked == [] and rep.done
    _check_same_results(tmp_path, serial_dir, suite)
    (line,) = (tmp_path / runner.INVOCATIONS_FILE).read_text().splitlines()
    assert json.loads(line)["executor"] == "RayExecutor" and json.loads(line)["workers"] == 2
    again = runner.run_suite(suite, tmp_path, executor, only=AGENTS, report=False, log=_quiet)
    assert again.done == [] and set(again.skipped) == set(rep.done)  # resumes from the files


def _scratch_dirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(SCRATCH_PREFIX)}


def test_local_mode_uses_this_checkout_and_reports_crashed_tasks(ray_session: Any) -> None:
    executor = RayExecutor()
    (where,) = executor.map(_probe, [{}])
    assert where["lrgym"] == str(REPO_ROOT / "src" / "lrgym" / "__init__.py")
    assert where["threads"] == 1 and where["OMP_NUM_THREADS"] == "1"
    results = {r["id"]: r for r in executor.map(_crash_odd, [{"id": "a", "n": 1}, {"id": "b", "n": 2}])}
    assert results["b"] == {"id": "b", "status": "done"}
    assert results["a"]["status"] == "failed" and "odd job" in results["a"]["error"]
    with pytest.raises(RuntimeError, match="ray.shutdown"):  # code ships only with a fresh connection
        RayExecutor(ship_code=True).connect()


def _probe(job: dict[str, Any]) -> dict[str, Any]:
    """Where a task's code comes from, and its thread and GPU settings."""
    import torch

    import benchmarks.runner
    import lrgym
    import lrgym_agents

    return {
        "lrgym": lrgym.__file__,
        "lrgym_agents": lrgym_agents.__file__,
        "benchmarks.runner": benchmarks.runner.__file__,
        "threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def _crash_odd(job: dict[str, Any]) -> dict[str, Any]:
    if job["n"] % 2:
        raise RuntimeError("odd job")
    return {"id": job["id"], "status": "done"}


def test_cluster_mode_ships_code_and_brings_files_back(
    ray_session: Any, suite: suites.Suite, serial_dir: Path, tmp_path: Path
) -> None:
    """Last in the module: Ray uploads the working tree only when a job connects, so this test
    replaces the module's Ray instance with one that the executor starts itself."""
    ray_session.shutdown()
    scratch_before = _scratch_dirs()
    executor = RayExecutor(
        num_cpus=2,
        ship_code=True,
        ship_files=True,
        init_kwargs={"include_dashboard": False, "log_to_driver": False},
    )
    with executor:
        rep = runner.run_suite(suite, tmp_path, executor, only=CLUSTER_AGENTS, report=False, log=_quiet)
        (where,) = executor.map(_probe, [{"id": "probe", "results_dir": str(tmp_path / "probe")}])
    assert not ray_session.is_initialized()  # the executor shut down the Ray it started
    assert rep.failed == {} and rep.blocked == [] and len(rep.done) == 2
    _check_same_results(tmp_path, serial_dir, suite, CLUSTER_AGENTS)
    assert _scratch_dirs() == scratch_before  # each job's scratch directory is removed
    for module in ("lrgym", "lrgym_agents", "benchmarks.runner"):
        assert not where[module].startswith(str(REPO_ROOT)), f"{module} was not shipped: {where[module]}"
    assert where["lrgym"].endswith("src/lrgym/__init__.py")
    assert where["threads"] == 1 and where["OMP_NUM_THREADS"] == "1" and where["CUDA_VISIBLE_DEVICES"] == ""
