"""Analysis of refusal-stability runs: eval logs or label CSVs -> tidy frame -> metrics -> figures -> report.

Modules:
    read_logs: logs (header reductions, else sample summaries) and label CSVs -> tidy frame; judge/grid checks.
    metrics: per-prompt / per-model / within-temperature / thresholds / ablation / sample-size / bootstrap.
    statistics: Friedman + Kendall's W, Wilcoxon post-hoc, Spearman, Cohen's kappa (judge agreement).
    pipeline: tidy frame -> AnalysisResult (every table of the output contract) -> CSV/JSON files.
    figures, report: PNG/PDF figures; self-contained report.html and report.md.
    cli: `refusal-stability analyze` (add_analyze_arguments, run_analyze).
    synthetic: real .eval logs of a scored study without running a model (benchmarks, tests).
"""
