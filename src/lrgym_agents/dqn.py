"""Double DQN for the lrgym environments, the algorithm in one readable file (after CleanRL's
dqn.py); stepping the env is `lrgym_agents.rollout`'s, replay and n-step assembly
`lrgym_agents.replay`'s.

A step of an lrgym environment trains a network for seconds and an episode lasts minutes, so a
whole run is a few thousand environment steps, not millions. Everything here is sized for that:
a replay buffer that holds the whole run, learning after about two episodes, a target network
refreshed about once per episode, and an exploration rate that decays over a share of the run the
agent is asked to learn (not over a fixed million steps, the original code's bug).

The learning loop, one iteration per environment step (of a single env or a vector env):

    act (epsilon-greedy) -> env.step -> store transition -> gradient update(s) -> callback
    -> if a single env's episode ended: env.reset() (done lazily, at the start of the next step)

- Targets are Double DQN: the online network picks the next action, the target network values it;
  no bootstrap term after `terminated`, a bootstrap term after `truncated` (a time limit is not a
  terminal state). Huber loss, gradient-norm clipping.
- Observations are flattened (the paper preset stacks frames) and normalised with a running
  mean and variance (Welford) of every state seen while learning. The replay buffer keeps raw
  float32 observations and normalises them when sampled, so old transitions use current
  statistics. Acting greedily never changes the statistics; they are saved with the model.
- All randomness comes from the agent's own generators seeded by `seed`: a numpy Generator for
  exploration and replay sampling, a torch Generator for network initialisation. The first
  `learn()` resets the env with `seed`; later calls continue without reseeding.
- Vector envs (Gymnasium 1.x, next-step or same-step autoreset, see `Rollout`): with next-step
  autoreset, the step after a sub-env's episode ended only resets it (its action is ignored);
  that step is not a transition: it is neither stored nor counted in `steps_done`.
- `save_checkpoint` holds everything `learn()` needs to continue exactly as if never stopped: the
  networks, optimiser state, replay buffer, normaliser, counters, exploration schedule, the
  agent's RNG states and the environment's RNG (of every sub-env). Saved when every (sub-)env has
  just finished an episode (as `lrgym train` does), a resumed run is identical to an
  uninterrupted one on the CPU. Episodes in progress cannot be saved: on resume every (sub-)env
  starts a new episode from its restored RNG, so the run is reproducible but no longer identical.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrgym_agents.base import Agent, AgentError, Callback
from lrgym_agents.replay import NStepAssembler, ReplayBuffer
from lrgym_agents.rollout import EnvStep, Rollout, RolloutError, StepRecord

OPTIMIZERS = ("adam", "rmsprop")


# --- hyperparameters ------------------------------------------------------------------------
@dataclass(frozen=True)
class DQNHyperparameters:
    """Every knob of the agent. Defaults are sized for LRTuning-v0: 100 steps per episode, a few
    thousand steps per run."""

    # network and optimiser
    hidden_sizes: tuple[int, ...] = (128, 128)  # units per hidden layer of the Q-network (ReLU MLP)
    optimizer: str = "adam"  # "adam", or "rmsprop" (centred, alpha 0.95, eps 0.01: DeepMind 2015)
    learning_rate: float = 5e-4  # optimiser step size
    max_grad_norm: float = 10.0  # L2 norm the gradient of all parameters is clipped to, per update
    # Q-learning
    gamma: float = 0.99  # discount per env step (a horizon of ~100 steps: one LRTuning-v0 episode)
    # Rewards summed over this many steps before bootstrapping: an LR decision pays off (or hurts)
    # several steps later, and n-step targets carry that back n times faster than one-step ones.
    n_step: int = 1
    batch_size: int = 64  # transitions per gradient update
    buffer_size: int = 10_000  # replay capacity, transitions: the whole of a few-thousand-step run
    learning_starts: int = 200  # env steps collected before the first update (~2 LRTuning-v0 episodes)
    train_frequency: int = 1  # env steps per round of updates (a step costs seconds, an update ~1 ms)
    gradient_steps: int = 1  # gradient updates per round
    target_update_interval: int = 100  # env steps between target-network updates (~1 episode)
    tau: float = 1.0  # target <- tau * online + (1 - tau) * target at each update (1.0: hard copy)
    # exploration: epsilon-greedy, linear in env steps from initial to final, then constant
    exploration_initial_eps: float = 1.0  # probability of a uniformly random action at step 0
    exploration_final_eps: float = 0.05  # ... after the decay (greedy evaluation always uses 0)
    exploration_fraction: float = 0.4  # decay over this share of the steps of the first learn() call
    exploration_steps: int | None = None  # if set: decay over this many env steps instead
    # observations
    normalize_observations: bool = True  # running mean/std over states seen while learning
    obs_clip: float = 10.0  # normalised observations are clipped to +-this (standard deviations)

    def __post_init__(self) -> None:
        if isinstance(self.hidden_sizes, list):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        self._validate()

    def _validate(self) -> None:
        """Rejects values that cannot work, naming the field and what is allowed."""

        def fail(name: str, allowed: str) -> None:
            raise AgentError(f"DQN hyperparameter {name}={getattr(self, name)!r} is invalid: {allowed}")

        def is_int(value: Any) -> bool:
            return isinstance(value, int | np.integer) and not isinstance(value, bool)

        def is_real(value: Any) -> bool:
            return (
                isinstance(value, int | float | np.number)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )

        if not self.hidden_sizes or not all(is_int(h) and h > 0 for h in self.hidden_sizes):
            fail("hidden_sizes", "expected a non-empty list of positive integers, e.g. [128, 128]")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", f"expected one of {list(OPTIMIZERS)}")
        for name in (
            "n_step",
            "batch_size",
            "buffer_size",
            "train_frequency",
            "gradient_steps",
            "target_update_interval",
        ):
            if not (is_int(getattr(self, name)) and getattr(self, name) > 0):
                fail(name, "expected a positive integer")
        if not (is_int(self.learning_starts) and self.learning_starts >= 0):
            fail("learning_starts", "expected an integer >= 0")
        if self.exploration_steps is not None and not (
            is_int(self.exploration_steps) and self.exploration_steps > 0
        ):
            fail("exploration_steps", "expected a positive integer or None")
        for name in ("learning_rate", "max_grad_norm", "obs_clip"):
            if not (is_real(getattr(self, name)) and getattr(self, name) > 0):
                fail(name, "expected a positive number")
        for name in ("gamma", "exploration_initial_eps", "exploration_final_eps"):
            if not (is_real(getattr(self, name)) and 0 <= getattr(self, name) <= 1):
                fail(name, "expected a number in [0, 1]")
        for name in ("tau", "exploration_fraction"):
            if not (is_real(getattr(self, name)) and 0 < getattr(self, name) <= 1):
                fail(name, "expected a number in (0, 1]")
        if not isinstance(self.normalize_observations, bool):
            fail("normalize_observations", "expected true or false")


PRESETS: dict[str, DQNHyperparameters] = {
    "default": DQNHyperparameters(),
    # The original code's agent (Fu et al., arXiv 1606.01467, after DeepMind's Atari DQN): an MLP
    # with two hidden layers of 256, RMSProp at 2.5e-4, gamma 0.99, batch 32, an update every 4
    # steps. Without its bugs: exploration decays over this run (not over 1e6 steps), replay keeps
    # float32 observations (not bytes), and evaluation is greedy (act(deterministic=True)).
    "paper": DQNHyperparameters(
        hidden_sizes=(256, 256),
        optimizer="rmsprop",
        learning_rate=2.5e-4,
        gamma=0.99,
        batch_size=32,
        train_frequency=4,
    ),
}
HYPERPARAMETER_NAMES = tuple(f.name for f in dataclasses.fields(DQNHyperparameters))

MODEL_FILE = "dqn.pt"  # networks, normaliser, hyperparameters (save/load)
CHECKPOINT_STATE_FILE = "checkpoint.json"  # counters, schedule, RNG states (save_checkpoint)
CHECKPOINT_TENSORS_FILE = "checkpoint.pt"  # optimiser state, torch RNG state
REPLAY_FILE = "replay.npz"  # replay buffer contents
FORMAT_VERSION = 1
NORM_EPS = 1e-8  # added to the running variance before the square root


def make_hyperparameters(preset: str = "default", **overrides: Any) -> DQNHyperparameters:
    """The preset's hyperparameters with `overrides` applied; unknown names raise `AgentError`."""
    if preset not in PRESETS:
        raise AgentError(f"unknown DQN preset {preset!r}; presets are {list(PRESETS)}")
    unknown = sorted(set(overrides) - set(HYPERPARAMETER_NAMES))
    if unknown:
        raise AgentError(
            f"unknown DQN hyperparameter(s) {unknown}; valid hyperparameters are: {', '.join(HYPERPARAMETER_NAMES)}"
        )
    return dataclasses.replace(PRESETS[preset], **overrides)


def _hyperparameters_to_dict(hp: DQNHyperparameters) -> dict[str, Any]:
    values = dataclasses.asdict(hp)
    values["hidden_sizes"] = list(hp.hidden_sizes)
    return values


# --- building blocks --------------------------------------------------------------------------
class RunningNormalizer:
    """Running mean and variance of observations (Welford), applied as (x - mean) / std, clipped.

    The Q-network's inputs mix quantities of very different scales (log losses, accuracies,
    weight quantiles); standardising them makes one learning rate fit all inputs. Statistics are
    float64 so that millions of updates do not drift; until two states are seen the variance is 1.
    """

    def __init__(self, size: int, clip: float) -> None:
        self.clip = clip
        self.count = 0
        self.mean = np.zeros(size, dtype=np.float64)
        self.m2 = np.zeros(size, dtype=np.float64)  # sum of squared deviations from the mean

    def update(self, batch: np.ndarray) -> None:
        """Adds each row of `batch` (one observation per row), in order."""
        for x in np.asarray(batch, dtype=np.float64):
            self.count += 1
            delta = x - self.mean
            self.mean += delta / self.count
            self.m2 += delta * (x - self.mean)

    @property
    def var(self) -> np.ndarray:
        return self.m2 / self.count if self.count > 1 else np.ones_like(self.m2)

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        z = (batch - self.mean) / np.sqrt(self.var + NORM_EPS)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "count": torch.tensor(self.count, dtype=torch.int64),
            "mean": torch.from_numpy(self.mean.copy()),
            "m2": torch.from_numpy(self.m2.copy()),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        mean, m2 = state["mean"].numpy().astype(np.float64), state["m2"].numpy().astype(np.float64)
        if mean.shape != self.mean.shape or m2.shape != self.m2.shape:
            raise ValueError(f"normaliser of size {mean.shape}, expected {self.mean.shape}")
        self.count, self.mean, self.m2 = int(state["count"]), mean.copy(), m2.copy()


def build_q_network(
    obs_size: int, n_actions: int, hidden_sizes: tuple[int, ...], generator: torch.Generator | None
) -> nn.Sequential:
    """An MLP from flattened observations to one Q-value per action.

    Layers are created without touching the global torch RNG (`skip_init`) and initialised like
    PyTorch's default Linear init (uniform in +-1/sqrt(fan_in)) from `generator`; with no
    generator they stay uninitialised, for loading saved weights.
    """
    sizes = (obs_size, *hidden_sizes)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [_linear(n_in, n_out, generator), nn.ReLU()]
    layers.append(_linear(sizes[-1], n_actions, generator))
    return nn.Sequential(*layers)


def _linear(n_in: int, n_out: int, generator: torch.Generator | None) -> nn.Linear:
    layer = torch.nn.utils.skip_init(nn.Linear, n_in, n_out)
    if generator is not None:
        bound = 1.0 / math.sqrt(n_in)
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def double_dqn_targets(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    next_q_online: torch.Tensor,
    next_q_target: torch.Tensor,
    gamma: float | torch.Tensor,
) -> torch.Tensor:
    """r + gamma * (1 - terminated) * Q_target(s', argmax_a Q_online(s', a)).

    For n-step transitions `rewards` are discounted sums and `gamma` the per-sample gamma^n.

    Only `terminated` removes the bootstrap term: a transition cut by a time limit (`truncated`)
    still has a future, so it is stored with terminated=False and bootstraps like any other.
    """
    next_actions = next_q_online.argmax(dim=1, keepdim=True)
    next_values = next_q_target.gather(1, next_actions).squeeze(1)
    return rewards + gamma * (1.0 - terminated.float()) * next_values


# --- the agent --------------------------------------------------------------------------------
class DQNAgent(Agent):
    """Double DQN with experience replay, a target network and running observation normalisation.

    Args:
        env: a Gymnasium env or vector env with a (flattenable) `Box` observation space and a
            `Discrete` action space (lrgym action modes "discrete", "paper", "schedule_relative_discrete").
        seed: seeds the agent's generators and the env's first reset.
        name: the agent's registry name ("dqn" or "dqn-paper" by default, from `preset`).
        preset: "default" (sized for LRTuning-v0) or "paper" (the original code's agent).
        **hyperparameters: overrides of `DQNHyperparameters` fields.
    """

    name = "dqn"
    action_modes = ("discrete", "paper", "schedule_relative_discrete")

    def __init__(
        self,
        env: gym.Env | gym.vector.VectorEnv,
        seed: int = 0,
        name: str | None = None,
        preset: str = "default",
        **hyperparameters: Any,
    ) -> None:
        super().__init__(env, seed=seed, name=name or ("dqn-paper" if preset == "paper" else "dqn"))
        self.hp = make_hyperparameters(preset, **hyperparameters)
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise AgentError(f"DQN needs a Box observation space, got {self.observation_space}")
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise AgentError(
                f"DQN needs a Discrete action space, got {self.action_space} (an env with controls beyond "
                "the LR has a MultiDiscrete one); use controls=('lr',), or sb3-ppo / sb3-a2c for MultiDiscrete"
            )
        self.obs_size = int(np.prod(self.observation_space.shape))
        self.n_actions = int(self.action_space.n)
        try:
            self.rollout = Rollout(env, seed=seed)
        except RolloutError as exc:
            raise AgentError(f"DQN: {exc}") from None
        self.num_envs = self.rollout.num_envs

        seeds = np.random.SeedSequence(seed).spawn(3)
        self._rng = np.random.default_rng(seeds[0])  # exploration and replay sampling in learn()
        self._act_rng = np.random.default_rng(seeds[1])  # act(deterministic=False), apart from learn()'s
        self._torch_rng = torch.Generator().manual_seed(int(seeds[2].generate_state(1)[0]))
        self._build(init=True)

        self.episodes_done = 0  # episodes finished while learning (over all sub-envs)
        self.updates_done = 0  # gradient updates
        self._exploration_horizon: int | None = None  # env steps over which epsilon decays

    def _build(self, init: bool) -> None:
        """(Re)creates networks, optimiser, normaliser, replay buffer and n-step assembly from `self.hp`."""
        hp = self.hp
        generator = self._torch_rng if init else None
        self.q = build_q_network(self.obs_size, self.n_actions, hp.hidden_sizes, generator)
        self.q_target = build_q_network(self.obs_size, self.n_actions, hp.hidden_sizes, None)
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        if hp.optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(self.q.parameters(), lr=hp.learning_rate)
        else:
            self.optimizer = torch.optim.RMSprop(
                self.q.parameters(), lr=hp.learning_rate, alpha=0.95, eps=0.01, centered=True
            )
        self.normalizer = RunningNormalizer(self.obs_size, hp.obs_clip)
        self.replay = ReplayBuffer(hp.buffer_size, self.obs_size)
        self.n_step = NStepAssembler(self.num_envs, hp.n_step, hp.gamma)

    def hyperparameters(self) -> dict[str, Any]:
        return _hyperparameters_to_dict(self.hp)

    # --- acting ---------------------------------------------------------------------------------
    def epsilon(self) -> float:
        """The exploration rate at the current step (its initial value before any learn())."""
        hp = self.hp
        if self._exploration_horizon is None:
            return hp.exploration_initial_eps
        progress = min(1.0, self.steps_done / self._exploration_horizon)
        return hp.exploration_initial_eps + progress * (hp.exploration_final_eps - hp.exploration_initial_eps)

    def _act(self, obs: np.ndarray, deterministic: bool) -> int:
        """The greedy action for one observation; with `deterministic=False`, epsilon-greedy."""
        if not deterministic and self._act_rng.random() < self.epsilon():
            return int(self._act_rng.integers(self.n_actions))
        with one_torch_thread():
            return int(self._greedy(obs.reshape(1, self.obs_size))[0])

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values of the online network for a batch of observations, shape (batch, actions)."""
        batch = np.asarray(obs, dtype=np.float32).reshape(-1, self.obs_size)
        with torch.no_grad(), one_torch_thread():
            return self.q(torch.from_numpy(self._normalize(batch))).numpy()

    def _normalize(self, batch: np.ndarray) -> np.ndarray:
        return self.normalizer.normalize(batch) if self.hp.normalize_observations else batch

    def _greedy(self, batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.q(torch.from_numpy(self._normalize(batch))).argmax(dim=1).numpy()

    def _explore(self, batch: np.ndarray, epsilon: float) -> np.ndarray:
        """Epsilon-greedy actions.

        Random numbers are drawn only for sub-envs that act for real (not for one that the next
        step merely resets), and always the same count whatever they decide: a run resumed from
        a checkpoint then draws exactly what the uninterrupted run drew.
        """
        actions = self._greedy(batch)
        acting = np.flatnonzero(self.rollout.acting)
        explore = self._rng.random(len(acting)) < epsilon
        random_actions = self._rng.integers(self.n_actions, size=len(acting))
        actions[acting] = np.where(explore, random_actions, actions[acting])
        return actions

    # --- learning -------------------------------------------------------------------------------
    def _learn(self, total_steps: int, callback: Callback | None) -> None:
        """Trains for `total_steps` more env steps (transitions, summed over sub-envs).

        The first call fixes the exploration schedule: epsilon decays linearly over
        `exploration_fraction` of that budget (or `exploration_steps`); later calls and resumed
        runs continue that schedule. The first call also resets the env with `seed`; later calls
        continue without reseeding. `callback` gets a `StepRecord` after every env step, with
        `epsilon`, `loss` (mean of this step's updates, or None) and `updates_done` filled in;
        returning False stops learning.
        """
        if self._exploration_horizon is None:
            hp = self.hp
            self._exploration_horizon = hp.exploration_steps or max(
                1, round(hp.exploration_fraction * total_steps)
            )
        end = self.steps_done + total_steps
        while self.steps_done < end:
            fresh = self.rollout.needs_reset
            obs = self.rollout.observations().reshape(self.num_envs, self.obs_size)
            if fresh:
                self.normalizer.update(obs)
                self.n_step.clear()
            epsilon = self.epsilon()
            with one_torch_thread():
                actions = self._explore(obs, epsilon)
            step = self.rollout.step(actions)
            transitions = self._store(obs, actions, step)
            with one_torch_thread():
                losses = self._train(transitions)
            self.episodes_done += len([e for e in step.episodes if e is not None])
            record = StepRecord(
                steps_done=self.steps_done,
                episodes_done=self.episodes_done,
                actions=[int(a) for a in actions],
                rewards=[float(r) for r in step.rewards],
                dones=[bool(d) for d in step.dones],
                infos=step.infos,
                episodes=step.episodes,
                epsilon=epsilon,
                loss=float(np.mean(losses)) if losses else None,
                updates_done=self.updates_done,
            )
            if callback is not None and callback(record) is False:
                break
        if self.updates_done == 0:  # a silent no-op would pass for a trained agent
            hp = self.hp
            warnings.warn(
                f"the DQN has made no gradient update in its {self.steps_done} steps: updates start once "
                f"learning_starts={hp.learning_starts} steps are done and the replay buffer holds "
                f"batch_size={hp.batch_size} transitions (it holds {self.replay.size}); train longer or "
                "lower them",
                stacklevel=3,
            )

    def _store(self, obs: np.ndarray, actions: np.ndarray, step: EnvStep) -> int:
        """Turns the step's real transitions into n-step ones in the replay buffer and updates the
        normaliser; returns how many env transitions the step had."""
        flat = step.next_obs.reshape(self.num_envs, self.obs_size)
        valid = np.flatnonzero(step.valid)
        for i in valid:
            ended = bool(step.terminated[i] or step.truncated[i])
            self.n_step.add(
                self.replay,
                i,
                obs[i],
                int(actions[i]),
                float(step.rewards[i]),
                flat[i],
                bool(step.terminated[i]),
                ended,
            )
        self.normalizer.update(step.observed.reshape(-1, self.obs_size))
        return len(valid)

    def _train(self, new_transitions: int) -> list[float]:
        """Counts the new env steps; runs the updates and target refreshes that fall on them."""
        hp, losses = self.hp, []
        for _ in range(new_transitions):
            self.steps_done += 1
            if self.steps_done < hp.learning_starts or self.replay.size < hp.batch_size:
                continue
            if self.steps_done % hp.train_frequency == 0:
                losses += [self._gradient_step() for _ in range(hp.gradient_steps)]
            if self.steps_done % hp.target_update_interval == 0:
                self._update_target()
        return losses

    def _gradient_step(self) -> float:
        hp = self.hp
        batch = self.replay.sample(self._rng, hp.batch_size)
        obs = torch.from_numpy(self._normalize(batch["obs"]))
        next_obs = torch.from_numpy(self._normalize(batch["next_obs"]))
        with torch.no_grad():
            targets = double_dqn_targets(
                torch.from_numpy(batch["rewards"]),
                torch.from_numpy(batch["terminated"]),
                self.q(next_obs),
                self.q_target(next_obs),
                torch.from_numpy(batch["discounts"]),
            )
        q = self.q(obs).gather(1, torch.from_numpy(batch["actions"])[:, None]).squeeze(1)
        loss = F.smooth_l1_loss(q, targets)
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.q.parameters(), hp.max_grad_norm)
        self.optimizer.step()
        self.updates_done += 1
        return loss.item()

    def _update_target(self) -> None:
        with torch.no_grad():
            for target, online in zip(self.q_target.parameters(), self.q.parameters(), strict=True):
                target.mul_(1.0 - self.hp.tau).add_(online, alpha=self.hp.tau)

    # --- saving and loading ---------------------------------------------------------------------
    def _save(self, path: Path) -> None:
        torch.save(
            {
                "format": FORMAT_VERSION,
                "hyperparameters": _hyperparameters_to_dict(self.hp),
                "obs_size": self.obs_size,
                "n_actions": self.n_actions,
                "online": self.q.state_dict(),
                "target": self.q_target.state_dict(),
                "normalizer": self.normalizer.state_dict(),
            },
            path / MODEL_FILE,
        )

    def _load(self, path: Path) -> None:
        """Loads networks, normaliser and hyperparameters (a loaded agent adopts the saved ones)."""
        file = path / MODEL_FILE
        data = _torch_load(file)
        try:
            saved = (data["format"], data["obs_size"], data["n_actions"])
            hp = DQNHyperparameters(**data["hyperparameters"])
        except (KeyError, TypeError, IndexError) as exc:
            raise AgentError(f"corrupt DQN model file {file}: {type(exc).__name__}: {exc}") from exc
        if saved != (FORMAT_VERSION, self.obs_size, self.n_actions):
            raise AgentError(
                f"{file} holds a format-{saved[0]} DQN for {saved[1]} inputs and {saved[2]} actions; this agent "
                f"needs format {FORMAT_VERSION}, {self.obs_size} inputs and {self.n_actions} actions"
            )
        self.hp = hp
        self._build(init=False)
        try:
            self.q.load_state_dict(data["online"])
            self.q_target.load_state_dict(data["target"])
            self.normalizer.load_state_dict(data["normalizer"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise AgentError(f"corrupt DQN model file {file}: {type(exc).__name__}: {exc}") from exc

    def save_checkpoint(self, path: str | Path) -> Path:
        """Saves the model plus everything `learn()` needs to continue exactly where it stopped.

        Save at an episode boundary (from the callback, when every entry of "dones" is True) for
        an exact resume: an episode in progress cannot be saved and restarts on resume.
        """
        path = self.save(path)
        torch.save(
            {"optimizer": self.optimizer.state_dict(), "torch_rng": self._torch_rng.get_state()},
            path / CHECKPOINT_TENSORS_FILE,
        )
        np.savez(path / REPLAY_FILE, **self.replay.state())
        state = {
            "format": FORMAT_VERSION,
            "seed": self.seed,
            "steps_done": self.steps_done,
            "episodes_done": self.episodes_done,
            "updates_done": self.updates_done,
            "exploration_horizon": self._exploration_horizon,
            "env_started": self.rollout.started,
            "rng": self._rng.bit_generator.state,
            "act_rng": self._act_rng.bit_generator.state,
            "env_rng": self.rollout.rng_states() if self.rollout.started else None,
        }
        (path / CHECKPOINT_STATE_FILE).write_text(json.dumps(state, indent=1))
        return path

    def load_checkpoint(self, path: str | Path) -> DQNAgent:
        """Restores what `save_checkpoint` wrote, including the env's RNG; `learn()` then continues
        with an env reset that draws what the uninterrupted run would have drawn."""
        path = Path(path)
        missing = [
            f
            for f in (CHECKPOINT_STATE_FILE, CHECKPOINT_TENSORS_FILE, REPLAY_FILE)
            if not (path / f).is_file()
        ]
        if missing:
            raise AgentError(
                f"{path} is not a DQN checkpoint: {', '.join(missing)} missing (save_checkpoint() writes them; "
                "save() writes a model only, for load())"
            )
        self.load(path)
        tensors = _torch_load(path / CHECKPOINT_TENSORS_FILE)
        try:
            state = json.loads((path / CHECKPOINT_STATE_FILE).read_text())
            with np.load(path / REPLAY_FILE) as replay:
                self.replay.load_state({name: replay[name] for name in (*ReplayBuffer.FIELDS, "pos")})
            self.optimizer.load_state_dict(tensors["optimizer"])
            self._torch_rng.set_state(tensors["torch_rng"])
            self._rng.bit_generator.state = state["rng"]
            self._act_rng.bit_generator.state = state["act_rng"]
            self.seed = int(state["seed"])
            self.steps_done = int(state["steps_done"])
            self.episodes_done = int(state["episodes_done"])
            self.updates_done = int(state["updates_done"])
            self._exploration_horizon = state["exploration_horizon"]
            self.rollout.started = bool(state["env_started"])
            if state["env_rng"] is not None:
                self.rollout.restore_rng_states(state["env_rng"])
        except (OSError, KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
            raise AgentError(f"corrupt DQN checkpoint in {path}: {type(exc).__name__}: {exc}") from exc
        self.rollout.forget_episodes()  # the next learn() starts with an env reset
        return self


# --- helpers ----------------------------------------------------------------------------------
@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Runs the Q-network on one intra-op thread, restoring the previous setting afterwards.

    The Q-network is tiny: with several threads, synchronising the thread pool costs more than
    the arithmetic (10x slower on a busy 2-core machine), while the env's own training in the
    same process keeps all its threads. One thread also makes results independent of the core count.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _torch_load(file: Path) -> Any:
    """torch.load restricted to tensors and plain containers; any failure is an `AgentError`."""
    if not file.is_file():
        raise AgentError(f"{file} is missing: expected a file written by DQNAgent.save()/save_checkpoint()")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors have no common base class
        raise AgentError(f"cannot read {file}: {type(exc).__name__}: {exc}") from exc
