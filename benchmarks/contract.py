"""The agent contract of `lrgym score`: what someone else's agent must offer, and loading it.

A factory, named as `package.module:function`, is called as `make_agent(env, seed)` with the
suite's environment (a Gymnasium env) and a training seed, and returns an object with

- `learn(total_steps, callback=None)`: learn for `total_steps` environment steps on `env`
  (the protocol counts them, and refuses a step beyond the budget);
- `act(obs, deterministic=True)`: the action for one observation (greedy when deterministic);
- optionally `save(path)` / `load(path)` (the trained agent is saved beside its record) and
  `hyperparameters() -> dict` (recorded, and compared when a scoring run is resumed).

It need not derive from `lrgym_agents.Agent`. `BudgetedEnv` is the learning env the agent gets:
it counts the env steps it learns from, keeps the books of its episodes (the same rows the
runner records for its own agents) and raises `BudgetExceeded` on the first step beyond the
suite's budget, so that every agent gets exactly the same training budget.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import gymnasium as gym

REQUIRED_METHODS = {"learn": "learn(total_steps, callback=None)", "act": "act(obs, deterministic=True)"}
EXAMPLE_SPEC = "mypkg.agents:make_agent"


class AgentContractError(ValueError):
    """A factory cannot be loaded, or what it returns does not fulfil the contract."""


class BudgetExceeded(RuntimeError):
    """The agent took more environment steps while learning than the suite's budget."""


def load_factory(spec: str) -> Callable[..., Any]:
    """The callable named by `spec` ("package.module:function").

    Raises:
        AgentContractError: naming what is missing (the colon, the module, the attribute) or
            wrong (not callable).
    """
    module_name, sep, attr = str(spec).partition(":")
    if not sep or not module_name or not attr:
        raise AgentContractError(
            f"--agent {spec!r}: expected MODULE:FUNCTION, e.g. {EXAMPLE_SPEC} (a function "
            "make_agent(env, seed) in an importable module)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentContractError(
            f"--agent {spec!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc}); "
            "install its package or put its folder on PYTHONPATH (e.g. PYTHONPATH=. from the folder "
            "that holds it)"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise AgentContractError(
                f"--agent {spec!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) has no "
                f"attribute {attr!r}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise AgentContractError(
            f"--agent {spec!r} is a {type(target).__name__}, not a callable make_agent(env, seed)"
        )
    return target


def check_agent(agent: Any, spec: str) -> None:
    """Raises `AgentContractError` naming the methods `agent` lacks (`REQUIRED_METHODS`)."""
    missing = [sig for name, sig in REQUIRED_METHODS.items() if not callable(getattr(agent, name, None))]
    if missing:
        raise AgentContractError(
            f"--agent {spec!r}: make_agent(env, seed) returned a {type(agent).__name__} without "
            f"{' and '.join(missing)}; an agent needs {' and '.join(REQUIRED_METHODS.values())} "
            "(save(path) and load(path) are optional)"
        )


def build(spec: str, env: gym.Env, seed: int) -> Any:
    """`spec`'s factory called as make_agent(env, seed), its result checked."""
    factory = load_factory(spec)
    try:
        inspect.signature(factory).bind(env, seed)
    except TypeError as exc:
        raise AgentContractError(
            f"--agent {spec!r} cannot be called as make_agent(env, seed): {exc}"
        ) from exc
    except ValueError:  # no signature to inspect (a builtin): calling it will tell
        pass
    agent = factory(env, seed)
    check_agent(agent, spec)
    return agent


def factory_identity(spec: str) -> dict[str, Any]:
    """The factory and a hash of its module's source file: recorded, so that a scoring run is not
    resumed on results of code that has changed since."""
    factory = load_factory(spec)
    module = inspect.getmodule(factory)
    source = getattr(module, "__file__", None)
    digest = None
    if source:
        try:
            with open(source, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
        except OSError:
            pass
    return {"factory": spec, "module_file": source, "module_sha256": digest}


def hyperparameters_of(agent: Any) -> dict[str, Any]:
    """The agent's `hyperparameters()` as JSON holds them, or {} without such a method."""
    method = getattr(agent, "hyperparameters", None)
    if not callable(method):
        return {}
    return json.loads(json.dumps(method(), default=str))


class BudgetedEnv(gym.Wrapper):
    """The env an agent learns on: counts its steps, books its episodes, enforces the budget.

    Args:
        env: the suite's learning env.
        budget: environment steps allowed in all (raising the budget: assign `budget`).
    """

    def __init__(self, env: gym.Env, budget: int) -> None:
        super().__init__(env)
        self.budget = int(budget)
        self.steps = 0
        self.episodes: list[dict[str, Any]] = []  # the runner's learning-episode rows
        self._return, self._lrs = 0.0, []

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._return, self._lrs = 0.0, []
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.steps >= self.budget:
            raise BudgetExceeded(
                f"the agent took more than {self.budget} environment steps while learning, the suite's "
                "budget: learn(total_steps) must stop after total_steps steps"
            )
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self._return += float(reward)
        self._lrs.append(float(info.get("lr", float("nan"))))
        if terminated or truncated:
            self.episodes.append(
                {
                    "steps_done": self.steps,
                    "return": self._return,
                    "final_val_acc": float(info["val_acc"]),
                    "diverged": bool(info["diverged"]),
                    "lr": self._lrs,
                }
            )
            self._return, self._lrs = 0.0, []
        return obs, reward, terminated, truncated, info
