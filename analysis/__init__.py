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
    pipeline: ``analyze`` / ``analyse``: the orchestration, inputs -> checks -> every table.
    result_tables: AnalysisTables (every table, typed) and writing the CSV/JSON files.
    result: AnalysisResult = AnalysisTables + writing figures and report (``write_report``).
    figures: PNG (PDF with --pdf) figures of the tables.
    evidence: the flip examples ("What a flip looks like"), read from the logs.
    findings: the report's prose (key findings, section sentences).
    report_model, report_data: the report's sections and blocks; reading optional tables for it.
    sections, sections_studies: one builder per report section, listed in ``sections.REPORT_SECTIONS``.
    report: renders the sections into report.html and report.md (Jinja templates).
    formatting: numbers, tables and Markdown escaping for reading.
    cli: `refusal-stability analyze` (add_analyze_arguments, run_analyze).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refusal_stability.analysis.pipeline import analyze
    from refusal_stability.analysis.result import AnalysisResult
    from refusal_stability.analysis.tidy import AnalysisInputError

__all__ = ["AnalysisInputError", "AnalysisResult", "analyze"]

_EXPORTS = {
    "analyze": "refusal_stability.analysis.pipeline",
    "AnalysisResult": "refusal_stability.analysis.result",
    "AnalysisInputError": "refusal_stability.analysis.tidy",
}


def __getattr__(name: str) -> Any:
    """Import the public API lazily (``refusal-stability --help`` need not load pandas and scipy)."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
