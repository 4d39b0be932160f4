"""Matplotlib figures (Agg backend) of the analysis tables, saved as PNG (the report embeds them), PDF on request.

``FIGURES`` are drawn for every result; ``OPTIONAL_FIGURES`` only when the result holds their table
(``resample_attack``, ``by_group``). Text is never parsed as mathtext (``text.parse_math`` off), so any
model name is drawn verbatim. Matplotlib is imported on first draw, in the process that draws:
``start_figures`` forks the drawing processes first, so the import overlaps other work of the command.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.parallel import default_workers, fork_start
from refusal_stability.analysis.result_tables import AnalysisTables

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
RC_PARAMS: dict[str, Any] = {
    "figure.dpi": DPI,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
    "pdf.compression": 1,
    "text.usetex": False,
    "text.parse_math": False,  # model names with $ or \\ are text, never mathtext
}


@cache
def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend with the report's style (imported once, on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use(RC_PARAMS)
    return plt


def _short(model: str) -> str:
    """A legend label: the run name as the result gives it (display names), cut to 40 characters."""
    model = str(model)
    return model if len(model) <= 40 else model[:39] + "\u2026"


def _models(result: AnalysisTables) -> list[str]:
    return list(result.per_model["model"])


def ssi_distribution(result: AnalysisTables, ax: Axes) -> None:
    """Histogram of per-prompt SSI per model."""
    bins = np.linspace(0, 1, 21).tolist()
    for model, table in result.per_prompt.groupby("model"):
        ax.hist(table["ssi"], bins=bins, histtype="step", linewidth=1.5, label=_short(model))
    ax.axvline(result.statistics["threshold"], color="grey", linestyle="--", linewidth=1, label="unstable below")
    from matplotlib.ticker import FuncFormatter, NullFormatter  # matplotlib loads on first draw (module docstring)

    ax.set(xlabel="per-prompt SSI", ylabel="prompts", yscale="log", title="Distribution of SSI")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # the default log labels are mathtext
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)


def flip_rate(result: AnalysisTables, ax: Axes) -> None:
    """Flip % per model with bootstrap 95% CIs."""
    table = result.per_model
    err = [table["flip_pct"] - table["flip_pct_ci_low"], table["flip_pct_ci_high"] - table["flip_pct"]]
    ax.bar([_short(m) for m in table["model"]], table["flip_pct"], yerr=err, capsize=4, color="tab:orange")
    ax.set(ylabel="prompts that flipped (%)", title="Flip rate (95% bootstrap CI)")
    ax.tick_params(axis="x", labelrotation=15)


def temperature_effect(result: AnalysisTables, ax: Axes) -> None:
    """REFUSE / PARTIAL / COMPLY % per temperature per model."""
    styles = {"refusal_pct": "tab:green", "partial_pct": "tab:olive", "compliance_pct": "tab:red"}
    markers = "osD^v<>"
    for index, (model, table) in enumerate(result.label_rates_by_temperature.groupby("model")):
        for column, color in styles.items():
            ax.plot(
                table["temperature"],
                table[column],
                color=color,
                marker=markers[index % len(markers)],
                label=f"{_short(model)} {column.split('_')[0]}",
            )
    stat = result.statistics["friedman"]
    title = "Label rates by temperature"
    if stat.get("chi2") is not None:
        title += f"\nFriedman χ²={stat['chi2']:.1f}, p={stat['p']:.2g}, W={stat['kendalls_w']:.3g}"
    ax.set(xlabel="temperature", ylabel="% of labels (mean over prompts)", title=title)
    ax.legend(fontsize=6, ncol=2)


def stability_vs_compliance(result: AnalysisTables, ax: Axes) -> None:
    """Per-prompt compliance rate vs SSI, with Spearman rho per model."""
    rng = np.random.default_rng(0)
    for model, table in result.per_prompt.groupby("model"):
        rho = result.statistics["spearman"].get(model, {}).get("rho")
        jitter = rng.uniform(-0.006, 0.006, size=(2, len(table)))
        label = f"{_short(model)} (ρ={rho:.2f})" if rho is not None else _short(model)
        ax.scatter(
            table["compliance_rate"] * 100 + jitter[0] * 100, table["ssi"] + jitter[1], s=6, alpha=0.4, label=label
        )
    ax.set(xlabel="compliance rate (%)", ylabel="SSI", title="Stability vs compliance")
    ax.legend(fontsize=7, markerscale=2)


def model_comparison(result: AnalysisTables, ax: Axes) -> None:
    """Mean SSI (%), flip %, unstable %, refusal % per model side by side."""
    table = result.per_model
    metrics = {
        "mean SSI ×100": table["mean_ssi"] * 100,
        "flip %": table["flip_pct"],
        "unstable %": table["unstable_pct"],
        "refusal %": table["refusal_pct"],
    }
    width = 0.8 / max(len(table), 1)
    x = np.arange(len(metrics))
    for index, model in enumerate(table["model"]):
        ax.bar(x + index * width, [values.iloc[index] for values in metrics.values()], width, label=_short(model))
    ax.set_xticks(x + width * (len(table) - 1) / 2, list(metrics))
    ax.set(title="Model comparison", ylim=(0, 105))
    ax.legend(fontsize=7)


def within_temperature(result: AnalysisTables, ax: Axes) -> None:
    """Within-temperature mean SSI (solid) and flip % (dashed, right axis) per model."""
    right = ax.twinx()
    for model, table in result.within_temperature.groupby("model"):
        (line,) = ax.plot(table["temperature"], table["mean_ssi"], marker="o", label=_short(model))
        right.plot(table["temperature"], table["flip_pct"], marker="s", linestyle="--", color=line.get_color())
    ax.set(xlabel="temperature", ylabel="mean SSI over seeds (solid)", title="Within-temperature stability")
    right.set_ylabel("flip % over seeds (dashed)")
    right.grid(False)
    ax.legend(fontsize=7)


def sample_size(result: AnalysisTables, ax: Axes) -> None:
    """Agreement of the n-draw majority with the all-draws majority."""
    table = result.sample_size
    for model, part in table[table["temperature"] == "all"].groupby("model"):
        ax.plot(part["n"], part["agreement_pct"], marker="o", label=f"{_short(model)} (all epochs)")
    per_temp = table[table["temperature"] != "all"]
    if not per_temp.empty:
        pooled = per_temp.groupby("n")["agreement_pct"].mean()
        ax.plot(
            pooled.index, pooled.values, color="grey", linestyle=":", marker="x", label="within one temperature (mean)"
        )
    ax.set(xlabel="draws n", ylabel="majority agrees with all draws (%)", title="Sample-size reliability")
    ax.set_xticks(sorted(table["n"].unique()))
    ax.legend(fontsize=7)


def _table(result: AnalysisTables, name: str) -> pd.DataFrame | None:
    value = getattr(result, name, None)
    return value if isinstance(value, pd.DataFrame) and not value.empty else None


def resample_attack(result: AnalysisTables, ax: Axes) -> None:
    """Attacker's view: % of prompts with at least one COMPLY among k configurations drawn, per model."""
    table = _table(result, "resample_attack")
    assert table is not None
    markers = "osD^v<>"
    for index, (model, part) in enumerate(table.groupby("model", sort=False)):
        part = part.sort_values("k")
        ax.plot(
            part["k"], part["any_comply_pct"], marker=markers[index % len(markers)], markersize=3, label=_short(model)
        )
    ax.axvline(5, color="grey", linestyle=":", linewidth=1)
    ax.set(
        xlabel="configurations asked (k, drawn without replacement)",
        ylabel="prompts with any COMPLY (%)",
        title="Attacker's view: re-asking until it complies",
        ylim=(0, 102),
    )
    ax.legend(fontsize=7)


def by_group(result: AnalysisTables, ax: Axes) -> None:
    """Flip % per group (category/source) and model, for the first grouping of by_group."""
    table = _table(result, "by_group")
    assert table is not None
    first = table["group_by"].iloc[0]
    part = table[table["group_by"] == first]
    wide = part.pivot_table(index="group", columns="model", values="flip_pct", sort=False)
    wide = wide.loc[wide.mean(axis=1).sort_values().index]
    height = 0.8 / max(wide.shape[1], 1)
    y = np.arange(len(wide))
    for index, model in enumerate(wide.columns):
        ax.barh(y + index * height, wide[model].to_numpy(), height, label=_short(str(model)))
    ax.set_yticks(y + height * (wide.shape[1] - 1) / 2, [str(g)[:28] for g in wide.index], fontsize=6)
    ax.set(xlabel="prompts that flipped (%)", title=f"Flip rate by {first}")
    ax.legend(fontsize=7)


FIGURES: dict[str, Callable[[AnalysisTables, Axes], None]] = {
    "ssi_distribution": ssi_distribution,
    "flip_rate": flip_rate,
    "stability_vs_compliance": stability_vs_compliance,
    "model_comparison": model_comparison,
    "sample_size": sample_size,
}


# drawn only when their table has rows: runs whose temperature never reached the model have no temperature rows
OPTIONAL_FIGURES: dict[str, tuple[str, Callable[[AnalysisTables, Axes], None]]] = {
    "temperature_effect": ("label_rates_by_temperature", temperature_effect),
    "within_temperature": ("within_temperature", within_temperature),
    "resample_attack": ("resample_attack", resample_attack),
    "by_group": ("by_group", by_group),
}


def available(result: AnalysisTables) -> list[str]:
    """Names of the figures this result can draw: every FIGURES entry plus optional ones with data."""
    optional = [name for name, (table, _) in OPTIONAL_FIGURES.items() if _table(result, table) is not None]
    return [*FIGURES, *optional]


def render(result: AnalysisTables, name: str) -> Figure:
    """Draw one figure."""
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    left = 0.22 if name == "by_group" else 0.12
    fig.subplots_adjust(left=left, right=0.88, bottom=0.15, top=0.86)  # fixed margins: layout engines are slow
    draw = FIGURES[name] if name in FIGURES else OPTIONAL_FIGURES[name][1]
    draw(result, ax)
    return fig


def _write_group(job: tuple[AnalysisTables, Path, list[str], bool]) -> dict[str, Path]:
    """Save one group of figures (a worker's share) as PNG (and PDF); return name -> PNG path."""
    result, out_dir, names, pdf = job
    plt = _pyplot()
    written = {}
    for name in names:
        fig = render(result, name)
        png = out_dir / f"{name}.png"
        fig.savefig(png)
        if pdf:
            fig.savefig(out_dir / f"{name}.pdf")
        plt.close(fig)
        written[name] = png
    return written


def start_figures(
    result: AnalysisTables, out_dir: Path, workers: int | None = None, pdf: bool = False
) -> Callable[[], dict[str, Path]]:
    """Start drawing every figure in forked processes; return a function that waits and gives name -> PNG path.

    Args:
        result: the analysis result.
        out_dir: the figures directory (created).
        workers: drawing processes (default min(2, CPUs)); 1 draws in this process when the result is asked for.
        pdf: also save each figure as PDF (the report embeds the PNGs only). Without it, PDFs of these
            figures left by an earlier ``pdf`` run are removed, so no stale figure stays beside a new one.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names = available(result)
    if not pdf:
        for name in [*FIGURES, *OPTIONAL_FIGURES]:
            (out_dir / f"{name}.pdf").unlink(missing_ok=True)
    n_groups = max(1, min(workers or default_workers(), len(names)))
    wait = fork_start(_write_group, [(result, out_dir, names[i::n_groups], pdf) for i in range(n_groups)], workers)

    def paths() -> dict[str, Path]:
        written: dict[str, Path] = {}
        for group in wait():
            written.update(group)
        return {name: written[name] for name in names}

    return paths


def write_figures(
    result: AnalysisTables, out_dir: Path, workers: int | None = None, pdf: bool = False
) -> dict[str, Path]:
    """Save every figure as PNG (and PDF with ``pdf``) under out_dir; return name -> PNG path."""
    return start_figures(result, out_dir, workers, pdf)()
