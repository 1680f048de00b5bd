"""lrgym: Gymnasium environments in which an agent sets the learning rate of a real training run.

`import lrgym` is cheap: it registers the `LRTuning-*` environments and does not import torch.
"""

from __future__ import annotations

from lrgym.config import LRTuningConfig

__version__ = "0.1.0"
__all__ = ["LRTuningConfig", "__version__"]
