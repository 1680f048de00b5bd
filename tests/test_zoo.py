"""rl-zoo3: the shipped hyperparameter files work with the real `python -m rl_zoo3.train` command."""

from __future__ import annotations

import csv
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_TINY_KWARGS

from lrgym.presets import PRESETS

rl_zoo3_utils = pytest.importorskip("rl_zoo3.utils")
yaml = pytest.importorskip("yaml")  # an rl-zoo3 dependency

HYPERPARAMS = Path(__file__).resolve().parents[1] / "hyperparams"
ALGOS = ("dqn", "qrdqn", "ppo", "a2c")
ENV_IDS = ("LRTuning-Tiny-v0", "LRTuning-v0")
# Keys rl-zoo3 itself consumes before the rest goes to the algorithm's constructor.
ZOO_KEYS = {
    "n_timesteps",
    "policy",
    "normalize",
    "n_envs",
    "env_kwargs",
    "frame_stack",
    "env_wrapper",
    "callback",
}
FAST_EPISODE = 10  # steps per episode of FAST_TINY_KWARGS (LRTuning-Tiny-v0 itself has 20)


def load(algo: str) -> dict:
    return yaml.safe_load((HYPERPARAMS / f"{algo}.yml").read_text())


@pytest.mark.parametrize("algo", ALGOS)
def test_file_has_valid_sections_sized_in_episodes(algo: str) -> None:
    sections = load(algo)
    assert set(sections) == set(ENV_IDS)
    accepted = set(inspect.signature(rl_zoo3_utils.ALGOS[algo].__init__).parameters)
    for env_id, hyp in sections.items():
        episode = PRESETS[env_id].num_steps
        unknown = set(hyp) - ZOO_KEYS - accepted
        assert not unknown, f"{algo}.yml[{env_id}] has keys SB3 {algo} does not take: {sorted(unknown)}"
        assert hyp["policy"] == "MlpPolicy"
        assert 10 * episode <= hyp["n_timesteps"] <= 200 * episode  # tens to a few hundred training runs
        if algo in ("dqn", "qrdqn"):
            assert hyp["learning_starts"] == 2 * episode
            assert hyp["target_update_interval"] == episode
            assert hyp["buffer_size"] >= hyp["n_timesteps"]  # replay holds the whole run
        if algo == "ppo":
            assert hyp["n_steps"] == 2 * episode and hyp["n_steps"] % hyp["batch_size"] == 0


@pytest.mark.parametrize("algo", ALGOS)
def test_rl_zoo3_train_runs(algo: str, tmp_path: Path) -> None:
    env_kwargs = [f"{key}:{value!r}" for key, value in FAST_TINY_KWARGS.items()]  # rl-zoo3 eval()s values
    command = [
        sys.executable,
        "-m",
        "rl_zoo3.train",
        "--algo",
        algo,
        "--env",
        "LRTuning-Tiny-v0",
        "--gym-packages",
        "lrgym",
        "--conf-file",
        str(HYPERPARAMS / f"{algo}.yml"),
        "-n",
        "30",
        "-f",
        str(tmp_path),
        "--eval-freq",
        "-1",
        "--seed",
        "0",
        "--num-threads",
        "1",
        "--env-kwargs",
        *env_kwargs,
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run = tmp_path / algo / "LRTuning-Tiny-v0_1"
    assert (run / "LRTuning-Tiny-v0.zip").is_file()
    assert (run / "LRTuning-Tiny-v0" / "vecnormalize.pkl").is_file()  # `normalize` was applied
    with open(run / "0.monitor.csv") as f:
        next(f)  # the monitor's JSON header line
        episodes = list(csv.DictReader(f))
    # The env kwargs reached the env: episodes of FAST_TINY_KWARGS, not of the preset.
    assert episodes and all(int(e["l"]) == FAST_EPISODE for e in episodes)


@pytest.mark.parametrize("algo", ALGOS)
def test_files_agree_with_the_agents_defaults(algo: str) -> None:
    """The rl-zoo3 files and `lrgym_agents.sb3`'s defaults are one set of hyperparameters: every
    constructor argument of the agent (lengths in episodes resolved for the preset) is in the file
    with the same value, the file sets nothing else, and both normalise observations alike."""
    from lrgym_agents.sb3 import COMMON, resolve_hyperparameters

    for env_id, hyp in load(algo).items():
        defaults = resolve_hyperparameters(algo, {}, PRESETS[env_id].num_steps)
        expected = {k: v for k, v in defaults.items() if k not in COMMON or k == "policy"}
        found = {k: v for k, v in hyp.items() if k not in ZOO_KEYS or k == "policy"}
        if "policy_kwargs" in found:
            found["policy_kwargs"] = eval(found["policy_kwargs"])  # rl-zoo3 eval()s it too
        assert found == expected, f"{algo} {env_id}"
        assert eval(hyp["normalize"]) == {"norm_obs": True, "norm_reward": False}
