"""Registers the `LRTuning-*` presets with Gymnasium (idempotent; does not import torch)."""

from __future__ import annotations

from gymnasium.envs.registration import WrapperSpec, register, registry

from lrgym.presets import PAPER_FRAME_STACK, PRESETS

ENTRY_POINT = "lrgym.env:LRTuningEnv"


def _paper_frame_stack() -> tuple[WrapperSpec, ...]:
    return (
        WrapperSpec(
            name="FrameStackObservation",
            entry_point="gymnasium.wrappers:FrameStackObservation",
            kwargs={"stack_size": PAPER_FRAME_STACK, "padding_type": "reset"},
        ),
    )


def register_envs() -> None:
    """Registers every preset that is not registered yet.

    A preset that may train on CUDA (`device="auto"`) is registered as nondeterministic: there
    bf16 autocast and cuDNN autotuning make two runs of the same seed and actions drift apart.
    On the CPU every preset is deterministic (same seed and actions, same episode).
    """
    for env_id, cfg in PRESETS.items():
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point=ENTRY_POINT,
            kwargs={"preset": env_id},
            nondeterministic=cfg.device != "cpu",
            additional_wrappers=_paper_frame_stack() if env_id == "LRTuning-Paper-v0" else (),
        )
