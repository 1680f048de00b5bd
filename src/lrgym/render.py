"""Rendering an episode so far: a text table (`ansi`) or a plot (`rgb_array`, needs matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lrgym.config import LRTuningConfig

ANSI_ROWS = 12  # the most recent steps shown in the text table


def render_ansi(history: list[dict[str, Any]], cfg: LRTuningConfig) -> str:
    lines = [f"{'step':>5} {'epoch':>6} {'lr':>10} {'train loss':>10} {'val loss':>9} {'val acc':>8}"]
    for row in history[-ANSI_ROWS:]:
        lines.append(
            f"{row['step']:>5d} {row['epoch']:>6.2f} {row['lr']:>10.3g} {row['train_loss']:>10.4f} "
            f"{row['val_loss']:>9.4f} {row['val_acc']:>8.3f}" + ("  diverged" if row["diverged"] else "")
        )
    if history and "test_acc" in history[-1]:
        lines.append(
            f"final: test acc {history[-1]['test_acc']:.4f}, val acc {history[-1]['full_val_acc']:.4f}"
        )
    return "\n".join(lines) + "\n"


def render_rgb_array(history: list[dict[str, Any]], cfg: LRTuningConfig) -> np.ndarray:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "render_mode='rgb_array' needs matplotlib: pip install matplotlib (or lrgym[render])"
        ) from exc
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(9, 3), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax_lr, ax_loss, ax_acc = fig.subplots(1, 3)
    ax_lr.plot(epochs, [row["lr"] for row in history], drawstyle="steps-pre")
    ax_lr.set(yscale="log", title="learning rate", xlabel="epoch")
    ax_loss.plot(epochs, [row["train_loss"] for row in history], label="train")
    ax_loss.plot(epochs, [row["val_loss"] for row in history], label="validation")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_loss.legend()
    ax_acc.plot(epochs, [row["val_acc"] for row in history])
    ax_acc.set(title="validation accuracy", xlabel="epoch", ylim=(0, 1))
    for ax in (ax_lr, ax_loss, ax_acc):
        ax.set_xlim(0, cfg.epochs)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
