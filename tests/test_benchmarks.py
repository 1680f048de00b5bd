"""The agent-comparison benchmark: runner, resumption, provenance, damaged records, tuning and the
reference schedule without the test set, rliable's statistics (two-level for learners), scoring
someone else's agent (`lrgym score`)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats
from rliable import library

from benchmarks import _record, contract, jobs, runner, score, stats, suites

EPISODE_KEYS = {
    "seed",
    "test_acc",
    "full_val_acc",
    "best_val_acc",
    "val_acc",
    "lr",
    "epoch",
    "wall_s",
    "diverged",
}


class CountingExecutor:
    """A serial executor that counts the jobs it is given."""

    def __init__(self) -> None:
        self.jobs: list[str] = []

    def map(self, fn, jobs):
        for job in jobs:
            self.jobs.append(job["id"])
            yield fn(job)


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


# --- the runner, end to end on the toy budget ---------------------------------------------------
@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    suite = suites.toy(suites.TINY_SUITE)
    out = tmp_path_factory.mktemp("tiny-toy")
    executor = CountingExecutor()
    report = runner.run_suite(suite, out, executor, log=lambda line: None)
    return suite, out, executor, report


def test_toy_suite_writes_every_job_with_provenance_and_metrics(toy_run):
    suite, out, executor, report = toy_run
    assert report.failed == {} and report.blocked == []
    (seed,) = suite.train_seeds
    expected = {f"train-{a}-s{seed}" for a in suite.learning_agents}
    expected |= {f"eval-{a}-s{seed}" for a in suite.learning_agents}
    expected |= {runner.tune_id(s, p, seed) for s in suite.schedules for p in suite.peak_grid}
    expected |= {f"eval-{s}" for s in suite.schedules} | {"eval-random", "eval-random-relative"}
    assert {p.stem for p in (out / "runs").glob("*.json")} == expected
    assert sorted(executor.jobs) == sorted(expected)  # each job ran exactly once

    state = _record.code_state()
    for path in (out / "runs").glob("*.json"):
        record = _read(path)
        assert record["fingerprint"] == suite.fingerprint()
        assert record["suite"]["name"] == suite.name
        assert (record["git_commit"], record["git_diff_sha256"]) == (
            state["git_commit"],
            state["git_diff_sha256"],
        )
        assert record["machine"]["cpu_count"] >= 1 and record["machine"]["cpu_model"]
        assert record["machine"]["torch_threads"] == 1 and record["command"]
        assert record["wall_s"] > 0
        assert record["checksum"] == _record.checksum(record)  # sealed
        inputs = record["inputs"]
        assert record["job_fingerprint"] == jobs.inputs_fingerprint(inputs)
        assert inputs["kind"] == record["job"]["kind"] and inputs["suite_fingerprint"] == suite.fingerprint()
        assert inputs["hyperparameters"] == record.get("hyperparameters", inputs["hyperparameters"])
        for episode in record.get("episodes", []):
            assert EPISODE_KEYS <= set(episode)
            assert len(episode["lr"]) == len(episode["epoch"]) == len(episode["val_acc"]) - 1
            assert 0.0 <= episode["test_acc"] <= 1.0

    for agent in suite.learning_agents:
        train = _read(out / "runs" / f"train-{agent}-s{seed}.json")
        assert train["training"]["steps_done"] >= suite.decisions(agent)
        assert train["env_config"]["final_eval"] is False  # learning never evaluates on the test set
        assert (out / "models" / f"{agent}-s{seed}" / "agent.json").is_file()
        evaluation = _read(out / "runs" / f"eval-{agent}-s{seed}.json")
        assert [e["seed"] for e in evaluation["episodes"]] == list(suite.eval_seeds)
    # A variant with wrappers learns and is evaluated through them: the same runs in its decisions.
    wrapped = suites.PROGRESS_DQN
    assert (
        suite.variants["dqn-relative-progress"] == wrapped
        and "dqn-relative-progress" in suite.learning_agents
    )
    train = _read(out / "runs" / f"train-dqn-relative-progress-s{seed}.json")
    decisions = suite.config().num_steps // wrapped.action_repeat
    assert train["training"]["steps_done"] == suite.train_steps // wrapped.action_repeat
    assert len(train["training"]["episodes"]) == suite.train_steps // suite.config().num_steps
    meta = _read(out / "models" / f"dqn-relative-progress-s{seed}" / "agent.json")
    assert meta["observation_shape"] == [len(wrapped.keep_signals)]
    evaluation = _read(out / "runs" / f"eval-dqn-relative-progress-s{seed}.json")
    assert {len(e["lr"]) for e in evaluation["episodes"]} == {decisions}
    assert evaluation["env_config"]["reward"] == "terminal_acc"
    for schedule in suite.schedules:
        evaluation = _read(out / "runs" / f"eval-{schedule}.json")
        assert evaluation["env_config"]["action_mode"] == "absolute"
        assert evaluation["job"]["peak"] in suite.peak_grid
        assert [e["seed"] for e in evaluation["episodes"]] == list(suite.eval_seeds)
    # Evaluation seeds never appear in tuning.
    for path in (out / "runs").glob("tune-*.json"):
        assert {e["seed"] for e in _read(path)["episodes"]} <= set(suite.train_seeds)


def test_toy_suite_writes_summary_and_plots(toy_run):
    suite, out, _, _ = toy_run
    summary = _read(out / "summary.json")
    names = {*suite.learning_agents, *suite.schedules, "random", *suite.random_variants}
    assert suite.random_variants == ("random-relative",)  # random factors on the cosine, too
    assert set(summary["agents"]) == names
    assert summary["best_schedule"] in suite.schedules
    for name, a in summary["agents"].items():
        runs = len(suite.eval_seeds) * (len(suite.train_seeds) if name in suite.learning_agents else 1)
        assert a["runs"] == runs
        for metric in ("iqm", "mean"):
            e = a["test_acc"][metric]
            assert e["low"] <= e["point"] <= e["high"]
        assert (a["p_improvement_over_best_schedule"] is None) == (name == summary["best_schedule"])
        assert (a["p_improvement_over_random"] is None) == (name == "random")
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(names)
    table = (out / "summary.md").read_text()
    assert all(f"| {name}" in table for name in names)
    pngs = {p.name for p in (out / "plots").glob("*.png")}
    assert {"lr_trajectories.png", "val_acc.png", "interval_estimates.png", "performance_profile.png"} <= pngs
    assert all((out / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_second_run_resumes_without_running_any_job(toy_run):
    suite, out, _, _ = toy_run
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    executor = CountingExecutor()
    report = runner.run_suite(suite, out, executor, report=False, log=lambda line: None)
    assert executor.jobs == [] and report.done == []
    assert len(report.skipped) == len(before)
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")} == before


def test_interrupted_suite_runs_only_the_missing_jobs(toy_run, tmp_path):
    suite, out, _, _ = toy_run
    copy = tmp_path / "copy"
    (copy / "runs").mkdir(parents=True)
    for path in (out / "runs").glob("*.json"):
        if not path.name.startswith("eval-"):  # as if stopped after stage 1
            (copy / "runs" / path.name).write_bytes(path.read_bytes())
    (copy / "models").symlink_to(out / "models")
    executor = CountingExecutor()
    # Only the schedules' evaluations and the random agent: evaluating trained agents is covered above.
    runner.run_suite(
        suite, copy, executor, only=[*suite.schedules, "random"], report=False, log=lambda line: None
    )
    assert sorted(executor.jobs) == sorted(["eval-random", *(f"eval-{s}" for s in suite.schedules)])


def _copy(out: Path, to: Path) -> Path:
    """A copy of a results directory (run files; the trained models shared by a link)."""
    shutil.copytree(out / "runs", to / "runs")
    (to / suites.MODELS_DIR).symlink_to(out / suites.MODELS_DIR)
    return to


def _run(suite: suites.Suite, out: Path, **kwargs: Any) -> runner.RunReport:
    return runner.run_suite(suite, out, CountingExecutor(), report=False, log=lambda line: None, **kwargs)


def test_runner_refuses_files_of_another_suite_configuration(toy_run):
    suite, out, _, _ = toy_run
    changed = dataclasses.replace(suite, peak_grid=(0.3,))
    assert changed.fingerprint() != suite.fingerprint()
    with pytest.raises(SystemExit, match="another configuration"):
        _run(changed, out)


def test_a_changed_environment_default_is_not_reused(toy_run, monkeypatch):
    suite, out, _, _ = toy_run
    preset = suite.env_id
    changed = suites.PRESETS[preset].replace(initial_lr=suites.PRESETS[preset].initial_lr * 2)
    monkeypatch.setitem(suites.PRESETS, preset, changed)  # as if config.py's default had changed
    assert suite.fingerprint() != _read(out / "runs" / "eval-random.json")["fingerprint"]
    with pytest.raises(SystemExit, match=r"another configuration(.|\n)*initial_lr"):
        _run(suite, out)


def test_a_changed_agent_default_is_not_reused(toy_run, monkeypatch):
    from lrgym_agents import dqn

    suite, out, _, _ = toy_run
    default = dqn.PRESETS["default"]
    monkeypatch.setitem(dqn.PRESETS, "default", dataclasses.replace(default, gamma=default.gamma / 2))
    executor = CountingExecutor()
    with pytest.raises(SystemExit, match=r"train-dqn-s0.json was written with other inputs(.|\n)*gamma"):
        runner.run_suite(suite, out, executor, only=["dqn"], report=False, log=lambda line: None)
    assert executor.jobs == []  # nothing ran on the stale record


def _reseal(path: Path, **changes: Any) -> None:
    path.write_text(json.dumps(_record.seal({**_read(path), **changes})))


def test_runner_refuses_records_of_another_code_state_unless_allowed(toy_run, tmp_path):
    suite, out, _, _ = toy_run
    copy = _copy(out, tmp_path / "copy")
    (copy / "runs" / "eval-random.json").unlink()  # a job left to run
    _reseal(
        copy / "runs" / "eval-cosine.json", git_commit="0123456789ab" * 3 + "0123", git_diff_sha256="feed"
    )
    with pytest.raises(SystemExit, match=r"another code state(.|\n)*--allow-mixed") as refused:
        _run(suite, copy, only=["random"])
    assert "eval-cosine" in str(refused.value)
    assert not (copy / "runs" / "eval-random.json").exists()  # refused before running anything

    report = _run(suite, copy, only=["random"], allow_mixed=True)
    assert report.done == ["eval-random"]
    summary = stats.summarize(copy, dataclasses.replace(suite, bootstrap_reps=20), write=False)
    assert summary["provenance"]["mixed"] and len(summary["provenance"]["code_states"]) == 2
    assert "**Mixed results**" in stats.markdown_table(summary)


def test_pbt_style_records_share_the_one_writer(toy_run, tmp_path):
    suite, _, _, _ = toy_run
    job = {"id": "pbt-s0", "kind": "pbt", "agent": "pbt", "train_seed": 0, "command": ["x"]}
    body = {"env_config": suite.config().to_dict(), "pbt": {"settings": {}}}
    record = _record.job_record(job, suite.to_dict(), suite.fingerprint(), _record.JobClock(), body)
    path = _record.write_record(tmp_path / "runs" / "pbt-s0.json", record)
    found = _record.read_record(path)
    for key in ("git_commit", "git_diff_sha256", "machine", "command", "checksum", "wall_s", "cpu_s"):
        assert found[key] is not None, key
    assert found["machine"]["torch_threads"] >= 1 and found["machine"]["cpu_model"]


DAMAGE = {
    "truncated": (lambda text: text[: len(text) // 2], "not valid JSON"),
    "empty object": (lambda text: "{}", "it is empty"),
    "no episodes": (
        lambda text: json.dumps(
            {k: v for k, v in json.loads(text).items() if k not in ("episodes", "checksum")}
        ),
        "lacks 'episodes'",
    ),
    "edited test accuracy": (
        lambda text: text.replace('"test_acc": ', '"test_acc": 0.999, "was": ', 1),
        "does not match its checksum",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_record_is_named_with_what_is_wrong_and_what_to_do(toy_run, tmp_path, damage):
    suite, out, _, _ = toy_run
    copy = _copy(out, tmp_path / "copy")
    path = copy / "runs" / "eval-cosine.json"
    edit, problem = DAMAGE[damage]
    path.write_text(edit(path.read_text()))
    with pytest.raises(SystemExit) as refused:
        _run(suite, copy)
    for text in (str(refused.value), _error(stats.summarize, copy, suite)):
        assert str(path) in text and problem in text
        assert "move it away" in text and "eval-cosine" in text


def _error(fn, *args: Any) -> str:
    with pytest.raises(_record.RecordError) as error:
        fn(*args)
    return str(error.value)


def test_a_failing_job_is_reported_and_blocks_only_its_dependents(tmp_path):
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE), learning_agents=("dqn",), schedules=("constant",), random=False
    )
    suite = dataclasses.replace(suite, agent_kwargs={"dqn": {"no_such_hyperparameter": 1}})
    report = runner.run_suite(suite, tmp_path, CountingExecutor(), report=False, log=lambda line: None)
    assert (
        list(report.failed) == ["train-dqn-s0"] and "no_such_hyperparameter" in report.failed["train-dqn-s0"]
    )
    assert report.blocked == ["eval-dqn-s0"]
    assert (tmp_path / "runs" / "eval-constant.json").is_file()


def test_process_executor_runs_every_job_in_spawned_workers():
    jobs = [{"id": str(i), "value": i} for i in range(3)]
    results = list(runner.ProcessExecutor(2).map(dict, jobs))  # dict(job) is a copy of the job
    assert sorted(r["value"] for r in results) == [0, 1, 2]


# --- tuning and the reference schedule read validation accuracy only ----------------------------
def _episode(seed: int, test: float, full_val: float) -> dict[str, Any]:
    return {
        "seed": seed,
        "test_acc": test,
        "full_val_acc": full_val,
        "val_acc": [0.1, full_val],
        "lr": [0.1],
        "epoch": [1.0],
        "diverged": False,
    }


def _write_tune(out: Path, schedule: str, peak: float, seed: int, full_val: float, test: float) -> None:
    suite = suites.toy(suites.TINY_SUITE)
    job = {"id": runner.tune_id(schedule, peak, seed), "kind": "tune", "agent": schedule, "command": []}
    body = {"env_config": suite.config().to_dict(), "episodes": [_episode(seed, test, full_val)]}
    record = _record.job_record(job, suite.to_dict(), suite.fingerprint(), _record.JobClock(), body)
    _record.write_record(out / "runs" / f"{job['id']}.json", record)


def test_peak_is_chosen_by_validation_accuracy_where_test_accuracy_disagrees(tmp_path):
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE), schedules=("cosine",), peak_grid=(0.1, 0.2, 0.4), train_seeds=(0, 1)
    )
    # Validation prefers 0.2; the test set would prefer 0.4 (and 0.1 over 0.2).
    full_val = {0.1: (0.60, 0.62), 0.2: (0.80, 0.78), 0.4: (0.50, 0.52)}
    test = {0.1: 0.85, 0.2: 0.40, 0.4: 0.95}
    for peak, vals in full_val.items():
        for seed, v in zip(suite.train_seeds, vals, strict=True):
            _write_tune(tmp_path, "cosine", peak, seed, v, test[peak])
    table = runner.tuning_scores(tmp_path, "cosine", suite.peak_grid, suite.train_seeds)
    assert table == {p: list(v) for p, v in full_val.items()}
    assert runner.choose_peak(table) == 0.2
    jobs_, blocked = runner.stage2_jobs(dataclasses.replace(suite, learning_agents=()), tmp_path)
    assert blocked == {} and [(j["id"], j["peak"]) for j in jobs_] == [("eval-cosine", 0.2)]


def test_schedule_evaluation_waits_for_all_its_tuning_runs(tmp_path):
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE),
        learning_agents=(),
        schedules=("step",),
        peak_grid=(0.1, 0.2),
        train_seeds=(0,),
    )
    _write_tune(tmp_path, "step", 0.1, 0, 0.7, 0.7)
    jobs_, blocked = runner.stage2_jobs(suite, tmp_path)
    assert jobs_ == [] and blocked == {"eval-step": "step"}


def test_choose_peak_breaks_ties_towards_the_smaller_peak_and_counts_missing_as_zero():
    assert runner.choose_peak({0.4: [0.5, 0.7], 0.1: [0.6, 0.6], 0.2: [0.3, 0.9]}) == 0.1
    assert runner.choose_peak({0.1: [0.5, 0.5], 0.2: [float("nan"), 0.9]}) == 0.1


class UnreadTestAccuracy(dict):
    """An episode whose test accuracy must not be read."""

    def __getitem__(self, key: str) -> Any:
        if key == "test_acc":
            raise AssertionError("the test accuracy was read")
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


def test_best_schedule_is_chosen_on_validation_never_reading_test_accuracies():
    def schedule(name: str, peak: float, tuning: dict[str, list[float]]) -> stats.AgentRuns:
        episodes = [UnreadTestAccuracy(_episode(s, 0.0, 0.0)) for s in (1000, 1001)]
        return stats.AgentRuns(name, "schedule", episodes, peak_lr=peak, tuning=tuning)

    # On test, "onecycle" would win (its runs score 0.99); on validation "cosine" does (0.80).
    runs = {
        "cosine": schedule("cosine", 0.2, {"0.1": [0.6, 0.6], "0.2": [0.8, 0.8]}),
        "onecycle": schedule("onecycle", 0.4, {"0.4": [0.7, float("nan")]}),  # NaN counts as 0
    }
    assert stats.best_schedule(runs) == "cosine"
    tied = {**runs, "step": schedule("step", 0.1, {"0.1": [0.8, 0.8]})}
    assert stats.best_schedule(tied) == "cosine"  # ties go to the first in order
    with pytest.raises(ValueError, match="no tuning scores"):
        stats.best_schedule({"x": stats.AgentRuns("x", "schedule", [])})


def test_summary_takes_its_reference_from_validation_where_test_disagrees():
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE), schedules=("cosine", "onecycle"), train_seeds=(0,), bootstrap_reps=50
    )

    def evaluation(agent: str, tests: list[float], tuning: list[float]) -> dict[str, Any]:
        episodes = [_episode(1000 + i, t, 0.5) for i, t in enumerate(tests)]
        job = {
            "id": f"eval-{agent}",
            "kind": "evaluate",
            "agent": agent,
            "peak": 0.1,
            "tuning": {"0.1": tuning},
        }
        return {"job": job, "env_config": {"epochs": 1.0}, "episodes": episodes, "wall_s": 1.0, "machine": {}}

    records = [
        evaluation("cosine", [0.60, 0.62], [0.9]),  # better on validation, worse on test
        evaluation("onecycle", [0.95, 0.97], [0.5]),
        evaluation("random", [0.10, 0.30], [0.0]),
    ]
    summary = stats.summarize_runs(stats.runs_from_records(records, suite), suite, records)
    assert summary["best_schedule"] == "cosine"
    assert summary["agents"]["cosine"]["p_improvement_over_best_schedule"] is None
    assert summary["agents"]["onecycle"]["p_improvement_over_best_schedule"]["point"] == 1.0
    assert summary["agents"]["random"]["p_improvement_over_random"] is None
    assert summary["agents"]["cosine"]["p_improvement_over_random"]["point"] == 1.0  # 0.60, 0.62 > 0.10, 0.30
    assert summary["agents"]["cosine"]["normalised_score"]["iqm"]["point"] == pytest.approx(1.0)
    assert summary["agents"]["random"]["normalised_score"]["mean"]["point"] == pytest.approx(0.0)
    # onecycle's mean 0.96: (0.96 - 0.2) / (0.61 - 0.2) on the scale random = 0, cosine = 1
    assert summary["agents"]["onecycle"]["normalised_score"]["mean"]["point"] == pytest.approx(0.76 / 0.41)


# --- statistics: rliable's own code, two levels for learners -----------------------------------
def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(np.mean([3, 4, 5, 6]))
    assert stats.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    assert stats.iqm([10, 10, 10, 10, 1000, -1000, 10, 10]) == pytest.approx(10.0)  # outliers trimmed
    assert stats.mean(np.arange(1, 9)) == pytest.approx(4.5)


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_constant_scores_give_a_zero_width_interval_at_that_value(statistic):
    e = stats.interval([0.7] * 12, statistic, reps=500, seed=3)
    assert e.point == e.low == e.high == pytest.approx(0.7)


def _rliable(scores: np.ndarray, statistic: str, reps: int, seed: int, task_bootstrap: bool) -> tuple:
    aggregate = stats.AGGREGATES[statistic]
    np.random.seed(seed)
    points, intervals = library.get_interval_estimates(
        {"x": scores}, lambda s: np.array([aggregate(s)]), reps=reps, task_bootstrap=task_bootstrap
    )
    return points["x"][0], intervals["x"][0, 0], intervals["x"][1, 0]


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_intervals_are_rliables_stratified_bootstrap(statistic):
    x = np.array([0.2, 0.35, 0.4, 0.41, 0.5, 0.52, 0.6, 0.9, 0.95, 0.3])
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    ours = stats.interval(x, statistic, reps=1000, seed=0)
    assert np.array_equal(np.random.get_state()[1], before)  # numpy's global generator is restored
    assert (ours.point, ours.low, ours.high) == _rliable(x.reshape(-1, 1), statistic, 1000, 0, False)
    assert ours.low < ours.point < ours.high


# Three policies (training seeds) that differ, each run on 10 evaluation seeds (columns: policies).
POLICIES = np.array([[0.50, 0.70, 0.90]]) + np.linspace(-0.02, 0.02, 10).reshape(-1, 1)


def test_two_level_bootstrap_is_rliables_task_bootstrap_over_training_seeds():
    ours = stats.interval(POLICIES, "iqm", reps=1000, seed=4, two_level=True)
    assert (ours.point, ours.low, ours.high) == _rliable(POLICIES, "iqm", 1000, 4, True)


def test_two_level_bootstrap_with_one_evaluation_seed_per_policy_is_the_stratified_bootstrap_of_policies():
    policies = POLICIES[:1]  # (1 evaluation seed, 3 training seeds) ...
    flat = np.array([0.31, 0.5, 0.52, 0.7, 0.9, 0.93])  # ... and more policies:
    for scores in (policies, flat.reshape(1, -1)):
        two_level = stats.interval(scores, "iqm", reps=500, seed=7, two_level=True)
        runs = stats.interval(scores.ravel(), "iqm", reps=500, seed=7)
        assert (two_level.point, two_level.low, two_level.high) == (runs.point, runs.low, runs.high)
        assert two_level == stats.Estimate(*_rliable(scores.reshape(-1, 1), "iqm", 500, 7, False))


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_two_level_interval_is_wider_than_the_flat_one_where_policies_differ(statistic):
    two_level = stats.interval(POLICIES, statistic, reps=1000, seed=0, two_level=True)
    flat = stats.interval(POLICIES.ravel(), statistic, reps=1000, seed=0)
    assert two_level.point == pytest.approx(flat.point)
    assert two_level.high - two_level.low > 2 * (flat.high - flat.low)
    # Identical policies: the training-seed level adds nothing beyond resampling noise.
    same = np.repeat(POLICIES[:, :1], 3, axis=1)
    same_two = stats.interval(same, statistic, reps=1000, seed=0, two_level=True)
    same_flat = stats.interval(same.ravel(), statistic, reps=1000, seed=0)
    assert same_two.high - same_two.low < 1.5 * (same_flat.high - same_flat.low)


def test_two_level_resamples_draw_policies_then_evaluation_seeds_within_them():
    columns = np.array([[0.0, 10.0, 20.0]]) + np.arange(4).reshape(-1, 1)  # column j holds 10j .. 10j+3
    boot = stats.IndependentTwoLevelBootstrap(columns, columns, task_bootstrap=(True, False))
    with stats.seeded_global_rng(0):
        resamples = [pos for pos, _ in boot.bootstrap(200)]
    drawn_columns = set()
    for two_level, one_level in resamples:
        for j in range(3):
            (source,) = {int(v // 10) for v in two_level[:, j]}  # every run of a column from one policy
            drawn_columns.add((j, source))
            assert set(one_level[:, j] // 10) == {j}  # one level: runs resampled within their column
    assert {source for _, source in drawn_columns} == {0, 1, 2}
    assert any(j != source for j, source in drawn_columns)  # policies were resampled


def test_probability_of_improvement_on_hand_checkable_samples():
    # Pairs (2,1) (2,2) (3,1) (3,2): three wins and a tie -> 3.5 / 4.
    assert stats.probability_of_improvement([2, 3], [1, 2], reps=200, seed=0).point == pytest.approx(0.875)
    same = stats.probability_of_improvement([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], reps=200, seed=0)
    assert same.point == pytest.approx(0.5) and same.low < 0.5 < same.high
    dominant = stats.probability_of_improvement([5, 6, 7], [1, 2, 3], reps=200, seed=0)
    assert dominant.point == dominant.low == dominant.high == 1.0
    # The same U statistic scipy computes.
    x, y = [0.3, 0.9, 0.4, 0.8], [0.5, 0.6, 0.3]
    u = scipy.stats.mannwhitneyu(x, y, alternative="greater").statistic
    assert stats.probability_of_improvement(x, y, reps=10, seed=0).point == pytest.approx(u / 12)


def test_probability_of_improvement_of_a_learner_resamples_its_policies():
    reference = np.full(10, 0.6)  # a schedule between the policies: two of three beat it on every run
    two_level = stats.probability_of_improvement(POLICIES, reference, 500, 0, x_two_level=True)
    flat = stats.probability_of_improvement(POLICIES.ravel(), reference, 500, 0)
    assert two_level.point == flat.point == pytest.approx(2 / 3)
    # Resampled policies give 0, 1/3, 2/3 or 1 (with probabilities 1, 6, 12, 8 in 27).
    assert two_level.low <= 1 / 3 and two_level.high == 1.0
    assert two_level.high - two_level.low > 2 * (flat.high - flat.low)


def test_performance_profile_is_rliables_score_distribution():
    taus = np.linspace(0.4, 1.0, 13)
    profile, band = stats.performance_profile(POLICIES, taus, reps=200, seed=0, two_level=True)
    assert np.array_equal(profile, library.score_distributions(POLICIES, taus))
    assert (
        band.shape == (2, len(taus))
        and np.all(band[0] <= profile + 1e-12)
        and np.all(profile <= band[1] + 1e-12)
    )


def test_accuracy_at_a_fraction_of_the_budget_reads_the_closest_decision():
    episode = {"epoch": [0.5, 1.0, 1.5, 2.0], "val_acc": [0.1, 0.2, 0.3, 0.4, 0.5]}
    assert stats.acc_at_fraction(episode, 0.5, budget_epochs=2.0) == 0.3
    assert stats.acc_at_fraction(episode, 0.75, budget_epochs=2.0) == 0.4
    assert stats.acc_at_fraction(episode, 1.0, budget_epochs=2.0) == 0.5
    diverged = {"epoch": [0.5], "val_acc": [0.1, 0.2]}  # stopped after one decision
    assert stats.acc_at_fraction(diverged, 0.75, budget_epochs=2.0) == 0.2


def test_the_recorded_suites_still_summarise():
    """The records of benchmarks/results/<suite> read and summarise, and every recorded suite
    (each re-run at one clean commit) is sealed, current and of one code state."""
    for name in ("tiny", "fashion", "paper"):
        suite = dataclasses.replace(suites.SUITES[name], bootstrap_reps=20, budget_fractions=(1.0,))
        records = stats.load_records(suites.default_results_dir(suite))
        summary = stats.summarize_runs(stats.runs_from_records(records, suite), suite, records)
        p = summary["provenance"]
        assert records and all(_record.CHECKSUM_KEY in r for r in records)
        assert p["records_without_checksum"] == 0
        assert {r["fingerprint"] for r in records} == {suites.SUITES[name].fingerprint()}  # current
        assert len({(r["git_commit"], r["git_diff_sha256"]) for r in records}) == 1
        assert summary["best_schedule"] in suite.schedules


# --- suites -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(suites.SUITES))
def test_every_suite_keeps_evaluation_seeds_out_of_training(name):
    for suite in (suites.SUITES[name], suites.toy(suites.SUITES[name])):
        assert not set(suite.train_seeds) & set(suite.eval_seeds)
        assert suite.config().num_steps > 0  # the env kwargs form a valid config
        assert suites.suite_from_dict(suite.to_dict()) == suite


def test_suites_have_ten_evaluation_seeds_and_three_training_seeds_five_on_tiny():
    for suite in suites.SUITES.values():  # the "tasks" suites: tests/test_task_suites.py
        if suite.protocol != "tasks":
            assert len(suite.eval_seeds) == 10
            assert len(suite.train_seeds) == (5 if suite.name == "tiny" else 3), suite.name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (suites.AgentSpec("dqn", action_repeat=3), "action_repeat=3 does not divide train_steps=1000"),
        (suites.AgentSpec("dqn", action_repeat=0), "action_repeat=0: expected an integer >= 1"),
        (suites.AgentSpec("dqn", keep_signals=("lr",)), r"keep_signals=\('lr',\): expected None or names"),
        (suites.AgentSpec("dqn", keep_signals=()), r"keep_signals=\(\): expected None or names"),
    ],
)
def test_variant_wrappers_that_cannot_keep_the_budget_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(suites.TINY_SUITE, variants={**suites.TINY_SUITE.variants, "dqn-wrapped": spec})


def test_a_variant_without_wrappers_reads_as_before_they_existed():
    """Specs without wrappers keep the recorded suites' fingerprints (their dicts lack the keys)."""
    spec = suites.AgentSpec("dqn", {"action_mode": "schedule_relative_discrete"})
    assert spec.to_dict() == {"agent": "dqn", "env_kwargs": {"action_mode": "schedule_relative_discrete"}}
    wrapped = suites.AgentSpec("dqn", action_repeat=5, keep_signals=("progress",))
    suite = dataclasses.replace(
        suites.TINY_SUITE, variants={**suites.TINY_SUITE.variants, "dqn-wrapped": wrapped}
    )
    assert suites.suite_from_dict(suite.to_dict()) == suite
    assert suite.fingerprint() != suites.TINY_SUITE.fingerprint()
    assert suite.decisions("dqn-wrapped") == 200 and suite.decisions("dqn") == 1000


def test_overlapping_seeds_are_refused():
    with pytest.raises(ValueError, match="both training and evaluation"):
        dataclasses.replace(suites.TINY_SUITE, train_seeds=(0, 1000))


@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        ("runner", ["--suite", "tiny", "--gpus-per-job", "1"], "needs --ray"),
        ("runner", ["--suite", "tiny", "--ray", "--gpus-per-job", "-1"], "must be >= 0"),
        ("runner", ["--suite", "tiny", "--only", "nope"], "not in suite"),
        ("parallel", ["--only", "nope"], "not in suite 'tiny'"),
        ("parallel", ["--workers", "1"], "must be >= 2"),
        ("parallel", ["--suite", "nope"], "unknown suite"),
        ("runner", ["--suite", "tiny", "--workers", "0"], "--workers 0: must be >= 1"),
        ("runner", ["--suite", "nope"], "unknown suite"),
        ("score", ["--suite", "tiny", "--agent", "m:f", "--workers", "0"], "--workers 0: must be >= 1"),
        ("score", ["--suite", "nope", "--agent", "m:f"], "unknown suite"),
    ],
)
def test_bad_command_lines_name_the_problem(script, argv, message, capsys):
    module = importlib.import_module(f"benchmarks.{script}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# --- scoring someone else's agent (lrgym score) -----------------------------------------------------
class ConstantLRPolicy:
    """An agent that is not lrgym's: it explores at random while learning, then keeps the LR."""

    def __init__(self, env: Any, seed: int) -> None:
        self.env, self.rng, self.steps = env, np.random.default_rng(seed), 0

    def learn(self, total_steps: int, callback: Any = None) -> ConstantLRPolicy:
        obs, _ = self.env.reset(seed=int(self.rng.integers(1 << 30)))
        for _ in range(total_steps):
            obs, _, terminated, truncated, _ = self.env.step(int(self.rng.integers(self.env.action_space.n)))
            self.steps += 1
            if terminated or truncated:
                obs, _ = self.env.reset()
        return self

    def act(self, obs: np.ndarray, deterministic: bool = True) -> int:
        return 2  # x1.0 of the five multipliers: keep the learning rate

    def hyperparameters(self) -> dict[str, Any]:
        return {"action": 2}


def make_agent(env: Any, seed: int) -> ConstantLRPolicy:
    return ConstantLRPolicy(env, seed)


def make_greedy_agent(env: Any, seed: int) -> ConstantLRPolicy:
    """Takes one step more than its budget."""
    agent = ConstantLRPolicy(env, seed)
    learn = agent.learn
    agent.learn = lambda total_steps, callback=None: learn(total_steps + 1)
    return agent


def make_actless_agent(env: Any, seed: int) -> object:
    class Learner:
        def learn(self, total_steps: int, callback: Any = None) -> None:
            pass

    return Learner()


FACTORY = f"{__name__}:make_agent"


def test_lrgym_score_trains_and_evaluates_an_agent_beside_the_recorded_baselines(toy_run, tmp_path, capsys):
    from lrgym_agents import cli

    suite, out, _, _ = toy_run
    scored = tmp_path / "scored"
    argv = ["score", "--suite", "tiny", "--toy", "--agent", FACTORY, "--name", "mine"]
    cli.main([*argv, "--baselines", str(out), "--out", str(scored)])
    printed = capsys.readouterr().out
    (seed,) = suite.train_seeds
    record = _read(scored / "runs" / f"train_evaluate-mine-s{seed}.json")

    # The suite's protocol: its budget, training seed, held-out evaluation seeds, env config, records.
    assert record["training"]["steps_done"] == suite.train_steps
    assert len(record["training"]["episodes"]) == suite.train_steps // suite.config().num_steps
    assert [e["seed"] for e in record["episodes"]] == list(suite.eval_seeds)
    assert all(EPISODE_KEYS <= set(e) and set(e["lr"]) == {e["lr"][0]} for e in record["episodes"])
    configs = json.loads(json.dumps(suite.job_configs()))
    assert record["inputs"]["env_configs"] == {"learn": configs["learn"], "evaluate": configs["evaluate"]}
    assert record["inputs"]["hyperparameters"] == {"action": 2}
    assert record["inputs"]["agent_source"]["module_sha256"]
    assert record["fingerprint"] == suite.fingerprint() and _record.read_record(
        scored / "runs" / f"train_evaluate-mine-s{seed}.json"
    )
    runner_keys = set(_read(out / "runs" / f"eval-dqn-s{seed}.json")) | set(
        _read(out / "runs" / f"train-dqn-s{seed}.json")
    )
    assert {"inputs", "checksum", "training", "episodes"} <= set(record) <= runner_keys  # the runner's format

    # Its row beside the baselines, with the same statistics and the normalised score.
    summary = json.loads((scored / score.SCORE_JSON).read_text())
    assert list(summary["agents"]) == [
        *suite.learning_agents,
        "mine",
        *suite.schedules,
        "random",
        "random-relative",
    ]
    mine, best = summary["agents"]["mine"], summary["best_schedule"]
    assert (
        mine["kind"] == "learning" and mine["bootstrap_levels"] == 2 and mine["runs"] == len(suite.eval_seeds)
    )
    assert mine["p_improvement_over_best_schedule"] is not None
    iqm = {name: a["test_acc"]["iqm"]["point"] for name, a in summary["agents"].items()}
    if iqm[best] > iqm["random"]:  # the scale of the normalised score exists
        assert mine["normalised_score"]["iqm"] is not None
        assert summary["agents"]["random"]["normalised_score"]["iqm"]["point"] == pytest.approx(0.0)
        assert summary["agents"][best]["normalised_score"]["iqm"]["point"] == pytest.approx(1.0)
    else:  # on the toy budget random actions can beat every schedule: no scale, no score
        assert all(a["normalised_score"]["iqm"] is None for a in summary["agents"].values())
    assert summary["scored_agent"]["baselines_problem"] is None
    assert "| mine | learning |" in printed and f"| {best} (peak" in printed and "not re-run" in printed

    # Again: refused onto the same directory; with --resume nothing is retrained; without usable
    # baselines it says so and how to record them.
    with pytest.raises(SystemExit):
        cli.main([*argv, "--baselines", str(out), "--out", str(scored)])
    assert "--resume" in capsys.readouterr().err
    before = (scored / "runs" / f"train_evaluate-mine-s{seed}.json").read_bytes()
    result = score.score(
        "tiny",
        FACTORY,
        toy=True,
        name="mine",
        out_dir=scored,
        baselines_dir=tmp_path / "none",
        resume_run=True,
        log=lambda line: None,
    )
    assert (scored / "runs" / f"train_evaluate-mine-s{seed}.json").read_bytes() == before
    assert result.report.done == [] and list(result.summary["agents"]) == ["mine"]
    assert (
        "no recorded baselines" in result.baselines_problem
        and "python -m benchmarks.runner --suite tiny --toy" in result.table
    )


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("no_colon_here", "expected MODULE:FUNCTION"),
        ("no_such_module_anywhere:make_agent", "cannot import module 'no_such_module_anywhere'"),
        (f"{__name__}:no_such_factory", "has no attribute 'no_such_factory'"),
        (f"{__name__}:FACTORY", "is a str, not a callable"),
        (f"{__name__}:make_actless_agent", "without act(obs, deterministic=True)"),
    ],
)
def test_a_factory_that_cannot_make_an_agent_is_named_with_what_is_missing(
    factory, message, tmp_path, capsys
):
    assert score.main(["--suite", "tiny", "--toy", "--agent", factory, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any job


def test_an_agent_over_its_budget_fails_its_job(tmp_path):
    # 3 steps: no whole decision of the suite's 5-step variant, so the suite without it
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE), train_steps=3, variants=suites.RELATIVE_VARIANTS, learning_agents=()
    )
    job = runner.make_job(
        suite,
        tmp_path,
        "train_evaluate-greedy-s0",
        "train_evaluate",
        "greedy",
        factory=f"{__name__}:make_greedy_agent",
        train_seed=0,
    )
    result = jobs.run_job(job)
    assert result["status"] == "failed" and "more than 3 environment steps" in result["error"]
    assert not (tmp_path / "runs").exists()


def test_lrgym_score_outside_a_checkout_says_so(monkeypatch):
    from lrgym_agents import cli

    monkeypatch.setattr(cli, "checkout_root", lambda: None)
    monkeypatch.setitem(sys.modules, "benchmarks", None)  # as if benchmarks/ were not importable
    monkeypatch.setitem(sys.modules, "benchmarks.score", None)
    with pytest.raises(SystemExit, match="needs a checkout of the lrgym repository(.|\n)*pip install -e"):
        cli.main(["score", "--suite", "tiny", "--agent", FACTORY])


def test_the_readme_example_agent_is_the_example_file_and_fulfils_the_contract():
    root = Path(__file__).resolve().parent.parent
    example = (root / "examples" / "plain_policy_agent.py").read_text()
    code = example.split('"""', 2)[2].strip()
    assert code in (root / "README.md").read_text()  # the README shows the file, whole
    assert 20 <= len([line for line in code.splitlines() if line.strip()]) <= 32
    spec = "examples.plain_policy_agent:make_agent"
    suite = suites.toy(suites.TINY_SUITE)
    env = contract.BudgetedEnv(jobs.make_env(suite, "learn"), budget=suite.config().num_steps + 2)
    agent = contract.build(spec, env, seed=0)
    agent.learn(suite.config().num_steps + 2)  # an episode and a bit, then exactly the budget
    assert env.steps == suite.config().num_steps + 2 and len(env.episodes) == 1
    obs, _ = jobs.make_env(suite, "evaluate").reset(seed=1000)
    assert env.action_space.contains(agent.act(obs))


def test_normalised_score_is_undefined_where_the_best_schedule_does_not_beat_random():
    e = stats.Estimate(0.8, 0.7, 0.9)
    assert stats.normalised(e, zero=0.9, one=0.85) is None  # the scale would flip low and high
    assert stats.normalised(e, zero=0.9, one=0.9) is None
    n = stats.normalised(e, zero=0.6, one=1.0)
    assert (n.point, n.low, n.high) == pytest.approx((0.5, 0.25, 0.75))
