"""Stable-Baselines3 baselines (DQN, QR-DQN, PPO, A2C, SAC) behind the lrgym `Agent` interface.

SB3's default hyperparameters assume environment steps cost microseconds (replay buffers of 1e6,
1e4+ steps before learning starts, epsilon decayed over 10% of a million-step run). Here one step
trains a slice of a real network, so a whole learning run is a few hundred episodes. The factories
below keep SB3's algorithms as they are and only size them for that budget; every choice sits in
`HYPERPARAMETERS` with its reason. Lengths that only make sense relative to an episode (when to
start learning, how often to sync a target network, how long a rollout is) are written as
`Episodes(n)` and turned into environment steps from the env's `num_steps` at construction.

Build agents through the registry (`make_agent("sb3-ppo", env)`) or directly:
`SB3Agent(env, algo="ppo", seed=0, n_epochs=5)`. `env` is one Gymnasium env (wrapped by SB3 in a
`Monitor` and a `DummyVecEnv`, as SB3 does) or an SB3 `VecEnv` such as
`make_vec_env("lrgym:LRTuning-v0", n_envs=4, vec_env_cls=SubprocVecEnv)`.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from sb3_contrib import QRDQN
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import TensorBoardOutputFormat
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.utils import configure_logger
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from lrgym_agents.base import Agent, AgentError, Callback, env_config, read_metadata
from lrgym_agents.rollout import EpisodeBooks, StepRecord


@dataclass(frozen=True)
class Episodes:
    """A length measured in episodes of the env; `steps` turns it into environment steps.

    Used for hyperparameters whose sensible value depends on how long one training run is (10
    decisions for a test env, 3910 for `LRTuning-Paper-v0`), so one setting fits every preset.
    """

    n: float

    def __post_init__(self) -> None:
        if not self.n > 0:
            raise AgentError(f"Episodes({self.n!r}): the number of episodes must be positive")

    def steps(self, episode_steps: int) -> int:
        return max(1, math.ceil(self.n * episode_steps))


# ---------------------------------------------------------------------------------------------
# Hyperparameters: the one place to read or change them. Keys are the SB3 constructor's keyword
# arguments; keyword arguments given to `SB3Agent` replace entries (`policy_kwargs` as a whole).
# ---------------------------------------------------------------------------------------------
FALLBACK_EPISODE_STEPS = 100  # steps per episode assumed when the env has no lrgym config (LRTuning-v0's)

# Shared by every algorithm.
COMMON: dict[str, Any] = {
    "policy": "MlpPolicy",
    "device": "cpu",  # the policies are small MLPs: the GPU (if any) belongs to the env's training run
    "verbose": 0,
}

# DQN and QR-DQN: value-based, discrete action modes.
_DQN_LIKE: dict[str, Any] = {
    "learning_rate": 5e-4,  # Adam step size; above SB3's 1e-4 because there are few updates in all
    "buffer_size": 10_000,  # transitions (SB3: 1e6): 100 runs of LRTuning-v0, far more than a budget holds
    "learning_starts": Episodes(2),  # random steps before the first update (SB3: 100 steps)
    "batch_size": 32,  # transitions per gradient step
    "gamma": 0.99,  # discount per decision: a horizon of ~100 decisions, one LRTuning-v0 run
    "train_freq": 1,  # env steps between updates: each step is expensive, learn from every one
    "gradient_steps": 2,  # updates per env step: ~1 ms each against ~1 s per step, so two are free
    "target_update_interval": Episodes(1),  # env steps between target syncs (SB3: 1e4 steps)
    # Share of the run (all steps up to the end of the current learn() call) over which epsilon
    # decays, so exploration ends within the budget however short (SB3: 0.1; the original code
    # decayed over 1e6 steps and so never stopped exploring).
    "exploration_fraction": 0.25,
    "exploration_initial_eps": 1.0,  # epsilon at the start
    "exploration_final_eps": 0.05,  # epsilon after the decay; act() is greedy regardless
    "policy_kwargs": {"net_arch": [64, 64]},  # hidden layer widths of the Q-network
}

HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "dqn": dict(_DQN_LIKE),
    "qrdqn": {
        **_DQN_LIKE,
        # 50 quantiles (SB3-contrib: 200) are plenty for returns bounded by one accuracy gain.
        "policy_kwargs": {"net_arch": [64, 64], "n_quantiles": 50},
    },
    "ppo": {
        "learning_rate": 3e-4,  # Adam step size (SB3's default)
        "n_steps": Episodes(2),  # env steps per sub-env per rollout (SB3: 2048): two whole runs per update
        "batch_size": Episodes(0.5),  # transitions per mini-batch: 4 mini-batches per 1-env rollout
        "n_epochs": 10,  # passes over each rollout: squeezes the most out of expensive samples
        "gamma": 0.99,  # discount per decision (horizon ~ one LRTuning-v0 run)
        "gae_lambda": 0.95,  # GAE bias/variance trade-off (SB3's default)
        "clip_range": 0.2,  # PPO ratio clip (SB3's default)
        "ent_coef": 0.01,  # entropy bonus (SB3: 0): keeps exploring through the few hundred updates there are
        "policy_kwargs": {"net_arch": [64, 64]},  # hidden widths of policy and value networks
    },
    "a2c": {
        "learning_rate": 7e-4,  # RMSprop step size (SB3's default)
        "n_steps": 5,  # env steps per sub-env per update: one update every few expensive steps
        "gamma": 0.99,  # discount per decision
        "gae_lambda": 1.0,  # plain n-step advantages (SB3's default)
        "ent_coef": 0.01,  # entropy bonus (SB3: 0): keeps exploring on short runs
        "policy_kwargs": {"net_arch": [64, 64]},  # hidden widths of policy and value networks
    },
    "sac": {
        "learning_rate": 3e-4,  # Adam step size for actor, critics and temperature (SB3's default)
        "buffer_size": 10_000,  # transitions (SB3: 1e6), as for DQN
        "learning_starts": Episodes(2),  # random steps before the first update (SB3: 100 steps)
        "batch_size": 64,  # transitions per gradient step (SB3: 256, too many for a young buffer)
        "tau": 0.005,  # Polyak rate of the target critics (SB3's default)
        "gamma": 0.99,  # discount per decision
        "train_freq": 1,  # env steps between updates: learn from every expensive step
        "gradient_steps": 2,  # updates per env step: cheap next to one env step
        "ent_coef": "auto",  # learned temperature (SB3's default)
        "policy_kwargs": {"net_arch": [64, 64]},  # hidden widths (SB3: 256, 256): little data, small nets
    },
}

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"dqn": DQN, "qrdqn": QRDQN, "ppo": PPO, "a2c": A2C, "sac": SAC}

# The env action modes each algorithm can drive (see lrgym.actions).
DISCRETE_MODES = ("discrete", "paper", "schedule_relative_discrete")
BOX_MODES = ("continuous", "absolute", "schedule_relative")
ACTION_MODES: dict[str, tuple[str, ...]] = {
    "dqn": DISCRETE_MODES,
    "qrdqn": DISCRETE_MODES,
    "ppo": DISCRETE_MODES + BOX_MODES,
    "a2c": DISCRETE_MODES,
    "sac": BOX_MODES,
}

# Action spaces beyond one dimension (an env with `controls` beyond the LR): MultiDiscrete in the
# discrete modes, a Box of several entries in the others; the algorithms that take each.
MULTI_DISCRETE_ALGOS = ("ppo", "a2c")
MULTI_BOX_ALGOS = ("ppo", "sac")

MODEL_FILE = "model.zip"
VEC_NORMALIZE_FILE = "vecnormalize.pkl"  # the observation statistics, saved beside the model
OBS_CLIP = 10.0  # normalised observations are clipped to +-this (as the custom DQN's)
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
CHECKPOINT_FILE = "checkpoint.json"

# Constructor arguments the agent sets itself (env and seed come from SB3Agent's own arguments).
_RESERVED = {"self", "env", "seed", "_init_setup_model"}


def _check_multi_dimensional(algo: str, space: gym.Space) -> None:
    """Refuses an action space of several entries that `algo` cannot drive, naming those that can."""
    if isinstance(space, gym.spaces.MultiDiscrete) and algo not in MULTI_DISCRETE_ALGOS:
        allowed = ", ".join(f"sb3-{a}" for a in MULTI_DISCRETE_ALGOS)
        raise AgentError(
            f"sb3-{algo} cannot drive a MultiDiscrete action space ({space}, from controls beyond the LR); "
            f"use {allowed}, or a Box action_mode with sb3-ppo or sb3-sac"
        )
    if isinstance(space, gym.spaces.Box) and space.shape != (1,) and algo not in MULTI_BOX_ALGOS:
        allowed = ", ".join(f"sb3-{a}" for a in MULTI_BOX_ALGOS)
        raise AgentError(f"sb3-{algo} cannot drive a Box action space of shape {space.shape}; use {allowed}")


class SB3Agent(Agent):
    """A Stable-Baselines3 (or sb3-contrib) algorithm as an lrgym agent.

    Args:
        env: one Gymnasium env, or an SB3 `VecEnv` (`DummyVecEnv`, `SubprocVecEnv`, ...).
            Gymnasium vector envs are refused: SB3 cannot step them.
        seed: seeds SB3 (network initialisation, exploration, env resets).
        name: the agent's registry name (default `sb3-<algo>`); saved agents record it.
        algo: one of `ALGORITHMS`.
        normalize_observations: standardise observations with SB3's `VecNormalize`
            (`norm_obs=True, norm_reward=False`, clipped to +-10), as the custom DQN does with
            its running normaliser: statistics of every state seen while learning, saved and
            loaded with the model; acting never changes them.
        **overrides: SB3 constructor arguments replacing entries of `HYPERPARAMETERS[algo]`
            (e.g. `tensorboard_log="runs/"`, `n_epochs=5`, `learning_starts=Episodes(1)`).

    Checkpoints (`save_checkpoint`/`load_checkpoint`) hold the model, its optimiser state, the
    replay buffer of off-policy algorithms and the step counters, so `learn` continues with the
    same buffer, exploration schedule and counters. Unlike the custom DQN, the continuation is
    not bit-identical to an uninterrupted run: SB3 does not save its random-number generators
    or the env's state, so the episode in progress is abandoned and a fresh one starts.
    """

    def __init__(
        self,
        env: gym.Env | VecEnv,
        seed: int = 0,
        name: str | None = None,
        algo: str = "ppo",
        normalize_observations: bool = True,
        **overrides: Any,
    ) -> None:
        if algo not in ALGORITHMS:
            raise AgentError(f"unknown algo {algo!r}; choose one of {sorted(ALGORITHMS)}")
        if isinstance(env, gym.vector.VectorEnv):
            raise AgentError(
                "Stable-Baselines3 cannot step a Gymnasium vector env; build an SB3 VecEnv instead, e.g. "
                "stable_baselines3.common.env_util.make_vec_env('lrgym:LRTuning-v0', n_envs=4, "
                "vec_env_cls=SubprocVecEnv), or pass a single env"
            )
        super().__init__(env, seed=seed, name=name or f"sb3-{algo}", action_modes=ACTION_MODES[algo])
        _check_multi_dimensional(algo, self.action_space)
        self.algo = algo
        self.episodes_done = 0  # episodes finished while learning (over all sub-envs)
        self.episode_steps = _episode_steps(env)
        self._hyperparameters = resolve_hyperparameters(algo, overrides, self.episode_steps)
        # SB3 edits some arguments in place (SAC adds to policy_kwargs): give it a copy.
        kwargs = copy.deepcopy(self._hyperparameters)
        if not isinstance(normalize_observations, bool):
            raise AgentError(
                f"normalize_observations={normalize_observations!r} is invalid: expected true or false"
            )
        self.normalize_observations = normalize_observations
        venv = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: Monitor(env)])  # as SB3 wraps it
        self.vec_normalize = (
            VecNormalize(venv, norm_obs=True, norm_reward=False, clip_obs=OBS_CLIP)
            if normalize_observations
            else None
        )
        self.model: BaseAlgorithm = ALGORITHMS[algo](env=self.vec_normalize or venv, seed=seed, **kwargs)
        # Episodes in progress; they continue across learn() calls, as SB3 continues its rollout.
        self.episode_books = EpisodeBooks(self.model.n_envs)
        self._logger_ready = False  # whether this model's TensorBoard run directory is chosen

    # --- learning --------------------------------------------------------------------------
    def _learn(self, total_steps: int, callback: Callback | None) -> None:
        """Trains for `total_steps` more environment steps (summed over sub-envs).

        On-policy algorithms (PPO, A2C) collect whole rollouts, so they may run up to one
        rollout (`n_steps` x sub-envs) past `total_steps`; `steps_done` counts the real steps.
        With `tensorboard_log` set, each step's env info is logged too (`InfoLoggerCallback`).
        """
        callbacks: list[BaseCallback] = [_AgentCallback(self, callback)]
        if self.model.tensorboard_log is not None:
            self._configure_tensorboard()
            callbacks.append(InfoLoggerCallback())
        self.model.learn(
            total_timesteps=int(total_steps),
            callback=CallbackList(callbacks),
            reset_num_timesteps=False,
            tb_log_name=self.name,
        )
        self.steps_done = self.model.num_timesteps

    def _configure_tensorboard(self) -> None:
        """Gives this agent its own TensorBoard run, `<tensorboard_log>/<name>_<n>`, on first use.

        With `reset_num_timesteps=False` SB3 would write into the latest existing run of that
        name, mixing agents (e.g. several seeds) into one curve; later `learn` calls of this
        agent continue its run.
        """
        if self._logger_ready:
            return
        model = self.model
        model.set_logger(
            configure_logger(model.verbose, model.tensorboard_log, self.name, reset_num_timesteps=True)
        )
        self._logger_ready = True

    def _act(self, obs: np.ndarray, deterministic: bool) -> int | np.ndarray:
        """The action for one observation: an int (discrete modes), an int64 array (MultiDiscrete)
        or a float32 array of the Box's shape."""
        if self.vec_normalize is not None:
            obs = self.vec_normalize.normalize_obs(obs)
        action, _ = self.model.predict(obs, deterministic=deterministic)
        if isinstance(self.action_space, gym.spaces.Discrete):
            return int(np.asarray(action).reshape(()))
        if isinstance(self.action_space, gym.spaces.MultiDiscrete):
            return np.asarray(action, dtype=np.int64).reshape(self.action_space.shape)
        return np.asarray(action, dtype=np.float32).reshape(self.action_space.shape)

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "algo": self.algo,
            "normalize_observations": self.normalize_observations,
            **self._hyperparameters,
        }

    # --- persistence -----------------------------------------------------------------------
    def _save(self, path: Path) -> None:
        self.model.save(path / MODEL_FILE)
        if self.vec_normalize is not None:
            self.vec_normalize.save(path / VEC_NORMALIZE_FILE)

    def _load(self, path: Path) -> None:
        file = path / MODEL_FILE
        if not file.is_file():
            raise AgentError(f"no SB3 model at {file}")
        saved = dict(read_metadata(path).get("hyperparameters") or {})
        if saved.get("algo", self.algo) != self.algo:
            raise AgentError(f"{path} holds an SB3 {saved['algo']} model, not {self.algo}")
        normalized = bool(saved.get("normalize_observations", False))
        stats = path / VEC_NORMALIZE_FILE
        if normalized and not stats.is_file():
            raise AgentError(
                f"{path} holds a model trained on normalised observations, but {stats} is missing"
            )
        venv = self.vec_normalize.venv if self.vec_normalize is not None else self.model.get_env()
        try:
            vec_normalize = VecNormalize.load(str(stats), venv) if normalized else None
            self.model = ALGORITHMS[self.algo].load(
                file, env=vec_normalize or venv, device=self._hyperparameters.get("device", "auto")
            )
        except (AssertionError, TypeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as exc:
            # SB3 reports some malformed files through assertions and unpickling errors.
            raise AgentError(f"cannot load SB3 model {file}: {type(exc).__name__}: {exc}") from exc
        self.vec_normalize, self.normalize_observations = vec_normalize, normalized
        self.steps_done = self.model.num_timesteps
        self.episode_books = EpisodeBooks(self.model.n_envs)  # a loaded model starts new episodes
        self._logger_ready = False
        # SB3 restores the saved model's settings, so report those (in their JSON form) from now on.
        saved.pop("algo", None)
        saved.pop("normalize_observations", None)
        self._hyperparameters = saved or self._hyperparameters

    def save_checkpoint(self, path: str | Path) -> Path:
        """Saves the model, the replay buffer (off-policy algorithms) and the step counters."""
        path = self.save(path)
        if isinstance(self.model, OffPolicyAlgorithm):
            self.model.save_replay_buffer(path / REPLAY_BUFFER_FILE)
        counters = {"steps_done": self.steps_done, "episodes_done": self.episodes_done}
        (path / CHECKPOINT_FILE).write_text(json.dumps(counters, indent=2))
        return path

    def load_checkpoint(self, path: str | Path) -> SB3Agent:
        """Restores what `save_checkpoint` wrote; `learn` then continues (not bit-identically)."""
        path = Path(path)
        self.load(path)
        counters_file, buffer_file = path / CHECKPOINT_FILE, path / REPLAY_BUFFER_FILE
        off_policy = isinstance(self.model, OffPolicyAlgorithm)
        needed = [counters_file, buffer_file] if off_policy else [counters_file]
        missing = [f.name for f in needed if not f.is_file()]
        if missing:
            raise AgentError(
                f"{path} is not a checkpoint: {', '.join(missing)} missing (save_checkpoint() writes it, "
                "save() does not)"
            )
        try:
            counters = json.loads(counters_file.read_text())
            self.steps_done, self.episodes_done = int(counters["steps_done"]), int(counters["episodes_done"])
            if off_policy:
                self._load_replay_buffer(buffer_file)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            raise AgentError(f"corrupt checkpoint in {path}: {type(exc).__name__}: {exc}") from exc
        return self

    def _load_replay_buffer(self, file: Path) -> None:
        model = self.model
        assert isinstance(model, OffPolicyAlgorithm)
        model.load_replay_buffer(file)
        if model.replay_buffer is None or model.replay_buffer.n_envs != model.n_envs:
            raise AgentError(
                f"{file} holds a replay buffer for {getattr(model.replay_buffer, 'n_envs', '?')} sub-envs, "
                f"but this env has {model.n_envs}; resume with as many sub-envs as were saved"
            )


class InfoLoggerCallback(BaseCallback):
    """Logs the lrgym env's info dicts to SB3's logger, and so to TensorBoard.

    After every step it records the mean learning rate and validation-subset accuracy since
    the last dump (`lrgym/lr`, `lrgym/val_acc`), and at each episode end the run's result
    (`lrgym/test_acc`, `lrgym/full_val_acc`, `lrgym/diverged`); SB3 writes these with its own
    statistics at each log interval. SB3 dumps only every few episodes or rollouts, which hides
    the schedule itself, so when the logger writes TensorBoard the callback also writes every
    step's values (`lrgym_steps/...`, one curve per sub-env) and every episode's result
    (`lrgym_episodes/...`) straight to it, at the current `num_timesteps`.

    Usable on its own: `model.learn(..., callback=InfoLoggerCallback())`.
    """

    STEP_KEYS = ("lr", "val_acc")
    EPISODE_KEYS = ("test_acc", "full_val_acc", "diverged")

    def _on_step(self) -> bool:
        infos, dones = self.locals["infos"], self.locals["dones"]
        per_step: dict[str, float] = {}
        per_episode: dict[str, float] = {}
        suffix = (lambda i: f"/env{i}") if len(infos) > 1 else (lambda i: "")
        for i, (info, done) in enumerate(zip(infos, dones, strict=True)):
            for key in self.STEP_KEYS:
                if key in info:
                    self.logger.record_mean(f"lrgym/{key}", float(info[key]))
                    per_step[f"lrgym_steps/{key}{suffix(i)}"] = float(info[key])
            if not done:
                continue
            for key in self.EPISODE_KEYS:
                if key in info:
                    self.logger.record_mean(f"lrgym/{key}", float(info[key]))
                    per_episode[f"lrgym_episodes/{key}{suffix(i)}"] = float(info[key])
        self._write_tensorboard({**per_step, **per_episode})
        return True

    def _write_tensorboard(self, values: dict[str, float]) -> None:
        """Writes `values` at the current step to every TensorBoard output, bypassing the dump."""
        if not values:
            return
        for output in self.logger.output_formats:
            if isinstance(output, TensorBoardOutputFormat):
                output.write(values, dict.fromkeys(values), step=self.num_timesteps)


class _AgentCallback(BaseCallback):
    """Adapts an lrgym `Callback` (called after every env step with a `StepRecord`) to SB3's
    callback protocol. SB3's VecEnvs reset a sub-env in the step that ends its episode, so every
    step is a transition."""

    def __init__(self, agent: SB3Agent, callback: Callback | None) -> None:
        super().__init__()
        self.agent = agent
        self.callback = callback

    def _on_step(self) -> bool:
        dones = [bool(d) for d in self.locals["dones"]]
        infos, rewards = list(self.locals["infos"]), [float(r) for r in self.locals["rewards"]]
        self.agent.steps_done = self.model.num_timesteps
        self.agent.episodes_done += sum(dones)
        books = self.agent.episode_books
        episodes = [books.record(i, rewards[i], infos[i], dones[i]) for i in range(len(dones))]
        if self.callback is None:
            return True
        actions = np.asarray(self.locals.get("actions", [None] * len(dones)))
        keep_going = self.callback(
            StepRecord(
                steps_done=self.agent.steps_done,
                episodes_done=self.agent.episodes_done,
                actions=[a.tolist() if isinstance(a, np.ndarray) else a for a in actions],
                rewards=rewards,
                dones=dones,
                infos=infos,
                episodes=episodes,
            )
        )
        return keep_going is not False


# --- helpers -------------------------------------------------------------------------------
def valid_hyperparameters(algo: str) -> list[str]:
    """The keyword arguments `SB3Agent(algo=algo, ...)` accepts: the SB3 constructor's own."""
    params = inspect.signature(ALGORITHMS[algo].__init__).parameters
    return sorted(set(params) - _RESERVED)


def resolve_hyperparameters(algo: str, overrides: dict[str, Any], episode_steps: int) -> dict[str, Any]:
    """Defaults of `algo` with `overrides` applied and `Episodes` turned into steps."""
    valid = valid_hyperparameters(algo)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise AgentError(f"unknown hyperparameter(s) {unknown} for SB3 {algo}; valid ones are {valid}")
    merged = copy.deepcopy({**COMMON, **HYPERPARAMETERS[algo], **overrides})
    return {k: v.steps(episode_steps) if isinstance(v, Episodes) else v for k, v in merged.items()}


def _action_repeat(env: gym.Env | VecEnv) -> int:
    """Env steps per decision: `lrgym.wrappers.ActionRepeat`'s `repeat`, else 1."""
    if isinstance(env, gym.Env):
        try:
            return int(env.get_wrapper_attr("action_repeat"))
        except AttributeError:
            return 1
    # A sub-env of a vector env is asked for its spec, which every env has: a worker process
    # that fails to find an attribute stops (Gymnasium's and SB3's subprocess vector envs).
    spec = env.get_attr("spec")[0]
    wrappers = spec.additional_wrappers if spec is not None else ()
    return math.prod(int(w.kwargs["repeat"]) for w in wrappers if w.name == "ActionRepeat")


def _episode_steps(env: gym.Env | VecEnv) -> int:
    """Decisions per episode of `env`, the unit of `Episodes` (a fallback for non-lrgym envs)."""
    cfg = env_config(env)
    if cfg is not None:
        return math.ceil(cfg.num_steps / _action_repeat(env))
    limit = getattr(getattr(env, "spec", None), "max_episode_steps", None)
    return int(limit) if limit else FALLBACK_EPISODE_STEPS
