"""The suites of the "tasks" protocol (tinymix, mix): learning on train tasks only, tuning on
validation only, every evaluation on held-out test tasks and evaluation seeds, the statistics
against the distribution-wide and the per-task schedules, the suites' budgets; and the suite's
own agent names (variants), which the other protocols share."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rliable import metrics

from benchmarks import (
    _record,
    flops,
    jobs,
    runner,
    stats,
    suites,
    task_adaptation,
    task_jobs,
    task_plan,
    task_stats,
)
from lrgym import tasks as task_tables
from lrgym.config import OPTIMIZER_DEFAULT_LR


class CountingExecutor:
    """A serial executor that counts the jobs it is given."""

    def __init__(self) -> None:
        self.jobs: list[str] = []

    def map(self, fn, jobs_):
        for job in jobs_:
            self.jobs.append(job["id"])
            yield fn(job)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _runs(out: Path, prefix: str = "") -> dict[str, dict[str, Any]]:
    return {p.stem: _read(p) for p in sorted((out / "runs").glob(f"{prefix}*.json"))}


# --- the toy suite, end to end through the runner -----------------------------------------------
# Two of the toy's four learners, to keep this module's run near half a minute on 2 cores: the
# custom DQN in the discrete schedule-relative mode and an SB3 agent in the continuous one (the
# others only differ in the registry agent behind them; `python -m benchmarks.runner --suite
# tinymix --toy` runs all four).
TOY_LEARNERS = ("dqn-relative", "sb3-sac-relative")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    suite = dataclasses.replace(suites.toy(suites.TINYMIX_SUITE), learning_agents=TOY_LEARNERS)
    out = tmp_path_factory.mktemp("tinymix-toy")
    executor = CountingExecutor()
    report = runner.run_suite(suite, out, executor, log=lambda line: None)
    return suite, out, executor, report


def _expected_ids(suite: suites.Suite) -> set[str]:
    (seed,) = suite.train_seeds
    ids = {f"{kind}-{a}-s{seed}" for a in suite.learning_agents for kind in ("train", "eval")}
    ids |= {f"eval-{name}" for name in task_plan.schedule_names(suite)}
    ids |= {f"eval-{o}" for o in suite.tasks.tuning_free} | {
        f"eval-{r}" for r in task_plan.random_names(suite)
    }
    for task_set in ("train", "test"):
        for k in suites.task_indices(suite, task_set):
            for m in suite.tasks.multipliers:
                for s in task_plan.tuning_seeds(suite, task_set):
                    ids.add(task_plan.tune_id(suite, task_set, k, m, s))
    return ids


def test_toy_tinymix_runs_every_job_kind_once_with_sealed_records(toy_run):
    suite, out, executor, report = toy_run
    assert report.failed == {} and report.blocked == []
    expected = _expected_ids(suite)
    assert set(_runs(out)) == expected and sorted(executor.jobs) == sorted(expected)
    records = _runs(out)
    assert {r["job"]["kind"] for r in records.values()} == {"train", "evaluate", "tune"}
    for record in records.values():
        assert record["checksum"] == _record.checksum(record) and record["fingerprint"] == suite.fingerprint()
        assert record["cpu_s"] > 0 and record["job_fingerprint"] == jobs.inputs_fingerprint(record["inputs"])
    episodes = sum(len(r.get("episodes", [])) for r in records.values())
    count = suites.episode_count(suite)  # what the suite is sized by (learning: at least its steps)
    assert episodes == sum(count.values()) - count["train"]


def test_learning_agents_never_see_a_test_task(toy_run):
    suite, out, _, _ = toy_run
    dist = suites.task_distribution(suite)
    modes = {"dqn-relative": "schedule_relative_discrete", "dqn": "discrete"}
    modes |= {"sb3-ppo-relative": "schedule_relative", "sb3-sac-relative": "schedule_relative"}
    for job_id, record in _runs(out, "train-").items():
        config = record["env_config"]
        assert config["task_set"] == "train" and config["final_eval"] is False  # no test pass either
        assert config["action_mode"] == modes[record["job"]["agent"]]
        trained = record["training"]["episodes"]
        assert trained and record["training"]["steps_done"] >= suite.train_steps
        for episode in trained:
            assert episode["task"]["set"] == "train", job_id
            assert episode["task"]["overrides"] == dist.train[episode["task"]["index"]]
            assert episode["task"]["overrides"] not in dist.test


def test_every_evaluation_runs_the_test_tasks_on_evaluation_seeds(toy_run):
    suite, out, _, _ = toy_run
    dist = suites.task_distribution(suite)
    tests = suites.task_indices(suite, "test")
    runs = {(k, s) for k in tests for s in suite.eval_seeds}
    for record in _runs(out, "eval-").values():
        job = record["job"]
        assert record["env_config"]["task_set"] == "test"
        assert {(e["task"], e["seed"]) for e in record["episodes"]} == runs
        assert len(record["episodes"]) == len(runs)
        for e in record["episodes"]:
            info = e["task_info"]
            if job["agent"] in suite.tasks.tuning_free:  # the test task with its optimiser replaced
                lr = OPTIMIZER_DEFAULT_LR[job["agent"]]
                assert info["set"] is None
                assert info["overrides"] == {
                    **dist.test[e["task"]],
                    "optimizer": job["agent"],
                    "initial_lr": lr,
                }
                assert e["lr"][0] == pytest.approx(lr, rel=1e-5)  # constant or cosine from the LR 1.0
            else:
                assert info["set"] == "test" and info["overrides"] == dist.test[e["task"]]
    relative = _runs(out, "eval-random-relative")["eval-random-relative"]
    assert relative["env_config"]["action_mode"] == "schedule_relative_discrete"


def test_tuning_runs_use_tuning_seeds_on_their_own_task_set(toy_run):
    suite, out, _, _ = toy_run
    for record in _runs(out, "tune-").values():
        job = record["job"]
        (episode,) = record["episodes"]
        assert episode["seed"] in task_plan.tuning_seeds(suite, job["task_set"])
        assert episode["seed"] not in suite.eval_seeds
        assert episode["task_info"]["set"] == job["task_set"] and episode["task"] == job["task"]
        initial = suites.task_initial_lr(suite, job["task_set"], job["task"])
        assert episode["lr"][0] == pytest.approx(job["multipliers"][str(job["task"])] * initial, rel=1e-5)


def test_toy_summary_reports_the_protocol_statistics(toy_run):
    suite, out, _, _ = toy_run
    summary = _read(out / "summary.json")
    names = task_plan.agent_names(suite)
    assert list(summary["agents"]) == names and summary["protocol"] == "tasks"
    assert summary["reference"] in ("cosine-single", "cosine-per-optimizer")
    assert summary["per_task_best"] == "cosine-per-task" and summary["target"] == task_stats.TARGET
    tests = [str(k) for k in suites.task_indices(suite, "test")]
    assert list(summary["test_tasks"]) == tests and list(summary["per_task"]) == tests
    assert summary["costs"] == {
        "rl_episodes_per_training_seed": suites.rl_episodes(suite),
        "per_task_tuning_episodes_per_test_task": suites.per_task_tuning_episodes(suite),
        "per_task_tuning_episodes": suites.per_task_tuning_episodes(suite) * len(tests),
    }
    for name, a in summary["agents"].items():
        assert a["kind"] == task_plan.agent_kind(suite, name)
        for e in (*a["test_acc"].values(), *a["acc_at_budget"].values()):
            assert e["low"] <= e["point"] <= e["high"]
        assert {"0.5", "0.75", "1"} == set(a["acc_at_budget"])
        assert set(a["p_improvement"]) == {"cosine-single", "cosine-per-optimizer"} - {name}
        assert set(a["normalised_score"]) == {"cosine-single", "cosine-per-optimizer"}
        assert (a["target"] is not None) == (a["kind"] == "learning")
    table = (out / "summary.md").read_text()
    assert "normalised score" in table and "P(improvement over cosine-single)" in table
    assert "| agent | task 0 |" in table and "Target: a learned controller" in table
    assert all(f"| {name}" in table for name in names)
    with (out / "summary.csv").open() as f:
        assert len(list(csv.reader(f))) == 1 + len(names)
    assert {p.name for p in (out / "plots").glob("*.png")} == {"interval_estimates.png", "lr_multiples.png"}


def test_effective_multipliers_read_back_each_schedules_chosen_multiplier(toy_run):
    suite, out, _, _ = toy_run
    summary = _read(out / "summary.json")
    result = task_adaptation.adaptation(stats.load_records(out), suite, summary)
    per_task = {str(k): v for k, v in summary["choices"]["per_task"].items()}
    assert result["per_task_best_multiplier"] == per_task
    cosine = result["agents"]["cosine-per-task"]["median_effective_multiplier"]
    assert cosine == pytest.approx(per_task, rel=1e-2)  # a cosine at M x the task's LR reads back M
    single = result["agents"]["cosine-single"]["median_effective_multiplier"]
    assert list(single.values()) == pytest.approx([summary["choices"]["single"]] * len(single), rel=1e-2)
    assert not set(suites.TUNING_FREE) & set(result["agents"])  # their LR is not their step size
    assert result["largest_relative_factor"] == 4.0
    table = task_adaptation.markdown(result)
    assert all(f"| {name} |" in table for name in result["agents"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--suite", "nope"], "unknown suite 'nope'; suites are"),
        (["--suite", "tiny"], "protocol 'standard'; this reads suites of protocol 'tasks'"),
        (
            ["--suite", "tinymix", "--toy", "--results-dir", "{tmp}"],
            "summary.json does not exist: run the suite first",
        ),
    ],
)
def test_task_adaptation_usage_errors_name_the_problem(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        task_adaptation.main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_second_run_resumes_without_running_a_job(toy_run):
    suite, out, _, _ = toy_run
    executor = CountingExecutor()
    report = runner.run_suite(suite, out, executor, report=False, log=lambda line: None)
    assert executor.jobs == [] and len(report.skipped) == len(_expected_ids(suite))


def test_only_runs_the_jobs_an_agent_needs(toy_run, tmp_path):
    suite, out, _, _ = toy_run
    copy = tmp_path / "copy"
    (copy / "runs").mkdir(parents=True)
    for name, record in _runs(out).items():
        if not name.startswith(("eval-cosine", "tune-cosine-test")):
            (copy / "runs" / f"{name}.json").write_text(json.dumps(record))
    executor = CountingExecutor()
    runner.run_suite(suite, copy, executor, only=["cosine-per-task"], report=False, log=lambda line: None)
    tunes = {i for i in _expected_ids(suite) if i.startswith("tune-cosine-test")}
    assert set(executor.jobs) == tunes | {"eval-cosine-per-task"}


# --- choices read validation, never test ----------------------------------------------------------
def _choice_suite() -> suites.Suite:
    return suites.toy(suites.TINYMIX_SUITE)  # train tasks 0 (SGD), 8 (Adam); test tasks 0 (SGD), 4 (Adam)


def _write_tune(
    out: Path, suite: suites.Suite, task_set: str, task: int, m: float, val: float, test: float
) -> None:
    (seed,) = task_plan.tuning_seeds(suite, task_set)
    job = {
        "id": task_plan.tune_id(suite, task_set, task, m, seed),
        "kind": "tune",
        "agent": "cosine",
        "task_set": task_set,
        "task": task,
        "multipliers": {str(task): m},
        "train_seed": seed,
        "command": [],
    }
    episode = {
        "seed": seed,
        "test_acc": test,
        "full_val_acc": val,
        "val_acc": [0.1, val],
        "lr": [m],
        "epoch": [1.0],
        "diverged": False,
        "task": task,
    }
    body = {"env_config": suite.config().to_dict(), "episodes": [episode]}
    record = _record.job_record(job, suite.to_dict(), suite.fingerprint(), _record.JobClock(), body)
    _record.write_record(out / "runs" / f"{job['id']}.json", record)


# (task set, task) -> {multiplier: (full-validation accuracy, test accuracy)}: validation and
# test disagree everywhere, so any choice that read the test set would come out otherwise.
DISAGREEING = {
    ("train", 0): {1.0: (0.9, 0.1), 2.0: (0.5, 0.99)},  # SGD train task: x1 on validation
    ("train", 8): {1.0: (0.2, 0.99), 2.0: (0.4, 0.1)},  # Adam train task: x2 on validation
    ("test", 0): {1.0: (0.3, 0.99), 2.0: (0.8, 0.1)},  # SGD test task: x2 on validation
    ("test", 4): {1.0: (0.7, 0.1), 2.0: (0.6, 0.99)},  # Adam test task: x1 on validation
}


def test_every_multiplier_is_chosen_on_validation_where_the_test_set_disagrees(tmp_path):
    suite = _choice_suite()
    for (task_set, task), grid in DISAGREEING.items():
        for m, (val, test) in grid.items():
            _write_tune(tmp_path, suite, task_set, task, m, val, test)
    planned, blocked = task_plan.stage2_jobs(dataclasses.replace(suite, learning_agents=()), tmp_path)
    assert blocked == {}
    chosen = {j["agent"]: j["multipliers"] for j in planned}
    # Pooled over the train tasks: x1 0.55, x2 0.45 -> x1. Per optimiser: SGD x1, Adam x2.
    assert chosen["cosine-single"] == {"0": 1.0, "4": 1.0}
    assert chosen["cosine-per-optimizer"] == {"0": 1.0, "4": 2.0}
    assert chosen["cosine-per-task"] == {"0": 2.0, "4": 1.0}
    peaks = {j["agent"]: j["peaks"] for j in planned}
    assert peaks["cosine-per-task"] == {"0": pytest.approx(0.2), "4": pytest.approx(1e-3)}
    # The reference: per optimiser scores 0.65 on the train tasks' validation, single 0.55.
    records = list(_runs(tmp_path).values())
    reference, made = task_stats.reference_choice(task_stats.validation_tables(records, suite), suite)
    assert reference == "cosine-per-optimizer"
    assert made["train_task_validation"] == {
        "single": pytest.approx(0.55),
        "per-optimizer": pytest.approx(0.65),
    }


def test_schedule_evaluations_wait_for_every_tune_run(tmp_path):
    suite = _choice_suite()
    _write_tune(tmp_path, suite, "train", 0, 1.0, 0.5, 0.5)
    planned, blocked = task_plan.stage2_jobs(dataclasses.replace(suite, learning_agents=()), tmp_path)
    assert planned == [] and set(blocked) == {f"eval-{n}" for n in task_plan.schedule_names(suite)}


# --- the statistics on hand-made runs -----------------------------------------------------------
def test_normalised_score_is_the_ratio_of_mean_gaps_with_a_paired_interval():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.3, 0.9, size=(40, 1))  # 8 tasks x 5 seeds of very different difficulty
    top = reference + rng.uniform(0.0, 0.2, size=(40, 1))
    halfway = reference + 0.5 * (top - reference)
    score = task_stats.normalised_score(halfway, reference, top, reps=300, seed=0)
    assert score is not None and score.point == pytest.approx(0.5)
    # Paired resampling: every resample keeps the agent halfway, whatever tasks it draws.
    assert (score.low, score.high) == (pytest.approx(0.5), pytest.approx(0.5)) and score.undefined_share == 0
    assert task_stats.normalised_score(reference, reference, top, 300, 0).point == pytest.approx(0.0)
    assert task_stats.normalised_score(top, reference, top, 300, 0).point == pytest.approx(1.0)
    # (0.8 - 0.7) / (0.9 - 0.7): on aggregates, not per run.
    x, ref, best = np.array([[0.7], [0.9]]), np.array([0.6, 0.8]), np.array([0.9, 0.9])
    assert task_stats.normalised_value(x, ref, best) == pytest.approx(0.5)
    assert task_stats.normalised_score(x, ref, ref, 100, 0) is None  # no gap between the baselines


def test_normalised_score_of_a_learner_resamples_its_training_seeds():
    reference, top = np.zeros((10, 1)), np.ones((10, 1))
    policies = np.repeat(np.array([[0.1, 0.5, 0.9]]), 10, axis=0)  # three policies: 0.1, 0.5, 0.9
    two_level = task_stats.normalised_score(policies, reference, top, 500, 0, two_level=True)
    assert two_level.point == pytest.approx(0.5)
    assert two_level.low < 0.3 and two_level.high > 0.7  # which policies were drawn matters
    one_level = task_stats.normalised_score(policies, reference, top, 500, 0, two_level=False)
    assert one_level.low == pytest.approx(0.5) == one_level.high  # runs alone: every column kept


def test_probability_of_improvement_averages_over_test_tasks():
    # An easy and a hard task, 4 seeds each; the agent is a little better on both.
    easy, hard = np.array([0.90, 0.91, 0.92, 0.93]), np.array([0.10, 0.11, 0.12, 0.13])
    y = np.stack([easy, hard], axis=1)[:, :, None]  # (seeds, tasks, 1)
    x = (np.stack([easy, hard], axis=1) + 0.05)[:, :, None]
    p = task_stats.probability_of_improvement(x, y, reps=200, seed=0)
    assert p.point == pytest.approx(metrics.probability_of_improvement(x[:, :, 0], y[:, :, 0]))
    assert p.point > 0.85  # per task; pooling runs across the two tasks would give about 0.6
    # A learner's runs of each task: its evaluation seeds of every training seed together.
    learner = np.concatenate([x, y], axis=2)  # policy 0 better, policy 1 equal to y
    two = task_stats.probability_of_improvement(learner, y, reps=300, seed=0, x_two_level=True)
    expected = metrics.probability_of_improvement(task_stats.per_task(learner), y[:, :, 0])
    assert two.point == pytest.approx(expected) and two.low < expected < two.high


def test_the_vectorised_probability_of_improvement_is_rliables():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(size=(15, 8)), rng.uniform(size=(5, 8))
    coarse_x, coarse_y = np.round(x, 1), np.round(y, 1)  # many ties across the two sides
    coarse_y[:, 2] = coarse_x[:5, 2]  # some runs equal, others not
    for a, b in (
        (x, y),
        (coarse_x, coarse_y),
        (y, x),
        (coarse_x, coarse_x),
        (coarse_x[:, :1], coarse_y[:, :1]),
    ):
        assert task_stats.average_improvement(a, b) == pytest.approx(metrics.probability_of_improvement(a, b))
    assert task_stats.average_improvement(coarse_x, coarse_x) == 0.5  # rliable's value for equal runs
    nan = x.copy()
    nan[0, 3] = np.nan
    assert math.isnan(task_stats.average_improvement(nan, y)) and math.isnan(
        metrics.probability_of_improvement(nan, y)
    )


def test_runs_of_an_agent_must_cover_every_test_task_and_seed():
    suite = _choice_suite()
    runs = task_stats.TaskRuns("cosine-single", "schedule")
    runs.episodes = [{"seed": suite.eval_seeds[0], "task": 0, "train_seed": None, "test_acc": 0.5}]
    with pytest.raises(ValueError, match="1 of its 2 runs"):
        runs.scores(suite)
    runs.episodes *= 2
    with pytest.raises(ValueError, match="repeated"):
        runs.scores(suite)


# --- the suites -------------------------------------------------------------------------------
def test_tinymix_trains_for_what_tuning_per_test_task_costs_within_its_cpu_budget():
    suite = suites.TINYMIX_SUITE
    tests = len(suites.task_indices(suite, "test"))
    assert suites.per_task_tuning_episodes(suite) == 14 and tests == 8
    assert suites.rl_episodes(suite) == suites.per_task_tuning_episodes(suite) * tests == 112
    count = suites.episode_count(suite)
    assert sum(count.values()) == 2368 and "2,368 episodes" in suite.expected_time
    assert sum(count.values()) * suites.TINYMIX_EPISODE_CPU_S / 3600 <= 3.5
    assert len(suite.eval_seeds) * tests == 40 and len(suite.train_seeds) == 3


def test_mix_time_is_the_flop_estimate_and_says_so():
    suite = suites.MIX_SUITE
    assert suites.rl_episodes(suite) == suites.per_task_tuning_episodes(suite) * len(task_tables.MIX.test)
    assert suite.expected_time.startswith("estimate, not a measurement")
    assert f"{sum(suites.episode_count(suite).values()):,} episodes" in suite.expected_time
    hours = [flops.estimate_task_hours(suite, rate) for rate in flops.SUSTAINED_TFLOPS]
    assert (
        f"about {hours[0]:.0f} h" in suite.expected_time and f"{hours[1]:.0f} h at 100" in suite.expected_time
    )
    wrn = suites.task_distribution(suite).test[0]
    cfg = task_tables.task_config(suite.config(), wrn)
    assert flops.forward_gflop(cfg) > 0 and flops.episode_gflop(cfg) > flops.forward_gflop(cfg)


@pytest.mark.parametrize("name", ["tinymix", "mix"])
def test_task_suites_hold_every_seed_of_tuning_out_of_evaluation(name):
    for suite in (suites.SUITES[name], suites.toy(suites.SUITES[name])):
        p = suite.tasks
        assert not (set(p.train_task_seeds) | set(p.test_task_seeds) | set(suite.train_seeds)) & set(
            suite.eval_seeds
        )
        assert suites.suite_from_dict(json.loads(json.dumps(suite.to_dict()))) == suite
        assert set(task_plan.agent_names(suite)) == set(runner.agent_names(suite))


def test_the_fingerprint_covers_the_task_tables(monkeypatch):
    suite = suites.TINYMIX_SUITE
    before = suite.fingerprint()
    dist = task_tables.TINYMIX
    changed = dataclasses.replace(dist, test=(*dist.test[:-1], {**dist.test[-1], "weight_decay": 0.0}))
    monkeypatch.setitem(task_tables.DISTRIBUTIONS, "tinymix", changed)
    assert suite.fingerprint() != before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tasks": None}, "go together"),
        (
            {"tasks": dataclasses.replace(suites.TINYMIX_SUITE.tasks, test_task_seeds=(1000,))},
            "both tuning and evaluation seeds",
        ),
        ({"variants": {"dqn": suites.AgentSpec("dqn")}}, "a name of its own"),
        ({"random_variants": ("dqn-relative",)}, "no variant of 'random'"),
        ({"peak_grid": (0.1,)}, "leave schedules and peak_grid empty"),
        ({"env_id": "LRTuning-Tiny-v0"}, "needs an env with a task distribution"),
    ],
)
def test_a_task_suite_that_cannot_run_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(suites.TINYMIX_SUITE, **change)


def test_a_fixed_task_suite_can_name_variants_and_random_variants(tmp_path):
    suite = dataclasses.replace(
        suites.toy(suites.TINY_SUITE),
        learning_agents=("dqn-relative",),
        variants={
            "dqn-relative": suites.AgentSpec("dqn", suites.RELATIVE_DISCRETE),
            "random-relative": suites.AgentSpec("random", suites.RELATIVE_DISCRETE),
        },
        random_variants=("random-relative",),
        agent_kwargs={"dqn-relative": {"gamma": 0.5}},
    )
    ids = {j["id"] for j in runner.stage1_jobs(suite, tmp_path)}
    assert {"train-dqn-relative-s0", "eval-random", "eval-random-relative"} <= ids
    env = jobs.make_env(suite, "learn", "dqn-relative")
    assert env.unwrapped.config.action_mode == "schedule_relative_discrete"
    job = runner.make_job(suite, tmp_path, "train-dqn-relative-s0", "train", "dqn-relative", train_seed=0)
    agent = jobs.build_agent(job, suite, env)
    assert type(agent).__name__ == "DQNAgent" and agent.hyperparameters()["gamma"] == 0.5
    assert jobs.make_env(suite, "schedule", "dqn-relative").unwrapped.config.action_mode == "absolute"
    assert set(runner.agent_names(suite)) >= {"dqn-relative", "random", "random-relative"}


def test_a_pinned_task_wrapper_pins_every_reset():
    env = jobs.make_env(suites.toy(suites.TINYMIX_SUITE), "evaluate")
    pinned = task_jobs.PinnedTask(env, 3)
    for seed in (1, 2):
        _, info = pinned.reset(seed=seed)
        assert info["task"]["set"] == "test" and info["task"]["index"] == 3
    overrides = suites.tuning_free_task(suites.TINYMIX_SUITE, 3, "prodigy")
    _, info = task_jobs.PinnedTask(env, overrides).reset(seed=1)
    assert info["task"]["overrides"] == overrides and info["lr"] == 1.0 and not math.isnan(info["val_acc"])
