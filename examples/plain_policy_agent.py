"""An agent that is not lrgym's: REINFORCE in plain PyTorch, scored beside a suite's baselines.

PYTHONPATH=examples lrgym score --suite tiny --agent plain_policy_agent:make_agent
"""

import math

import torch
from torch import nn


class PlainPolicy:
    def __init__(self, env, seed):
        torch.manual_seed(seed)
        self.env, self.seed = env, seed
        obs_size, n_actions = math.prod(env.observation_space.shape), env.action_space.n
        self.net = nn.Sequential(nn.Linear(obs_size, 64), nn.Tanh(), nn.Linear(64, n_actions))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)

    def learn(self, total_steps, callback=None):  # exactly total_steps env steps: the suite's budget
        (obs, _), log_probs, rewards = self.env.reset(seed=self.seed), [], []
        self.seed = None  # later resets continue the env's own generator
        for _ in range(total_steps):
            dist = torch.distributions.Categorical(logits=self.net(torch.as_tensor(obs).flatten()))
            action = dist.sample()
            obs, reward, terminated, truncated, _ = self.env.step(int(action))
            log_probs.append(dist.log_prob(action))
            rewards.append(float(reward))
            if terminated or truncated:  # one policy-gradient step per episode, on returns-to-go
                returns = torch.tensor(rewards).flip(0).cumsum(0).flip(0)
                loss = -(torch.stack(log_probs) * (returns - returns.mean())).sum()
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                (obs, _), log_probs, rewards = self.env.reset(), [], []

    def act(self, obs, deterministic=True):  # one action for one observation
        logits = self.net(torch.as_tensor(obs, dtype=torch.float32).flatten()).detach()
        action = logits.argmax() if deterministic else torch.distributions.Categorical(logits=logits).sample()
        return int(action)


def make_agent(env, seed):  # what `lrgym score --agent plain_policy_agent:make_agent` calls
    return PlainPolicy(env, seed)
