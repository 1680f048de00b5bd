"""What "reproducible" means here: the same seed and actions give the same episode in any process
on the same machine with the same torch thread count; benchmark records name both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from conftest import FAST_TINY_KWARGS

from benchmarks._record import save_result

# One short episode: observations hashed, rewards and infos as exact floats. Run in this process
# and in a fresh one (which runs `main`).
EPISODE = """
import hashlib, json, sys
import torch
import gymnasium as gym
import lrgym


def episode(threads, kwargs):
    torch.set_num_threads(threads)
    env = gym.make("LRTuning-Tiny-v0", **kwargs)
    obs, info = env.reset(seed=5)
    digest, steps = hashlib.sha256(obs.tobytes()), []
    for action in (4, 0, 2, 3):
        obs, reward, terminated, truncated, info = env.step(action)
        digest.update(obs.tobytes())
        steps.append([float(reward).hex(), {k: v for k, v in info.items() if k != "reward_terms"}])
    return {"threads": torch.get_num_threads(), "obs": digest.hexdigest(), "steps": steps, "end": terminated}


if __name__ == "__main__":
    print(json.dumps(episode(int(sys.argv[1]), json.loads(sys.argv[2]))))
"""
# Four decisions of about 4 mini-batches each.
KWARGS = {**FAST_TINY_KWARGS, "epochs": 0.5, "steps_per_epoch": 8}


def test_two_processes_with_the_same_thread_count_give_identical_episodes() -> None:
    """This process (after whatever other tests did in it) and a fresh one, one torch thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", EPISODE, "1", json.dumps(KWARGS)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        namespace: dict = {}
        exec(EPISODE, namespace)  # not as __main__: defines `episode` only
        here = json.loads(json.dumps(namespace["episode"](1, KWARGS)))
        out, _ = child.communicate(timeout=180)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == 0
    there = json.loads(out)
    assert here["threads"] == 1 and here["end"] and here["steps"][-1][1]["test_acc"] > 0
    assert here == there  # bit for bit: every observation, reward and info value


def test_a_benchmark_record_holds_the_thread_count_and_cpu_model(tmp_path: Path) -> None:
    record = json.loads(save_result("reproducibility", {"value": 1}, results_dir=tmp_path).read_text())
    machine = record["machine"]
    assert machine["torch_threads"] == torch.get_num_threads()
    assert isinstance(machine["cpu_model"], str) and machine["cpu_model"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if names:
            assert machine["cpu_model"] == names[0]
    assert (tmp_path / "reproducibility-latest.json").read_text() == json.dumps(record, indent=2) + "\n"
