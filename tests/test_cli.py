"""The `lrgym` command line: list, train (checkpoint and resume), evaluate, demo; the examples."""

from __future__ import annotations

import csv
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import FAST_TINY_KWARGS

from lrgym_agents import cli, monitor
from lrgym_agents.registry import AGENTS

REPO = Path(__file__).resolve().parent.parent
FAST = [f"{k}={v!r}" for k, v in FAST_TINY_KWARGS.items()]


def test_list_shows_every_environment_and_agent(capsys) -> None:
    cli.main(["list"])
    out = capsys.readouterr().out
    for name in ("LRTuning-v0", "LRTuning-Paper-v0", "LRTuning-Tiny-v0", *AGENTS):
        assert name in out


def test_console_script_is_installed() -> None:
    out = subprocess.run([str(Path(sys.executable).parent / "lrgym"), "list"], capture_output=True, text=True)
    assert out.returncode == 0 and "LRTuning-Tiny-v0" in out.stdout


def _train(tmp_path: Path, *extra: str, steps: int = 40) -> Path:
    out = tmp_path / "run"
    cli.main(["train", "--agent", "dqn", "--steps", str(steps), "--seed", "3", "--out", str(out), "--quiet",
              "--env-kwargs", *FAST, *extra])  # fmt: skip
    return out


def test_train_writes_agent_log_and_checkpoint_then_evaluate_reads_them(tmp_path: Path, capsys) -> None:
    out = _train(tmp_path)
    rows = list(csv.DictReader((out / "episodes.csv").open()))
    assert len(rows) == 4 and rows[-1]["steps_done"] == "40"  # 10-step episodes
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in rows)
    assert json.loads((out / "checkpoint" / monitor.PROGRESS_FILE).read_text()) == {
        "steps_done": 40,
        "episodes_done": 4,
    }
    assert (out / "tensorboard").is_dir()
    capsys.readouterr()
    cli.main(["evaluate", "--model", str(out / "agent"), "--seeds", "7", "8", "--out", str(tmp_path / "ev"),
              "--env-kwargs", *FAST])  # fmt: skip
    table = capsys.readouterr().out
    assert "dqn" in table and "7:" in table and "8:" in table
    results = json.loads((tmp_path / "ev" / "results.json").read_text())["results"]["dqn"]
    assert [r["seed"] for r in results] == [7, 8] and len(results[0]["lr"]) == 10


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path: Path, monkeypatch) -> None:
    whole = _train(tmp_path / "a", steps=60)

    # The same run, killed in the middle of its 4th episode (after the checkpoint of the 3rd).
    original = monitor.TrainingMonitor.__call__

    def crash_mid_episode_four(self, update):
        if update.steps_done == 35:
            raise _Interrupt
        return original(self, update)

    monkeypatch.setattr(monitor.TrainingMonitor, "__call__", crash_mid_episode_four)
    with pytest.raises(_Interrupt):
        _train(tmp_path / "b", steps=60)
    monkeypatch.setattr(monitor.TrainingMonitor, "__call__", original)
    interrupted = tmp_path / "b" / "run"
    assert json.loads((interrupted / "checkpoint" / monitor.PROGRESS_FILE).read_text())["steps_done"] == 30
    cli.main(["train", "--resume", str(interrupted), "--quiet"])

    def log(run: Path) -> list[dict]:
        return list(csv.DictReader((run / "episodes.csv").open()))

    assert log(interrupted) == log(whole)  # same learning curve, episode by episode
    a = torch.load(whole / "agent" / "dqn.pt", weights_only=False)
    b = torch.load(interrupted / "agent" / "dqn.pt", weights_only=False)
    for key, value in a["online"].items():
        assert torch.equal(value, b["online"][key]), key


def test_bad_input_gives_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown agent 'dqm'.*known agents: dqn"):
        cli.main(["train", "--agent", "dqm", "--out", str(tmp_path / "x"), "--env-kwargs", *FAST])
    with pytest.raises(SystemExit, match="cannot drive action_mode='continuous'.*discrete"):
        cli.main(["train", "--agent", "dqn", "--out", str(tmp_path / "y"), "--env-kwargs", *FAST,
                  "action_mode='continuous'"])  # fmt: skip
    with pytest.raises(SystemExit, match="LRTuning-Tiny-v0"):
        cli.main(["train", "--agent", "dqn", "--env", "LRTuning-Huge-v0", "--out", str(tmp_path / "z")])
    with pytest.raises(SystemExit, match="expected key=value"):
        cli.main(["evaluate", "--agent", "cosine", "--env-kwargs", "epochs"])
    with pytest.raises(SystemExit, match="pass --model"):
        cli.main(["evaluate", "--agent", "dqn", "--env-kwargs", *FAST])
    with pytest.raises(SystemExit, match="no saved agent"):
        cli.main(["evaluate", "--model", str(tmp_path), "--env-kwargs", *FAST])
    with pytest.raises(SystemExit, match="not a run directory"):
        cli.main(["train", "--resume", str(tmp_path)])


def test_a_model_for_another_env_is_refused(tmp_path: Path) -> None:
    out = _train(tmp_path, steps=10)
    with pytest.raises(SystemExit, match="saved for observations of shape"):
        cli.main(["evaluate", "--model", str(out / "agent"), "--seeds", "1", "--env-kwargs", *FAST,
                  "feature_layers='first'"])  # fmt: skip


def test_demo_runs_end_to_end_on_a_toy_budget(tmp_path: Path, capsys) -> None:
    cli.main(["demo", "--train-steps", "20", "--eval-seeds", "2", "--out", str(tmp_path), "--quiet",
              "--env-kwargs", *FAST])  # fmt: skip
    out = capsys.readouterr().out
    for name in ("dqn", "random", "constant", "step", "cosine", "onecycle"):
        assert f"\n{name} " in out
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert set(results) == {"dqn", "random", "constant", "step", "cosine", "onecycle"}
    assert all(len(r) == 2 for r in results.values())


@pytest.mark.parametrize(
    ("script", "kwargs"),
    [
        ("train_dqn.py", {"steps": 20, "eval_seeds": (1,)}),
        ("train_sb3.py", {"steps": 20, "eval_seeds": (1,)}),
        ("compare_schedules.py", {"seeds": (1,), "peak_lrs": (0.1,)}),
    ],
)
def test_examples_run_with_toy_budgets(script: str, kwargs: dict, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples write under runs/
    module = runpy.run_path(str(REPO / "examples" / script))
    result = module["main"](**kwargs, env_kwargs=FAST_TINY_KWARGS)
    assert result  # a mean accuracy, or a non-empty table
    values = result.values() if isinstance(result, dict) else [result]
    assert all(0.0 <= v <= 1.0 for v in values)


def test_random_agent_example_runs_as_written() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "random_agent.py")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "final test accuracy" in out.stdout and "val acc" in out.stdout
