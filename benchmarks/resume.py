"""Whether records may be added to a results directory: intact, one configuration, one code state.

Before the runner, PBT or a scoring run adds to a results directory, it checks, in this order:

1. every record reads (`_record.read_record`): a truncated, incomplete or hand-edited file stops
   it, named, with what is wrong and the remedy (move the file away to rerun its job);
2. every record was written for the suite as it resolves now (`Suite.fingerprint()`: its fields
   and the env config every job role resolves from them, so a changed environment default
   counts): else the directory is stale, and the message says what differs;
3. every finished job's recorded inputs (`jobs.job_inputs`: env configs, the agent's resolved
   hyperparameters, seeds, budget) equal what the job resolves now, so that a changed agent
   default is not hidden by an unchanged suite;
4. every record comes from the code state of this run (commit and diff hash,
   `_record.code_state`): else it refuses unless `allow_mixed`; the summary then says the results
   are mixed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._record import RecordError, read_record, state_label
from benchmarks.jobs import TASK_JOB_FIELDS, agent_role, job_inputs, job_roles, resolve_hyperparameters
from benchmarks.suites import NOT_FINGERPRINTED, RUNS_DIR, Suite

MAX_LISTED = 6  # files or differences a message lists before "and N more"


class ResumeError(SystemExit):
    """A results directory cannot be added to; the message says why and what to do."""


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def differences(recorded: Any, now: Any, prefix: str = "") -> list[str]:
    """Where two JSON values differ, as "path: recorded -> now" lines."""
    if isinstance(recorded, Mapping) and isinstance(now, Mapping):
        out = []
        for key in sorted(set(recorded) | set(now), key=str):
            if key not in recorded:
                out.append(f"{prefix}{key}: (absent) -> {json.dumps(now[key], default=str)}")
            elif key not in now:
                out.append(f"{prefix}{key}: {json.dumps(recorded[key], default=str)} -> (absent)")
            else:
                out += differences(recorded[key], now[key], f"{prefix}{key}.")
        return out
    if json.dumps(recorded, default=str, sort_keys=True) == json.dumps(now, default=str, sort_keys=True):
        return []
    return [f"{prefix.rstrip('.')}: {json.dumps(recorded, default=str)} -> {json.dumps(now, default=str)}"]


# --- 1, 2, 4: every record ----------------------------------------------------------------------
def read_all(results_dir: Path) -> dict[str, dict[str, Any]]:
    """Every record under `results_dir`/runs by job id (file stem).

    Raises:
        ResumeError: listing every damaged file, what is wrong with each, and the remedy.
    """
    records, problems = {}, []
    for path in sorted((Path(results_dir) / RUNS_DIR).glob("*.json")):
        try:
            records[path.stem] = read_record(path)
        except RecordError as exc:
            problems.append(str(exc))
    if problems:
        raise ResumeError(
            f"{len(problems)} record(s) in {Path(results_dir) / RUNS_DIR} cannot be used:\n- "
            + "\n- ".join(problems)
        )
    return records


def _config_differences(record: dict[str, Any], suite: Suite) -> list[str]:
    """How the suite and the env configs it resolves now differ from what `record` was written for."""
    data = {k: v for k, v in suite.to_dict().items() if k not in NOT_FINGERPRINTED}
    found = {k: v for k, v in record.get("suite", {}).items() if k in data}
    out = differences(found, data, "suite.")
    configs = suite.job_configs()
    recorded = (record.get("inputs") or {}).get("env_configs")
    if recorded is None and "env_config" in record:  # a record without inputs: the env it evaluated
        role = "schedule" if record["env_config"].get("action_mode") == "absolute" else "evaluate"
        if record["env_config"].get("final_eval") is False:
            role = "learn"
        recorded = {role: record["env_config"]}
    for role, config in (recorded or {}).items():
        if role in configs:
            out += differences(config, configs[role], f"env config ({role}).")
    return out


def check_records(
    results_dir: Path, suite: Suite, state: Mapping[str, Any], allow_mixed: bool = False
) -> dict[str, dict[str, Any]]:
    """Checks 1, 2 and 4 of the module docstring on every record; returns them by job id.

    Args:
        results_dir: the directory to add to.
        suite: the suite as it is now.
        state: the code state of this run (`_record.code_state()`).
        allow_mixed: accept records of other code states (the summary will say so).

    Raises:
        ResumeError: a damaged record, a record of another configuration, or (unless
            `allow_mixed`) of another code state; the message names them and what to do.
    """
    results_dir = Path(results_dir)
    records = read_all(results_dir)
    current = suite.fingerprint()
    stale = {job_id: r for job_id, r in records.items() if r["fingerprint"] != current}
    if stale:
        job_id, example = next(iter(stale.items()))
        diffs = _config_differences(example, suite) or [
            "no field of the suite or of its resolved env configs differs: the record predates how "
            "fingerprints are computed now"
        ]
        raise ResumeError(
            f"{len(stale)} of the {len(records)} records in {results_dir / RUNS_DIR} were written for "
            f"another configuration of suite {suite.name!r} (fingerprint {example['fingerprint']}, now "
            f"{current}): {_listed(sorted(stale))}. In {job_id}.json: {_listed(diffs)}. Their results are "
            f"not those of the suite as it is now: move {results_dir} away (or pass --results-dir DIR) "
            "to run the suite afresh."
        )
    key = (state.get("git_commit"), state.get("git_diff_sha256"))
    others: dict[tuple[Any, Any], list[str]] = {}
    for job_id, r in records.items():
        theirs = (r.get("git_commit"), r.get("git_diff_sha256"))
        if theirs != key:
            others.setdefault(theirs, []).append(job_id)
    if others and not allow_mixed:
        listed = "; ".join(
            f"{state_label({'git_commit': c, 'git_diff_sha256': d})}: {len(ids)} records ({_listed(sorted(ids))})"
            for (c, d), ids in others.items()
        )
        raise ResumeError(
            f"records in {results_dir / RUNS_DIR} come from another code state than this run "
            f"({state_label(state)}): {listed}. Adding to them would mix code versions in one "
            f"suite's results. Run it afresh from one commit (move {results_dir} away or pass "
            "--results-dir DIR), or pass --allow-mixed to add to them anyway (the summary then says "
            "the results are mixed)."
        )
    return records


# --- 3: finished jobs -------------------------------------------------------------------------------
def expected_inputs(job: Mapping[str, Any], suite: Suite, cache: dict[str, Any] | None = None) -> dict:
    """The inputs (`jobs.job_inputs`) `job` would resolve now: env configs from the suite, the
    agent's hyperparameters by building it as the job does (without learning)."""
    job = dict(job)
    role = agent_role(job, suite)
    configs = {r: suite.role_config(r, job["agent"]).to_dict() for r in job_roles(job, suite)}
    key = json.dumps(
        [job["kind"], job["agent"], job.get("factory"), job.get("train_seed"), job.get("peak"), role]
        + [job.get(k) for k in TASK_JOB_FIELDS],
        default=str,
    )
    cache = {} if cache is None else cache
    if key not in cache:
        try:
            cache[key] = resolve_hyperparameters(job, suite)
        except Exception as exc:  # the job would fail the same way: say so instead of resuming
            cache[key] = {"cannot be built now": f"{type(exc).__name__}: {exc}"}
    return job_inputs(job, suite, configs, cache[key])


def check_jobs(
    jobs: Sequence[Mapping[str, Any]], records: Mapping[str, dict[str, Any]], suite: Suite
) -> None:
    """Check 3 of the module docstring for the jobs whose record exists.

    Raises:
        ResumeError: a finished job's inputs differ from what it resolves now (or its record has
            none, so they cannot be compared); names the file and the differences.
    """
    cache: dict[str, Any] = {}
    for job in jobs:
        record = records.get(job["id"])
        if record is None:
            continue
        now = expected_inputs(job, suite, cache)
        recorded = record.get("inputs")
        diffs = ["the record has no inputs to compare"] if recorded is None else differences(recorded, now)
        if diffs:
            raise ResumeError(
                f"{Path(job['results_dir']) / RUNS_DIR / (job['id'] + '.json')} was written with other "
                f"inputs than job {job['id']!r} resolves now: {_listed(diffs)}. Its result is not that "
                f"of the job as it is now: move {job['results_dir']} away (or pass --results-dir DIR) "
                "to run the suite afresh."
            )
