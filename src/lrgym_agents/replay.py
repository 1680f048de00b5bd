"""Experience replay for the custom DQN: a ring buffer of transitions, and the assembly of
n-step transitions from each sub-env's stream of steps."""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """A ring buffer of transitions (float32 observations, flattened), sampled uniformly."""

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "discounts")

    def __init__(self, capacity: int, obs_size: int) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_size), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_size), dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=bool)  # a real end: no bootstrap from next_obs
        self.discounts = np.zeros(capacity, dtype=np.float32)  # gamma^k for a k-step transition
        self.pos = 0  # where the next transition goes
        self.size = 0

    def add(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        discount: float,
    ) -> None:
        """`reward` is the discounted sum of the transition's rewards; `discount` what multiplies
        the bootstrap value of `next_obs`."""
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i], self.discounts[i] = next_obs, terminated, discount
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        idx = rng.integers(0, self.size, size=batch_size)
        return {name: getattr(self, name)[idx] for name in self.FIELDS}

    def state(self) -> dict[str, np.ndarray]:
        """The filled part and the write position: all that `load_state` needs to continue exactly."""
        arrays = {name: getattr(self, name)[: self.size] for name in self.FIELDS}
        return {**arrays, "pos": np.array(self.pos)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        size = len(state["actions"])
        if size > self.capacity:
            raise ValueError(f"replay buffer of {size} transitions does not fit capacity {self.capacity}")
        for name in self.FIELDS:
            getattr(self, name)[:size] = state[name]
        self.size, self.pos = size, int(state["pos"])


class NStepAssembler:
    """Turns each sub-env's steps into n-step transitions for a `ReplayBuffer`.

    An LR decision pays off (or hurts) several steps later; n-step targets carry that back n
    times faster than one-step ones. A transition is emitted once n steps after it are known;
    at an episode's end all pending ones are, each bootstrapping from the last state (unless the
    episode really terminated) with the discount of the steps it spans.
    """

    def __init__(self, num_envs: int, n: int, gamma: float) -> None:
        self.n, self.gamma = n, gamma
        self._pending: list[list[tuple[np.ndarray, int, float]]] = [[] for _ in range(num_envs)]

    def add(
        self,
        replay: ReplayBuffer,
        index: int,
        obs: np.ndarray,
        action: int,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        ended: bool,
    ) -> None:
        """One step of sub-env `index`; writes the transitions it completes into `replay`."""
        pending = self._pending[index]
        pending.append((obs, action, reward))
        while pending and (ended or len(pending) == self.n):
            ret = sum(self.gamma**k * r for k, (_, _, r) in enumerate(pending))
            first_obs, first_action, _ = pending.pop(0)
            replay.add(first_obs, first_action, ret, next_obs, terminated, self.gamma ** (len(pending) + 1))

    def clear(self) -> None:
        """Drops the steps of episodes in progress (they are abandoned)."""
        self._pending = [[] for _ in self._pending]
