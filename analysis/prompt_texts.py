"""Runs compared on the same prompt ids must have asked the same prompts: the per-prompt text fingerprints.

Each sample's metadata carries ``prompt_sha256`` (the first 16 hex digits of the SHA-256 of its text, written by
the task). Two runs that share a prompt id but hold different fingerprints for it asked different questions
under one id; comparisons.csv never pairs them silently.
"""

from __future__ import annotations

import pandas as pd

from refusal_stability.analysis.tidy import AnalysisInputError

DIFFERENT_PROMPTS_FLAG = "--allow-different-prompts"
COLUMN = "prompt_texts_differ"


def differing_ids(prompts: pd.DataFrame | None, a: str, b: str) -> list[str]:
    """The prompt ids runs ``a`` and ``b`` share whose text fingerprints differ (empty when unknown)."""
    if prompts is None or "prompt_sha256" not in prompts.columns:
        return []
    table = prompts[["model", "prompt_id", "prompt_sha256"]].dropna()
    left = table[table["model"].astype(str) == a].set_index("prompt_id")["prompt_sha256"]
    right = table[table["model"].astype(str) == b].set_index("prompt_id")["prompt_sha256"]
    shared = left.index.intersection(right.index)
    return sorted(str(i) for i in shared if left[i] != right[i])


def check_prompt_texts(
    comparisons: pd.DataFrame, prompts: pd.DataFrame | None, logs: dict[str, str], allow: bool = False
) -> pd.DataFrame:
    """comparisons.csv with ``prompt_texts_differ`` (shared ids whose texts differ); refuses such pairs.

    Args:
        comparisons: the compare_runs table (columns a, b, ...).
        prompts: per (model, prompt_id) info with ``prompt_sha256`` (logs written before it existed: none).
        logs: run -> its log file(s), for the message.
        allow: keep such pairs (their rows then say how many ids differ).

    Raises:
        AnalysisInputError: a pair shares ids with different texts and ``allow`` is False; names both logs.
    """
    counts: dict[tuple[str, str], int] = {}
    for a, b in comparisons[["a", "b"]].drop_duplicates().itertuples(index=False):
        ids = differing_ids(prompts, str(a), str(b))
        counts[(str(a), str(b))] = len(ids)
        if ids and not allow:
            shown = ", ".join(repr(i) for i in ids[:5]) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")
            raise AnalysisInputError(
                f"runs {a} ({logs.get(str(a), '?')}) and {b} ({logs.get(str(b), '?')}) hold different prompt texts "
                f"under the same id(s) {shown}: they asked different questions, so they are not compared; "
                f"give the prompts distinct ids, or pass {DIFFERENT_PROMPTS_FLAG} to compare them anyway"
            )
    out = comparisons.copy()
    out[COLUMN] = [counts.get((str(a), str(b)), 0) for a, b in zip(out["a"], out["b"], strict=True)]
    return out
