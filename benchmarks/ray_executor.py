"""Running benchmark jobs as Ray tasks, on this machine or on a Ray cluster.

`RayExecutor` implements the runner's `Executor` protocol (`benchmarks/runner.py`): every job is
one Ray task running the runner's pure `run_job`, with `num_cpus_per_job` CPUs and
`num_gpus_per_job` GPUs reserved for it (fractions pack several jobs onto one GPU), and results
are yielded as tasks finish. A job's run file is its result, so how its files reach the results
directory depends on where the task ran:

- on this machine (no address), Ray starts here and tasks write the results directory
  themselves, exactly as the local runner does;
- on a cluster (`address`), workers cannot be assumed to share this machine's disk or code:
  the working tree is shipped as Ray's `working_dir` (without `.venv`, `.git`, results and
  data), each task runs its job in a scratch results directory on its node (holding the one
  input a job reads, its trained model), and the files it wrote come back with the result and
  are written here, the run file last (a job is done exactly when its run file exists). With a
  results directory on storage every node mounts, pass `ship_files=False` instead.

Every task runs with one torch thread (`OMP_NUM_THREADS=1` and `torch.set_num_threads(1)`),
like the local executors. Without GPUs reserved, tasks see none (`CUDA_VISIBLE_DEVICES=""`): a
job on `device="auto"` then trains on the CPU instead of sharing a GPU Ray does not account for.

Usage:
    python -m benchmarks.runner --suite tiny --ray                                  # local Ray
    python -m benchmarks.runner --suite cifar10 --ray-address ray://head:10001 --gpus-per-job 0.25
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks._record import reseal_moved
from benchmarks.suites import MODELS_DIR, RUNS_DIR
from lrgym.integrations.optional import require

Job = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parent.parent
# What a cluster's workers do not need of the working tree (Ray's working_dir `excludes`,
# .gitignore syntax). Ray refuses a working_dir above 500 MiB; the rest is under 1 MiB.
SHIP_EXCLUDES = [
    ".venv/",
    ".git/",
    "benchmarks/results/",
    "/data/",
    "__pycache__/",
    ".pytest_cache/",
    ".ruff_cache/",
    "*.egg-info/",
]
# Import roots inside the shipped copy (relative: Python resolves them in the task's working
# directory, the copy's root): `lrgym` and `lrgym_agents` from src/, `benchmarks.*` from the root.
SHIPPED_PYTHONPATH = ("src", ".")
SCRATCH_PREFIX = "lrgym-job-"  # a shipped job's results directory on its node


class RayExecutor:
    """Runs jobs as Ray tasks and yields their results as they finish.

    Args:
        address: a Ray cluster to connect to (`ray.init(address=...)`: "auto", "ray://host:port"
            or "host:port"); None starts Ray on this machine.
        num_cpus_per_job: CPUs Ray reserves for each job (the jobs themselves use one thread).
        num_gpus_per_job: GPUs reserved for each job; 0.25 runs four jobs per GPU. Jobs see only
            their own GPU, so a suite on `device="auto"` or `"cuda"` trains there.
        num_cpus: CPUs of a Ray started here (default: all of them); ignored with an address.
        ship_code: ship the working tree to the workers (default: with an address only).
        ship_files: run jobs in scratch directories and bring their files back (default: with an
            address only); False when every node writes the same results directory.
        init_kwargs: further `ray.init` arguments (e.g. `include_dashboard=False`).
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus_per_job: float = 1,
        num_gpus_per_job: float = 0,
        *,
        num_cpus: int | None = None,
        ship_code: bool | None = None,
        ship_files: bool | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not num_cpus_per_job > 0:
            raise ValueError(f"num_cpus_per_job={num_cpus_per_job!r} must be > 0")
        if not num_gpus_per_job >= 0:
            raise ValueError(f"num_gpus_per_job={num_gpus_per_job!r} must be >= 0")
        if num_gpus_per_job > 1 and num_gpus_per_job != int(num_gpus_per_job):
            raise ValueError(
                f"num_gpus_per_job={num_gpus_per_job!r}: Ray takes fractions below 1 or whole GPUs"
            )
        self.address = address
        self.num_cpus_per_job = num_cpus_per_job
        self.num_gpus_per_job = num_gpus_per_job
        self.num_cpus = num_cpus
        self.ship_code = address is not None if ship_code is None else ship_code
        self.ship_files = address is not None if ship_files is None else ship_files
        self.init_kwargs = dict(init_kwargs or {})
        self.workers = 1  # jobs that fit at once; set once Ray runs (the runner logs it)
        self._started_ray = False

    # --- Ray -------------------------------------------------------------------------------
    def connect(self) -> Any:
        """The `ray` module, connected (Ray started here if no address was given and Ray does
        not run in this process yet). `map` connects by itself; Ray Tune users call this first."""
        ray = require("ray", "ray")
        if not ray.is_initialized():
            # The code travels with the job's runtime environment: Ray uploads directories
            # only for a whole job (ray.init), not for single tasks.
            kwargs = {"address": self.address, "runtime_env": self.runtime_env(), **self.init_kwargs}
            if self.address is None and self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            ray.init(**kwargs)
            self._started_ray = True
        elif self.ship_code and not self._started_ray:
            raise RuntimeError(
                "RayExecutor(ship_code=True) ships the working tree when it connects to Ray, but Ray is "
                "already initialised in this process: call ray.shutdown() first and let the executor connect"
            )
        resources = ray.cluster_resources()
        fit = int(resources.get("CPU", 1) // self.num_cpus_per_job)
        if self.num_gpus_per_job:
            fit = min(fit, int(resources.get("GPU", 0) // self.num_gpus_per_job))
        self.workers = max(1, fit)
        return ray

    def runtime_env(self) -> dict[str, Any]:
        """The Ray runtime environment of every task: threads, GPU visibility and the code."""
        env_vars = {"OMP_NUM_THREADS": "1"}
        if not self.num_gpus_per_job:
            env_vars["CUDA_VISIBLE_DEVICES"] = ""
        if not self.ship_code:  # this machine's files, whatever directory Ray starts workers in
            env_vars["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])
            return {"env_vars": env_vars}
        env_vars["PYTHONPATH"] = os.pathsep.join(SHIPPED_PYTHONPATH)
        return {
            "working_dir": str(REPO_ROOT),
            "excludes": SHIP_EXCLUDES,
            "env_vars": env_vars,
        }

    def close(self) -> None:
        """Shuts Ray down if this executor started it."""
        if self._started_ray:
            require("ray", "ray").shutdown()
            self._started_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the Executor protocol -------------------------------------------------------------
    def map(self, fn: Any, jobs: Sequence[Job]) -> Iterator[dict[str, Any]]:
        """Runs `fn(job)` for every job as a Ray task; yields results in order of completion.

        A task lost to the system (a killed worker, a lost node) is retried by Ray; if it still
        fails, its result says "failed" with the error, as `run_job` reports its own failures.
        """
        if not jobs:
            return
        ray = self.connect()
        task = ray.remote(_run_on_worker).options(
            num_cpus=self.num_cpus_per_job,
            num_gpus=self.num_gpus_per_job,
            # Merged into the job's runtime environment (Ray merges env_vars and inherits the
            # rest), so they also hold where Ray was started by someone else.
            runtime_env={"env_vars": self.runtime_env()["env_vars"]},
        )
        fn_bytes = ray.cloudpickle.dumps(fn)  # unpickled on the worker once its imports resolve
        pending = {
            task.remote(fn_bytes, job, _job_inputs(job) if self.ship_files else None): job for job in jobs
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task died (worker or node lost) after Ray's retries
                    yield {
                        "id": job["id"],
                        "status": "failed",
                        "path": str(Path(job.get("results_dir", ".")) / RUNS_DIR / f"{job['id']}.json"),
                        "wall_s": 0.0,
                        "error": (
                            f"the Ray task of job {job['id']} failed after Ray's retries "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                            "its file was not written: run the same command again to retry it.\n"
                            + traceback.format_exc()
                        ),
                    }
                    continue
                if "files" in result:
                    _land(job, result)
                yield result


# --- shipping files ---------------------------------------------------------------------------
def _job_inputs(job: Job) -> dict[str, bytes]:
    """The files of the results directory a job reads: its trained model, if there is one."""
    root = Path(job["results_dir"])
    model_dir = root / MODELS_DIR / f"{job.get('agent')}-s{job.get('train_seed')}"
    if job.get("kind") != "evaluate" or not model_dir.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(model_dir.rglob("*")) if p.is_file()}


def _run_on_worker(fn_bytes: bytes, job: Job, inputs: dict[str, bytes] | None) -> dict[str, Any]:
    """The Ray task: one torch thread, then `fn(job)`, in a scratch results directory when
    `inputs` is given (whose new files are returned under "files", with "scratch_dir")."""
    import ray
    import torch

    torch.set_num_threads(1)
    fn = ray.cloudpickle.loads(fn_bytes)
    if inputs is None:
        return fn(job)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        for rel, data in inputs.items():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            (scratch / rel).write_bytes(data)
        result = dict(fn({**job, "results_dir": str(scratch)}))
        result["files"] = {
            str(p.relative_to(scratch)): p.read_bytes()
            for p in sorted(scratch.rglob("*"))
            if p.is_file() and str(p.relative_to(scratch)) not in inputs
        }
        result["scratch_dir"] = str(scratch)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _land(job: Job, result: dict[str, Any]) -> None:
    """Writes a shipped job's files into its results directory, the run file last, each one
    atomically; paths that pointed into the task's scratch directory are rewritten."""
    files: dict[str, bytes] = result.pop("files")
    scratch = result.pop("scratch_dir")
    root = Path(job["results_dir"])
    result["path"] = str(root / RUNS_DIR / f"{job['id']}.json")
    if result.get("status") != "done":
        return
    runs_first = sorted(files, key=lambda rel: Path(rel).parts[0] == RUNS_DIR)  # run files last
    for rel in runs_first:
        data = files[rel]
        if Path(rel).parts[0] == RUNS_DIR and rel.endswith(".json"):
            data = reseal_moved(data, scratch, str(root))  # its checksum covers the paths it names
        elif rel.endswith(".json"):
            data = data.replace(scratch.encode(), str(root).encode())
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
