"""Reward terms. Every term is computed every step (reported in `info["reward_terms"]`); the
config's `reward` picks which one the agent receives.

- `val_acc_delta`: validation-subset accuracy gained this step. Undiscounted, the return
  telescopes to final minus initial validation-subset accuracy.
- `log_val_loss_ratio`: log(L_{t-1} / L_t) on the validation-subset loss; telescopes to
  log(L_0 / L_T).
- `paper`: -(10 / t) * log(L_t / L_1) on the training loss of step t (the original code's reward,
  L_1 the run's first mini-batch loss), clipped to [-1, 1].
- `terminal_acc`: 0 until the last step, then the final validation-subset accuracy.

On the step that diverges every term is replaced by -`crash_penalty`.
"""

from __future__ import annotations

import math

PAPER_SCALE = 10.0  # the original code's factor


def reward_terms(
    *,
    step: int,
    last_step: bool,
    val_acc: float,
    prev_val_acc: float,
    val_loss: float,
    prev_val_loss: float,
    train_loss: float,
    first_train_loss: float,
) -> dict[str, float]:
    """All reward terms for a step that did not diverge (`step` counts from 1)."""
    paper = -(PAPER_SCALE / step) * _log_ratio(train_loss, first_train_loss)
    return {
        "val_acc_delta": val_acc - prev_val_acc,
        "log_val_loss_ratio": _log_ratio(prev_val_loss, val_loss),
        "paper": min(max(paper, -1.0), 1.0),
        "terminal_acc": val_acc if last_step else 0.0,
    }


def crash_terms(crash_penalty: float) -> dict[str, float]:
    return dict.fromkeys(("val_acc_delta", "log_val_loss_ratio", "paper", "terminal_acc"), -crash_penalty)


def _log_ratio(numerator: float, denominator: float) -> float:
    tiny = 1e-12  # cross-entropy is positive, but may round to zero on a memorised batch
    return math.log(max(numerator, tiny) / max(denominator, tiny))
