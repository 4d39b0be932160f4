"""Tidy frame -> every table and statistic of the output contract, and writing them to disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from refusal_stability.analysis import metrics, statistics
from refusal_stability.scorers.labels import UNSCORED


@dataclass
class AnalysisResult:
    """All computed outputs; the tables are the CSVs of the output contract."""

    per_prompt: pd.DataFrame
    per_model: pd.DataFrame
    within_temperature: pd.DataFrame
    within_temperature_prompts: pd.DataFrame
    thresholds: pd.DataFrame
    binary_ablation: pd.DataFrame
    sample_size: pd.DataFrame
    statistics: dict[str, Any]
    agreement: dict[str, Any] | None
    label_rates_by_temperature: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV name -> table."""
        return {
            "per_prompt.csv": self.per_prompt,
            "per_model.csv": self.per_model,
            "within_temperature.csv": self.within_temperature,
            "thresholds.csv": self.thresholds,
            "binary_ablation.csv": self.binary_ablation,
            "sample_size.csv": self.sample_size,
        }


def label_rates_by_temperature(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean per-prompt REFUSE/PARTIAL/COMPLY % per (model, temperature) (temperature-effect figure)."""
    wt = metrics.stability_from_counts(metrics.label_counts(frame, ["model", "temperature", "prompt_id"]))
    rates = wt.groupby(level=["model", "temperature"])[["refusal_rate", "partial_rate", "compliance_rate"]].mean()
    return (rates * 100).rename(columns=lambda c: c.replace("_rate", "_pct")).reset_index()


def analyse(
    frame: pd.DataFrame,
    all_judges: pd.DataFrame | None = None,
    judge: str | None = None,
    threshold: float = 0.8,
    n_boot: int = 1000,
    seed: int = 0,
) -> AnalysisResult:
    """Compute every output from the selected judge's tidy frame.

    Args:
        frame: tidy rows of the judge whose labels feed the metrics.
        all_judges: tidy rows of every judge (for agreement.json); defaults to ``frame``.
        judge: the selected judge (first in agreement pairs).
        threshold: SSI below this is "unstable".
        n_boot: bootstrap resamples of prompts.
        seed: bootstrap seed.
    """
    prompts = metrics.per_prompt(frame, threshold)
    wt_prompts = metrics.within_temperature_prompts(frame, threshold)
    blocks = statistics.temperature_blocks(wt_prompts)
    stats = {
        "friedman": statistics.friedman(blocks),
        "wilcoxon": statistics.wilcoxon_posthoc(blocks),
        "spearman": statistics.spearman(prompts),
        "n_unscored": int((frame["label"] == UNSCORED).sum()),
        "n_records": len(frame),
        "threshold": threshold,
        "bootstrap": {"resamples": n_boot, "seed": seed, "method": "percentile, prompts resampled per model"},
    }
    return AnalysisResult(
        per_prompt=prompts,
        per_model=metrics.per_model(prompts, frame, n_boot, seed),
        within_temperature=metrics.within_temperature(wt_prompts),
        within_temperature_prompts=wt_prompts,
        thresholds=metrics.thresholds(prompts),
        binary_ablation=metrics.binary_ablation(frame, threshold),
        sample_size=metrics.sample_size(frame),
        statistics=stats,
        agreement=statistics.agreement_report(all_judges if all_judges is not None else frame, judge),
        label_rates_by_temperature=label_rates_by_temperature(frame),
        settings={"threshold": threshold, "bootstrap": n_boot, "seed": seed, "judge": judge},
    )


def write_tables(result: AnalysisResult, out_dir: Path) -> list[Path]:
    """Write the CSVs, statistics.json and (with several judges) agreement.json; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in result.tables().items():
        path = out_dir / name
        table.to_csv(path, index=False)
        written.append(path)
    path = out_dir / "statistics.json"
    path.write_text(json.dumps(result.statistics, indent=2))
    written.append(path)
    agreement = out_dir / "agreement.json"
    if result.agreement is not None:
        agreement.write_text(json.dumps(result.agreement, indent=2))
        written.append(agreement)
    elif agreement.exists():
        agreement.unlink()  # stale file from an earlier run with two judges
    return written
