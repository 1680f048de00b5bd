"""lrgym: Gymnasium environments in which an agent sets the learning rate of a real training run.

`import lrgym` is cheap: it registers the `LRTuning-*` environments and does not import torch.
"""

from __future__ import annotations

from lrgym.config import LRTuningConfig
from lrgym.presets import PRESETS
from lrgym.registration import register_envs

__version__ = "0.1.0"
__all__ = ["PRESETS", "LRTuningConfig", "__version__", "register_envs"]

register_envs()
