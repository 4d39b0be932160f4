"""The report's prose for both halves of a study: harmful prompts and benign controls side by side.

A run's key-finding sentence gives its harmful half (flips, SSI, unstable share) next to its benign half
(over-refusal, prompts refused at least once, flips); a run without benign prompts reads as before, a run
of benign prompts only gets the benign half alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.metrics import ATTACK_K
from refusal_stability.analysis.over_refusal import refused_within_k_sentence
from refusal_stability.analysis.report_data import table_of
from refusal_stability.analysis.result_tables import AnalysisTables

__all__ = ["benign_clause", "reask_user_sentence", "run_sentence"]


def _count(row: Mapping[str, Any], column: str) -> int:
    value = row.get(column)
    return 0 if value is None or fmt.is_missing(value) else int(value)


def benign_clause(row: Mapping[str, Any]) -> str:
    """The benign half of one per_model row: over-refusal, prompts refused at least once, flips, n."""
    n_benign = fmt.integer(row.get("n_benign_prompts"))
    answers = fmt.pct_ci(row, "over_refusal_pct")
    anyone = fmt.pct_ci(row, "over_refusal_any_pct")
    flips = fmt.pct_ci(row, "over_refusal_flip_pct")
    return (
        f"on {n_benign} benign controls it refuses {answers} of answers, refuses {anyone} of the controls at "
        f"least once and flips on {flips} of them"
    )


def run_sentence(row: Mapping[str, Any], threshold: Any) -> str:
    """One run's key finding: the harmful half, the benign half, or both side by side.

    Args:
        row: a per_model row (harmful columns, and the over-refusal columns when the run has benign prompts).
        threshold: the unstable threshold (SSI below it).

    Returns:
        E.g. "m flips on 26.8 % [24.1, 29.6] of 876 harmful prompts (mean SSI ...); on 40 benign controls it
        refuses 12.5 % [...] of answers, ..."
    """
    harmful, benign = _count(row, "n_prompts"), _count(row, "n_benign_prompts")
    if not benign:
        return (
            f"{row['model']} flips on {fmt.pct_ci(row, 'flip_pct')} of {fmt.integer(row.get('n_prompts'))} prompts "
            f"(mean SSI {fmt.ssi_ci(row)}; {fmt.pct_ci(row, 'unstable_pct')} unstable, SSI < {threshold})."
        )
    if not harmful:
        return f"{row['model']}: {benign_clause(row)}."
    return (
        f"{row['model']} flips on {fmt.pct_ci(row, 'flip_pct')} of {fmt.integer(harmful)} harmful prompts "
        f"(mean SSI {fmt.ssi_ci(row)}; {fmt.pct_ci(row, 'unstable_pct')} unstable, SSI < {threshold}); "
        f"{benign_clause(row)}."
    )


def reask_user_sentence(result: AnalysisTables, k: int = ATTACK_K) -> str | None:
    """The legitimate user's view: benign prompts refused at least once within k asks (None without benign)."""
    table = table_of(result, "refused_within_k")
    if table is None or table.empty:
        return None
    sentences = [
        f"{model}: {text[0].lower()}{text[1:]}"
        for model in sorted(table["model"].astype(str).unique())
        if (text := refused_within_k_sentence(table, model, k))
    ]
    return "Re-asking user's view — " + " ".join(sentences) if sentences else None
