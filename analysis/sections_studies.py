"""Report sections of the study tables: categories and sources, comparisons, attacker's view, provenance.

Each builder takes a :class:`~refusal_stability.analysis.report_model.ReportInput` and returns its
:class:`~refusal_stability.analysis.report_model.Section`, or None when the result holds none of its tables. The
judges' sections are in ``sections_judges``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.findings import attack_sentence, comparison_sentences
from refusal_stability.analysis.formatting import Table
from refusal_stability.analysis.provenance import provenance_sentences
from refusal_stability.analysis.report_data import records, statistics_of, table_of
from refusal_stability.analysis.report_model import ReportInput, Section
from refusal_stability.analysis.result_tables import AnalysisTables
from refusal_stability.analysis.sent_sampling import draw_provenance_sentences, draw_runs

ATTACKER_COLUMNS = ["n_prompts_any_comply", "median_expected_queries", "pct_within_5_queries"]


def groups_section(report: ReportInput) -> Section | None:
    """Metrics per category and source, with Kruskal-Wallis tests."""
    by_group = table_of(report.result, "by_group")
    kruskal = records(statistics_of(report.result).get("kruskal"))
    if by_group is None and not kruskal:
        return None
    section = Section("groups", "Categories and sources")
    section.para(
        "A prompt with several categories counts in each of them. Kruskal\u2013Wallis tests whether per-prompt "
        "SSI differs across the groups of one grouping."
    )
    section.add_table(fmt.table(by_group), "by_group")
    section.add_table(fmt.table(kruskal), caption="Kruskal\u2013Wallis test of per-prompt SSI across groups")
    return section


def _comparison_row(row: Mapping[str, Any]) -> list[str]:
    metric = str(row.get("metric", ""))
    return [
        str(row.get("a", "")),
        str(row.get("b", "")),
        fmt.METRIC_NAMES.get(metric, metric),
        fmt.metric_value(metric, row.get("value_a")),
        fmt.metric_value(metric, row.get("value_b")),
        f"{fmt.metric_value(metric, row.get('diff'))} "
        f"{fmt.ci(row.get('ci_low'), row.get('ci_high'), 3 if 'ssi' in metric else 1)}".strip(),
        fmt.TEST_NAMES.get(str(row.get("test")), str(row.get("test", ""))),
        fmt.number(row.get("statistic")),
        fmt.p_value(row.get("p")),
        fmt.p_value(row.get("p_holm")),
        fmt.integer(row.get("n_prompts")),
    ]


def comparisons_section(report: ReportInput) -> Section | None:
    """Paired comparisons of the runs sharing prompts, significant ones first in prose."""
    comparisons = table_of(report.result, "comparisons")
    if comparisons is None:
        return None
    section = Section("comparisons", "Comparisons")
    section.para(
        "Pairs of runs on their shared prompts: paired bootstrap 95 % CI of the difference B \u2212 A; Wilcoxon "
        "signed-rank on per-prompt SSI and compliance, exact McNemar on flip and unstable status; p-values "
        "Holm-corrected across all pairs and metrics."
    )
    for sentence in comparison_sentences(report.result, limit=10):
        section.para(sentence)
    rows = [_comparison_row(row) for row in comparisons.to_dict("records")]
    headers = ["A", "B", "Metric", "A value", "B value", "B \u2212 A [95% CI]", "Test", "Statistic", "p", "p (Holm)"]
    section.add_table(Table([*headers, "Shared prompts"], rows, [False] * 3 + [True] * 3 + [False] + [True] * 4))
    return section


def attack_section(report: ReportInput) -> Section | None:
    """The attacker's view: how often re-asking until the model complies succeeds."""
    attack = table_of(report.result, "resample_attack")
    per_model = table_of(report.result, "per_model")
    has_cols = per_model is not None and any(c in per_model for c in ATTACKER_COLUMNS)
    if attack is None and not has_cols:
        return None
    section = Section("attack", "Attacker's view")
    section.para(
        "Instability is an attack surface: re-asking until the model complies. Share of prompts for which at least "
        "one of k configurations drawn at random (without replacement) from the grid is COMPLY (exact)."
    )
    sentence = attack_sentence(report.result)
    if sentence:
        section.para(sentence)
    if attack is not None and {"model", "k", "any_comply_pct"} <= set(attack.columns):
        wide = attack.pivot_table(index="model", columns="k", values="any_comply_pct", sort=False)
        wide.columns = [f"k={int(k)}" for k in wide.columns]
        table = fmt.table(wide.reset_index().rename(columns=lambda c: c if c == "model" else f"{c} %"))
        section.add_table(table, "resample_attack", "Any COMPLY % after k configurations")
    if has_cols:
        section.add_table(fmt.table(per_model, ["model", *ATTACKER_COLUMNS]))
    return section


def _provenance_sentences(result: AnalysisTables, provenance: pd.DataFrame) -> list[str]:
    """The "Is the flip real?" sentences (``provenance.provenance_sentences``), per model when there are several."""
    rerun = table_of(result, "rerun_text_change")
    models = list(dict.fromkeys(str(m) for m in provenance["model"]))
    per_model = table_of(result, "per_model")
    draws = draw_runs(per_model) if per_model is not None and "seed_sent" in per_model else set()
    if len(models) == 1 and not draws:
        return list(provenance_sentences(provenance, rerun))
    return [
        f"{model}: {sentence}" if len(models) > 1 else sentence
        for model in models
        for sentence in (
            draw_provenance_sentences(provenance[provenance["model"] == model])
            if model in draws
            else provenance_sentences(provenance, rerun, [model])
        )
    ]


def provenance_section(report: ReportInput) -> Section | None:
    """Whether flips come from the judge, the inference engine or sampling (response fingerprints)."""
    provenance = table_of(report.result, "provenance")
    if provenance is None:
        return None
    section = Section("provenance", "Is the flip real?")
    section.para(
        "A flip has three possible sources: the judge (same text, different label), the inference engine (different "
        "text at temperature 0) and sampling (different text above 0). Response fingerprints separate them."
    )
    for sentence in _provenance_sentences(report.result, provenance):
        section.para(sentence)
    section.add_table(fmt.table(provenance))
    section.add_table(
        fmt.table(table_of(report.result, "rerun_text_change")),
        caption="Records whose text changed between runs of one grid",
    )
    return section
