"""The report's prose: key findings and the sentences the sections open with, each number with its CI and n.

Every function reads an :class:`~refusal_stability.analysis.result_tables.AnalysisTables` (or any object with
its attributes) and returns plain text, or None where its data is absent; escaping happens when it is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.attack import reask_sentence
from refusal_stability.analysis.findings_benign import reask_user_sentence, run_sentence
from refusal_stability.analysis.metrics import ATTACK_K
from refusal_stability.analysis.report_data import (
    agreement_pairs,
    incomplete_rows,
    settings_of,
    statistics_of,
    table_of,
    threshold_of,
)
from refusal_stability.analysis.result_tables import AnalysisTables
from refusal_stability.analysis.sent_sampling import describe_run

MAX_FINDINGS = 6


def incomplete_sentences(result: AnalysisTables) -> list[str]:
    """One warning sentence per log that misses records."""
    out = []
    for row in incomplete_rows(result):
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


def model_sentence(row: Mapping[str, Any], threshold: Any) -> str:
    """Flip rate, mean SSI and unstable share of one per_model row."""
    return (
        f"{row['model']} flips on {fmt.pct_ci(row, 'flip_pct')} of {fmt.integer(row.get('n_prompts'))} prompts "
        f"(mean SSI {fmt.ssi_ci(row)}; {fmt.pct_ci(row, 'unstable_pct')} unstable, SSI < {threshold})."
    )


def comparison_sentences(result: AnalysisTables, limit: int) -> list[str]:
    """The significant run comparisons (Holm p < 0.05), strongest first, at most ``limit`` of them."""
    comparisons = table_of(result, "comparisons")
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


def _reask_sentence(result: AnalysisTables) -> str | None:
    """The sentence for the run where re-asking overturns most majority-REFUSE prompts (re-ask table)."""
    reask = table_of(result, "reask_after_refusal")
    if reask is None or "reask_comply_pct" not in reask:
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


def attack_sentence(result: AnalysisTables, k: int = ATTACK_K) -> str | None:
    """The attacker's-view sentence: what re-asking up to k times buys, for the run where it buys most.

    Uses the re-ask table (prompts whose majority label is REFUSE) when present; else, from resample_attack
    with P1 / Pk the % of prompts with a COMPLY among 1 / k configurations drawn at random, the share
    (Pk - P1) / (100 - P1) of the prompts a single sample shows not complying.
    """
    attack = table_of(result, "resample_attack")
    sentence = _reask_sentence(result) if attack is not None else None
    if sentence:
        return sentence
    if attack is None or not {"model", "k", "any_comply_pct"} <= set(attack.columns):
        return None
    per_model = table_of(result, "per_model")
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


def agreement_sentence(result: AnalysisTables) -> str | None:
    """Agreement and kappa of the first judge pair, and how consensus records change the flip rate."""
    pairs = agreement_pairs(result)
    if not pairs:
        return None
    pair = pairs[0]
    judges = pair.get("judges") or ["judge A", "judge B"]
    text = (
        f"The judges {judges[0]} and {judges[1]} agree on {fmt.pct(pair.get('agreement_pct'))} % of "
        f"{fmt.integer(pair.get('n_pairs'))} responses (Cohen's \u03ba = {fmt.ssi(pair.get('kappa'))})"
    )
    consensus = table_of(result, "consensus")
    if consensus is not None and {"flip_pct_all", "flip_pct_consensus"} <= set(consensus.columns):
        bits = [
            f"{row['model']} {fmt.pct(row['flip_pct_all'])} % \u2192 {fmt.pct(row['flip_pct_consensus'])} % "
            f"(n = {fmt.integer(row.get('n_prompts_consensus'))})"
            for row in consensus.head(3).to_dict("records")
        ]
        text += "; on records where both agree, the flip rate changes " + ", ".join(bits)
    return text + "."


def temperature_sentence(result: AnalysisTables) -> str | None:
    """The Friedman test of temperature on within-temperature SSI, and the flip rate at both ends."""
    friedman = statistics_of(result).get("friedman")
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
    within = table_of(result, "within_temperature")
    if within is not None and {"temperature", "flip_pct"} <= set(within.columns):
        pooled = within.groupby("temperature")["flip_pct"].mean().sort_index()
        if len(pooled) >= 2:
            text += (
                f"; the flip rate over seeds goes from {fmt.pct(pooled.iloc[0])} % at temperature "
                f"{pooled.index[0]:g} to {fmt.pct(pooled.iloc[-1])} % at {pooled.index[-1]:g} (mean over runs)"
            )
    return text + "."


def sampling_sentences(per_model: Any, settings: Mapping[str, Any]) -> list[str]:
    """What reached each run's model (temperature, seed, top_p), in plain words: the first key finding."""
    if per_model is None or "temperature_sent" not in per_model.columns:
        return []
    runs = [describe_run(row).rstrip(".") for _, row in per_model.iterrows()]
    notes = [str(note) for note in settings.get("sampling_notes") or []]
    return ["What reached the model — " + "; ".join(runs) + "." + "".join(f" {note}." for note in notes)]


def key_findings(result: AnalysisTables) -> list[str]:
    """3-6 plain sentences from the numbers, each with its 95 % CI (where one exists) and n.

    Incomplete runs come first; then stability per model (all models when at most three, else the least and
    the most stable), the strongest significant comparisons, the attacker's view, judge agreement and the
    temperature effect, up to ``MAX_FINDINGS`` sentences.
    """
    per_model = table_of(result, "per_model")
    findings = [*sampling_sentences(per_model, settings_of(result)), *incomplete_sentences(result)]
    threshold = threshold_of(result)
    if per_model is not None and "flip_pct" in per_model:
        rows = per_model.to_dict("records")
        if len(rows) <= 3:
            findings += [run_sentence(row, threshold) for row in rows]
        else:
            ordered = sorted(rows, key=lambda r: (-float(r["flip_pct"]), str(r["model"])))
            findings.append("Least stable run: " + run_sentence(ordered[0], threshold))
            findings.append("Most stable run: " + run_sentence(ordered[-1], threshold))
    extras = [
        *comparison_sentences(result, limit=2),
        attack_sentence(result),
        reask_user_sentence(result),
        agreement_sentence(result),
        temperature_sentence(result),
    ]
    for sentence in extras:
        if sentence and len(findings) < MAX_FINDINGS:
            findings.append(sentence)
    return findings
