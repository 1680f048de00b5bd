"""Ray RLlib integration: every `LRTuning-*` id as an RLlib environment, seeded per env runner.

RLlib builds environments inside its env runners (Ray actors, one process each) from a creator
registered with `ray.tune.registry.register_env`; the creator receives RLlib's `env_config`, an
`EnvContext`: the dict given to `AlgorithmConfig.environment(env_config=...)` plus the runner's
`worker_index` and `vector_index` as attributes. `register_rllib_envs()` registers a creator for
every `LRTuning-*` id, so that::

    from lrgym.integrations.rllib import register_rllib_envs
    register_rllib_envs()
    config = PPOConfig().environment("LRTuning-Tiny-v0", env_config={"seed": 0, "device": "cpu"})

works in any env runner, whether or not the runner's process has imported lrgym.

`env_config` holds `LRTuningConfig` fields (passed to `gym.make`) plus one key of its own:

- `seed` (int, optional): the base seed of the run. Each env's *first* `reset()` without a seed
  uses `derive_seed(seed, worker_index, vector_index, k)`, where `k` counts the envs this
  creator has built in the runner's process for that (worker_index, vector_index): with RLlib's
  default sync vectorisation, `k` is the sub-env's index on first creation. Later resets
  continue from the env's own generator, as Gymnasium envs do, so every runner and sub-env
  trains a different, reproducible sequence of runs. Why not RLlib's own seeding
  (`.debugging(seed=s)`): it resets runner `i`'s vector env with `s + i`, which Gymnasium spreads
  over the sub-envs as `s + i + j`, so runner 1's second sub-env and runner 2's first start the
  same training run. An explicit seed passed to `reset()` (RLlib's, if set) always wins. Without
  a `seed` key, envs are seeded from OS entropy, as Gymnasium does.

Notes:
    - Env runners restarted after a failure keep their `worker_index`: a restarted runner
      starts again from the same derived seed. Sub-environments RLlib rebuilds inside a running
      runner (`restart_failed_sub_environments=True`) get the next `k`, hence new seeds.
    - With `gym_env_vectorize_mode="async"`, each sub-env is built in its own process, so all
      sub-envs of a runner would share `k = 0`: keep RLlib's default "sync" mode and scale with
      `num_env_runners` (one expensive env per runner is the usual layout for lrgym).
    - `log_episode_metrics` is an `on_episode_end` callback that reports the final test accuracy
      and other end-of-run numbers of each episode in RLlib's results.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

from lrgym.integrations.optional import require

ENV_ID_PREFIX = "LRTuning-"
SEED_KEY = "seed"  # the one env_config key that is not an LRTuningConfig field
EPISODE_INFO_KEYS = ("test_acc", "test_loss", "full_val_acc", "full_val_loss", "val_acc", "lr")

_built: Counter[tuple[str, int, int]] = Counter()  # envs built per (env id, worker, vector index)
_built_lock = threading.Lock()


def lrgym_env_ids() -> list[str]:
    """Every id in Gymnasium's registry that starts with `LRTuning-` (the presets and user variants)."""
    return sorted(env_id for env_id in gym.registry if env_id.startswith(ENV_ID_PREFIX))


def register_rllib_envs(env_ids: Iterable[str] | None = None) -> list[str]:
    """Registers `LRTuning-*` ids with Ray Tune's registry, which RLlib consults first.

    Call it in the driver before building the algorithm; Ray ships the creators to the env
    runners. Registering again replaces the creators (idempotent).

    Args:
        env_ids: ids to register; by default every `LRTuning-*` id in Gymnasium's registry.

    Returns:
        The registered ids.

    Raises:
        ImportError: Ray is not installed (the message names `pip install 'lrgym[ray]'`).
        ValueError: an id is not in Gymnasium's registry.
    """
    registry = require("ray.tune.registry", "ray")
    ids = lrgym_env_ids() if env_ids is None else list(env_ids)
    unknown = [env_id for env_id in ids if env_id not in gym.registry]
    if unknown:
        raise ValueError(f"unknown env id(s) {unknown}; registered LRTuning ids are {lrgym_env_ids()}")
    for env_id in ids:
        registry.register_env(env_id, partial(make_rllib_env, env_id))
    return ids


def derive_seed(seed: int, worker_index: int, vector_index: int, k: int = 0) -> int:
    """The first-reset seed of an env: independent streams for every (worker, vector index, k).

    NumPy's `SeedSequence` with a spawn key gives statistically independent seeds for
    neighbouring indices (unlike `seed + index`, whose runs overlap between runners).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"env_config['{SEED_KEY}']={seed!r} is invalid: must be an integer >= 0 or absent")
    sequence = np.random.SeedSequence(int(seed), spawn_key=(int(worker_index), int(vector_index), int(k)))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))  # fits a signed int64


class FirstResetSeed(gym.Wrapper):
    """Seeds an env's first `reset()` that comes without a seed; every other reset is untouched.

    Args:
        env: the env to wrap.
        seed: the seed for the first reset, unless that reset brings its own.
    """

    def __init__(self, env: gym.Env, seed: int) -> None:
        super().__init__(env)
        self.first_reset_seed = seed
        self._first = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if self._first:
            self._first = False
            if seed is None:
                seed = self.first_reset_seed
        return super().reset(seed=seed, options=options)


def make_rllib_env(env_id: str, env_config: Mapping[str, Any] | None = None) -> gym.Env:
    """RLlib's env creator for `env_id`: `gym.make(env_id, **env_config)`, seeded per runner.

    Args:
        env_id: a registered `LRTuning-*` id.
        env_config: RLlib's `EnvContext` (or a plain dict): `LRTuningConfig` fields, and
            optionally `seed` (see the module docstring). `worker_index` and `vector_index` are
            read from the `EnvContext`'s attributes (0 for a plain dict).

    Returns:
        The env, wrapped in `FirstResetSeed` when `seed` is given.

    Raises:
        ValueError: an unknown or invalid option (named, with the allowed values), or a request
            for RLlib's `vector_entry_point` mode, which lrgym does not provide.
    """
    kwargs = dict(env_config or {})
    if "num_envs" in kwargs:
        raise ValueError(
            f"{env_id} has no vector entry point: use RLlib's gym_env_vectorize_mode='sync' "
            "(the default) and scale with num_env_runners / num_envs_per_env_runner"
        )
    base_seed = kwargs.pop(SEED_KEY, None)
    worker_index = int(getattr(env_config, "worker_index", 0) or 0)
    vector_index = int(getattr(env_config, "vector_index", 0) or 0)
    if base_seed is not None:
        derive_seed(base_seed, 0, 0)  # reject a bad seed before building anything
    env = gym.make(env_id, **kwargs)
    if base_seed is None:
        return env
    with _built_lock:
        key = (env_id, worker_index, vector_index)
        k = _built[key]
        _built[key] += 1
    return FirstResetSeed(env, derive_seed(base_seed, worker_index, vector_index, k))


def log_episode_metrics(*, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
    """An RLlib `on_episode_end` callback: logs the run's end-of-episode numbers under `lrgym/`.

    Use `config.callbacks(on_episode_end=log_episode_metrics)`; results then hold, under
    `result["env_runners"]["lrgym/test_acc"]` and alike, the mean over recent episodes of the
    final test accuracy (present when the env's `final_eval` is on), full-validation accuracy,
    last validation-subset accuracy, final learning rate and whether training diverged.
    RLlib's own episode return (`episode_return_mean`) sits beside them.
    """
    if metrics_logger is None:
        return
    info = episode.get_infos(-1)
    if not isinstance(info, Mapping):
        return
    for key in EPISODE_INFO_KEYS:
        if key in info:
            metrics_logger.log_value(f"lrgym/{key}", float(info[key]), reduce="mean", window=100)
    if "diverged" in info:
        metrics_logger.log_value("lrgym/diverged", float(info["diverged"]), reduce="mean", window=100)
