"""Plots of a suite's runs (PNG, under <results>/plots/), made from the run files and summary.json.

- `lr_trajectories.png`: the learning rate each agent chose at every decision (median and
  25-75% band over evaluation episodes, log scale), the best hand schedule dashed for reference;
- `val_acc.png`: validation-subset accuracy over the training budget (epochs), median and band;
- `interval_estimates.png`: IQM and mean of final test accuracy with 95% bootstrap CIs;
- `performance_profile.png`: the fraction of runs above each test-accuracy threshold, drawn
  with rliable's `plot_performance_profiles` (bands from rliable's bootstrap, in two levels for
  learning agents, as in stats.py);
- `training.png`: what the learning agents saw while learning (final accuracy of each learning
  episode), or for the alternating protocol the test accuracy after each learning episode.

A suite of the "tasks" protocol gets `interval_estimates.png` and `lr_multiples.png`: the LR at
every decision as a multiple of its task's conventional LR (median and 25-75% band over the
test tasks x evaluation seeds), which is what the schedule-relative agents change.

Usage (from the repository root; the runner calls it at the end):
    python -m benchmarks.plots --suite tiny [--toy] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import numpy as np  # noqa: E402
from rliable import plot_utils  # noqa: E402

from benchmarks.stats import (
    SUMMARY_JSON,
    AgentRuns,
    load_records,
    load_runs,
    performance_profile,
    summarize,
)
from benchmarks.suites import PLOTS_DIR, RUNS_DIR, Suite, default_results_dir, get_suite

DPI = 130  # pixels per inch of the PNG files
PROFILE_POINTS = 101  # thresholds of the performance profile
PROFILE_REPS = 2000  # bootstrap resamples of the profile's bands (a picture, not a reported number)
STYLE = {"learning": "-", "schedule": "--", "random": ":"}  # line style by kind of agent
SMOOTHING_EPISODES = 5  # moving-average window of the learning curves, episodes


def _colors(names: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _label(r: AgentRuns) -> str:
    return f"{r.name} (peak {r.peak_lr:g})" if r.kind == "schedule" else r.name


def _padded(episodes: list[dict[str, Any]], key: str) -> np.ndarray:
    """Per-decision values of every episode as rows, NaN-padded where a run ended early."""
    length = max(len(e[key]) for e in episodes)
    out = np.full((len(episodes), length), np.nan)
    for i, e in enumerate(episodes):
        out[i, : len(e[key])] = e[key]
    return out


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and 25%/75% quantiles per column, ignoring runs that ended early."""
    q25, q50, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
    return q50, q25, q75


def _decision_epochs(r: AgentRuns) -> np.ndarray:
    """Epochs trained after each decision, from the longest run (every run shares the grid)."""
    return np.asarray(max((e["epoch"] for e in r.episodes), key=len), dtype=float)


def _lr_panels(count: int) -> tuple[Any, np.ndarray]:
    """A grid of `count` panels, up to four a row, sharing the LR axis."""
    cols = min(4, count)
    rows = -(-count // cols)
    return plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), sharey=True, squeeze=False)


def _lr_band(ax: Any, x: np.ndarray, values: np.ndarray, color: Any, title: str, xlabel: str) -> None:
    """The median and 25-75% band of per-decision LRs (rows: runs), on a log scale."""
    median, low, high = _band(values)
    ax.step(x, median, where="pre", color=color, label="median")
    ax.fill_between(x, low, high, step="pre", color=color, alpha=0.25, label="25-75%")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3, which="both")


def _save_lr_panels(fig: Any, axes: np.ndarray, count: int, ylabel: str, title: str, path: Path) -> Path:
    for ax in list(axes.flat)[:count]:
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_lr_trajectories(runs: dict[str, AgentRuns], best: str | None, path: Path, title: str) -> Path:
    names = list(runs)
    colors = _colors(names)
    fig, axes = _lr_panels(len(names))
    for ax, name in zip(axes.flat, names, strict=False):
        r = runs[name]
        title_ = f"{_label(r)}, {len(r.episodes)} runs"
        _lr_band(ax, _decision_epochs(r), _padded(r.episodes, "lr"), colors[name], title_, "epochs trained")
        if best is not None and name != best and r.kind != "schedule":
            ref = _band(_padded(runs[best].episodes, "lr"))[0]
            ax.step(_decision_epochs(runs[best]), ref, where="pre", color="0.4", ls="--", label=f"{best}")
    suptitle = f"{title}: learning rate at each decision on the evaluation seeds"
    return _save_lr_panels(fig, axes, len(names), "learning rate (log scale)", suptitle, path)


def plot_val_acc(runs: dict[str, AgentRuns], best: str | None, path: Path, title: str) -> Path:
    """Two panels: the learning agents and random beside the best schedule, then every schedule."""
    colors = _colors(list(runs))
    panels = [
        (
            "learning agents and random",
            [n for n, r in runs.items() if r.kind != "schedule"] + ([best] if best else []),
        ),
        ("hand schedules (tuned peaks)", [n for n, r in runs.items() if r.kind == "schedule"]),
    ]
    panels = [(name, members) for name, members in panels if members]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), sharey=True, squeeze=False)
    for ax, (panel, members) in zip(axes[0], panels, strict=True):
        for name in members:
            r = runs[name]
            x = np.array([0.0, *_decision_epochs(r)])
            median, low, high = _band(_padded(r.episodes, "val_acc"))
            ax.plot(x, 100 * median, color=colors[name], ls=STYLE[r.kind], label=_label(r))
            ax.fill_between(x, 100 * low, 100 * high, color=colors[name], alpha=0.12)
        ax.set_xlabel("epochs trained")
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0, 0].set_ylabel("validation-subset accuracy (%)")
    fig.suptitle(f"{title}: accuracy over the training budget (median and 25-75% band over evaluation runs)")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_interval_estimates(summary: dict[str, Any], path: Path, title: str) -> Path:
    agents = summary["agents"]
    names = list(agents)
    colors = _colors(names)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.5 * len(names) + 1.8), sharey=True)
    for ax, metric in zip(axes, ("iqm", "mean"), strict=True):
        for i, name in enumerate(names):
            e = agents[name]["test_acc"][metric]
            y = len(names) - 1 - i
            ax.plot([100 * e["low"], 100 * e["high"]], [y, y], color=colors[name], lw=6, alpha=0.45)
            ax.plot([100 * e["point"]], [y], "|", color="k", ms=14, mew=2)
        ax.set_title({"iqm": "IQM", "mean": "mean"}[metric] + " with 95% CI")
        ax.set_xlabel("final test accuracy (%)")
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(range(len(names)), [_summary_label(n, agents[n]) for n in reversed(names)])
    held_out = "held-out tasks and seeds" if summary.get("protocol") == "tasks" else "held-out seeds"
    fig.suptitle(f"{title}: final test accuracy on {held_out}")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _summary_label(name: str, a: dict[str, Any]) -> str:
    return f"{name} (peak {a['peak_lr']:g})" if a.get("peak_lr") is not None else name


def plot_lr_multiples(runs: dict[str, Any], path: Path, title: str) -> Path:
    """The LR of every decision / its task's initial LR, median and 25-75% band, one panel per agent."""
    names = list(runs)
    colors = _colors(names)
    fig, axes = _lr_panels(len(names))
    for ax, name in zip(axes.flat, names, strict=False):
        episodes = [
            {"m": np.asarray(e["lr"]) / float(e["task_info"]["overrides"]["initial_lr"])}
            for e in runs[name].episodes
        ]
        values = _padded(episodes, "m")
        x = np.arange(1, values.shape[1] + 1)
        _lr_band(ax, x, values, colors[name], f"{name}, {len(episodes)} runs", "decision")
    suptitle = f"{title}: learning rate in multiples of each test task's conventional LR"
    return _save_lr_panels(fig, axes, len(names), "LR / task's initial LR", suptitle, path)


def plot_task_suite(results_dir: Path, suite: Suite, summary: dict[str, Any] | None = None) -> list[Path]:
    """The plots of a "tasks" suite (see the module docstring)."""
    from benchmarks import task_stats

    runs = task_stats.runs_from_records(load_records(results_dir), suite)
    if not runs:
        return []
    summary = summary or task_stats.summarize(results_dir, suite)
    out = results_dir / PLOTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    title = f"suite {suite.name}"
    return [
        plot_interval_estimates(summary, out / "interval_estimates.png", title),
        plot_lr_multiples(runs, out / "lr_multiples.png", title),
    ]


def plot_performance_profile(runs: dict[str, AgentRuns], path: Path, title: str, seed: int) -> Path:
    scores = {_label(r): (r.matrix(100 * r.scores()), r.two_level) for r in runs.values()}
    everything = np.concatenate([x.ravel() for x, _ in scores.values()])
    taus = np.linspace(np.floor(everything.min()) - 1, np.ceil(everything.max()) + 1, PROFILE_POINTS)
    profiles, cis = {}, {}
    for label, (x, two_level) in scores.items():  # learning agents: bands from the two-level bootstrap
        profiles[label], cis[label] = performance_profile(x, taus, PROFILE_REPS, seed, two_level=two_level)
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {_label(r): c for r, c in zip(runs.values(), _colors(list(runs)).values(), strict=True)}
    plot_utils.plot_performance_profiles(
        profiles,
        taus,
        performance_profile_cis=cis,
        colors=colors,
        xlabel=r"final test accuracy threshold $\tau$ (%)",
        ylabel=r"fraction of runs with accuracy $> \tau$",
        ax=ax,
        labelsize="medium",
        ticklabelsize="medium",
    )
    ax.set_title(f"{title}: performance profile (95% bootstrap bands)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_training(
    results_dir: Path, runs: dict[str, AgentRuns], suite: Suite, path: Path, title: str
) -> Path | None:
    """Learning episodes' final accuracy (standard protocol) or test accuracy after each learning
    episode beside the schedules on the same seeds (alternating protocol)."""
    records = [
        r for r in load_records(results_dir) if r["job"]["kind"] in ("train", "alternate", "train_evaluate")
    ]
    if not records:
        return None
    colors = _colors(list(runs))
    fig, ax = plt.subplots(figsize=(8, 5))
    if suite.protocol == "alternate":
        for name, r in runs.items():
            if r.kind == "learning":
                by_seed = {}
                for e in r.episodes:
                    by_seed.setdefault(e["train_seed"], []).append(100 * e["test_acc"])
                curves = np.array(list(by_seed.values()))
                x = np.arange(1, curves.shape[1] + 1)
                ax.plot(
                    x, np.median(curves, axis=0), color=colors[name], marker="o", label=f"{name} (median)"
                )
                ax.fill_between(x, curves.min(axis=0), curves.max(axis=0), color=colors[name], alpha=0.2)
            else:
                x = np.arange(1, len(r.episodes) + 1)
                ax.plot(
                    x, 100 * r.scores(), color=colors[name], ls=STYLE[r.kind], marker=".", label=_label(r)
                )
        ax.set_xlabel("test episode k (after k learning episodes; evaluation seed 1000 + k - 1)")
        ax.set_ylabel("final test accuracy (%)")
        ax.set_title(f"{title}: greedy test after each learning episode\n(band: min-max over training seeds)")
    else:
        for name in suite.learning_agents:
            rows = [r for r in records if r["job"]["agent"] == name]
            if not rows:
                continue
            curves = _padded(
                [{"v": [e["final_val_acc"] for e in r["training"]["episodes"]]} for r in rows], "v"
            )
            median = np.nanmedian(curves, axis=0)
            x = np.arange(1, len(median) + 1)
            ax.plot(x, 100 * median, color=colors.get(name), alpha=0.3, lw=1)
            window = min(SMOOTHING_EPISODES, len(median))
            smooth = np.convolve(median, np.ones(window) / window, mode="valid")
            ax.plot(
                x[window - 1 :],
                100 * smooth,
                color=colors.get(name),
                lw=2,
                label=f"{name}: median over {len(rows)} seeds, mean of last {window} episodes",
            )
        ax.set_xlabel("learning episode")
        ax.set_ylabel("final validation-subset accuracy (%)")
        ax.set_title(f"{title}: accuracy reached in each learning episode (with exploration)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _current_summary(results_dir: Path, suite: Suite) -> dict[str, Any]:
    """summary.json if it is newer than every run file, else a freshly computed one."""
    summary_file = results_dir / SUMMARY_JSON
    newest_run = max((p.stat().st_mtime for p in (results_dir / RUNS_DIR).glob("*.json")), default=0.0)
    if summary_file.is_file() and summary_file.stat().st_mtime >= newest_run:
        summary = json.loads(summary_file.read_text())
        if summary.get("fingerprint") == suite.fingerprint():
            return summary
    return summarize(results_dir, suite)


def plot_all(results_dir: Path, suite: Suite, summary: dict[str, Any] | None = None) -> list[Path]:
    """Every plot of the suite from its files and `summary` (computed if not given or stale)."""
    results_dir = Path(results_dir)
    if suite.protocol == "tasks":
        return plot_task_suite(results_dir, suite, summary)
    runs = load_runs(results_dir, suite)
    if not runs:
        return []
    summary = summary or _current_summary(results_dir, suite)
    out = results_dir / PLOTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    title = f"suite {suite.name}"
    paths = [
        plot_lr_trajectories(runs, summary["best_schedule"], out / "lr_trajectories.png", title),
        plot_val_acc(runs, summary["best_schedule"], out / "val_acc.png", title),
        plot_interval_estimates(summary, out / "interval_estimates.png", title),
        plot_performance_profile(runs, out / "performance_profile.png", title, suite.bootstrap_seed),
        plot_training(results_dir, runs, suite, out / "training.png", title),
    ]
    return [p for p in paths if p is not None]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Plot a suite's runs.")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--toy", action="store_true")
    parser.add_argument("--results-dir", type=Path)
    args = parser.parse_args(argv)
    suite = get_suite(args.suite, toy_version=args.toy)
    for path in plot_all(args.results_dir or default_results_dir(suite), suite):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
