"""The runner's worker processes under faults, with real processes and bounded waits.

`kill -9` of `python -m benchmarks.runner --workers 2` must leave no worker running; SIGINT and
SIGTERM must stop the workers and exit with 128 + the signal; a worker that dies is reported
with its job, its pid and the cause, and the other jobs carry on. Every wait is bounded by a
deadline and ends as soon as its condition holds.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks._record import read_record
from benchmarks.workers import ProcessExecutor

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 60.0  # the longest any wait below may take (it ends as soon as its condition holds)
STARTED = re.compile(r"started (\S+) on worker (\d+) \(pid (\d+)\)")

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups and signals")


def _alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie waiting to be reaped counts as gone)."""
    if Path("/proc/self/stat").exists():  # Linux: read the state, so that zombies count as gone
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S:.0f} s: {what}")
        time.sleep(0.05)


class Runner:
    """`python -m benchmarks.runner` on the toy suite with two workers, its output read as it comes."""

    def __init__(self, results_dir: Path) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        }
        command = [sys.executable, "-m", "benchmarks.runner", "--suite", "tiny", "--toy", "--workers", "2"]
        command += ["--only", "constant", "--no-report", "--results-dir", str(results_dir)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def worker_pids(self, count: int) -> list[int]:
        """The pids of the first `count` workers that were given a job (from the runner's log)."""
        pids: dict[str, int] = {}
        deadline = time.monotonic() + DEADLINE_S
        while len(pids) < count:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {count} workers started: {''.join(self.output)}") from None
            if line is None:
                raise AssertionError(
                    f"the runner ended before {count} workers started: {''.join(self.output)}"
                )
            self.output.append(line)
            if match := STARTED.search(line):
                pids[match.group(2)] = int(match.group(3))
        return list(pids.values())

    def finish(self) -> str:
        code = self.process.wait(timeout=DEADLINE_S)
        while (line := self.lines.get(timeout=DEADLINE_S)) is not None:
            self.output.append(line)
        return f"exit {code}\n" + "".join(self.output)


def test_kill_9_of_the_runner_leaves_no_worker_running(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    pids = runner.worker_pids(2)
    assert all(_alive(pid) for pid in pids)
    os.kill(runner.process.pid, signal.SIGKILL)
    runner.finish()
    assert runner.process.returncode == -signal.SIGKILL
    _wait_until(lambda: not any(_alive(pid) for pid in pids), f"workers {pids} exit after the runner died")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_the_workers_and_say_how_to_resume(tmp_path: Path, signum: int) -> None:
    runner = Runner(tmp_path)
    pids = runner.worker_pids(2)
    runner.process.send_signal(signum)
    output = runner.finish()
    assert runner.process.returncode == 128 + signum, output
    assert f"stopped by {signal.Signals(signum).name}" in output and "run the same command again" in output
    assert not any(_alive(pid) for pid in pids)  # stopped and reaped before the runner exited
    invocation = (tmp_path / "invocations.jsonl").read_text().splitlines()[-1]
    assert '"interrupted": true' in invocation
    for path in (tmp_path / "runs").glob("*.json"):  # a job either wrote its whole record or nothing
        read_record(path)


def test_a_dead_worker_is_named_with_its_job_and_cause_and_the_other_jobs_carry_on() -> None:
    # signal.raise_signal(job): SIGKILL kills its worker; SIGCHLD (ignored by default) returns None.
    jobs = [signal.SIGKILL, signal.SIGCHLD, signal.SIGCHLD, signal.SIGCHLD]
    results = list(ProcessExecutor(2).map(signal.raise_signal, jobs))
    assert len(results) == len(jobs)
    (failure,) = [r for r in results if r is not None]
    assert failure["status"] == "failed" and failure["id"] == repr(signal.SIGKILL)
    assert re.search(r"worker \d \(pid \d+\) died while running job", failure["error"])
    assert "killed by SIGKILL" in failure["error"] and "retry" in failure["error"]


def test_a_job_that_raises_is_reported_and_its_worker_goes_on() -> None:
    results = list(ProcessExecutor(1).map(int, ["12", "not a number", "7"]))
    assert results[0] == 12 and results[2] == 7  # one worker ran all three, in order
    assert results[1]["status"] == "failed" and "ValueError" in results[1]["error"]
