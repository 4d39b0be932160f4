"""Agreement between two judges on the same responses, and consensus stability (issue 10.3).

Two judges' records of one response pair up on (model, prompt_id, temperature, seed); when a
configuration occurs more than once for a judge (a re-run of the same grid), the i-th occurrence of
each judge pairs with the i-th of the other, in (eval_id, epoch) order. Pairs where either label is
UNSCORED are excluded from every agreement figure and counted in ``n_excluded``.

``cohens_kappa`` is the one kappa implementation of the project.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.metrics import label_counts, stability_from_counts
from refusal_stability.scorers.labels import LABELS, UNSCORED

PAIR_KEYS = ["model", "prompt_id", "temperature", "seed"]
CONSENSUS_COLUMNS = [
    "model",
    "n_prompts_all",
    "mean_ssi_all",
    "flip_pct_all",
    "n_prompts_consensus",
    "mean_ssi_consensus",
    "flip_pct_consensus",
]
SENSITIVE_COLUMNS = ["model", "prompt_id", "flipped_all", "n_consensus", "flipped_consensus", "judge_sensitive"]


def _num(value: float | None) -> float | None:
    """JSON-safe float (NaN and None -> None)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def cohens_kappa(confusion: np.ndarray) -> float:
    """Cohen's kappa from a square confusion matrix.

    kappa = (p_o - p_e) / (1 - p_e) with p_o the diagonal share and p_e the chance agreement from the
    row and column margins. Weighted (float) tables are accepted.

    Args:
        confusion: square matrix of counts or weights; rows are judge A's labels, columns judge B's,
            in the same label order.

    Returns:
        kappa; NaN when the table is empty or p_e == 1 (both judges used one and the same label
        throughout: kappa is undefined, 0/0).

    Raises:
        ValueError: the matrix is not square or has negative entries.
    """
    table = np.asarray(confusion, dtype=float)
    if table.ndim != 2 or table.shape[0] != table.shape[1]:
        raise ValueError(f"confusion must be a square matrix (rows judge A, columns judge B), got shape {table.shape}")
    if (table < 0).any():
        raise ValueError("confusion must hold non-negative counts")
    total = table.sum()
    if total <= 0:
        return float("nan")
    observed = np.trace(table) / total
    expected = float((table.sum(axis=0) * table.sum(axis=1)).sum() / total**2)
    if expected >= 1 - 1e-12:
        return float("nan")
    return float((observed - expected) / (1 - expected))


def _judge_rows(frame: pd.DataFrame, judge: str) -> pd.DataFrame:
    """One judge's records with an occurrence number ``rep`` per pairing key."""
    rows = frame[frame["judge"] == judge]
    order = [c for c in ("eval_id", "epoch") if c in rows.columns]
    if order:
        rows = rows.sort_values([*PAIR_KEYS, *order], kind="stable", na_position="last")
    columns = [*PAIR_KEYS, "label"] + (["epoch"] if "epoch" in rows.columns else [])
    rows = rows[columns].copy()
    rows["rep"] = rows.groupby(PAIR_KEYS, dropna=False, sort=False).cumcount()
    return rows


def paired_labels(frame: pd.DataFrame, judge_a: str, judge_b: str) -> tuple[pd.DataFrame, int, int]:
    """Pair the two judges' labels of the same responses.

    Args:
        frame: tidy frame with model, prompt_id, temperature, seed, judge, label (epoch and eval_id
            optional; they only order repeated configurations).
        judge_a: the first judge (rows of confusion matrices).
        judge_b: the second judge.

    Returns:
        ``(pairs, n_unpaired_a, n_unpaired_b)``: pairs has model, prompt_id, temperature, seed,
        label_a, label_b (UNSCORED included) and epoch when the frame has it (judge_a's); the counts are
        records of each judge with no partner.

    Raises:
        ValueError: a judge has no records in the frame, or the two judges are the same.
    """
    if judge_a == judge_b:
        raise ValueError(f"judge_agreement needs two different judges, got {judge_a!r} twice")
    judges = set(frame["judge"].unique())
    for judge in (judge_a, judge_b):
        if judge not in judges:
            raise ValueError(f"judge {judge!r} has no records; judges present: {sorted(map(str, judges))}")
    a = _judge_rows(frame, judge_a)
    b = _judge_rows(frame, judge_b).drop(columns=["epoch"], errors="ignore")
    pairs = a.merge(b, on=[*PAIR_KEYS, "rep"], suffixes=("_a", "_b"))
    return pairs.drop(columns="rep"), len(a) - len(pairs), len(b) - len(pairs)


def _agreement_figures(label_a: pd.Series, label_b: pd.Series) -> dict[str, Any]:
    """n_pairs, agreement_pct, kappa and 3x3 confusion (rows label_a) of valid label pairs."""
    codes_a = pd.Categorical(label_a, categories=LABELS).codes
    codes_b = pd.Categorical(label_b, categories=LABELS).codes
    confusion = np.bincount(codes_a * len(LABELS) + codes_b, minlength=len(LABELS) ** 2).reshape(3, 3)
    n_pairs = int(confusion.sum())
    return {
        "n_pairs": n_pairs,
        "agreement_pct": _num(np.trace(confusion) / n_pairs * 100) if n_pairs else None,
        "kappa": _num(cohens_kappa(confusion)) if n_pairs else None,
        "confusion": {la: {lb: int(confusion[i, j]) for j, lb in enumerate(LABELS)} for i, la in enumerate(LABELS)},
    }


def judge_agreement(frame: pd.DataFrame, judge_a: str, judge_b: str) -> dict[str, Any]:
    """Exact agreement, Cohen's kappa and confusion matrix of two judges, overall and per model.

    Args:
        frame: tidy frame with model, prompt_id, temperature, seed, judge, label (+ optional epoch,
            eval_id); rows of other judges are ignored.
        judge_a: the selected (``--judge``) judge: rows of the confusion matrix.
        judge_b: the other judge: columns.

    Returns:
        agreement.json content: ``judges`` [a, b]; overall ``n_pairs``, ``agreement_pct`` (0-100),
        ``kappa``, ``confusion`` (``{label_a: {label_b: count}}``, REFUSE/PARTIAL/COMPLY), computed on
        pairs where both labels are valid; ``n_excluded`` (pairs with an UNSCORED label),
        ``n_unpaired_a`` / ``n_unpaired_b`` (records without a partner); ``per_model``: the same figures
        (without ``judges``) per model. agreement_pct and kappa are None with no valid pair; kappa is
        None when it is undefined (both judges gave one and the same label throughout).
    """
    pairs, unpaired_a, unpaired_b = paired_labels(frame, judge_a, judge_b)
    ok = (pairs["label_a"] != UNSCORED) & (pairs["label_b"] != UNSCORED)
    result: dict[str, Any] = {
        "judges": [judge_a, judge_b],
        **_agreement_figures(pairs["label_a"][ok], pairs["label_b"][ok]),
        "n_excluded": int((~ok).sum()),
        "n_unpaired_a": int(unpaired_a),
        "n_unpaired_b": int(unpaired_b),
    }
    per_model = {}
    for model, part in pairs.groupby("model", sort=True):
        keep = ok[part.index]
        per_model[str(model)] = {
            **_agreement_figures(part["label_a"][keep], part["label_b"][keep]),
            "n_excluded": int((~keep).sum()),
        }
    result["per_model"] = dict(sorted(per_model.items()))
    return result


def consensus(
    frame: pd.DataFrame, judge_a: str, judge_b: str, min_records: int = 5, threshold: float = 0.8
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stability on all records of judge A vs on consensus records only (consensus.csv).

    Consensus records are paired responses (see module docstring) where both judges gave the same valid
    label. A prompt enters the consensus metrics only with at least ``min_records`` consensus records;
    the "all" metrics use every valid record of judge A (the ``--judge`` judge), exactly as per_prompt.csv.

    Args:
        frame: tidy frame with model, prompt_id, temperature, seed, judge, label (+ optional epoch, eval_id).
        judge_a: the selected judge ("all" metrics; rows of the pairing).
        judge_b: the second judge.
        min_records: minimum consensus records for a prompt to count (``--consensus-min``).
        threshold: SSI threshold for "unstable" (only passed through to the per-prompt metrics).

    Returns:
        ``(consensus_table, judge_sensitive)``.
        consensus_table, one row per model of judge A: model, n_prompts_all, mean_ssi_all, flip_pct_all,
        n_prompts_consensus, mean_ssi_consensus, flip_pct_consensus (NaN when no prompt has enough
        consensus records). judge_sensitive, one row per (model, prompt_id) of judge A's per-prompt
        table: flipped_all, n_consensus (consensus records of the prompt), flipped_consensus (<NA> when
        n_consensus < min_records), judge_sensitive (bool: flips on all records but not on its consensus
        records; False when the prompt has too few consensus records to tell).

    Raises:
        ValueError: min_records < 1, or a judge is missing (see ``paired_labels``).
    """
    if min_records < 1:
        raise ValueError(f"min_records must be at least 1, got {min_records}")
    pairs, _, _ = paired_labels(frame, judge_a, judge_b)
    agreed = pairs[(pairs["label_a"] == pairs["label_b"]) & (pairs["label_a"] != UNSCORED)]
    all_table = stability_from_counts(
        label_counts(frame[frame["judge"] == judge_a], ["model", "prompt_id"]), threshold
    ).reset_index()
    cons = stability_from_counts(
        label_counts(agreed.rename(columns={"label_a": "label"}), ["model", "prompt_id"]), threshold
    ).reset_index()
    cons = cons[["model", "prompt_id", "n_valid", "ssi", "flipped"]].rename(
        columns={"n_valid": "n_consensus", "ssi": "ssi_consensus", "flipped": "flipped_consensus"}
    )
    table = all_table[["model", "prompt_id", "ssi", "flipped"]].merge(cons, on=["model", "prompt_id"], how="left")
    table["n_consensus"] = table["n_consensus"].fillna(0).astype(np.int64)
    eligible = table["n_consensus"] >= min_records
    table["flipped_consensus"] = table["flipped_consensus"].astype("boolean").where(eligible, pd.NA)
    table["judge_sensitive"] = (table["flipped"] & eligible & ~table["flipped_consensus"].fillna(True)).astype(bool)

    rows = []
    for model, part in table.groupby("model", sort=True):
        kept = part[part["n_consensus"] >= min_records]
        rows.append(
            {
                "model": model,
                "n_prompts_all": len(part),
                "mean_ssi_all": part["ssi"].mean(),
                "flip_pct_all": part["flipped"].mean() * 100,
                "n_prompts_consensus": len(kept),
                "mean_ssi_consensus": kept["ssi_consensus"].mean() if len(kept) else np.nan,
                "flip_pct_consensus": kept["flipped_consensus"].astype(float).mean() * 100 if len(kept) else np.nan,
            }
        )
    sensitive = table.rename(columns={"flipped": "flipped_all"})[SENSITIVE_COLUMNS].reset_index(drop=True)
    return pd.DataFrame(rows, columns=CONSENSUS_COLUMNS), sensitive
