"""Train RLlib's PPO (new API stack) on LRTuning-Tiny-v0 with two env runners.

Each env runner is a Ray actor with its own training runs; `env_config` carries the env's options
(any `LRTuningConfig` field) and a base `seed` from which every runner derives its own (see
`lrgym.integrations.rllib`). Needs `pip install 'lrgym[ray]'`.

    python examples/rllib_ppo.py                 # 5 iterations on the CPU
    python examples/rllib_ppo.py --iterations 50 --env-gpus 0.5   # two runners share one GPU

GPUs: `--env-gpus` is `num_gpus_per_env_runner` (Ray then sets each runner's
CUDA_VISIBLE_DEVICES, and the env's device "cuda" is that GPU); `--learner-gpus` is
`num_gpus_per_learner` for the policy update (a small MLP: the CPU is fine).
"""

from __future__ import annotations

import argparse

import ray
from ray.rllib.algorithms.ppo import PPOConfig

from lrgym.integrations.rllib import log_episode_metrics, register_rllib_envs

# --- hyperparameters (one place) -------------------------------------------------------------
ENV_ID = "LRTuning-Tiny-v0"
SEED = 0  # base seed in env_config: runner i's envs start from seeds derived from (SEED, i)
NUM_ENV_RUNNERS = 2  # Ray actors collecting episodes in parallel, one env each
EPISODE_STEPS = 20  # decisions per LRTuning-Tiny-v0 episode
TRAIN_BATCH = 2 * NUM_ENV_RUNNERS * EPISODE_STEPS  # env steps per PPO update: two runs per runner
MINIBATCH = EPISODE_STEPS  # transitions per SGD mini-batch
NUM_EPOCHS = 10  # passes over each batch: expensive samples are used hard
LR = 3e-4  # Adam step size of the policy
GAMMA = 0.99  # discount per decision
ENTROPY = 0.01  # entropy bonus: keeps exploring over few updates


def build_config(env_gpus: float, learner_gpus: float) -> PPOConfig:
    # With a GPU share, Ray shows each runner its GPU and "cuda" is that GPU. Without one, Ray
    # does not hide the GPUs, so say "cpu" rather than let every runner take cuda:0 unaccounted.
    env_config = {"seed": SEED, "device": "cuda" if env_gpus > 0 else "cpu"}
    return (
        PPOConfig()
        .environment(ENV_ID, env_config=env_config)
        .env_runners(
            num_env_runners=NUM_ENV_RUNNERS,
            num_envs_per_env_runner=1,
            num_cpus_per_env_runner=1,
            num_gpus_per_env_runner=env_gpus,
            rollout_fragment_length=EPISODE_STEPS,
        )
        .learners(num_learners=0, num_gpus_per_learner=learner_gpus)
        .training(
            train_batch_size_per_learner=TRAIN_BATCH,
            minibatch_size=MINIBATCH,
            num_epochs=NUM_EPOCHS,
            lr=LR,
            gamma=GAMMA,
            entropy_coeff=ENTROPY,
        )
        .fault_tolerance(restart_failed_env_runners=True, restart_failed_sub_environments=True)
        .callbacks(on_episode_end=log_episode_metrics)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5, help="PPO training iterations")
    parser.add_argument("--env-gpus", type=float, default=0.0, help="num_gpus_per_env_runner")
    parser.add_argument("--learner-gpus", type=float, default=0.0, help="num_gpus_per_learner")
    args = parser.parse_args()

    # One CPU per runner (Ray then sets OMP_NUM_THREADS=1 in each) and one for the driver.
    ray.init(num_cpus=NUM_ENV_RUNNERS + 1, include_dashboard=False)
    try:
        register_rllib_envs()
        algo = build_config(args.env_gpus, args.learner_gpus).build_algo()
        try:
            for iteration in range(1, args.iterations + 1):
                runners = algo.train()["env_runners"]
                test_acc = runners.get("lrgym/test_acc")  # mean over recent episodes' final test accuracy
                print(
                    f"iteration {iteration}: episodes {runners.get('num_episodes_lifetime', 0):.0f}, "
                    f"return {runners.get('episode_return_mean', float('nan')):+.3f}, "
                    + (f"test accuracy {test_acc:.3f}" if test_acc is not None else "no finished episode yet")
                )
        finally:
            algo.stop()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
