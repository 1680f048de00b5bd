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

PRESETS: dict[str, LRTuningConfig] = {
    "LRTuning-v0": TASK,
    "LRTuning-Paper-v0": PAPER,
    "LRTuning-Tiny-v0": TINY,
}
