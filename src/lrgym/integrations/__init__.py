"""Integrations of the lrgym environments with other RL frameworks.

Each submodule imports its framework lazily (see `lrgym.integrations.optional.require`), so
importing this package never pulls in Ray or any other optional dependency.

- `lrgym.integrations.rllib`: registers every `LRTuning-*` id with Ray RLlib, with distinct,
  reproducible seeds per env runner (needs `pip install 'lrgym[ray]'`).
"""

from __future__ import annotations
