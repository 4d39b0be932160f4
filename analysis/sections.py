"""The report's sections, in reading order: one builder function per section, listed in ``REPORT_SECTIONS``.

To add a section, write one function ``(ReportInput) -> Section | None`` (None when its data is absent) here
or in a module beside this one, and add it to ``REPORT_SECTIONS`` where it should appear; the renderer and
the templates need no change. The study sections (groups, comparisons, attacker's view, judges, provenance)
live in ``sections_studies``.
"""

from __future__ import annotations

from collections.abc import Mapping

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.findings import key_findings, temperature_sentence
from refusal_stability.analysis.report_data import records, settings_of, statistics_of, table_of
from refusal_stability.analysis.report_model import Block, ReportInput, Section, SectionBuilder
from refusal_stability.analysis.sections_benign import over_refusal_section
from refusal_stability.analysis.sections_judges import judge_agreement_section, judge_check_section
from refusal_stability.analysis.sections_reproducibility import reproducibility_section
from refusal_stability.analysis.sections_studies import (
    attack_section,
    comparisons_section,
    groups_section,
    provenance_section,
)

N_UNSTABLE_SHOWN = 25
PER_MODEL_COLUMNS = [
    "model",
    "n_prompts",
    "mean_ssi",
    "flip_pct",
    "unstable_pct",
    "refusal_pct",
    "partial_pct",
    "comply_pct",
    "n_unscored",
    "judge",
]
UNSTABLE_COLUMNS = ["model", "prompt_id", "source", "category", "ssi", "n_valid", "n_refuse", "n_partial", "n_comply"]


def findings_section(report: ReportInput) -> Section:
    """Key findings: the sentences a reader needs first."""
    section = Section("findings", "Key findings")
    sentences = key_findings(report.result)
    section.blocks.append(Block("findings", items=sentences or ["No findings: the result holds no per-model table."]))
    return section


def per_model_section(report: ReportInput) -> Section:
    """Per-model means over prompts with bootstrap CIs, and the model-comparison and SSI figures."""
    section = Section("per-model", "Per model")
    section.para(
        "SSI = count of a prompt's most frequent label / its valid labels; a prompt flipped when it received more "
        "than one label. Rates are means over prompts; brackets are 95 % bootstrap CIs over prompts."
    )
    section.add_table(fmt.table(table_of(report.result, "per_model"), PER_MODEL_COLUMNS), "flip_rate")
    section.blocks.append(Block("figures", figures=["model_comparison", "ssi_distribution"]))
    return section


def temperature_section(report: ReportInput) -> Section:
    """Within-temperature stability, the Friedman test and its Wilcoxon post-hoc tests."""
    section = Section("temperature", "Temperature effect")
    sentence = temperature_sentence(report.result)
    stats = statistics_of(report.result)
    friedman = stats.get("friedman")
    if sentence:
        section.para(sentence)
    elif isinstance(friedman, Mapping) and friedman.get("note"):
        section.para(f"Friedman test: {friedman['note']}")
    section.add_table(
        fmt.table(table_of(report.result, "within_temperature")),
        "within_temperature",
        "Over the seeds of one temperature",
    )
    section.add_table(
        fmt.table(records(stats.get("wilcoxon")), headers={"a": "Temperature A", "b": "Temperature B"}),
        "temperature_effect",
        "Wilcoxon signed-rank post-hoc tests on within-temperature SSI (Bonferroni)",
    )
    return section


def evidence_section(report: ReportInput) -> Section:
    """What a flip looks like: the least stable prompts of each run with one response per label."""
    section = Section("flips", "What a flip looks like")
    section.para(
        f"The {report.n_examples} least stable prompts of each run (lowest SSI, ties by prompt id), with one response "
        "per distinct label and the configuration (temperature, seed, epoch) that produced it."
    )
    section.blocks.append(Block("evidence", runs=report.evidence))
    return section


def detail_section(report: ReportInput) -> Section:
    """Robustness and detail: Spearman, thresholds, binary ablation, sample size, least stable prompts."""
    result = report.result
    section = Section("detail", "Robustness and detail")
    spearman = records(statistics_of(result).get("spearman"), ("model",))
    section.add_table(
        fmt.table(spearman, ["model", "rho", "p", "n"]), "stability_vs_compliance", "Stability vs compliance (Spearman)"
    )
    thresholds = table_of(result, "thresholds")
    if thresholds is not None:
        wide = thresholds.pivot(index="model", columns="threshold", values="unstable_pct")
        wide.columns = [f"SSI < {t:g} %" for t in wide.columns]
        section.add_table(fmt.table(wide.reset_index()), caption="Threshold sensitivity: % of prompts below")
    section.add_table(fmt.table(table_of(result, "binary_ablation")), caption="Binary ablation (PARTIAL folded)")
    sample_size = table_of(result, "sample_size")
    if sample_size is not None:
        wide = sample_size.pivot_table(index=["model", "temperature"], columns="n", values="agreement_pct", sort=False)
        wide.columns = [f"n={n} %" for n in wide.columns]
        section.add_table(
            fmt.table(wide.reset_index().astype({"temperature": str})),
            "sample_size",
            "Sample-size reliability: % of prompts whose n-draw majority matches the all-draws majority",
        )
    per_prompt = table_of(result, "per_prompt")
    if per_prompt is not None:
        columns = [*UNSTABLE_COLUMNS, "majority_label", "judge_sensitive"]
        unstable = per_prompt.assign(_pid=per_prompt["prompt_id"].astype(str)).sort_values(["ssi", "model", "_pid"])
        section.add_table(fmt.table(unstable.head(N_UNSTABLE_SHOWN), columns), caption="Least stable prompts")
    return section


def inputs_section(report: ReportInput) -> Section:
    """The input files, records, skipped inputs and completeness of each log."""
    section = Section("inputs", "Inputs")
    stats, settings = statistics_of(report.result), settings_of(report.result)
    n_missing = report.n_missing
    section.para(
        f"{fmt.integer(stats.get('n_records'))} records, {fmt.integer(stats.get('n_unscored'))} unscored "
        "(UNSCORED/ERROR, dropped before counting)"
        + (f", {fmt.integer(n_missing)} missing records (--allow-incomplete)" if n_missing else "")
        + f". Bootstrap: {settings.get('bootstrap')} percentile resamples of prompts (seed {settings.get('seed')})."
    )
    rows = [
        {
            "file": getattr(info, "path", ""),
            "read from": getattr(info, "kind", ""),
            "models": ", ".join(getattr(info, "models", [])),
            "judges": ", ".join(getattr(info, "judges", [])),
            "records": getattr(info, "n_records", None),
            "grader template": ", ".join(getattr(info, "template_hashes", []) or []) or fmt.DASH,
        }
        for info in report.sources
    ]
    section.add_table(fmt.table(rows, headers={"file": "File", "read from": "Read from", "records": "Records"}))
    if report.skipped:
        section.blocks.append(Block("list", text="Skipped inputs:", items=[str(s) for s in report.skipped]))
    section.add_table(fmt.table(table_of(report.result, "completeness")), caption="Completeness of each log")
    return section


REPORT_SECTIONS: list[SectionBuilder] = [
    findings_section,
    per_model_section,
    over_refusal_section,
    temperature_section,
    groups_section,
    comparisons_section,
    attack_section,
    judge_agreement_section,
    provenance_section,
    evidence_section,
    detail_section,
    reproducibility_section,
    judge_check_section,
    inputs_section,
]


def build_sections(report: ReportInput, builders: list[SectionBuilder] | None = None) -> list[Section]:
    """Every section of the report, in reading order, each only when its data is present."""
    if builders is None and settings_of(report.result).get("judge_check_only"):
        builders = [judge_check_section, inputs_section]  # judge checks alone: no study sections
    sections = [build(report) for build in (REPORT_SECTIONS if builders is None else builders)]
    return [section for section in sections if section is not None]
