"""Importing optional dependencies with an error that says which extra to install.

lrgym's core needs only Gymnasium, NumPy and PyTorch; integrations with other frameworks (Ray
RLlib, rl-zoo3) import those frameworks only when used, so that `import lrgym` stays cheap and
works without them. When one is missing, the user should learn the exact install command rather
than read a bare `ModuleNotFoundError` from deep inside an integration.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Imports `module`, or raises `ImportError` naming the lrgym extra that provides it.

    Args:
        module: the dotted module name, e.g. "ray.tune.registry".
        extra: the optional-dependency group of lrgym's pyproject.toml that installs it, e.g. "ray".

    Returns:
        The imported module.

    Raises:
        ImportError: the module (or one of its own dependencies) cannot be imported; the message
            names the module and the command `pip install 'lrgym[<extra>]'`, and the original
            error is chained as the cause.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this feature of lrgym needs {module}: pip install 'lrgym[{extra}]' "
            f"(import failed with: {error})"
        ) from error
