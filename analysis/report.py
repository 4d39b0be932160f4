"""Self-contained HTML report (figures embedded as base64, text HTML-escaped) and a Markdown twin."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from refusal_stability.analysis.pipeline import AnalysisResult
from refusal_stability.analysis.read_logs import LogInfo

N_UNSTABLE_SHOWN = 25


def _num(value: Any) -> Any:
    """Round floats for display; leave everything else (escaping happens in the template)."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "–"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        if float(value).is_integer():
            return f"{value:.1f}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:.2f}"
    return "–" if value is None else value


def _md_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table (pipes in cells escaped)."""
    if not rows:
        return "(none)\n"

    def cell(value: Any) -> str:
        return str(_num(value)).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, rows[0])) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell(v) for v in row.values()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.to_dict(orient="records")


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("refusal_stability.analysis", "templates"),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _num
    env.globals["md_table"] = _md_table
    return env


def _context(
    result: AnalysisResult,
    sources: list[LogInfo],
    skipped: list[str],
    figures: dict[str, Path],
    n_missing: int,
    embed: bool,
) -> dict[str, Any]:
    stats = result.statistics
    agreement = result.agreement
    pairs = [
        {
            **pair,
            "confusion_rows": [
                {f"{pair['judges'][0]} \u2192 {pair['judges'][1]}": label, **counts}
                for label, counts in pair["confusion"].items()
            ],
        }
        for pair in ([] if agreement is None else agreement.get("pairs", [agreement]))
    ]
    judges = sorted({j for info in sources for j in info.judges})
    unstable_cols = [
        c
        for c in [
            "model",
            "prompt_id",
            "source",
            "category",
            "ssi",
            "n_valid",
            "n_refuse",
            "n_partial",
            "n_comply",
            "majority_label",
        ]
        if c in result.per_prompt.columns
    ]
    unstable = result.per_prompt.nsmallest(N_UNSTABLE_SHOWN, "ssi")[unstable_cols]
    sample_size = result.sample_size.pivot_table(
        index=["model", "temperature"], columns="n", values="agreement_pct", sort=False
    )
    sample_size.columns = [f"n={n}" for n in sample_size.columns]
    return {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "judge_text": result.settings.get("judge") or ", ".join(judges),
        "threshold": stats["threshold"],
        "n_records": stats["n_records"],
        "n_unscored": stats["n_unscored"],
        "n_missing": n_missing,
        "bootstrap": result.settings.get("bootstrap"),
        "seed": result.settings.get("seed"),
        "skipped": skipped,
        "sources": [
            {
                "file": info.path,
                "read from": info.kind,
                "models": ", ".join(info.models),
                "judges": ", ".join(info.judges),
                "records": info.n_records,
                "grader template": ", ".join(info.template_hashes) or "–",
            }
            for info in sources
        ],
        "per_model": _rows(result.per_model),
        "within_temperature": _rows(result.within_temperature),
        "friedman": stats["friedman"],
        "wilcoxon": stats["wilcoxon"],
        "spearman": [{"model": model, **values} for model, values in stats["spearman"].items()],
        "thresholds": _rows(
            result.thresholds.pivot(index="model", columns="threshold", values="unstable_pct")
            .rename(columns=lambda t: f"SSI<{t}")
            .reset_index()
        ),
        "binary_ablation": _rows(result.binary_ablation),
        "sample_size": _rows(sample_size.reset_index()),
        "agreement": pairs,
        "unstable_prompts": _rows(unstable),
        "figures": [
            {"name": name, "data": base64.b64encode(path.read_bytes()).decode("ascii") if embed else ""}
            for name, path in figures.items()
        ],
    }


def write_report(
    result: AnalysisResult,
    out_dir: Path,
    sources: list[LogInfo],
    skipped: list[str] | None = None,
    figures: dict[str, Path] | None = None,
    n_missing: int = 0,
) -> Path:
    """Write report.html (self-contained) and report.md into out_dir; return the HTML path."""
    figures = figures or {}
    skipped = skipped or []
    html = (
        _environment(autoescape=True)
        .get_template("report.html.jinja2")
        .render(**_context(result, sources, skipped, figures, n_missing, embed=True))
    )
    markdown = (
        _environment(autoescape=False)
        .get_template("report.md.jinja2")
        .render(**_context(result, sources, skipped, figures, n_missing, embed=False))
    )
    html_path = out_dir / "report.html"
    html_path.write_text(html, encoding="utf-8")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    return html_path
