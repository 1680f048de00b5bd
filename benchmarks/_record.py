"""Saving benchmark results with what is needed to reproduce and compare them.

A number without its command line, commit and machine cannot be compared with another, so every
benchmark saves through `save_result`, which adds those to the payload. Each run writes a
timestamped file (history) and overwrites `<name>-latest.json` (what reports read).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _git(*args: str) -> str | None:
    """Output of a git command run in the repository, or None when git or the repository is missing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit() -> str:
    """HEAD's hash, with "-dirty" when tracked files are modified; "unknown" without a commit."""
    commit = _git("rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        return "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit + ("-dirty" if status else "")


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
    """The hardware and software a result was measured on."""
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
    except ImportError:
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
        info["cuda_runtime"] = torch.version.cuda
    return info


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
    record = {
        "benchmark": name,
        "utc_time": now.isoformat(timespec="seconds"),
        "command": list(sys.argv),
        "python_executable": sys.executable,
        "git_commit": git_commit(),
        "machine": machine(),
        **payload,
    }
    text = json.dumps(record, indent=2, default=str) + "\n"
    directory = RESULTS_DIR if results_dir is None else Path(results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = _unique(directory / f"{name}-{now.strftime('%Y%m%dT%H%M%SZ')}.json")
    path.write_text(text, encoding="utf-8")
    (directory / f"{name}-latest.json").write_text(text, encoding="utf-8")
    return path
