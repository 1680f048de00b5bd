"""The variants report (`python -m benchmarks.variants --report`) on hand-made run files."""

from __future__ import annotations

import json

from benchmarks import variants


def _write_runs(runs_dir, name: str, accuracy_by_seed: dict[int, list[float]]) -> None:
    """One run file per training seed, holding only what the report reads."""
    for seed, accuracies in accuracy_by_seed.items():
        record = {
            "variant": name,
            "train_seed": seed,
            "definition": {"description": f"hand-made {name}"},
            "hyperparameters": {},
            "training": [],
            "cpu_s": 1.0,
            "git_commit": "abc",
            "git_diff_sha256": "def",
            "episodes": [
                {"test_acc": acc, "diverged": False, "lr": [0.1, 0.01], "actions": [0.0, 0.0]}
                for acc in accuracies
            ],
        }
        (runs_dir / f"{name}-s{seed}.json").write_text(json.dumps(record))


def test_the_report_compares_each_variant_with_random_multipliers_and_random_factors(tmp_path):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    evaluation = range(4)
    _write_runs(runs_dir, "random", {0: [0.50 + 0.01 * i for i in evaluation]})
    _write_runs(runs_dir, "random-relative", {0: [0.80 + 0.01 * i for i in evaluation]})
    _write_runs(runs_dir, "cosine-0.4", {0: [0.95 + 0.01 * i for i in evaluation]})
    # above random multipliers on every seed, below random factors on every seed
    _write_runs(runs_dir, "sb3-sac-relative", {s: [0.70 + 0.01 * i for i in evaluation] for s in (0, 1)})

    summary = variants.summarize(tmp_path)

    row = summary["variants"]["sb3-sac-relative"]
    assert row["p_improvement_over_random"]["point"] == 1.0
    assert row["p_improvement_over_random-relative"]["point"] == 0.0
    assert row["p_improvement_over_cosine-0.4"]["point"] == 0.0
    assert "p_improvement_over_random-relative" not in summary["variants"]["random-relative"]
    table = (tmp_path / "summary.md").read_text().splitlines()
    header = next(line for line in table if line.startswith("| variant"))
    sac = next(line for line in table if line.startswith("| sb3-sac-relative"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    cells = [c.strip() for c in sac.strip("|").split("|")]
    assert len(cells) == len(columns)
    assert cells[columns.index("P(> random-relative) [95% CI]")].startswith("0.00")
    assert cells[columns.index("P(> random) [95% CI]")].startswith("1.00")


def test_the_demo_trains_the_variant_it_quotes() -> None:
    from lrgym_agents.cli import DEMO

    measured = variants.VARIANTS["dqn-relative-repeat5-progress-terminal"]
    assert (DEMO["agent"], DEMO["train_steps"]) == (measured.agent, measured.train_steps)
    assert DEMO["agent_env_kwargs"] == measured.env_kwargs
    assert DEMO["agent_kwargs"] == measured.agent_kwargs
    assert DEMO["wrappers"] == {
        "action_repeat": measured.action_repeat,
        "keep_signals": list(measured.keep_signals),
    }


def test_the_tiny_suite_runs_the_variant_it_quotes() -> None:
    from benchmarks import suites

    measured = variants.VARIANTS["dqn-relative-repeat5-progress-terminal"]
    suite = suites.TINY_SUITE
    spec = suite.variants["dqn-relative-progress"]
    assert (spec.agent, spec.env_kwargs) == (measured.agent, measured.env_kwargs)
    assert (spec.action_repeat, spec.keep_signals) == (measured.action_repeat, measured.keep_signals)
    assert suite.agent_kwargs["dqn-relative-progress"] == measured.agent_kwargs
    assert suite.decisions("dqn-relative-progress") == measured.train_steps  # the same 50 runs
