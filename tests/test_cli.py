"""The `lrgym` command line: list, train (checkpoint and resume), evaluate, demo; the examples."""

from __future__ import annotations

import csv
import json
import re
import runpy
import signal
import subprocess
import sys
import time
import warnings
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
    # 70 decisions of 5 steps: the DQN's replay reaches its batch of 64 and it learns a little.
    # 320 training images: one mini-batch per step, so the 350 steps take seconds.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a demo whose agent never updates would warn
        cli.main(["demo", "--train-steps", "70", "--eval-seeds", "2", "--out", str(tmp_path), "--quiet",
                  "--env-kwargs", *FAST, "synthetic_train_size=620"])  # fmt: skip
    out = capsys.readouterr().out
    for name in ("dqn", "random", "constant", "step", "cosine", "onecycle"):
        assert f"\n{name} " in out
    assert "\nrandom (discrete actions)" in out
    assert "\nrandom (schedule_relative_discrete actions, held 5 steps)" in out
    # Against random multipliers: 6 rows; against random factors on the cosine: the learner.
    assert out.count("(the reference)") == 2 and out.count(" of 2 ") == 7
    assert "than random-relative" in out.split("its own action space")[1]
    saved = json.loads((tmp_path / "results.json").read_text())
    results = saved["results"]
    assert set(results) == {"dqn", "random", "random-relative", "constant", "step", "cosine", "onecycle"}
    assert all(len(r) == 2 for r in results.values())
    assert saved["meta"]["agent"] == "dqn"
    assert saved["meta"]["agent_env_kwargs"]["action_mode"] == "schedule_relative_discrete"
    assert saved["meta"]["agent_env_kwargs"]["reward"] == "terminal_acc"  # it learns from the final accuracy
    assert saved["meta"]["agent_wrappers"] == {"action_repeat": 5, "keep_signals": ["progress"]}
    run = json.loads((tmp_path / "dqn" / "run.json").read_text())
    assert run["agent"] == "dqn" and run["env_kwargs"]["action_mode"] == "schedule_relative_discrete"
    assert run["wrappers"] == saved["meta"]["agent_wrappers"] and run["agent_kwargs"]["n_step"] == 4


@pytest.mark.parametrize(
    ("script", "kwargs"),
    [
        ("train_dqn.py", {"steps": 20, "eval_seeds": (1,)}),
        ("train_sb3.py", {"steps": 20, "eval_seeds": (1,)}),
        ("compare_schedules.py", {"seeds": (1,), "peak_lrs": (0.1,)}),
        ("own_task.py", {"steps": 20, "eval_seeds": (1,)}),
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


# --- one run per directory: refuse, overwrite, resume, train further ---------------------------

# Two decisions of 9 mini-batches per episode: the run-directory tests need episodes, not learning.
MICRO = [*FAST, "epochs=0.25", "steps_per_epoch=8"]


def _micro_train(tmp_path: Path, *extra: str, steps: int = 2, seed: int = 3) -> Path:
    out = tmp_path / "run"
    cli.main(["train", "--agent", "dqn", "--steps", str(steps), "--seed", str(seed), "--out", str(out),
              "--quiet", *extra, "--env-kwargs", *MICRO])  # fmt: skip
    return out


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for directories)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _steps_logged(run: Path, log: str = "episodes.csv") -> list[str]:
    return [row["steps_done"] for row in csv.DictReader((run / log).open())]


def test_train_onto_an_existing_run_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    out = _micro_train(tmp_path)
    before = _snapshot(out)
    with pytest.raises(SystemExit, match=f"{out} already holds a run .*--resume {out}.*--overwrite"):
        _micro_train(tmp_path)
    assert _snapshot(out) == before
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="already holds files \\(notes.txt\\)"):
        cli.main(["train", "--agent", "dqn", "--out", str(other)])
    with pytest.raises(SystemExit, match="not a run directory; nothing was removed"):
        cli.main(["train", "--agent", "dqn", "--out", str(other), "--overwrite"])
    with pytest.raises(SystemExit, match="is a file, not a directory"):
        cli.main(["train", "--agent", "dqn", "--out", str(other / "notes.txt")])
    assert _snapshot(other) == {"notes.txt": b"keep me"}


def test_overwrite_starts_clean_and_keeps_files_that_are_not_the_runs(tmp_path: Path) -> None:
    out = _micro_train(tmp_path)
    (out / "notes.txt").write_text("keep me")
    before = _snapshot(out)
    with pytest.raises(SystemExit, match="unknown agent"):  # bad input removes nothing
        cli.main(["train", "--agent", "dqm", "--out", str(out), "--overwrite", "--env-kwargs", *MICRO])
    assert _snapshot(out) == before
    _micro_train(tmp_path, "--overwrite", seed=4)
    assert _steps_logged(out) == ["2"]  # only the new run's episode
    assert json.loads((out / cli.RUN_FILE).read_text())["seed"] == 4
    assert len(list((out / "tensorboard").iterdir())) == 1  # the old run's event file is gone
    assert (out / "notes.txt").read_text() == "keep me"


def test_train_and_evaluate_apply_the_wrappers_and_the_run_records_them(tmp_path: Path, capsys) -> None:
    out = _train(tmp_path, "--action-repeat", "5", "--keep-signals", "progress", "val_acc", steps=8)
    run = json.loads((out / "run.json").read_text())
    assert run["wrappers"] == {"action_repeat": 5, "keep_signals": ["progress", "val_acc"]}
    rows = list(csv.DictReader((out / "episodes.csv").open()))
    assert len(rows) == 4  # 10-step episodes of 2 decisions each
    evaluate = ["evaluate", "--model", str(out / "agent"), "--seeds", "1", "--env-kwargs", *FAST]
    cli.main([*evaluate, "--action-repeat", "5", "--keep-signals", "progress", "val_acc",
              "--out", str(tmp_path / "eval")])  # fmt: skip
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["meta"]["wrappers"] == run["wrappers"]
    # Left out, the wrappers (and the env) are the model's run's, read from its run.json.
    capsys.readouterr()
    cli.main(["evaluate", "--model", str(out / "agent"), "--seeds", "1", "--out", str(tmp_path / "eval2")])
    assert "settings of the model's run" in capsys.readouterr().out
    saved = json.loads((tmp_path / "eval2" / "results.json").read_text())
    assert saved["meta"]["wrappers"] == run["wrappers"] and saved["meta"]["env_kwargs"] == run["env_kwargs"]
    assert len(saved["results"]["dqn"][0]["lr"]) == 2  # 2 decisions of 5 steps, as in training
    with pytest.raises(SystemExit, match="saved for observations of shape|2 inputs"):
        cli.main([*evaluate, "--keep-signals", "progress"])  # one signal does not fit a model of two inputs
    with pytest.raises(SystemExit, match=r"signals=\['lr'\] is invalid.*log10_lr"):
        cli.main([*evaluate, "--keep-signals", "lr"])
    (out / "run.json").write_text("{")
    with pytest.raises(SystemExit, match="run.json .*is damaged"):
        cli.main(evaluate)


def test_resume_refuses_settings_that_differ_from_the_runs(tmp_path: Path) -> None:
    out = _micro_train(tmp_path, steps=4)
    before = _snapshot(out)
    resume = ["train", "--resume", str(out), "--quiet"]
    for extra, message in (
        (["--seed", "5"], "--seed 5 differs from the run's 3"),
        (["--agent", "sb3-dqn"], "--agent 'sb3-dqn' differs from the run's 'dqn'"),
        (["--env", "LRTuning-v0"], "--env 'LRTuning-v0' differs"),
        (["--env-kwargs", "device='cpu'"], "--env-kwargs \\{'device': 'cpu'\\} differs"),
        (["--agent-kwargs", "gamma=0.5"], "--agent-kwargs \\{'gamma': 0.5\\} differs from the run's \\{\\}"),
        (["--checkpoint-every", "2"], "--checkpoint-every 2 differs from the run's 1"),
        (["--action-repeat", "2"], "--action-repeat 2 differs from the run's None"),
        (["--steps", "2"], "--steps 2 is fewer than the run's 4"),
        (["--overwrite"], "pass one"),
        (["--out", str(tmp_path / "elsewhere")], "drop --out"),
    ):
        with pytest.raises(SystemExit, match=message):
            cli.main(resume + extra)
    assert _snapshot(out) == before
    with pytest.raises(SystemExit, match="only a larger --steps \\(train further\\)"):
        cli.main([*resume, "--seed", "5", "--steps", "2"])


def test_resume_with_a_larger_steps_trains_further(tmp_path: Path, capsys) -> None:
    out = _micro_train(tmp_path)
    same = ["--seed", "3", "--agent", "dqn", "--env-kwargs", *MICRO]  # the run's own settings may be repeated
    cli.main(["train", "--resume", str(out), "--steps", "4", "--quiet", *same])
    assert "training further: from 2 to 4 steps" in capsys.readouterr().out
    assert _steps_logged(out) == ["2", "4"]
    assert json.loads((out / cli.RUN_FILE).read_text())["steps"] == 4
    assert json.loads((out / "checkpoint" / monitor.PROGRESS_FILE).read_text())["steps_done"] == 4
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "a larger --steps, which trains further" in " ".join(capsys.readouterr().out.split())


def test_a_damaged_run_file_is_named(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / cli.RUN_FILE).write_text('{"agent": "dqn"')
    with pytest.raises(SystemExit, match=f"{out / cli.RUN_FILE} is not valid JSON"):
        cli.main(["train", "--resume", str(out)])
    (out / cli.RUN_FILE).write_text('{"agent": "dqn"}')
    with pytest.raises(SystemExit, match="lacks \\['env', 'env_kwargs'"):
        cli.main(["train", "--resume", str(out)])


def test_resume_before_the_first_checkpoint_says_to_start_again(tmp_path: Path, monkeypatch) -> None:
    def interrupt(self, update):
        raise KeyboardInterrupt

    monkeypatch.setattr(monitor.TrainingMonitor, "__call__", interrupt)
    with pytest.raises(SystemExit) as info:
        _micro_train(tmp_path)
    assert info.value.code == 130
    with pytest.raises(SystemExit, match="before its first checkpoint: start it again with --overwrite"):
        cli.main(["train", "--resume", str(tmp_path / "run")])


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path: Path, monkeypatch, capsys) -> None:
    original = monitor.TrainingMonitor.__call__

    def ctrl_c_mid_episode_two(self, update):
        if update.steps_done == 3:
            raise KeyboardInterrupt
        return original(self, update)

    monkeypatch.setattr(monitor.TrainingMonitor, "__call__", ctrl_c_mid_episode_two)
    with pytest.raises(SystemExit) as info:
        _micro_train(tmp_path, steps=4)
    out = tmp_path / "run"
    assert info.value.code == 130
    assert (
        f"last checkpoint is at step 2: continue with `lrgym train --resume {out}`" in capsys.readouterr().err
    )
    monkeypatch.setattr(monitor.TrainingMonitor, "__call__", original)
    cli.main(["train", "--resume", str(out), "--quiet"])
    assert _steps_logged(out) == ["2", "4"]


KILLED_CHILD = """
import sys, time
from pathlib import Path
from lrgym_agents import cli, monitor

marker = Path(sys.argv[1])
original = monitor.TrainingMonitor.__call__

def call(self, update):
    result = original(self, update)
    if update.steps_done == 3:  # after the checkpoint of episode 1, in the middle of episode 2
        marker.write_text("ready")
        time.sleep(120)  # killed here
    return result

monitor.TrainingMonitor.__call__ = call
cli.main(sys.argv[2:])
"""


def test_kill_9_mid_episode_then_resume_completes_the_run(tmp_path: Path) -> None:
    out, marker = tmp_path / "run", tmp_path / "ready"
    argv = ["train", "--agent", "dqn", "--steps", "4", "--seed", "3", "--out", str(out), "--quiet",
            "--env-kwargs", *MICRO]  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(marker), *argv])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # bounded: the child writes the marker, exits, or runs out of time
            assert child.poll() is None, f"the child exited with {child.returncode} before step 3"
            assert time.monotonic() < deadline, "the child did not reach step 3 in 120 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait(timeout=30)
    assert _steps_logged(out, "checkpoint/episodes.csv") == ["2"] and not (out / "agent").exists()
    checkpointed = (out / "checkpoint" / "episodes.csv").read_text().splitlines()
    cli.main(["train", "--resume", str(out), "--quiet"])
    assert _steps_logged(out) == ["2", "4"]
    assert (out / "episodes.csv").read_text().splitlines()[:2] == checkpointed  # header and episode 1


# --- numeric arguments are checked by the parser ------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--agent", "dqn", "--checkpoint-every", "0"],
            "argument --checkpoint-every: expected an integer >= 1, got 0",
        ),
        (["train", "--agent", "dqn", "--steps", "-5"], "argument --steps: expected an integer >= 1, got -5"),
        (
            ["train", "--agent", "dqn", "--steps", "ten"],
            "argument --steps: expected an integer >= 1, got 'ten'",
        ),
        (
            ["train", "--agent", "dqn", "--seed", "-1"],
            "argument --seed: expected an integer in \\[0, 4294967295\\]",
        ),
        (["train", "--agent", "dqn", "--seed", str(2**32)], "got 4294967296"),
        (
            ["evaluate", "--agent", "cosine", "--seeds", "-1"],
            "argument --seeds: expected an integer in \\[0, 4294967295\\]",
        ),
        (["evaluate", "--agent", "cosine", "--seeds", "1", "1.5"], "argument --seeds: .* got '1.5'"),
        (["demo", "--train-steps", "0"], "argument --train-steps: expected an integer >= 1, got 0"),
        (
            ["demo", "--eval-seeds", "0"],
            "argument --eval-seeds: expected an integer in \\[1, 5\\] \\(the held-out",
        ),
        (["demo", "--eval-seeds", "6"], "argument --eval-seeds: .* got 6"),
    ],
)
def test_numeric_arguments_get_one_line_errors_from_the_parser(argv, message, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--out", str(out)])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(message, last), last
    assert not out.exists()


def test_a_schedule_picks_the_absolute_action_mode_by_itself(tmp_path: Path, capsys) -> None:
    cli.main(["train", "--agent", "cosine", "--env", "LRTuning-Tiny-v0", "--steps", "10", "--quiet",
              "--out", str(tmp_path / "run"), "--env-kwargs", *FAST])  # fmt: skip
    assert "action_mode='absolute'" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "run.json").read_text())["env_kwargs"]["action_mode"] == "absolute"
    cli.main(["evaluate", "--agent", "cosine", "--env", "LRTuning-Tiny-v0", "--seeds", "1000",
              "--out", str(tmp_path / "eval"), "--env-kwargs", *FAST])  # fmt: skip
    (row,) = json.loads((tmp_path / "eval" / "results.json").read_text())["results"]["cosine"]
    assert row["lr"][0] == pytest.approx(0.1, rel=1e-5)  # cosine from the env's initial LR
    with pytest.raises(SystemExit, match="needs action_mode in \\['absolute'\\]"):  # a mode the user chose
        cli.main(["evaluate", "--agent", "cosine", "--env", "LRTuning-Tiny-v0", "--seeds", "1000",
                  "--env-kwargs", "action_mode=discrete", *FAST])  # fmt: skip


def test_comparison_table_says_which_is_better_by_how_much_and_how_sure() -> None:
    from lrgym_agents.comparison import comparison_table
    from lrgym_agents.evaluation import EpisodeResult

    def results(accs: list[float]) -> list[EpisodeResult]:
        return [EpisodeResult(seed, acc, acc, acc, 0.0, False, 1.0, 1) for seed, acc in enumerate(accs)]

    table = comparison_table(
        {
            "good": results([0.9, 0.92, 0.91, 0.93, 0.9]),
            "noisy": results([0.9, 0.5, 0.85, 0.55, 0.6]),
            "random": results([0.6, 0.7, 0.65, 0.62, 0.66]),
            "bad": results([0.3, 0.4, 0.35, 0.3, 0.31]),
        },
        reference="random",
    ).splitlines()
    good, noisy, ref, bad = table[2:]
    assert "+26.6 [" in good and "5 of 5" in good and good.endswith("better than random")
    assert noisy.endswith("no clear difference from random") and "2 of 5" in noisy
    assert "(the reference)" in ref
    assert "-31.4 [" in bad and "0 of 5" in bad and bad.endswith("worse than random")
