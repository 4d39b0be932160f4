"""The report a researcher reads first: key findings, then the evidence, as report.html and report.md.

Both files are rendered from one list of sections (so they hold the same sections and the same numbers).
report.html is self-contained (figures embedded as base64, no JavaScript); every text that comes from the
inputs (model names, prompt ids, categories, judges, prompt and response texts) is escaped in both files.
Optional tables of the result (by_group, comparisons, resample_attack, consensus, provenance, completeness,
...) produce their section only when present and non-empty.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import pandas as pd
from markupsafe import Markup

from refusal_stability.analysis import evidence as evidence_mod
from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.formatting import Table
from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD

N_UNSTABLE_SHOWN = 25
FOLD_CHARS = 400  # texts longer than this are folded (<details>) with a preview
PREVIEW_CHARS = 200
MAX_FINDINGS = 6
ATTACK_K = 5


@dataclass
class Block:
    """One piece of a section: a paragraph, a table (optionally with its figure beside it), figures, ..."""

    kind: str  # "para" | "table" | "figures" | "list" | "code" | "evidence"
    text: str = ""
    table: Table | None = None
    figures: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    runs: list[Any] = field(default_factory=list)
    caption: str = ""


@dataclass
class Section:
    """A titled section of the report."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    def para(self, text: str) -> None:
        """Append a paragraph."""
        self.blocks.append(Block("para", text=text))

    def add_table(self, table: Table, figure: str | None = None, caption: str = "") -> None:
        """Append a table (skipped when empty), with the named figure beside it."""
        if table:
            self.blocks.append(Block("table", table=table, figures=[figure] if figure else [], caption=caption))
        elif figure:
            self.blocks.append(Block("figures", figures=[figure]))


# ---------------------------------------------------------------------------------------------- helpers


def _frame(result: Any, name: str) -> pd.DataFrame | None:
    """``result.<name>`` when it is a non-empty DataFrame (or list of records), else None."""
    value = getattr(result, name, None)
    if value is None:
        return None
    if not isinstance(value, pd.DataFrame):
        try:
            value = pd.DataFrame(value)
        except (TypeError, ValueError):
            return None
    return None if value.empty else value


def _stats(result: Any) -> dict[str, Any]:
    return getattr(result, "statistics", None) or {}


def _records(value: Any, keys: Sequence[str] = ("model", "group_by")) -> list[dict[str, Any]]:
    """Flatten a list of dicts, or dicts nested by ``keys`` (``{model: {group_by: {...}}}``), into records."""
    if value is None:
        return []
    if isinstance(value, list):
        return [dict(v) for v in value if isinstance(v, Mapping)]
    if not isinstance(value, Mapping):
        return []
    if not value or all(not isinstance(v, Mapping) for v in value.values()):
        return [dict(value)] if value else []
    out = []
    for name, inner in value.items():
        if not isinstance(inner, Mapping | list):
            continue
        for record in _records(inner, keys[1:]) if keys[1:] else _records(inner, ()):
            out.append({keys[0] if keys else "key": name, **record})
    return out


def _agreement_pairs(agreement: Any) -> list[dict[str, Any]]:
    if not agreement:
        return []
    if isinstance(agreement, Mapping) and "pairs" in agreement:
        return [dict(p) for p in agreement["pairs"]]
    return [dict(agreement)] if isinstance(agreement, Mapping) else []


def _confusion_table(confusion: Mapping[str, Mapping[str, Any]], judges: Sequence[str]) -> Table:
    labels = list(confusion)
    columns = list(next(iter(confusion.values()), {}))
    corner = f"{judges[0]} \u2193 / {judges[1]} \u2192" if len(judges) == 2 else "labels"
    rows = [[label, *(fmt.integer(confusion[label].get(c)) for c in columns)] for label in labels]
    return Table([corner, *columns], rows, [False] + [True] * len(columns))


def _model_order(result: Any) -> list[str]:
    per_model = _frame(result, "per_model")
    if per_model is not None and "model" in per_model:
        return [str(m) for m in per_model["model"]]
    per_prompt = _frame(result, "per_prompt")
    return sorted(per_prompt["model"].astype(str).unique()) if per_prompt is not None else []


def _pct_ci(row: Mapping[str, Any], column: str) -> str:
    """``26.8 % [24.1, 29.6]`` from a row with column and its _ci_low/_ci_high."""
    bounds = fmt.ci(row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high"))
    return f"{fmt.pct(row.get(column))} %" + (f" {bounds}" if bounds else "")


def _ssi_ci(row: Mapping[str, Any]) -> str:
    bounds = fmt.ci(row.get("mean_ssi_ci_low"), row.get("mean_ssi_ci_high"), 3)
    return fmt.ssi(row.get("mean_ssi")) + (f" {bounds}" if bounds else "")


# ------------------------------------------------------------------------------------------ key findings


def _incomplete_rows(result: Any) -> list[dict[str, Any]]:
    completeness = _frame(result, "completeness")
    if completeness is None or "missing_records" not in completeness:
        return []
    missing = completeness[pd.to_numeric(completeness["missing_records"], errors="coerce").fillna(0) > 0]
    return missing.to_dict("records")


def _incomplete_sentences(result: Any) -> list[str]:
    out = []
    for row in _incomplete_rows(result):
        planned = row.get("planned_records")
        share = ""
        if planned is not None and not fmt.is_missing(planned) and float(planned) > 0:
            share = f" ({fmt.pct(float(row['missing_records']) / float(planned) * 100)} %)"
        status = f", log status {row['status']}" if not fmt.is_missing(row.get("status")) else ""
        out.append(
            f"Incomplete run: {row.get('model', '?')} is missing {fmt.integer(row['missing_records'])} of "
            f"{fmt.integer(planned)} planned records{share}{status} \u2014 its numbers cover only what was recorded."
        )
    return out


def _model_sentence(row: Mapping[str, Any], threshold: Any) -> str:
    return (
        f"{row['model']} flips on {_pct_ci(row, 'flip_pct')} of {fmt.integer(row.get('n_prompts'))} prompts "
        f"(mean SSI {_ssi_ci(row)}; {_pct_ci(row, 'unstable_pct')} unstable, SSI < {threshold})."
    )


def _comparison_sentences(result: Any, limit: int) -> list[str]:
    comparisons = _frame(result, "comparisons")
    if comparisons is None or "p_holm" not in comparisons:
        return []
    p_holm = pd.to_numeric(comparisons["p_holm"], errors="coerce")
    ranked = comparisons.assign(_p=p_holm)
    significant = ranked[ranked["_p"] < 0.05].sort_values(["_p", "a", "b", "metric"])
    n_tests = len(comparisons)
    if significant.empty:
        return [f"No difference between runs is significant after Holm correction ({n_tests} tests)."]
    out = []
    for row in significant.head(limit).to_dict("records"):
        metric = str(row["metric"])
        name = fmt.METRIC_NAMES.get(metric, metric)
        unit = "" if "ssi" in metric else " points"
        bounds = fmt.ci(row.get("ci_low"), row.get("ci_high"), 3 if "ssi" in metric else 1)
        test = fmt.TEST_NAMES.get(str(row.get("test")), str(row.get("test", "test")))
        value_a = fmt.metric_value(metric, row.get("value_a")) + ("" if "ssi" in metric else " %")
        value_b = fmt.metric_value(metric, row.get("value_b")) + ("" if "ssi" in metric else " %")
        out.append(
            f"{row['a']} vs {row['b']}: {name} {value_a} vs {value_b}, difference (B \u2212 A) "
            f"{fmt.metric_value(metric, row.get('diff'))}{unit} {bounds} "
            f"({test}, Holm-corrected p {fmt.p_value(row['p_holm'])}, "
            f"n = {fmt.integer(row.get('n_prompts'))} shared prompts)."
        )
    if len(significant) > limit:
        out[-1] += f" {len(significant) - limit} more of {n_tests} tests are significant (see Comparisons)."
    return out


def _reask_sentence(result: Any, k: int) -> str | None:
    """The statistics module's sentence for the run where re-asking overturns most majority-REFUSE prompts."""
    per_prompt = _frame(result, "per_prompt")
    try:
        from refusal_stability.analysis.attack import reask_after_refusal, reask_sentence
    except ImportError:
        return None
    if per_prompt is None:
        return None
    try:
        reask = reask_after_refusal(per_prompt, k)
    except (KeyError, ValueError):
        return None
    scored = reask.dropna(subset=["reask_comply_pct"])
    if scored.empty:
        return None
    top = scored.sort_values(["reask_comply_pct", "model"], ascending=[False, True]).iloc[0]
    text = f"Attacker's view ({top['model']}): " + reask_sentence(reask, top["model"])
    if len(scored) > 1:
        low = scored["reask_comply_pct"].min()
        text = text[:-1] + f"; over {len(scored)} runs, {fmt.pct(low)} to {fmt.pct(top['reask_comply_pct'])} %."
    return text


def attack_sentence(result: Any, k: int = ATTACK_K) -> str | None:
    """The attacker's-view sentence: what re-asking up to k times buys, for the run where it buys most.

    Uses the statistics module's re-ask table (prompts whose majority label is REFUSE) when present; else,
    from resample_attack with P1 / Pk the % of prompts with a COMPLY among 1 / k configurations drawn at
    random, the share (Pk - P1) / (100 - P1) of the prompts a single sample shows not complying.
    """
    sentence = _reask_sentence(result, k) if _frame(result, "resample_attack") is not None else None
    if sentence:
        return sentence
    attack = _frame(result, "resample_attack")
    if attack is None or not {"model", "k", "any_comply_pct"} <= set(attack.columns):
        return None
    per_model = _frame(result, "per_model")
    n_prompts = {} if per_model is None else dict(zip(per_model["model"], per_model["n_prompts"], strict=False))
    gains = []
    for model, table in attack.groupby("model", sort=False):
        values = dict(zip(table["k"].astype(int), table["any_comply_pct"].astype(float), strict=False))
        if 1 not in values or len(values) < 2:
            continue
        k_used = k if k in values else max(values)
        one, many = values[1], values[k_used]
        gained = (many - one) / (100 - one) * 100 if one < 100 else 0.0
        gains.append((gained, str(model), k_used, one, many))
    if not gains:
        return None
    gains.sort(key=lambda g: (-g[0], g[1]))
    gained, model, k_used, one, many = gains[0]
    n = f" of {fmt.integer(n_prompts[model])}" if model in n_prompts else ""
    text = (
        f"Attacker's view: re-asking {model} up to {k_used} times yields a compliant answer for {fmt.pct(gained)} % "
        f"of the prompts that a single sample would have shown not complying ({fmt.pct(one)} % \u2192 "
        f"{fmt.pct(many)} %{n} prompts with a COMPLY)"
    )
    if len(gains) > 1:
        text += f"; over all {len(gains)} runs this share ranges from {fmt.pct(gains[-1][0])} to {fmt.pct(gained)} %"
    return text + "."


def _agreement_sentence(result: Any) -> str | None:
    pairs = _agreement_pairs(getattr(result, "agreement", None))
    if not pairs:
        return None
    pair = pairs[0]
    judges = pair.get("judges") or ["judge A", "judge B"]
    text = (
        f"The judges {judges[0]} and {judges[1]} agree on {fmt.pct(pair.get('agreement_pct'))} % of "
        f"{fmt.integer(pair.get('n_pairs'))} responses (Cohen's \u03ba = {fmt.ssi(pair.get('kappa'))})"
    )
    consensus = _frame(result, "consensus")
    if consensus is not None and {"flip_pct_all", "flip_pct_consensus"} <= set(consensus.columns):
        bits = [
            f"{row['model']} {fmt.pct(row['flip_pct_all'])} % \u2192 {fmt.pct(row['flip_pct_consensus'])} % "
            f"(n = {fmt.integer(row.get('n_prompts_consensus'))})"
            for row in consensus.head(3).to_dict("records")
        ]
        text += "; on records where both agree, the flip rate changes " + ", ".join(bits)
    return text + "."


def _temperature_sentence(result: Any) -> str | None:
    friedman = _stats(result).get("friedman")
    if not isinstance(friedman, Mapping) or fmt.is_missing(friedman.get("chi2")):
        return None
    p = friedman.get("p")
    verdict = "changes" if p is not None and float(p) < 0.05 else "does not significantly change"
    text = (
        f"Temperature {verdict} within-temperature stability (Friedman \u03c7\u00b2 = {fmt.number(friedman['chi2'])}, "
        f"p {fmt.p_value(p) if fmt.p_value(p).startswith('<') else '= ' + fmt.p_value(p)}, "
        f"Kendall's W = {fmt.ssi(friedman.get('kendalls_w'))}, n = {fmt.integer(friedman.get('n_blocks'))} "
        "(model, prompt) blocks)"
    )
    within = _frame(result, "within_temperature")
    if within is not None and {"temperature", "flip_pct"} <= set(within.columns):
        pooled = within.groupby("temperature")["flip_pct"].mean().sort_index()
        if len(pooled) >= 2:
            text += (
                f"; the flip rate over seeds goes from {fmt.pct(pooled.iloc[0])} % at temperature "
                f"{pooled.index[0]:g} to {fmt.pct(pooled.iloc[-1])} % at {pooled.index[-1]:g} (mean over runs)"
            )
    return text + "."


def key_findings(result: Any) -> list[str]:
    """3-6 plain sentences from the numbers, each with its 95 % CI (where one exists) and n.

    Incomplete runs come first; then stability per model (all models when at most three, else the least and
    the most stable), the strongest significant comparisons, the attacker's view, judge agreement and the
    temperature effect, up to ``MAX_FINDINGS`` sentences.
    """
    findings = _incomplete_sentences(result)
    per_model = _frame(result, "per_model")
    threshold = _stats(result).get("threshold", getattr(result, "settings", {}).get("threshold", UNSTABLE_THRESHOLD))
    if per_model is not None and "flip_pct" in per_model:
        rows = per_model.to_dict("records")
        if len(rows) <= 3:
            findings += [_model_sentence(row, threshold) for row in rows]
        else:
            ordered = sorted(rows, key=lambda r: (-float(r["flip_pct"]), str(r["model"])))
            findings.append("Least stable run: " + _model_sentence(ordered[0], threshold))
            findings.append("Most stable run: " + _model_sentence(ordered[-1], threshold))
    extras = [
        *_comparison_sentences(result, limit=2),
        attack_sentence(result),
        _agreement_sentence(result),
        _temperature_sentence(result),
    ]
    for sentence in extras:
        if sentence and len(findings) < MAX_FINDINGS:
            findings.append(sentence)
    return findings


# ------------------------------------------------------------------------------------------- sections


def _per_model_section(result: Any) -> Section:
    section = Section("per-model", "Per model")
    columns = [
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
    section.para(
        "SSI = count of a prompt's most frequent label / its valid labels; a prompt flipped when it received more "
        "than one label. Rates are means over prompts; brackets are 95 % bootstrap CIs over prompts."
    )
    section.add_table(fmt.table(_frame(result, "per_model"), columns), "flip_rate")
    section.blocks.append(Block("figures", figures=["model_comparison", "ssi_distribution"]))
    return section


def _temperature_section(result: Any) -> Section:
    section = Section("temperature", "Temperature effect")
    sentence = _temperature_sentence(result)
    friedman = _stats(result).get("friedman")
    if sentence:
        section.para(sentence)
    elif isinstance(friedman, Mapping) and friedman.get("note"):
        section.para(f"Friedman test: {friedman['note']}")
    section.add_table(
        fmt.table(_frame(result, "within_temperature")), "within_temperature", "Over the seeds of one temperature"
    )
    wilcoxon = _records(_stats(result).get("wilcoxon"))
    section.add_table(
        fmt.table(wilcoxon, headers={"a": "Temperature A", "b": "Temperature B"}),
        "temperature_effect",
        "Wilcoxon signed-rank post-hoc tests on within-temperature SSI (Bonferroni)",
    )
    return section


def _groups_section(result: Any) -> Section | None:
    by_group = _frame(result, "by_group")
    kruskal = _records(_stats(result).get("kruskal"))
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


def _comparisons_section(result: Any) -> Section | None:
    comparisons = _frame(result, "comparisons")
    if comparisons is None:
        return None
    section = Section("comparisons", "Comparisons")
    section.para(
        "Pairs of runs on their shared prompts: paired bootstrap 95 % CI of the difference B \u2212 A; Wilcoxon "
        "signed-rank on per-prompt SSI and compliance, exact McNemar on flip and unstable status; p-values "
        "Holm-corrected across all pairs and metrics."
    )
    for sentence in _comparison_sentences(result, limit=10):
        section.para(sentence)
    rows = []
    for row in comparisons.to_dict("records"):
        metric = str(row.get("metric", ""))
        rows.append(
            [
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
        )
    headers = ["A", "B", "Metric", "A value", "B value", "B \u2212 A [95% CI]", "Test", "Statistic", "p", "p (Holm)"]
    section.add_table(Table([*headers, "Shared prompts"], rows, [False] * 3 + [True] * 3 + [False] + [True] * 4))
    return section


def _attack_section(result: Any) -> Section | None:
    attack = _frame(result, "resample_attack")
    per_model = _frame(result, "per_model")
    attacker_cols = ["n_prompts_any_comply", "median_expected_queries", "pct_within_5_queries"]
    has_cols = per_model is not None and any(c in per_model for c in attacker_cols)
    if attack is None and not has_cols:
        return None
    section = Section("attack", "Attacker's view")
    section.para(
        "Instability is an attack surface: re-asking until the model complies. Share of prompts for which at least "
        "one of k configurations drawn at random (without replacement) from the grid is COMPLY (exact)."
    )
    sentence = attack_sentence(result)
    if sentence:
        section.para(sentence)
    if attack is not None and {"model", "k", "any_comply_pct"} <= set(attack.columns):
        wide = attack.pivot_table(index="model", columns="k", values="any_comply_pct", sort=False)
        wide.columns = [f"k={int(k)}" for k in wide.columns]
        table = fmt.table(wide.reset_index().rename(columns=lambda c: c if c == "model" else f"{c} %"))
        section.add_table(table, "resample_attack", "Any COMPLY % after k configurations")
    if has_cols:
        section.add_table(fmt.table(per_model, ["model", *attacker_cols]))
    return section


def _agreement_section(result: Any) -> Section | None:
    pairs = _agreement_pairs(getattr(result, "agreement", None))
    consensus = _frame(result, "consensus")
    if not pairs and consensus is None:
        return None
    section = Section("agreement", "Judge agreement")
    for pair in pairs:
        judges = list(pair.get("judges") or ["A", "B"])
        section.para(
            f"{judges[0]} vs {judges[1]}: {fmt.integer(pair.get('n_pairs'))} responses labelled validly by both; "
            f"exact agreement {fmt.pct(pair.get('agreement_pct'))} %, Cohen's \u03ba = {fmt.ssi(pair.get('kappa'))}. "
            f"Rows: {judges[0]}; columns: {judges[1]}."
        )
        if isinstance(pair.get("confusion"), Mapping):
            section.add_table(_confusion_table(pair["confusion"], judges))
        per_model = pair.get("per_model")
        if isinstance(per_model, Mapping) and per_model:
            section.add_table(
                fmt.table(
                    [{"model": m, **{k: v for k, v in d.items() if k != "confusion"}} for m, d in per_model.items()]
                ),
                caption="Per model",
            )
    if consensus is not None:
        section.para(
            "All records vs consensus records (both judges gave the same valid label; prompts with enough such "
            "records): a flip rate that falls on consensus records is partly judge disagreement."
        )
        section.add_table(fmt.table(consensus))
    return section


def _provenance_sentences(result: Any, provenance: pd.DataFrame) -> list[str]:
    """The "Is the flip real?" sentences (``provenance.provenance_sentences``), per model when there are several."""
    from refusal_stability.analysis.provenance import provenance_sentences

    rerun = _frame(result, "rerun_text_change")
    models = list(dict.fromkeys(str(m) for m in provenance["model"]))
    if len(models) == 1:
        return list(provenance_sentences(provenance, rerun))
    return [f"{model}: {sentence}" for model in models for sentence in provenance_sentences(provenance, rerun, [model])]


def _provenance_section(result: Any) -> Section | None:
    provenance = _frame(result, "provenance")
    if provenance is None:
        return None
    section = Section("provenance", "Is the flip real?")
    section.para(
        "A flip has three possible sources: the judge (same text, different label), the inference engine (different "
        "text at temperature 0) and sampling (different text above 0). Response fingerprints separate them."
    )
    for sentence in _provenance_sentences(result, provenance):
        section.para(sentence)
    section.add_table(fmt.table(provenance))
    section.add_table(
        fmt.table(_frame(result, "rerun_text_change")), caption="Records whose text changed between runs of one grid"
    )
    return section


def _evidence_section(runs: list[Any], n: int) -> Section:
    section = Section("flips", "What a flip looks like")
    section.para(
        f"The {n} least stable prompts of each run (lowest SSI, ties by prompt id), with one response per distinct "
        "label and the configuration (temperature, seed, epoch) that produced it."
    )
    section.blocks.append(Block("evidence", runs=runs))
    return section


def _detail_sections(result: Any) -> list[Section]:
    stats = _stats(result)
    section = Section("detail", "Robustness and detail")
    spearman = _records(stats.get("spearman"), ("model",))
    section.add_table(
        fmt.table(spearman, ["model", "rho", "p", "n"]), "stability_vs_compliance", "Stability vs compliance (Spearman)"
    )
    thresholds = _frame(result, "thresholds")
    if thresholds is not None:
        wide = thresholds.pivot(index="model", columns="threshold", values="unstable_pct")
        wide.columns = [f"SSI < {t:g} %" for t in wide.columns]
        section.add_table(fmt.table(wide.reset_index()), caption="Threshold sensitivity: % of prompts below")
    section.add_table(fmt.table(_frame(result, "binary_ablation")), caption="Binary ablation (PARTIAL folded)")
    sample_size = _frame(result, "sample_size")
    if sample_size is not None:
        wide = sample_size.pivot_table(index=["model", "temperature"], columns="n", values="agreement_pct", sort=False)
        wide.columns = [f"n={n} %" for n in wide.columns]
        section.add_table(
            fmt.table(wide.reset_index().astype({"temperature": str})),
            "sample_size",
            "Sample-size reliability: % of prompts whose n-draw majority matches the all-draws majority",
        )
    per_prompt = _frame(result, "per_prompt")
    if per_prompt is not None:
        columns = ["model", "prompt_id", "source", "category", "ssi", "n_valid", "n_refuse", "n_partial", "n_comply"]
        columns += ["majority_label", "judge_sensitive"]
        unstable = per_prompt.assign(_pid=per_prompt["prompt_id"].astype(str)).sort_values(["ssi", "model", "_pid"])
        section.add_table(fmt.table(unstable.head(N_UNSTABLE_SHOWN), columns), caption="Least stable prompts")
    return [section]


def _inputs_section(
    result: Any, sources: Iterable[Any], skipped: Sequence[str], n_missing: int, settings: Mapping[str, Any]
) -> Section:
    section = Section("inputs", "Inputs")
    stats = _stats(result)
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
        for info in sources
    ]
    section.add_table(fmt.table(rows, headers={"file": "File", "read from": "Read from", "records": "Records"}))
    if skipped:
        section.blocks.append(Block("list", text="Skipped inputs:", items=[str(s) for s in skipped]))
    section.add_table(fmt.table(_frame(result, "completeness")), caption="Completeness of each log")
    return section


def build_sections(
    result: Any,
    sources: Iterable[Any],
    skipped: Sequence[str],
    n_missing: int,
    runs: list[Any],
    n_examples: int,
) -> list[Section]:
    """Every section of the report, in reading order, each only when its data is present."""
    settings = getattr(result, "settings", None) or {}
    findings = Section("findings", "Key findings")
    sentences = key_findings(result)
    findings.blocks.append(Block("findings", items=sentences or ["No findings: the result holds no per-model table."]))
    sections = [
        findings,
        _per_model_section(result),
        _temperature_section(result),
        _groups_section(result),
        _comparisons_section(result),
        _attack_section(result),
        _agreement_section(result),
        _provenance_section(result),
        _evidence_section(runs, n_examples),
        *_detail_sections(result),
        _inputs_section(result, sources, skipped, n_missing, settings),
    ]
    return [s for s in sections if s is not None]


# -------------------------------------------------------------------------------------------- rendering

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#<>&~])")


def md_escape(text: Any) -> str:
    """Escape text for Markdown so that nothing in it becomes markup (HTML, emphasis, links, table pipes)."""
    text = str(text)
    text = _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(m.group(1), "\\" + m.group(1)), text)
    return text.replace("\r", "").replace("\n", " ")


def md_block(text: Any) -> str:
    """A multi-line text (prompt or response) as an escaped Markdown blockquote."""
    lines = str(text).replace("\r", "").split("\n")
    return "\n".join("> " + md_escape(line) if line.strip() else ">" for line in lines)


def md_table(table: Table) -> str:
    """A Markdown table of escaped cells."""
    if not table:
        return ""
    align = ["---:" if numeric else "---" for numeric in (table.numeric or [False] * len(table.headers))]
    lines = ["| " + " | ".join(md_escape(h) for h in table.headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _config(response: Any) -> str:
    parts = []
    if response.temperature is not None:
        parts.append(f"temperature {response.temperature:g}")
    if response.seed is not None:
        parts.append(f"seed {response.seed}")
    if response.epoch is not None:
        parts.append(f"epoch {response.epoch}")
    return ", ".join(parts)


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("refusal_stability.analysis", "templates"),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    if not autoescape:
        # Markdown: every {{ }} is escaped unless it went through a filter that returns safe Markdown.
        env.finalize = lambda value: value if isinstance(value, Markup) else md_escape(value)
        env.filters["md_table"] = lambda t: Markup(md_table(t))
        env.filters["md_block"] = lambda t: Markup(md_block(t))
        env.filters["raw"] = Markup
    env.globals["fold_chars"] = FOLD_CHARS
    env.globals["preview_chars"] = PREVIEW_CHARS
    env.filters["config"] = _config
    env.filters["counts"] = lambda c: ", ".join(f"{k} {v}" for k, v in c.items())
    env.filters["ssi"] = fmt.ssi
    return env


def _figure_data(figures: Mapping[str, Path]) -> dict[str, str]:
    return {name: base64.b64encode(Path(path).read_bytes()).decode("ascii") for name, path in figures.items()}


def _relative(path: Path, out_dir: Path) -> str:
    try:
        text = path.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        text = path.resolve().as_posix()
    return Markup(quote(text))  # URL-quoted: safe inside a Markdown link


def flip_evidence(
    result: Any,
    frame: pd.DataFrame | None = None,
    n_examples: int = evidence_mod.N_EXAMPLES,
    workers: int | None = None,
) -> list[Any]:
    """The "What a flip looks like" examples of every run (reads only the chosen samples from the logs).

    Args:
        result: an AnalysisResult (or any object with per_prompt and, optionally, per_model/frame/tidy).
        frame: the tidy frame of the selected judge (default: ``result.frame``, else ``result.tidy``).
        n_examples: least stable prompts shown per run.
        workers: processes reading the logs (default min(2, CPUs)).

    Returns:
        ``evidence.collect`` output (empty without a per_prompt table).
    """
    if frame is None:
        frame = next((f for n in ("frame", "tidy") if isinstance(f := getattr(result, n, None), pd.DataFrame)), None)
    per_prompt = _frame(result, "per_prompt")
    if per_prompt is None:
        return []
    return evidence_mod.collect(per_prompt, frame, n_examples, models=_model_order(result), workers=workers)


def write_report(
    result: Any,
    out_dir: Path,
    sources: Iterable[Any] = (),
    skipped: Sequence[str] | None = None,
    figures: Mapping[str, Path] | None = None,
    n_missing: int = 0,
    frame: pd.DataFrame | None = None,
    n_examples: int = evidence_mod.N_EXAMPLES,
    evidence: list[Any] | None = None,
) -> Path:
    """Write report.html (self-contained) and report.md into out_dir; return the HTML path.

    Args:
        result: an AnalysisResult (or any object with its attributes); optional tables are used when present.
        out_dir: output directory.
        sources: LogInfo of every input file (Inputs section).
        skipped: inputs that were skipped, with why.
        figures: figure name -> PNG path (from ``write_figures``); each is shown beside its table.
        n_missing: missing records analysed with --allow-incomplete.
        frame: the tidy frame of the selected judge, for "What a flip looks like" (default:
            ``result.frame`` when present); without it the examples show labels from per_prompt only.
        n_examples: least stable prompts shown per run.
        evidence: precomputed ``evidence.collect`` output (skips reading samples).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = list(sources)
    if evidence is None:
        evidence = flip_evidence(result, frame, n_examples)
    sections = build_sections(result, sources, list(skipped or []), n_missing, evidence, n_examples)
    settings = getattr(result, "settings", None) or {}
    judges = sorted({j for info in sources for j in getattr(info, "judges", [])})
    context = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "judge_text": settings.get("judge") or ", ".join(judges) or fmt.DASH,
        "threshold": _stats(result).get("threshold", settings.get("threshold", UNSTABLE_THRESHOLD)),
        "warnings": _incomplete_sentences(result)
        + ([f"{fmt.integer(n_missing)} records are missing (--allow-incomplete)."] if n_missing else []),
        "sections": sections,
    }
    figure_map = {name: Path(path) for name, path in (figures or {}).items()}
    html_text = (
        _environment(autoescape=True)
        .get_template("report.html.jinja2")
        .render(**context, figures=_figure_data(figure_map))
    )
    markdown = (
        _environment(autoescape=False)
        .get_template("report.md.jinja2")
        .render(**context, figures={name: _relative(p, out_dir) for name, p in figure_map.items()})
    )
    html_path = out_dir / "report.html"
    html_path.write_text(html_text, encoding="utf-8")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    return html_path
