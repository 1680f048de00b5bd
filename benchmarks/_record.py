"""Writing and reading benchmark records, with what is needed to reproduce and trust them.

A number without its command line, code state and machine cannot be compared with another, so
every record (a runner job's, a PBT search's, a performance measurement's) is written here, and
carries:

- `git_commit`: HEAD, with "-dirty" when tracked files differ from it or untracked files exist;
- `git_diff_sha256`: a hash of those differences (the diff against HEAD and the untracked files'
  contents), so that two "-dirty" records tell whether they ran the same code;
- `machine`: platform, Python, CPU model and count, torch version and torch threads, GPU;
- `command`: the command line that wrote it;
- `checksum`: the SHA-256 of everything else in it, so that a record edited by hand (a test
  accuracy changed to 0.999, say) is detected when it is read.

Files under `benchmarks/results/` never count as code: a suite writing its results does not make
the tree dirty. `read_record` checks a job record (valid JSON, the keys its kind needs, the
checksum) and raises `RecordError` naming the file, what is wrong and what to do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Paths whose changes are results, not code (git pathspec, relative to the repository root).
NOT_CODE = ":(exclude)benchmarks/results"
CHECKSUM_KEY = "checksum"
CHECKSUM_CHARS = 16  # hex digits of SHA-256 kept (64 bits: enough to detect edits, short to read)

# What every job record holds, and what each kind of job adds (the keys the statistics read).
RECORD_KEYS = ("job", "fingerprint", "env_config", "git_commit", "machine", "wall_s")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "train": ("training",),
    "evaluate": ("episodes",),
    "tune": ("episodes",),
    "alternate": ("training", "episodes"),
    "train_evaluate": ("training", "episodes"),
    "pbt": ("pbt",),
}
JOB_KEYS = ("id", "kind", "agent")
EPISODE_KEYS = ("seed", "test_acc", "full_val_acc", "val_acc", "lr", "epoch", "diverged")


class RecordError(ValueError):
    """A record cannot be used; the message names the file, the problem and the remedy."""


# --- the code state -----------------------------------------------------------------------------
def _git(*args: str, text: bool = True) -> Any:
    """Output of a git command run in the repository, or None when git or the repository is missing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=text, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if text else done.stdout


def _untracked() -> list[str]:
    """Untracked files that git does not ignore, outside the results folder."""
    out = _git("ls-files", "--others", "--exclude-standard", "-z", "--", ".", NOT_CODE)
    return sorted(p for p in (out or "").split("\0") if p)


def git_commit() -> str:
    """HEAD's hash, with "-dirty" when the code differs from it; "unknown" without a commit."""
    commit = _git("rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        return "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", NOT_CODE)
    return commit + ("-dirty" if status or _untracked() else "")


def git_diff_sha256() -> str | None:
    """A hash of the code's differences from HEAD: the diff of tracked files and the contents of
    untracked ones (results excluded). Two records with the same commit and hash ran the same
    code; None without git."""
    diff = _git("diff", "HEAD", "--", ".", NOT_CODE, text=False)
    if diff is None:
        return None
    digest = hashlib.sha256(diff)
    for name in _untracked():
        try:
            content = (REPO_ROOT / name).read_bytes()
        except OSError:  # removed meanwhile, or unreadable: its name still counts
            content = b""
        digest.update(b"\0untracked\0" + name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:16]


def code_state() -> dict[str, str | None]:
    """{"git_commit", "git_diff_sha256"}: which code wrote a record."""
    return {"git_commit": git_commit(), "git_diff_sha256": git_diff_sha256()}


def state_label(state: Mapping[str, Any]) -> str:
    """A code state as one short line: commit (12 digits, "-dirty") and diff hash."""
    commit = str(state.get("git_commit") or "unknown")
    dirty = "-dirty" if commit.endswith("-dirty") else ""
    return f"{commit.removesuffix('-dirty')[:12]}{dirty} (diff {state.get('git_diff_sha256')})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """The hardware and software a result was measured on (torch threads as set in this process)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": None,
        "torch_threads": None,
        "cuda_device": None,
    }
    try:
        import torch
    except ImportError:  # the performance benchmarks of the data path run without torch too
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
        info["cuda_runtime"] = torch.version.cuda
    return info


# --- sealing: the checksum --------------------------------------------------------------------
def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def checksum(record: Mapping[str, Any]) -> str:
    """SHA-256 of `record` without its checksum, in canonical JSON (sorted keys, no spaces)."""
    body = {k: v for k, v in record.items() if k != CHECKSUM_KEY}
    return hashlib.sha256(_canonical(body)).hexdigest()[:CHECKSUM_CHARS]


def seal(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` as JSON will hold it (values JSON cannot hold become text), with its checksum."""
    data = json.loads(json.dumps({k: v for k, v in record.items() if k != CHECKSUM_KEY}, default=str))
    return {**data, CHECKSUM_KEY: checksum(data)}


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Writes `data` so that `path` either does not exist or holds the whole file (a job is done
    exactly when its file exists, also if the process is killed mid-write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --- job records --------------------------------------------------------------------------------
@dataclass
class JobClock:
    """Wall time, CPU time and load average from a job's start (`JobClock()` starts it)."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    def elapsed(self) -> dict[str, Any]:
        return {
            "wall_s": time.perf_counter() - self.wall,
            # CPU seconds of this process: the job's cost without other processes' contention,
            # which the 1-minute load averages at its start and end indicate.
            "cpu_s": time.process_time() - self.cpu,
            "load_avg_1min": [self.load, os.getloadavg()[0]],
        }


def job_record(
    job: Mapping[str, Any],
    suite: Mapping[str, Any],
    fingerprint: str,
    clock: JobClock,
    body: Mapping[str, Any],
    state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of one finished job, sealed: what every kind of job writes.

    Args:
        job: the job (id, kind, agent, seeds, ...); "suite", "results_dir" and "code_state"
            are not repeated from it.
        suite: the suite's configuration (`Suite.to_dict()`).
        fingerprint: the suite's fingerprint (`Suite.fingerprint()`).
        clock: started when the job started.
        body: what the job produced (env_config, episodes, training, inputs, ...).
        state: the code state that dispatched the job (`code_state()`; computed here if None),
            passed by the runner so that workers without the repository (a Ray cluster) record it.
    """
    state = dict(state) if state is not None else code_state()
    command = job.get("command", list(sys.argv))
    return seal(
        {
            "job": {k: v for k, v in job.items() if k not in ("suite", "results_dir", "code_state")},
            "suite": dict(suite),
            "fingerprint": fingerprint,
            "utc_time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": state.get("git_commit"),
            "git_diff_sha256": state.get("git_diff_sha256"),
            "command": command,
            "python_executable": sys.executable,
            "machine": machine(),
            **clock.elapsed(),
            **body,
        }
    )


def write_record(path: Path, record: Mapping[str, Any]) -> Path:
    """Writes a sealed record atomically (see `job_record`)."""
    if CHECKSUM_KEY not in record:
        record = seal(record)
    write_json_atomic(Path(path), record)
    return Path(path)


def _remedy(path: Path) -> str:
    return (
        f"move it away (e.g. `mv {path} {path}.damaged`) and run the command that wrote it again "
        f"(the runner, PBT or `lrgym score`): it skips finished jobs and redoes job {path.stem!r}"
    )


def _problem(data: Any) -> str | None:
    """What makes `data` unusable as a job record, or None."""
    if not isinstance(data, dict):
        return f"it holds a JSON {type(data).__name__}, not a record (an object)"
    missing = [k for k in RECORD_KEYS if k not in data]
    job = data.get("job")
    if isinstance(job, dict):
        missing += [f"job.{k}" for k in JOB_KEYS if k not in job]
        missing += [k for k in KIND_KEYS.get(str(job.get("kind")), ()) if k not in data]
    elif "job" in data:
        return f"its 'job' is a {type(job).__name__}, not an object"
    if missing:
        what = "it is empty" if not data else f"it lacks {', '.join(repr(k) for k in missing)}"
        return f"{what}: not a complete job record"
    if isinstance(job, dict) and str(job.get("kind")) not in KIND_KEYS:
        return f"its job kind {job.get('kind')!r} is none of {', '.join(KIND_KEYS)}"
    episodes = data.get("episodes", [])
    if not isinstance(episodes, list) or ("episodes" in data and not episodes):
        return "its 'episodes' is not a non-empty list"
    for i, episode in enumerate(episodes):
        lacking = [k for k in EPISODE_KEYS if not isinstance(episode, dict) or k not in episode]
        if lacking:
            return f"episode {i} lacks {', '.join(repr(k) for k in lacking)}"
    return None


def read_record(path: Path) -> dict[str, Any]:
    """A job record, checked: valid JSON, the keys its kind needs, and its checksum if it has one
    (records written before checksums existed have none and are read as they are).

    Raises:
        RecordError: naming the file, what is wrong with it and what to do.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); {_remedy(path)}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        kind = "is empty" if not text.strip() else f"is not valid JSON ({exc.msg} at line {exc.lineno})"
        hint = ", probably truncated" if text.strip() and exc.pos >= len(text.rstrip()) - 1 else ""
        raise RecordError(f"{path}: the file {kind}{hint}; {_remedy(path)}") from exc
    problem = _problem(data)
    if problem is not None:
        raise RecordError(f"{path}: {problem}; {_remedy(path)}")
    if CHECKSUM_KEY in data and data[CHECKSUM_KEY] != checksum(data):
        raise RecordError(
            f"{path}: its content does not match its checksum ({data[CHECKSUM_KEY]}, now "
            f"{checksum(data)}): it was changed after it was written (for example a number edited "
            f"by hand); {_remedy(path)}"
        )
    return data


def reseal_moved(data: bytes, old: str, new: str) -> bytes:
    """A sealed record's bytes with the path `old` replaced by `new` and a fresh checksum, after
    checking the old one (a record produced in a scratch directory and landed elsewhere)."""
    record = json.loads(data)
    if CHECKSUM_KEY in record and record[CHECKSUM_KEY] != checksum(record):
        raise RecordError(f"a record came back from a worker damaged (checksum mismatch): {old}")
    moved = json.loads(json.dumps(record).replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))
    return (json.dumps(seal(moved), indent=1) + "\n").encode()


# --- performance measurements ---------------------------------------------------------------------
def _unique(path: Path) -> Path:
    """`path`, or `path` with a counter when a run in the same second already wrote it."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def save_result(name: str, payload: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Writes `payload` plus provenance to `results/<name>-<UTC time>.json` and `<name>-latest.json`.

    Args:
        name: the benchmark's name, used in the file names.
        payload: the benchmark's configuration and metrics; values JSON cannot hold are stored as text.
        results_dir: where to write (default: `benchmarks/results`).

    Returns:
        The path of the timestamped file.
    """
    now = dt.datetime.now(dt.timezone.utc)
    record = seal(
        {
            "benchmark": name,
            "utc_time": now.isoformat(timespec="seconds"),
            "command": list(sys.argv),
            "python_executable": sys.executable,
            **code_state(),
            "machine": machine(),
            **payload,
        }
    )
    text = json.dumps(record, indent=2) + "\n"
    directory = RESULTS_DIR if results_dir is None else Path(results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = _unique(directory / f"{name}-{now.strftime('%Y%m%dT%H%M%SZ')}.json")
    path.write_text(text, encoding="utf-8")
    (directory / f"{name}-latest.json").write_text(text, encoding="utf-8")
    return path
