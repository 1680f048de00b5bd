"""The registered environments: each is a name for an `LRTuningConfig` (no code of its own)."""

from __future__ import annotations

from lrgym.config import LRTuningConfig

# The task: CIFAR-10, WRN-16-4, 10 epochs, 10 decisions per epoch (the config's defaults).
TASK = LRTuningConfig()

# The original code's MDP (Fu et al., arXiv 1606.01467, final Torch version): WRN-40-4, one
# mini-batch per decision, statistics of the first conv layer, x0.97-or-restart actions, the
# training-loss reward, LR clipped to [1e-5, 0.1], four stacked states.
PAPER = LRTuningConfig(
    depth=40,
    width=4,
    batches_per_step=1,
    action_mode="paper",
    lr_max=0.1,
    features="paper",
    feature_layers="first",
    reward="paper",
)
PAPER_FRAME_STACK = 4  # applied at registration through Gymnasium's FrameStackObservation

# The embedded default: synthetic data made in-process and a WRN-10-1; seconds per episode on
# two CPU cores. For the quickstart, the tests and CI; on the CPU wherever it runs, so that it is
# deterministic everywhere (pass device="cuda" to train it on a GPU).
TINY = LRTuningConfig(
    dataset="synthetic",
    device="cpu",
    depth=10,
    width=1,
    epochs=2.0,
    synthetic_train_size=6500,  # 5000 training images after the split: 39 mini-batches per epoch
    val_size=1500,
    val_subset_size=1000,  # 1000 images: per-step accuracy deltas have ~1.5 points of noise
    eval_batch_size=500,
)

# Task distributions (see lrgym.tasks): every reset draws a task, the best LR differs between
# tasks. The fields the tasks set (data, model, batch, budget, weight decay, optimiser, initial
# LR) are left at their defaults here; the rest is shared by every task. The observation reads
# the first and the last layer, whose number does not depend on the model's depth. The LR range
# holds every task's cosine down to its last decision (Adam's 1e-3 / 16 x 0.006 is 4e-7).
TINYMIX = LRTuningConfig(
    task_distribution="tinymix",
    dataset="synthetic",  # the task fields' own values (tasks set them) describe a typical task
    depth=10,
    width=1,
    device="cpu",
    synthetic_train_size=4000,  # 3000 training images after the split
    synthetic_test_size=1000,
    val_size=1000,
    val_subset_size=500,
    eval_batch_size=500,
    epochs=2.0,  # every task makes 20 decisions
    steps_per_epoch=10,
    feature_layers=(0, -1),
    lr_min=1e-7,
    lr_max=2.0,
)
MIX = LRTuningConfig(
    task_distribution="mix",
    epochs=5.0,  # every task makes 40 decisions
    steps_per_epoch=8,
    feature_layers=(0, -1),
    lr_min=1e-7,
    lr_max=2.0,
)

PRESETS: dict[str, LRTuningConfig] = {
    "LRTuning-v0": TASK,
    "LRTuning-Paper-v0": PAPER,
    "LRTuning-Tiny-v0": TINY,
    "LRTuning-TinyMix-v0": TINYMIX,
    "LRTuning-Mix-v0": MIX,
}
