"""Worker processes for the runner (`--workers N`): no orphans, no lost jobs, deaths named.

`ProcessExecutor.map(fn, jobs)` runs `fn(job)` in N spawned processes (spawn: no forked torch
state), one job at a time per worker: a worker is sent its next job only when it has returned the
last, so no job waits inside a worker that might outlive the runner.

- **The runner dies** (`kill -9`): every worker watches its parent and, once the runner is gone,
  kills its own process group (itself and anything its job started) within `PARENT_POLL_S`. An
  idle worker also sees its job pipe close and exits.
- **The runner is stopped** (Ctrl-C, SIGTERM, or the caller stops iterating): idle workers are
  told to exit, busy ones are sent SIGTERM, and any still alive after `STOP_GRACE_S` SIGKILL; the
  running jobs' files are not written (records are written atomically), so the next run redoes
  them. Workers ignore SIGINT: a Ctrl-C in the terminal is the runner's to handle.
- **A worker dies** (the out-of-memory killer, a crash in native code, `os._exit`): its job is
  reported as failed with the worker, its pid, the job and the cause ("killed by signal SIGKILL",
  "exited with code 3"), a fresh worker takes its place, and the other jobs carry on.
- A job that raises is reported as failed with its traceback; the worker goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

PARENT_POLL_S = 0.5  # how often a worker checks that the runner is still alive, seconds
STOP_GRACE_S = 5.0  # how long stopped workers get to exit after SIGTERM before SIGKILL, seconds
EXIT_TIMEOUT_S = 30.0  # how long an idle worker gets to exit when told to, seconds

JobFn = Callable[[Any], Any]


def job_id(job: Any) -> str:
    """A job's name in messages: its "id" for the runner's job dicts, else its repr."""
    return str(job["id"]) if isinstance(job, dict) and "id" in job else repr(job)


def describe_exit(exitcode: int | None) -> str:
    """Why a process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode is None:
        return "it is still running"
    if exitcode >= 0:
        return f"it exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    why = f"it was killed by {name}"
    if -exitcode == signal.SIGKILL:
        why += " (sent by `kill -9` or by the kernel's out-of-memory killer: see `dmesg`)"
    return why


# --- inside a worker ------------------------------------------------------------------------------
def _watch_parent(parent_pid: int) -> None:
    """Kills this worker's process group once its parent (the runner) is gone."""
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            if hasattr(os, "killpg") and os.getpgrp() == os.getpid():
                os.killpg(os.getpid(), signal.SIGKILL)  # itself and whatever its job started
            os._exit(1)


def _worker_main(conn: Connection, parent_pid: int) -> None:
    """A worker's loop: receive `fn`, then jobs until None (or until the pipe closes)."""
    os.environ["OMP_NUM_THREADS"] = "1"  # one intra-op thread, set before fn's imports load torch
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # its own process group: the runner stops it and its children together
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        fn = conn.recv()
        while (job := conn.recv()) is not None:
            start = time.perf_counter()
            try:
                result = fn(job)
            except BaseException:  # noqa: BLE001 - reported as the job's failure, the worker goes on
                result = {
                    "id": job_id(job),
                    "status": "failed",
                    "path": None,
                    "wall_s": time.perf_counter() - start,
                    "error": traceback.format_exc(),
                }
            conn.send(result)
    except (EOFError, OSError):  # the runner is gone: nothing to report to
        return


# --- in the runner --------------------------------------------------------------------------------
@dataclass
class _Worker:
    index: int
    process: Any  # multiprocessing.Process (spawn context)
    conn: Connection
    job: Any = None
    busy: bool = False
    started_at: float = field(default_factory=time.perf_counter)


class ProcessExecutor:
    """Runs jobs in `workers` spawned processes, one job at a time each; yields results as they
    finish. Processes live for one `map` call, so each loads its dataset once per stage.

    Args:
        workers: worker processes (>= 1).
        log: where to report which job starts on which worker (None: silent).
    """

    def __init__(self, workers: int, log: Callable[[str], None] | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers} must be >= 1")
        self.workers = workers
        self.log = log

    def map(self, fn: JobFn, jobs: Sequence[Any]) -> Iterator[Any]:
        if not jobs:
            return
        context = multiprocessing.get_context("spawn")
        pending = deque(jobs)
        pool: list[_Worker] = []
        try:
            for index in range(1, min(self.workers, len(jobs)) + 1):
                pool.append(self._start(context, index, fn))
                self._dispatch(pool[-1], pending)
            while any(w.busy for w in pool):
                busy = [w for w in pool if w.busy]
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for n, worker in enumerate(pool):
                    if not worker.busy or (worker.conn not in ready and worker.process.sentinel not in ready):
                        continue
                    result, died = self._result(worker)
                    worker.busy, worker.job = False, None
                    if died:
                        worker.conn.close()
                        worker.process.join()
                        if pending:  # a fresh worker takes its place
                            pool[n] = worker = self._start(context, worker.index, fn)
                    yield result
                    if pending and worker.process.is_alive():
                        self._dispatch(worker, pending)
        finally:
            self._stop(pool)

    def _start(self, context: Any, index: int, fn: JobFn) -> _Worker:
        parent_conn, child_conn = context.Pipe(duplex=True)
        process = context.Process(
            target=_worker_main,
            args=(child_conn, os.getpid()),
            name=f"lrgym-worker-{index}",
            daemon=False,  # a job may start processes of its own (vector envs), which daemons may not
        )
        process.start()
        child_conn.close()  # the worker holds the only other end: its death closes the pipe
        parent_conn.send(fn)
        return _Worker(index, process, parent_conn)

    def _dispatch(self, worker: _Worker, pending: deque) -> None:
        worker.job = pending.popleft()
        worker.busy, worker.started_at = True, time.perf_counter()
        try:
            worker.conn.send(worker.job)
        except (BrokenPipeError, EOFError, OSError):  # died before its first job: _result says why
            pass
        if self.log is not None:
            self.log(
                f"  [{time.strftime('%H:%M:%S')}] started {job_id(worker.job)} on worker "
                f"{worker.index} (pid {worker.process.pid})"
            )

    def _result(self, worker: _Worker) -> tuple[Any, bool]:
        """The worker's result for its job, or a failure naming the worker and why it died; and
        whether it died."""
        try:
            return worker.conn.recv(), False
        except (EOFError, OSError):
            pass
        worker.process.join(timeout=EXIT_TIMEOUT_S)
        why = describe_exit(worker.process.exitcode)
        failure = {
            "id": job_id(worker.job),
            "status": "failed",
            "path": None,
            "wall_s": time.perf_counter() - worker.started_at,
            "error": (
                f"worker {worker.index} (pid {worker.process.pid}) died while running job "
                f"{job_id(worker.job)}: {why}. The job's file was not written; run the same "
                "command again to retry it (finished jobs are skipped)."
            ),
        }
        return failure, True

    def _stop(self, pool: list[_Worker]) -> None:
        """Idle workers exit; busy ones get SIGTERM, then SIGKILL after `STOP_GRACE_S`."""
        for worker in pool:
            if not worker.process.is_alive():
                continue
            if worker.busy:
                _signal_group(worker.process.pid, signal.SIGTERM)
            else:
                try:
                    worker.conn.send(None)
                except (BrokenPipeError, OSError):
                    _signal_group(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in pool:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for worker in pool:
            if worker.process.is_alive():
                _signal_group(worker.process.pid, signal.SIGKILL)
                worker.process.join(timeout=EXIT_TIMEOUT_S)
            worker.conn.close()


def _signal_group(pid: int, signum: int) -> None:
    """Sends `signum` to a worker's process group (the worker and what its job started), or to
    the worker alone while it has not made its own group yet."""
    try:
        if hasattr(os, "killpg") and os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):  # already gone
        pass
