"""What `lrgym train` does around an agent's `learn`: progress bar, episode log, TensorBoard
scalars and checkpoints, all driven by the agent's per-step callback."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from lrgym_agents.base import Agent
from lrgym_agents.rollout import StepRecord

EPISODE_FIELDS = (
    "episode",
    "steps_done",
    "return",
    "test_acc",
    "full_val_acc",
    "final_val_acc",
    "final_lr",
    "diverged",
)
CHECKPOINT_DIR = "checkpoint"
PROGRESS_FILE = "progress.json"
EPISODES_FILE = "episodes.csv"


class TrainingMonitor:
    """The callback `lrgym train` passes to `Agent.learn`.

    Keeps one row per finished training episode in `episodes.csv`, shows a progress bar with an
    ETA over environment steps, writes TensorBoard scalars when TensorBoard is installed, and
    saves a checkpoint every `checkpoint_every` episodes (when every sub-env has just finished an
    episode, so that a resumed run starts from a clean episode boundary).
    """

    def __init__(
        self,
        agent: Agent,
        out: Path,
        total_steps: int,
        checkpoint_every: int = 1,
        progress: bool = True,
        tensorboard: bool = True,
    ) -> None:
        self.agent = agent
        self.out = out
        self.total_steps = total_steps
        self.checkpoint_every = checkpoint_every
        self.episodes = _read_episodes(out / EPISODES_FILE)
        self.bar = _progress_bar(total_steps, agent.steps_done) if progress else None
        self.writer = _tensorboard_writer(out / "tensorboard") if tensorboard else None

    def __call__(self, record: StepRecord) -> bool:
        for episode in record.finished():
            self._episode_finished(episode.final_info, episode.episode_return, record.steps_done)
        if self.bar is not None:
            self.bar.n = record.steps_done
            self.bar.set_postfix(episodes=len(self.episodes), refresh=False)
            self.bar.refresh()
        if record.dones and all(record.dones) and len(self.episodes) % self.checkpoint_every == 0:
            self.checkpoint()
        return True

    def _episode_finished(self, info: dict[str, Any], episode_return: float, steps_done: int) -> None:
        row = {
            "episode": len(self.episodes) + 1,
            "steps_done": steps_done,
            "return": episode_return,
            "test_acc": info.get("test_acc", ""),
            "full_val_acc": info.get("full_val_acc", ""),
            "final_val_acc": info.get("val_acc", ""),
            "final_lr": info.get("lr", ""),
            "diverged": info.get("diverged", ""),
        }
        self.episodes.append(row)
        if self.writer is not None:
            for key in ("return", "test_acc", "full_val_acc", "final_lr"):
                if row[key] != "":
                    self.writer.add_scalar(f"episode/{key}", float(row[key]), steps_done)
            self.writer.flush()

    def checkpoint(self) -> None:
        """Agent state, episode log and counters, replaced atomically (a kill loses nothing saved)."""
        staging = self.out / (CHECKPOINT_DIR + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        self.agent.save_checkpoint(staging)
        _write_episodes(staging / EPISODES_FILE, self.episodes)
        (staging / PROGRESS_FILE).write_text(
            json.dumps({"steps_done": self.agent.steps_done, "episodes_done": len(self.episodes)})
        )
        final = self.out / CHECKPOINT_DIR
        old = self.out / (CHECKPOINT_DIR + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        _write_episodes(self.out / EPISODES_FILE, self.episodes)

    def close(self) -> None:
        _write_episodes(self.out / EPISODES_FILE, self.episodes)
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def restore_checkpoint(agent: Agent, out: Path) -> None:
    """Loads `out/checkpoint` into `agent` and rewinds the episode log to it."""
    folder = out / CHECKPOINT_DIR
    if not (folder / PROGRESS_FILE).is_file():
        raise FileNotFoundError(f"no checkpoint to resume from in {out} (expected {folder}/{PROGRESS_FILE})")
    agent.load_checkpoint(folder)
    # Episodes finished after the checkpoint are trained again: drop them from the log.
    _write_episodes(out / EPISODES_FILE, _read_episodes(folder / EPISODES_FILE))


def _read_episodes(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write_episodes(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EPISODE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _progress_bar(total: int, initial: int):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", desc="training", dynamic_ncols=True)


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # TensorBoard is optional (lrgym[tensorboard])
        return None
    return SummaryWriter(str(folder))
