"""The Gymnasium loop: random learning-rate decisions for one training run of LRTuning-Tiny-v0."""

import gymnasium as gym

import lrgym  # noqa: F401  (registers the LRTuning environments)

env = gym.make("LRTuning-Tiny-v0", render_mode="ansi")
obs, info = env.reset(seed=0)
terminated = truncated = False
while not (terminated or truncated):
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
print(env.render())
print(f"final test accuracy {info['test_acc']:.3f}")
