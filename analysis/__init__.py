"""Analysis of refusal-stability runs: eval logs or label CSVs -> tidy frame -> metrics -> figures -> report.

Library use (notebooks)::

    from refusal_stability.analysis import analyze
    result = analyze(["logs/"], n_boot=1000)   # AnalysisResult: every table as a DataFrame
    result.per_model                           # mean SSI, flip %, unstable % with bootstrap CIs
    result.write_tables("reports"); result.write_report("reports")

Modules:
    tidy: the tidy-frame contract, AnalysisInputError, display model / run names.
    read_logs: .eval logs (header reductions, else sample summaries) -> tidy rows, planned grid, status.
    read_labels: long-format label CSVs, read strictly.
    inputs: expand paths, read files (in parallel for big inputs), pick retries, --prompts join.
    checks: completeness, duplicates, judge selection, grids, valid labels.
    metrics: per-prompt / per-model / within-temperature / thresholds / ablation / sample-size / bootstrap.
    statistics: Friedman + Kendall's W, Wilcoxon post-hoc, Spearman.
    agreement: judge agreement (Cohen's kappa, confusion), consensus metrics, judge sensitivity.
    provenance: label flips split by response-text change (fingerprints); re-run text change.
    groups, comparisons, attack: by_group / Kruskal-Wallis, paired run comparisons, the attacker's view.
    pipeline: ``analyze`` (inputs -> AnalysisResult) and writing the CSV/JSON files.
    figures, report, evidence: PNG (PDF with --pdf) figures; report.html/report.md; flip examples.
    cli: `refusal-stability analyze` (add_analyze_arguments, run_analyze).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refusal_stability.analysis.pipeline import AnalysisResult, analyze
    from refusal_stability.analysis.tidy import AnalysisInputError

__all__ = ["AnalysisInputError", "AnalysisResult", "analyze"]

_EXPORTS = {
    "analyze": "refusal_stability.analysis.pipeline",
    "AnalysisResult": "refusal_stability.analysis.pipeline",
    "AnalysisInputError": "refusal_stability.analysis.tidy",
}


def __getattr__(name: str) -> Any:
    """Import the public API lazily (``refusal-stability --help`` need not load pandas and scipy)."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
