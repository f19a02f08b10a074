"""The report's figures, as PNG files (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import MissingDependencyError
from .data import RunView, demonstration_use, resolutions_by_round


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("matplotlib", "plots", "Writing a report") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 110})
    return plt


def _prices(view: RunView):
    return ((view.summary.get("compute") or {}).get("prices_per_million_tokens"))


def _axis(view: RunView, axis: str) -> list[float]:
    """A curve's x values; evaluated tokens and cost follow from its prompt, cached and generated tokens."""
    curve = view.curve
    if axis == "evaluated_tokens":
        return [t - c for t, c in zip(curve["total_tokens"], curve["cached_tokens"])]
    if axis == "cost":
        p = _prices(view)
        return [((t - g - c) * p["input"] + c * p["cached_input"] + g * p["output"]) / 1e6
                for t, g, c in zip(curve["total_tokens"], curve["generated_tokens"], curve["cached_tokens"])]
    return curve[axis]


def write_plots(runs: Sequence[RunView], out_dir: Path) -> dict[str, str]:
    plt = _pyplot()
    files = {}

    panels = [("samples", "samples per query"), ("generated_tokens", "generated tokens per query"),
              ("total_tokens", "total tokens per query (prompt + generated)"),
              ("evaluated_tokens", "tokens the engine evaluated per query\n(prompt not from its cache + generated)")]
    if all(_prices(view) for view in runs):
        panels.append(("cost", "cost per query ($, the run's price table)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), sharey=True)
    for view in runs:
        for ax, (axis, label) in zip(axes, panels):
            ax.plot([0] + _axis(view, axis), [0] + view.curve["coverage"], marker="o", markersize=3, label=view.name)
            ax.set_xlabel(label)
    axes[0].set_ylabel("coverage (share of queries resolved)")
    axes[0].legend(fontsize=9, loc="lower right")
    fig.suptitle("Coverage against compute spent, over the course of each run")
    files["coverage"] = _save(fig, out_dir / "coverage_vs_compute.png", plt)

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    top = max(max((r["samples"] for r in v.results), default=1) for v in runs)
    bins = [b - 0.5 for b in range(0, top + 2)]
    ax.hist([[r["samples"] for r in view.results] for view in runs], bins=bins, histtype="bar", rwidth=0.9,
            label=[view.name for view in runs])
    ax.set_xlabel("samples spent on the query")
    ax.set_ylabel("queries")
    ax.set_title("Samples per query")
    ax.legend(fontsize=9)
    files["samples_hist"] = _save(fig, out_dir / "samples_per_query.png", plt)

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    width = 0.8 / len(runs)
    for i, view in enumerate(runs):
        for phase, counts in sorted(resolutions_by_round(view).items()):
            rounds = sorted(counts)
            axes[0].bar([r + i * width for r in rounds], [counts[r] for r in rounds], width=width,
                        label=f"{view.name}: {phase}", alpha=0.85)
        axes[1].plot(view.curve["round"], view.curve["pool"], marker="o", markersize=3, label=view.name)
    axes[0].set_xlabel("round")
    axes[0].set_ylabel("queries resolved in the round")
    axes[0].set_title("Resolutions by phase and round")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("round")
    axes[1].set_ylabel("resolved queries (pool size)")
    axes[1].set_title("Demonstration pool growth")
    axes[1].legend(fontsize=8)
    files["resolutions"] = _save(fig, out_dir / "resolutions_and_pool.png", plt)

    used = [(v, demonstration_use(v).most_common(15)) for v in runs]
    used = [(v, top15) for v, top15 in used if top15]
    if used:
        fig, axes = plt.subplots(1, len(used), figsize=(6.5 * len(used), 4.8), squeeze=False)
        for ax, (view, top15) in zip(axes[0], used):
            ids = [d for d, _ in top15][::-1]
            ax.barh(ids, [c for _, c in top15][::-1])
            ax.set_xlabel("prompts that carried it")
            ax.set_title(f"Most used demonstrations\n{view.name}", fontsize=10)
        files["demos"] = _save(fig, out_dir / "top_demonstrations.png", plt)
    return files


def _save(fig, path: Path, plt) -> str:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name
