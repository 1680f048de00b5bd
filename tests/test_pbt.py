"""The PBT baseline end to end on the toy suite: search, lineage, schedule, evaluation, statistics.

One PBT run (population 2, 2 perturbation intervals of 5 decisions) on the toy suite's training
seed, on a local Ray instance with two CPUs. With two members, synchronous PBT always makes the
worse one copy the better one after the first interval, so exploitation is checked, not hoped for.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch

from benchmarks import _record, pbt, resume, stats, suites
from benchmarks._record import code_state
from benchmarks.ray_executor import RayExecutor
from lrgym.layout import episode_trainer_seed
from lrgym_agents.evaluation import run_episode

pytest.importorskip("ray.tune")

SETTINGS = pbt.PBTSettings(population=2, intervals=2)


@pytest.fixture(scope="module")
def suite() -> suites.Suite:
    return suites.get_suite("tiny", toy_version=True)


@pytest.fixture(scope="module")
def pbt_run(tmp_path_factory: pytest.TempPathFactory, suite: suites.Suite) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("pbt")
    results, storage = out / "results", out / "storage"
    executor = RayExecutor(num_cpus=2, init_kwargs={"include_dashboard": False, "log_to_driver": False})
    summary = pbt.run(suite, results, SETTINGS, storage=storage, executor=executor, log=lambda line: None)
    (seed,) = suite.train_seeds
    search = json.loads((results / "runs" / f"pbt-s{seed}.json").read_text())
    evaluation = json.loads((results / "runs" / f"eval-pbt-s{seed}.json").read_text())
    return {"results": results, "summary": summary, "search": search, "eval": evaluation, "seed": seed}


def test_checkpoints_at_every_interval(pbt_run: dict[str, Any], suite: suites.Suite) -> None:
    found = pbt_run["search"]["pbt"]
    steps = suite.config().num_steps
    assert found["decisions_per_interval"] == 5 and steps == 10
    assert len(found["members"]) == SETTINGS.population
    for member in found["members"]:
        reports = member["reports"]
        assert [r["decisions"] for r in reports] == [5, 10]  # one report per interval ...
        assert all(r["checkpoint"] for r in reports)  # ... each with its checkpoint
        final = Path(member["final_checkpoint"])
        assert (final / pbt.TRAINER_FILE).is_file()
        saved = json.loads((final / pbt.LINEAGE_FILE).read_text())
        assert len(saved["lineage"]) == steps and saved["lineage"] == member["lineage"]
        state = torch.load(final / pbt.TRAINER_FILE, weights_only=True)
        assert state["batches_done"] == suite.config().total_batches  # the whole budget was trained
        if all(step["trial"] == member["trial"] for step in member["lineage"]):  # never exploited:
            trial_dir = final.parent  # both of its checkpoints are still there
            kept = sorted(p.name for p in trial_dir.glob("checkpoint_*"))
            assert len(kept) == SETTINGS.intervals
            first = json.loads((trial_dir / kept[0] / pbt.LINEAGE_FILE).read_text())
            assert len(first["lineage"]) == 5


def test_exploitation_happened_and_lineages_match_the_reports(
    pbt_run: dict[str, Any], suite: suites.Suite
) -> None:
    found = pbt_run["search"]["pbt"]
    members = {m["trial"]: m for m in found["members"]}
    reported = {(m["trial"], r["decisions"]): r["lr"] for m in members.values() for r in m["reports"]}
    per = found["decisions_per_interval"]
    for member in members.values():
        for t, step in enumerate(member["lineage"]):
            interval_end = (t // per + 1) * per
            # the LR applied at decision t is the one the trial that trained it reported then
            assert step["lr"] == reported[(step["trial"], interval_end)]
        assert member["lineage"][-1]["trial"] == member["trial"]  # the last interval is its own
    (exploit,) = found["exploits"]  # two members: the worse copies the better, once
    assert exploit["member"] != exploit["copied"]
    copier = members[exploit["member"]]
    assert [step["trial"] for step in copier["lineage"][:per]] == [exploit["copied"]] * per
    assert copier["lineage"][per]["lr"] == pbt.expressible_lr(suite.config(), exploit["new_lr"])
    assert copier["reports"][0]["lr"] != copier["lineage"][0]["lr"]  # its own first interval was dropped
    better = members[exploit["copied"]]
    assert better["reports"][0]["val_acc"] >= copier["reports"][0]["val_acc"]


def test_schedule_is_the_winners_lineage_and_replays_exactly(
    pbt_run: dict[str, Any], suite: suites.Suite
) -> None:
    found = pbt_run["search"]["pbt"]
    cfg = suite.config()
    schedule = found["schedule"]
    assert len(schedule) == cfg.num_steps
    assert all(cfg.lr_min <= lr <= cfg.lr_max for lr in schedule)
    low, high = found["lr_space"]["low"], found["lr_space"]["high"]
    assert low == min(suite.peak_grid) / pbt.LR_BELOW_GRID and high == max(suite.peak_grid)
    winner = max(found["members"], key=lambda m: m["final_full_val_acc"])
    assert found["winner"]["trial"] == winner["trial"]
    assert schedule == [step["lr"] for step in winner["lineage"]]

    # The schedule through the env on the training seed is the winning member's run, exactly.
    env = gym.make(suite.env_id, **{**suite.env_kwargs, "action_mode": "absolute"})
    replay = run_episode(pbt.schedule_agent(env, schedule), env, pbt_run["seed"])
    assert replay.lr == schedule
    assert replay.full_val_acc == winner["final_full_val_acc"]
    assert replay.val_acc[-1] == winner["final_val_acc"]


def test_trainer_seed_is_the_environments(suite: suites.Suite) -> None:
    from lrgym.training import Trainer

    env = gym.make(suite.env_id, **suite.env_kwargs)
    env.reset(seed=5)
    ours = Trainer(suite.config(), episode_trainer_seed(5)).model.state_dict()
    for name, tensor in env.unwrapped.trainer.model.state_dict().items():
        assert torch.equal(tensor, ours[name])


def test_run_files_are_the_runners_and_stats_lists_pbt(pbt_run: dict[str, Any], suite: suites.Suite) -> None:
    results, seed = pbt_run["results"], pbt_run["seed"]
    evaluation, search = pbt_run["eval"], pbt_run["search"]
    assert evaluation["job"] == {**evaluation["job"], "kind": "evaluate", "agent": "pbt", "train_seed": seed}
    assert search["job"]["kind"] == "pbt"
    for record in (evaluation, search):
        assert record["fingerprint"] == suite.fingerprint() and record["git_commit"] and record["wall_s"] > 0
    resume.check_records(results, suite, code_state())  # the runner would resume beside these files
    for record in (evaluation, search):  # the one record writer: provenance, inputs, checksum
        assert record["git_diff_sha256"] and record["machine"]["torch_threads"] and record["command"]
        assert (
            record["checksum"] == _record.checksum(record)
            and record["inputs"]["kind"] == record["job"]["kind"]
        )
    episodes = evaluation["episodes"]
    assert [e["seed"] for e in episodes] == list(suite.eval_seeds)
    for e in episodes:
        assert e["lr"] == search["pbt"]["schedule"]  # the env applied exactly the schedule
        assert 0.0 <= e["test_acc"] <= 1.0
    compute = search["pbt"]["compute"]
    assert compute["training_episodes"] == SETTINGS.population
    assert compute["decisions_trained"] == SETTINGS.population * suite.config().num_steps
    assert compute["member_cpu_s"] > 0 and compute["search_wall_s"] > 0

    summary = pbt_run["summary"]
    assert "pbt" in summary["agents"] and summary["agents"]["pbt"]["runs"] == len(suite.eval_seeds)
    assert summary["agents"]["pbt"]["train_seeds"] == [seed]
    assert "pbt" in summary["compute"]["job_wall_s_by_kind"]  # the search's cost is counted
    assert "pbt" in stats.load_runs(results, suite)
    assert (results / "summary.md").read_text().count("| pbt |") == 2


def test_finished_seeds_are_skipped(pbt_run: dict[str, Any], suite: suites.Suite) -> None:
    runs = pbt_run["results"] / "runs"
    done = runs / f"eval-pbt-s{pbt_run['seed']}.json"
    before = done.read_text()
    executor = RayExecutor()
    pbt.run(suite, pbt_run["results"], SETTINGS, executor=executor, log=lambda line: None)
    assert not executor._started_ray  # no search left: Ray was not even started
    assert done.read_text() == before

    aside = pbt_run["results"] / "aside.json"
    done.rename(aside)  # the search file alone is left: its settings must match to be reused
    try:
        with pytest.raises(SystemExit, match="other PBT settings"):
            other = dataclasses.replace(SETTINGS, population=3)
            pbt.run(suite, pbt_run["results"], other, executor=executor, log=lambda line: None)
    finally:
        aside.rename(done)


def test_explore_is_seeded_and_clipped() -> None:
    def draws(seed: int) -> list[float]:
        explore = pbt.ExploreLR(0.01, 0.8, 1e-5, 1.0, 0.25, (0.8, 1.25), seed)
        return [explore({"lr": 0.1, "other": 1})["lr"] for _ in range(200)]

    first = draws(0)
    assert first == draws(0) and first != draws(1)  # a private generator: same seed, same search
    perturbed = [lr for lr in first if lr in (0.1 * 0.8, 0.1 * 1.25)]
    resampled = [lr for lr in first if lr not in perturbed]
    assert 100 < len(perturbed) < 200 and resampled  # mostly perturbed, sometimes resampled
    assert all(0.01 <= lr <= 0.8 for lr in resampled)
    assert pbt.ExploreLR(0.01, 0.8, 1e-5, 0.5, 0.0, (1.25,), 0)({"lr": 0.45})["lr"] == 0.5  # lr_max
