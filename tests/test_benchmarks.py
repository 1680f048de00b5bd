"""The agent-comparison benchmark: runner, resumption, tuning without the test set, statistics."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from benchmarks import runner, stats, suites

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
    expected |= {f"eval-{s}" for s in suite.schedules} | {"eval-random"}
    assert {p.stem for p in (out / "runs").glob("*.json")} == expected
    assert sorted(executor.jobs) == sorted(expected)  # each job ran exactly once

    for path in (out / "runs").glob("*.json"):
        record = _read(path)
        assert record["fingerprint"] == suite.fingerprint()
        assert record["suite"]["name"] == suite.name
        assert record["git_commit"] and record["machine"]["cpu_count"] >= 1
        assert record["wall_s"] > 0
        for episode in record.get("episodes", []):
            assert EPISODE_KEYS <= set(episode)
            assert len(episode["lr"]) == len(episode["epoch"]) == len(episode["val_acc"]) - 1
            assert 0.0 <= episode["test_acc"] <= 1.0

    for agent in suite.learning_agents:
        train = _read(out / "runs" / f"train-{agent}-s{seed}.json")
        assert train["training"]["steps_done"] >= suite.train_steps
        assert train["env_config"]["final_eval"] is False  # learning never evaluates on the test set
        assert (out / "models" / f"{agent}-s{seed}" / "agent.json").is_file()
        evaluation = _read(out / "runs" / f"eval-{agent}-s{seed}.json")
        assert [e["seed"] for e in evaluation["episodes"]] == list(suite.eval_seeds)
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
    names = {*suite.learning_agents, *suite.schedules, "random"}
    assert set(summary["agents"]) == names
    assert summary["best_schedule"] in suite.schedules
    for name, a in summary["agents"].items():
        runs = len(suite.eval_seeds) * (len(suite.train_seeds) if name in suite.learning_agents else 1)
        assert a["runs"] == runs
        for metric in ("iqm", "mean"):
            e = a["test_acc"][metric]
            assert e["low"] <= e["point"] <= e["high"]
        assert (a["p_improvement_over_best_schedule"] is None) == (name == summary["best_schedule"])
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


def test_runner_refuses_files_of_another_suite_configuration(toy_run):
    suite, out, _, _ = toy_run
    changed = dataclasses.replace(suite, peak_grid=(0.3,))
    assert changed.fingerprint() != suite.fingerprint()
    with pytest.raises(SystemExit, match="another configuration"):
        runner.run_suite(changed, out, CountingExecutor(), report=False, log=lambda line: None)


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


# --- tuning reads validation accuracy only ------------------------------------------------------
def _write_tune(
    out: Path, schedule: str, peak: float, seed: int, full_val: float, test: float | None
) -> None:
    episode = {"seed": seed, "full_val_acc": full_val}
    if test is not None:
        episode["test_acc"] = test
    runner.write_json_atomic(
        out / "runs" / f"{runner.tune_id(schedule, peak, seed)}.json", {"episodes": [episode]}
    )


@pytest.mark.parametrize("with_test_acc", [True, False])
def test_peak_is_chosen_by_validation_accuracy_where_test_accuracy_disagrees(tmp_path, with_test_acc):
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE), schedules=("cosine",), peak_grid=(0.1, 0.2, 0.4), train_seeds=(0, 1)
    )
    # Validation prefers 0.2; the test set would prefer 0.4 (and 0.1 over 0.2).
    full_val = {0.1: (0.60, 0.62), 0.2: (0.80, 0.78), 0.4: (0.50, 0.52)}
    test = {0.1: 0.85, 0.2: 0.40, 0.4: 0.95}
    for peak, vals in full_val.items():
        for seed, v in zip(suite.train_seeds, vals, strict=True):
            _write_tune(tmp_path, "cosine", peak, seed, v, test[peak] if with_test_acc else None)
    table = runner.tuning_scores(tmp_path, "cosine", suite.peak_grid, suite.train_seeds)
    assert table == {p: list(v) for p, v in full_val.items()}
    assert runner.choose_peak(table) == 0.2
    jobs, blocked = runner.stage2_jobs(dataclasses.replace(suite, learning_agents=()), tmp_path)
    assert blocked == {} and [(j["id"], j["peak"]) for j in jobs] == [("eval-cosine", 0.2)]


def test_schedule_evaluation_waits_for_all_its_tuning_runs(tmp_path):
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE),
        learning_agents=(),
        schedules=("step",),
        peak_grid=(0.1, 0.2),
        train_seeds=(0,),
    )
    _write_tune(tmp_path, "step", 0.1, 0, 0.7, 0.7)
    jobs, blocked = runner.stage2_jobs(suite, tmp_path)
    assert jobs == [] and blocked == {"eval-step": "step"}


def test_choose_peak_breaks_ties_towards_the_smaller_peak_and_counts_missing_as_zero():
    assert runner.choose_peak({0.4: [0.5, 0.7], 0.1: [0.6, 0.6], 0.2: [0.3, 0.9]}) == 0.1
    assert runner.choose_peak({0.1: [0.5, 0.5], 0.2: [float("nan"), 0.9]}) == 0.1


# --- statistics on hand-checkable numbers -------------------------------------------------------
def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(np.mean([3, 4, 5, 6]))
    assert stats.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    assert stats.iqm([10, 10, 10, 10, 1000, -1000, 10, 10]) == pytest.approx(10.0)  # outliers trimmed
    assert stats.mean(np.arange(1, 9)) == pytest.approx(4.5)


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_constant_scores_give_a_zero_width_interval_at_that_value(statistic):
    e = stats.interval([0.7] * 12, statistic, reps=500, seed=3)
    assert e.point == e.low == e.high == pytest.approx(0.7)


def test_bootstrap_interval_matches_a_seeded_reimplementation():
    x = np.array([0.61, 0.64, 0.70, 0.71, 0.72, 0.75, 0.80, 0.93])
    reps, seed = 4000, 11
    got = stats.interval(x, "iqm", reps=reps, seed=seed)

    # Resample runs with replacement (indices drawn as one array), trim 25% each side, percentiles.
    idx = np.random.default_rng(seed).integers(0, len(x), size=(reps, len(x), 1))[:, :, 0]
    boot = [np.sort(x[row])[2:6].mean() for row in idx]
    low, high = np.percentile(boot, [2.5, 97.5])
    assert got.point == pytest.approx(x[2:6].mean())
    assert (got.low, got.high) == pytest.approx((low, high))
    assert got.low < got.point < got.high
    mean = stats.interval(x, "mean", reps=reps, seed=seed)
    assert (mean.low, mean.high) == pytest.approx(tuple(np.percentile(x[idx].mean(axis=1), [2.5, 97.5])))


def test_bootstrap_interval_agrees_with_rliable_where_rliable_imports():
    try:
        from rliable import library
    except (
        ImportError,
        TypeError,
    ) as exc:  # rliable.library needs arch; arch 7 fails to import with pandas 3
        pytest.skip(f"rliable.library does not import here: {type(exc).__name__}: {exc}")
    x = np.array([0.2, 0.35, 0.4, 0.41, 0.5, 0.52, 0.6, 0.9, 0.95, 0.3])
    np.random.seed(0)
    _, theirs = library.get_interval_estimates(
        {"a": x.reshape(-1, 1)}, lambda s: np.array([stats.iqm(s)]), reps=5000
    )
    ours = stats.interval(x, "iqm", reps=5000, seed=0)
    assert (ours.low, ours.high) == pytest.approx((theirs["a"][0, 0], theirs["a"][1, 0]), abs=0.03)


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


def test_accuracy_at_a_fraction_of_the_budget_reads_the_closest_decision():
    episode = {"epoch": [0.5, 1.0, 1.5, 2.0], "val_acc": [0.1, 0.2, 0.3, 0.4, 0.5]}
    assert stats.acc_at_fraction(episode, 0.5, budget_epochs=2.0) == 0.3
    assert stats.acc_at_fraction(episode, 0.75, budget_epochs=2.0) == 0.4
    assert stats.acc_at_fraction(episode, 1.0, budget_epochs=2.0) == 0.5
    diverged = {"epoch": [0.5], "val_acc": [0.1, 0.2]}  # stopped after one decision
    assert stats.acc_at_fraction(diverged, 0.75, budget_epochs=2.0) == 0.2


def test_best_schedule_is_chosen_by_iqm_not_by_mean():
    def runs(name: str, scores: list[float]) -> stats.AgentRuns:
        return stats.AgentRuns(name, "schedule", [{"test_acc": s} for s in scores])

    skewed = runs("skewed", [0.1, 0.1, 0.5, 0.5, 0.5, 0.5, 0.99, 0.99])  # mean 0.52, IQM 0.5
    steady = runs("steady", [0.4, 0.4, 0.51, 0.51, 0.51, 0.51, 0.52, 0.52])  # mean 0.485, IQM 0.51
    assert np.mean(skewed.scores()) > np.mean(steady.scores())
    assert stats.best_schedule({"skewed": skewed, "steady": steady}) == "steady"


# --- suites -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(suites.SUITES))
def test_every_suite_keeps_evaluation_seeds_out_of_training(name):
    for suite in (suites.SUITES[name], suites.toy(suites.SUITES[name])):
        assert not set(suite.train_seeds) & set(suite.eval_seeds)
        assert suite.config().num_steps > 0  # the env kwargs form a valid config
        assert suites.suite_from_dict(suite.to_dict()) == suite


def test_suites_have_ten_evaluation_seeds_and_three_training_seeds():
    for suite in suites.SUITES.values():
        assert len(suite.eval_seeds) == 10 and len(suite.train_seeds) == 3


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
    ],
)
def test_bad_command_lines_name_the_problem(script, argv, message, capsys):
    module = importlib.import_module(f"benchmarks.{script}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
