"""Agreement between two judges on the same responses, and consensus stability (docs/statistics.md).

Two judges' records of one response pair up on (model, prompt_id, temperature, seed); when a
configuration occurs more than once for a judge (a re-run of the same grid), the i-th occurrence of
each judge pairs with the i-th of the other, in (eval_id, epoch) order. Pairs where either label is
UNSCORED are excluded from every agreement figure and counted in ``n_excluded``.

Kappa and its bootstrap CI come from :mod:`refusal_stability.definitions.agreement`, the one implementation
(``cohens_kappa`` here checks a confusion matrix and calls it); CIs resample prompts ((model, prompt_id)),
seeded. Several judges, grader panels and the report's judge studies: :mod:`judge_studies`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from refusal_stability.analysis.metrics import COUNT_COLUMNS, label_codes, stability_from_counts
from refusal_stability.analysis.statistics import json_float
from refusal_stability.analysis.tidy import plain_text
from refusal_stability.definitions.agreement import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    kappa_from_tables,
    pair_agreement,
)
from refusal_stability.definitions.labels import LABELS
from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD

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
    return float(kappa_from_tables(table))


def key_codes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One int64 code per row, equal exactly when the rows agree on every column (NaN/NA is a value).

    Args:
        frame: any frame holding ``columns``.
        columns: key columns.

    Returns:
        (len(frame),) int64 array; codes are dense enough to use with bincount-style arithmetic.
    """
    code = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for column in columns:
        values, uniques = pd.factorize(frame[column], use_na_sentinel=False)
        code = code * max(len(uniques), 1) + values
        size *= max(len(uniques), 1)
        if size > 2**31:  # keep the mixed-radix product far from int64 overflow
            code, kept = pd.factorize(code)
            size = max(len(kept), 1)
    return code


def _order_codes(rows: pd.DataFrame) -> list[np.ndarray]:
    """Secondary sort keys (eval_id, epoch) that order repeated configurations; absent columns skipped."""
    keys = []
    if "eval_id" in rows.columns:
        keys.append(pd.factorize(rows["eval_id"], sort=True, use_na_sentinel=False)[0])
    if "epoch" in rows.columns:
        keys.append(pd.to_numeric(rows["epoch"], errors="coerce").fillna(-1).to_numpy(dtype=np.int64))
    return keys


class Pairing(NamedTuple):
    """Positions (into ``rows``) of paired records, with label codes (0-2 valid, 3 invalid)."""

    rows: pd.DataFrame
    a: np.ndarray
    b: np.ndarray
    labels: np.ndarray
    unpaired_a: int
    unpaired_b: int


def pair_judges(frame: pd.DataFrame, judge_a: str, judge_b: str) -> Pairing:
    """Pair judge A's records with judge B's (see the module docstring); vectorised over integer codes."""
    if judge_a == judge_b:
        raise ValueError(f"judge_agreement needs two different judges, got {judge_a!r} twice")
    judges = set(frame["judge"].unique())
    for judge in (judge_a, judge_b):
        if judge not in judges:
            raise ValueError(f"judge {judge!r} has no records; judges present: {sorted(map(str, judges))}")
    rows = frame[frame["judge"].isin([judge_a, judge_b])]
    key = key_codes(rows, PAIR_KEYS)
    is_b = (rows["judge"] == judge_b).to_numpy()
    # sort by judge, key, then (eval_id, epoch); the i-th occurrence of a key pairs with the other judge's i-th
    order = np.lexsort([*reversed(_order_codes(rows)), key, is_b])
    group = key[order] * 2 + is_b[order]
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    rep = np.empty(len(order), dtype=np.int64)
    rep[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    record = key * (int(rep.max(initial=0)) + 1) + rep
    a_pos, b_pos = np.flatnonzero(~is_b), np.flatnonzero(is_b)
    match = pd.Index(record[b_pos]).get_indexer(record[a_pos])
    paired_a, paired_b = a_pos[match >= 0], b_pos[match[match >= 0]]
    return Pairing(
        rows, paired_a, paired_b, label_codes(rows["label"]), len(a_pos) - len(paired_a), len(b_pos) - len(paired_b)
    )


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
    pairing = pair_judges(frame, judge_a, judge_b)
    columns = [*PAIR_KEYS] + (["epoch"] if "epoch" in frame.columns else [])
    pairs = pairing.rows.iloc[pairing.a][columns].reset_index(drop=True)
    labels = pairing.rows["label"].to_numpy()
    pairs["label_a"], pairs["label_b"] = labels[pairing.a], labels[pairing.b]
    return pairs, pairing.unpaired_a, pairing.unpaired_b


def _figures(confusion: np.ndarray) -> dict[str, Any]:
    """n_pairs, agreement_pct, kappa, 3x3 confusion and n_excluded from a 4x4 table (index 3 = invalid)."""
    valid = confusion[:3, :3]
    n_pairs = int(valid.sum())
    return {
        "n_pairs": n_pairs,
        "agreement_pct": json_float(np.trace(valid) / n_pairs * 100) if n_pairs else None,
        "kappa": json_float(cohens_kappa(valid)) if n_pairs else None,
        "confusion": {la: {lb: int(valid[i, j]) for j, lb in enumerate(LABELS)} for i, la in enumerate(LABELS)},
        "n_excluded": int(confusion.sum()) - n_pairs,
    }


def judge_agreement(
    frame: pd.DataFrame, judge_a: str, judge_b: str, n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> dict[str, Any]:
    """Exact agreement, Cohen's kappa and confusion matrix of two judges, overall and per model.

    Args:
        frame: tidy frame with model, prompt_id, temperature, seed, judge, label (+ optional epoch,
            eval_id); rows of other judges are ignored.
        judge_a: the selected (``--judge``) judge: rows of the confusion matrix.
        judge_b: the other judge: columns.
        n_boot: bootstrap resamples of prompts for the overall CIs.
        seed: bootstrap seed.

    Returns:
        agreement.json content: ``judges`` [a, b]; overall ``n_pairs``, ``agreement_pct`` (0-100),
        ``kappa``, their 95 % CIs ``agreement_ci_low/high`` and ``kappa_ci_low/high`` (prompts resampled),
        ``confusion`` (``{label_a: {label_b: count}}``, REFUSE/PARTIAL/COMPLY), computed on
        pairs where both labels are valid; ``n_excluded`` (pairs with an UNSCORED label),
        ``n_unpaired_a`` / ``n_unpaired_b`` (records without a partner); ``per_model``: the same figures
        (without ``judges`` and the unpaired counts) per model with at least one pair. agreement_pct and
        kappa are None with no valid pair; kappa is None when it is undefined (both judges gave one and
        the same label throughout).

    Raises:
        ValueError: a judge is missing, or the two judges are the same.
    """
    return agreement_of_pairing(pair_judges(frame, judge_a, judge_b), judge_a, judge_b, n_boot, seed)


def _intervals(pairing: Pairing, n_boot: int, seed: int) -> dict[str, Any]:
    """The 95 % bootstrap CIs of agreement % and kappa over the pairs, resampling (model, prompt_id)."""
    clusters = key_codes(pairing.rows.iloc[pairing.a], ["model", "prompt_id"])
    figures = pair_agreement(pairing.labels[pairing.a], pairing.labels[pairing.b], clusters, n_boot=n_boot, seed=seed)
    names = ("agreement_ci_low", "agreement_ci_high", "kappa_ci_low", "kappa_ci_high")
    return {name: json_float(figures[name]) if figures[name] is not None else None for name in names}


def agreement_of_pairing(
    pairing: Pairing, judge_a: str, judge_b: str, n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> dict[str, Any]:
    """``judge_agreement`` from a pairing already made (:func:`pair_judges`)."""
    models, names = pd.factorize(pairing.rows["model"].iloc[pairing.a], sort=True)
    cells = models * 16 + pairing.labels[pairing.a] * 4 + pairing.labels[pairing.b]
    tables = np.bincount(cells, minlength=len(names) * 16).reshape(len(names), 4, 4)
    return {
        "judges": [judge_a, judge_b],
        **_figures(tables.sum(axis=0)),
        **_intervals(pairing, n_boot, seed),
        "n_unpaired_a": int(pairing.unpaired_a),
        "n_unpaired_b": int(pairing.unpaired_b),
        "per_model": {str(name): _figures(tables[i]) for i, name in enumerate(names)},
    }


def _prompt_counts(rows: pd.DataFrame, positions: np.ndarray, labels: np.ndarray, keys: np.ndarray) -> pd.DataFrame:
    """n_refuse, n_partial, n_comply per (model, prompt_id) of the records at ``positions`` (valid labels)."""
    kept = positions[labels[positions] < len(LABELS)]
    prompts, first = np.unique(keys[kept], return_index=True)
    cells = np.searchsorted(prompts, keys[kept]) * len(LABELS) + labels[kept]
    counts = np.bincount(cells, minlength=len(prompts) * len(LABELS)).reshape(len(prompts), len(LABELS))
    index = pd.MultiIndex.from_frame(plain_text(rows.iloc[kept[first]][["model", "prompt_id"]]).reset_index(drop=True))
    return pd.DataFrame(counts, index=index, columns=COUNT_COLUMNS)


def consensus(
    frame: pd.DataFrame, judge_a: str, judge_b: str, min_records: int = 5, threshold: float = UNSTABLE_THRESHOLD
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
    return consensus_of_pairing(pair_judges(frame, judge_a, judge_b), judge_a, min_records, threshold)


def consensus_of_pairing(
    pairing: Pairing, judge_a: str, min_records: int, threshold: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``consensus`` from a pairing already made."""
    rows, labels = pairing.rows, pairing.labels
    keys = key_codes(rows, ["model", "prompt_id"])
    judge_a_rows = np.flatnonzero((rows["judge"] == judge_a).to_numpy())
    agreed = pairing.a[labels[pairing.a] == labels[pairing.b]]
    all_counts = _prompt_counts(rows, judge_a_rows, labels, keys)
    return consensus_tables(all_counts, _prompt_counts(rows, agreed, labels, keys), min_records, threshold)


def consensus_tables(
    all_counts: pd.DataFrame, consensus_counts: pd.DataFrame, min_records: int, threshold: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """consensus.csv and the judge-sensitive flags from per-prompt label counts on all and on consensus records.

    Shared by two judges (consensus = both agree) and a panel (consensus = a strict majority of its members).
    """
    all_table = stability_from_counts(all_counts, threshold).reset_index()
    cons = stability_from_counts(consensus_counts, threshold).reset_index()
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
