"""The custom Double DQN agent: learning on a toy MDP with a known optimum, bootstrapping, vector
envs, save/load, exact resume from a checkpoint, and errors on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import FAST_TINY_KWARGS
from gymnasium.wrappers import FrameStackObservation, TimeLimit

import lrgym  # noqa: F401  (registers the envs)
from lrgym_agents.base import AgentError
from lrgym_agents.dqn import DQNAgent, double_dqn_targets
from lrgym_agents.registry import make_agent

# --- a toy MDP with a known optimal policy ----------------------------------------------------
CHAIN_LENGTH = 5  # moves needed to reach the goal
CORRECT = (0, 2, 1, 0, 2)  # the action that moves forward at each position
TIME_LIMIT = 8  # steps before truncation
OPTIMAL_RETURN = 1.0  # reach the goal (any number of "stay" steps costs nothing)
QUIT_REWARD = 0.1  # what the myopic policy gets


class ChainEnv(gym.Env):
    """A chain of positions 0..CHAIN_LENGTH observed as a one-hot vector.

    At position i, action CORRECT[i] moves forward (reward 0, except 1 and termination on
    reaching the goal), action CORRECT[i] + 1 (mod 3) quits (reward 0.1, terminated), and the
    third action stays. The myopic policy quits at once (return 0.1); a random one rarely reaches
    the goal within the time limit; the optimum (return 1) needs the exact action sequence.
    """

    # `lrgym_agents.base.env_config` reads `config` from every sub-env of a vector env, so a
    # non-lrgym env needs the attribute (None: not an lrgym env).
    config = None

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(CHAIN_LENGTH + 1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.pos = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(CHAIN_LENGTH + 1, dtype=np.float32)
        obs[self.pos] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.pos = 0
        return self._obs(), {}

    def step(self, action: Any):
        a, correct = int(action), CORRECT[self.pos]
        if a == correct:
            self.pos += 1
            goal = self.pos == CHAIN_LENGTH
            return self._obs(), 1.0 if goal else 0.0, goal, False, {}
        if a == quit_action(self.pos):
            return self._obs(), QUIT_REWARD, True, False, {}
        return self._obs(), 0.0, False, False, {}


def quit_action(pos: int) -> int:
    return (CORRECT[pos] + 1) % 3


def make_chain(time_limit: int = TIME_LIMIT) -> gym.Env:
    return TimeLimit(ChainEnv(), max_episode_steps=time_limit)


def run_policy(policy, env: gym.Env) -> float:
    obs, _ = env.reset()
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        if terminated or truncated:
            return total


# Sized for the toy: 2000 steps of ~250 episodes; reaches the optimum for every seed tried (0-9).
TOY_STEPS = 2000
TOY_HP: dict[str, Any] = {
    "hidden_sizes": (64, 64),
    "learning_rate": 1e-3,
    "learning_starts": 200,
    "target_update_interval": 100,
    "exploration_fraction": 0.5,
}

# --- a cheap lrgym env ------------------------------------------------------------------------
# FAST_TINY_KWARGS with one mini-batch of 8 images per step and small evaluations: the agent's
# mechanics (save/load, resume) need real env steps, not learning, and a step must stay cheap on
# two shared cores.
TINY_KWARGS: dict[str, Any] = {
    **FAST_TINY_KWARGS,
    "train_subset_size": 80,  # 10 mini-batches of 8 in the 1-epoch budget: one per step
    "batch_size": 8,
    "val_subset_size": 20,
    "eval_batch_size": 20,
    "final_eval": False,
}
EPISODE = 10  # steps per episode of TINY_KWARGS
TINY_HP: dict[str, Any] = {"learning_starts": 5, "batch_size": 8, "target_update_interval": 7}


def make_tiny(**overrides: Any) -> gym.Env:
    return gym.make("LRTuning-Tiny-v0", **{**TINY_KWARGS, **overrides})


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- 1. learning ------------------------------------------------------------------------------
def test_toy_chain_is_not_solved_by_random_or_myopic_policies() -> None:
    env = make_chain()
    rng = np.random.default_rng(0)
    random_returns = [run_policy(lambda _: int(rng.integers(3)), env) for _ in range(1000)]
    assert np.mean(np.isclose(random_returns, OPTIMAL_RETURN)) < 0.05
    myopic = run_policy(lambda obs: quit_action(int(np.argmax(obs))), env)  # highest immediate reward
    assert myopic == pytest.approx(QUIT_REWARD)
    optimal = run_policy(lambda obs: CORRECT[int(np.argmax(obs))], env)
    assert optimal == pytest.approx(OPTIMAL_RETURN)


def test_dqn_learns_the_optimal_policy_of_the_toy_chain() -> None:
    agent = DQNAgent(make_chain(), seed=0, **TOY_HP)
    agent.learn(TOY_STEPS)
    assert agent.steps_done == TOY_STEPS
    assert agent.epsilon() == pytest.approx(agent.hp.exploration_final_eps)
    assert run_policy(agent.act, make_chain()) == pytest.approx(OPTIMAL_RETURN)


def test_a_budget_too_short_for_any_update_warns() -> None:
    agent = DQNAgent(make_chain(), seed=0, learning_starts=1, batch_size=64)
    with pytest.warns(UserWarning, match=r"no gradient update in its 20 steps.*batch_size=64.*holds 20"):
        agent.learn(20)
    agent.learn(100)  # the buffer reaches 64 transitions: updates, no warning
    assert agent.updates_done > 0


def test_same_seed_same_run_and_global_rngs_untouched() -> None:
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    agents = [DQNAgent(make_chain(), seed=3, **TOY_HP) for _ in range(2)]
    for agent in agents:
        agent.learn(300)
    assert state_equal(agents[0].q.state_dict(), agents[1].q.state_dict())
    other = DQNAgent(make_chain(), seed=4, **TOY_HP)
    assert not state_equal(agents[0].q.state_dict(), other.q.state_dict())
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()


def test_exploration_only_when_asked() -> None:
    agent = DQNAgent(make_chain(), seed=0)
    obs, _ = make_chain().reset()
    assert agent.epsilon() == 1.0  # before learning
    assert len({agent.act(obs) for _ in range(50)}) == 1  # greedy
    assert len({agent.act(obs, deterministic=False) for _ in range(50)}) == 3


# --- 2. bootstrapping -------------------------------------------------------------------------
def test_double_dqn_targets_bootstrap_only_when_not_terminated() -> None:
    rewards = torch.tensor([1.0, 1.0])
    terminated = torch.tensor([True, False])  # the second one was truncated (or ongoing)
    next_q_online = torch.tensor([[0.0, 5.0], [0.0, 5.0]])  # picks action 1
    next_q_target = torch.tensor([[10.0, 2.0], [10.0, 2.0]])  # values it at 2 (not the max, 10)
    targets = double_dqn_targets(rewards, terminated, next_q_online, next_q_target, gamma=0.9)
    assert targets.tolist() == pytest.approx([1.0, 1.0 + 0.9 * 2.0])


def test_truncated_transitions_are_stored_as_not_terminated() -> None:
    # A time limit of one step: every episode ends after one step, truncated unless the agent quit.
    agent = DQNAgent(make_chain(time_limit=1), seed=0, learning_starts=10_000)
    dones: list[bool] = []
    agent.learn(200, callback=lambda update: dones.extend(update.dones))
    assert all(dones) and agent.episodes_done == 200
    n = agent.replay.size
    quit_steps = agent.replay.actions[:n] == quit_action(0)
    assert 0 < quit_steps.sum() < n
    assert np.array_equal(agent.replay.terminated[:n], quit_steps)


class _CountingEnv(gym.Env):
    """Observation = step index; reward at step t is 10^t; terminates after `length` steps."""

    config = None

    def __init__(self, length: int) -> None:
        self.length, self.t = length, 0
        self.observation_space = gym.spaces.Box(0.0, 100.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action: Any):
        reward = 10.0**self.t
        self.t += 1
        return np.array([self.t], dtype=np.float32), reward, self.t == self.length, False, {}


def test_n_step_transitions_sum_discounted_rewards_and_flush_at_episode_end() -> None:
    # Episodes of 4 steps, n = 3: from steps 0 and 1 full 3-step transitions, from steps 2 and 3
    # the shorter ones that remain when the episode terminates.
    agent = DQNAgent(_CountingEnv(4), seed=0, n_step=3, gamma=0.5, learning_starts=10_000)
    agent.learn(4)
    n = agent.replay.size
    assert n == 4
    starts = agent.replay.obs[:n, 0].tolist()
    assert starts == [0.0, 1.0, 2.0, 3.0]
    assert agent.replay.rewards[:n].tolist() == pytest.approx(
        [1 + 0.5 * 10 + 0.25 * 100, 10 + 0.5 * 100 + 0.25 * 1000, 100 + 0.5 * 1000, 1000]
    )
    assert agent.replay.next_obs[:n, 0].tolist() == [3.0, 4.0, 4.0, 4.0]
    assert agent.replay.discounts[:n].tolist() == pytest.approx([0.125, 0.125, 0.25, 0.5])
    assert agent.replay.terminated[:n].tolist() == [False, True, True, True]


# --- 3. vector envs ---------------------------------------------------------------------------
def test_vector_env_learns_and_drops_autoreset_steps() -> None:
    env = gym.vector.SyncVectorEnv([make_chain, make_chain])
    agent = DQNAgent(env, seed=1, **TOY_HP)
    counts = {"vector_steps": 0, "dones": 0, "updates": 0}

    def callback(update: dict[str, Any]) -> None:
        assert len(update.dones) == len(update.infos) == len(update.rewards) == 2
        counts["vector_steps"] += 1
        counts["dones"] += sum(update.dones)

    agent.learn(TOY_STEPS, callback=callback)
    # Every episode's end costs one extra vector step for that sub-env (the autoreset), which is
    # neither stored nor counted.
    assert TOY_STEPS <= agent.steps_done <= TOY_STEPS + 1
    assert agent.replay.size == agent.steps_done
    assert 2 * counts["vector_steps"] - agent.steps_done in (
        agent.episodes_done - 2,
        agent.episodes_done - 1,
        agent.episodes_done,
    )
    assert counts["dones"] == agent.episodes_done > 100
    n = agent.replay.size
    start = np.eye(CHAIN_LENGTH + 1, dtype=np.float32)[0]
    obs, next_obs = agent.replay.obs[:n], agent.replay.next_obs[:n]
    to_start = np.all(next_obs == start, axis=1)
    from_elsewhere = ~np.all(obs == start, axis=1)
    assert not np.any(to_start & from_elsewhere)  # no terminal -> reset "transition"
    assert not np.any(obs[:, CHAIN_LENGTH] == 1.0)  # nothing stored from the goal state
    assert run_policy(agent.act, make_chain()) == pytest.approx(OPTIMAL_RETURN)


def test_vector_env_with_same_step_autoreset_keeps_every_step() -> None:
    env = gym.vector.SyncVectorEnv(
        [make_chain, make_chain], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    agent = DQNAgent(env, seed=0, **TOY_HP)
    vector_steps = []
    agent.learn(400, callback=lambda update: vector_steps.append(update.steps_done))
    assert agent.steps_done == agent.replay.size == 2 * len(vector_steps) == 400
    n = agent.replay.size
    start = np.eye(CHAIN_LENGTH + 1, dtype=np.float32)[0]
    obs, next_obs = agent.replay.obs[:n], agent.replay.next_obs[:n]
    # Episode ends store the real final state (from info["final_obs"]), not the reset state.
    assert not np.any(np.all(next_obs == start, axis=1) & ~np.all(obs == start, axis=1))
    assert agent.replay.terminated[:n].sum() > 0


# --- 4. save and load on lrgym envs -----------------------------------------------------------
def _assert_same_behaviour(agent: DQNAgent, loaded: DQNAgent, observations: np.ndarray) -> None:
    assert np.array_equal(agent.q_values(observations), loaded.q_values(observations))
    assert [agent.act(o) for o in observations] == [loaded.act(o) for o in observations]


def test_save_load_acts_identically_on_tiny(tmp_path: Path) -> None:
    agent = make_agent("dqn", make_tiny(), seed=0, **TINY_HP)
    agent.learn(30 * EPISODE)
    assert agent.updates_done > 0 and agent.normalizer.count > 30 * EPISODE
    observations = agent.replay.obs[: agent.replay.size]
    agent.save(tmp_path / "dqn")

    fresh = make_agent("dqn", make_tiny(), seed=123)
    assert not np.array_equal(fresh.q_values(observations), agent.q_values(observations))
    fresh.load(tmp_path / "dqn")
    _assert_same_behaviour(agent, fresh, observations)
    assert np.array_equal(fresh.normalizer.mean, agent.normalizer.mean)
    assert fresh.hp == agent.hp


def test_paper_preset_on_stacked_paper_observations(tmp_path: Path) -> None:
    def make_env() -> gym.Env:
        return FrameStackObservation(make_tiny(action_mode="paper"), stack_size=4, padding_type="reset")

    agent = make_agent("dqn-paper", make_env(), seed=0, learning_starts=5, train_frequency=1)
    assert agent.name == "dqn-paper"
    assert (agent.hp.optimizer, agent.hp.hidden_sizes, agent.hp.batch_size) == ("rmsprop", (256, 256), 32)
    assert isinstance(agent.optimizer, torch.optim.RMSprop)
    agent.learn(5 * EPISODE)
    obs, _ = make_env().reset(seed=5)
    assert obs.ndim == 2 and agent.act(obs) in (0, 1)
    agent.save(tmp_path / "paper")
    loaded = make_agent("dqn-paper", make_env(), seed=9).load(tmp_path / "paper")
    observations = agent.replay.obs[: agent.replay.size].reshape(-1, *obs.shape)
    _assert_same_behaviour(agent, loaded, observations)


# --- 5. exact resume ----------------------------------------------------------------------------
def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    total, checkpoint_episode = 8 * EPISODE, 3
    hp = {**TINY_HP, "exploration_fraction": 1.0}  # epsilon still decaying at the checkpoint

    def recorder(log: dict[str, list], checkpoint: DQNAgent | None = None):
        def callback(update: dict[str, Any]) -> None:
            log["lr"].append(update.infos[0]["lr"])
            log["actions"] += update.actions
            if update.dones[0]:
                log["returns"].append(update.episodes[0].episode_return)
                if checkpoint is not None and update.episodes_done == checkpoint_episode:
                    log["epsilon"].append(checkpoint.epsilon())
                    checkpoint.save_checkpoint(tmp_path / "checkpoint")

        return callback

    run_a = DQNAgent(make_tiny(), seed=7, **hp)
    log_a: dict[str, list] = {"lr": [], "actions": [], "returns": [], "epsilon": []}
    run_a.learn(total, callback=recorder(log_a, checkpoint=run_a))
    assert 0.05 < log_a["epsilon"][0] < 1.0 and len(set(log_a["actions"])) > 1

    run_b = DQNAgent(make_tiny(), seed=7, **hp).load_checkpoint(tmp_path / "checkpoint")
    assert run_b.steps_done == checkpoint_episode * EPISODE
    log_b: dict[str, list] = {"lr": [], "actions": [], "returns": [], "epsilon": []}
    run_b.learn(total - run_b.steps_done, callback=recorder(log_b))

    resumed_from = checkpoint_episode * EPISODE
    assert log_b["returns"] == log_a["returns"][checkpoint_episode:]
    assert log_b["lr"] == log_a["lr"][resumed_from:]
    assert log_b["actions"] == log_a["actions"][resumed_from:]
    assert (run_b.steps_done, run_b.episodes_done, run_b.updates_done) == (
        run_a.steps_done,
        run_a.episodes_done,
        run_a.updates_done,
    )
    assert state_equal(run_b.q.state_dict(), run_a.q.state_dict())
    assert state_equal(run_b.q_target.state_dict(), run_a.q_target.state_dict())
    assert np.array_equal(run_b.replay.next_obs, run_a.replay.next_obs)
    assert np.array_equal(run_b.normalizer.m2, run_a.normalizer.m2)


def test_vector_env_checkpoint_round_trip(tmp_path: Path) -> None:
    env = gym.vector.SyncVectorEnv([make_chain, make_chain])
    agent = DQNAgent(env, seed=0, **TOY_HP)
    agent.learn(300)
    agent.save_checkpoint(tmp_path / "vec")
    rng_states = [g.bit_generator.state for g in env.get_attr("np_random")]
    resumed = DQNAgent(gym.vector.SyncVectorEnv([make_chain, make_chain]), seed=0, **TOY_HP)
    resumed.load_checkpoint(tmp_path / "vec")
    assert [g.bit_generator.state for g in resumed.env.get_attr("np_random")] == rng_states
    assert resumed.replay.size == agent.replay.size and resumed.steps_done == agent.steps_done
    resumed.learn(10)
    assert resumed.steps_done >= agent.steps_done + 10


def test_vector_env_resumes_exactly_when_every_sub_env_just_finished(tmp_path: Path) -> None:
    # With a one-step time limit every sub-env finishes an episode at every real vector step.
    def make_vector() -> gym.vector.VectorEnv:
        return gym.vector.SyncVectorEnv([lambda: make_chain(time_limit=1)] * 2)

    hp = {**TOY_HP, "learning_starts": 20, "exploration_fraction": 1.0}
    total, checkpoint_at = 200, 100  # transitions

    def save_at_checkpoint(update: dict[str, Any]) -> None:
        if update.steps_done == checkpoint_at and all(update.dones):
            run_a.save_checkpoint(tmp_path / "vec")

    run_a = DQNAgent(make_vector(), seed=2, **hp)
    run_a.learn(total, callback=save_at_checkpoint)
    run_b = DQNAgent(make_vector(), seed=2, **hp).load_checkpoint(tmp_path / "vec")
    assert run_b.steps_done == checkpoint_at
    run_b.learn(total - checkpoint_at)
    assert run_b.updates_done == run_a.updates_done > 0
    assert state_equal(run_b.q.state_dict(), run_a.q.state_dict())
    assert np.array_equal(run_b.replay.actions, run_a.replay.actions)


# --- 6. bad input -------------------------------------------------------------------------------
def test_continuous_action_mode_is_rejected() -> None:
    with pytest.raises(AgentError, match=r"'discrete', 'paper'"):
        DQNAgent(make_tiny(action_mode="absolute"))


def test_vector_env_without_autoreset_is_rejected() -> None:
    env = gym.vector.SyncVectorEnv([make_chain], autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    with pytest.raises(AgentError, match="NEXT_STEP"):
        DQNAgent(env)


def test_bad_hyperparameters_are_rejected() -> None:
    with pytest.raises(AgentError, match="learning_rate") as info:
        DQNAgent(make_chain(), lerning_rate=1e-3)
    assert "lerning_rate" in str(info.value)
    with pytest.raises(AgentError, match="gamma"):
        DQNAgent(make_chain(), gamma=1.5)
    with pytest.raises(AgentError, match="hidden_sizes"):
        DQNAgent(make_chain(), hidden_sizes=[])
    with pytest.raises(AgentError, match="paper"):
        DQNAgent(make_chain(), preset="nature")


def test_bad_calls_are_rejected() -> None:
    agent = DQNAgent(make_chain())
    with pytest.raises(AgentError, match="shape"):
        agent.act(np.zeros(3, dtype=np.float32))
    with pytest.raises(AgentError, match="total_steps"):
        agent.learn(-1)


def test_loading_for_another_env_or_corrupt_files_fails(tmp_path: Path) -> None:
    agent = DQNAgent(make_tiny(), seed=0)
    agent.save(tmp_path / "model")
    with pytest.raises(AgentError, match="shape"):
        DQNAgent(make_tiny(feature_layers="first")).load(tmp_path / "model")
    with pytest.raises(AgentError, match="not a DQN checkpoint"):
        DQNAgent(make_tiny()).load_checkpoint(tmp_path / "model")

    (tmp_path / "model" / "dqn.pt").write_bytes(b"not a torch file")
    with pytest.raises(AgentError, match="dqn.pt"):
        DQNAgent(make_tiny()).load(tmp_path / "model")
    with pytest.raises(AgentError, match="no saved agent"):
        DQNAgent(make_tiny()).load(tmp_path / "missing")


def test_corrupt_checkpoint_fails(tmp_path: Path) -> None:
    agent = DQNAgent(make_chain(), seed=0)
    agent.learn(20)
    agent.save_checkpoint(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "replay.npz").write_bytes(b"garbage")
    with pytest.raises(AgentError, match="corrupt DQN checkpoint"):
        DQNAgent(make_chain(), seed=0).load_checkpoint(tmp_path / "ckpt")
