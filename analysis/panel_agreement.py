"""Agreement of any number of judges on the same responses: every pair with CIs, a panel's Fleiss/alpha, consensus.

Records of different judges are aligned on (model, prompt_id, temperature, seed); when a configuration occurs
more than once for a judge (a re-run), the i-th occurrence of each judge goes with the i-th of the others, in
(eval_id, epoch) order, as :mod:`agreement` pairs two judges. Bootstrap CIs resample prompts ((model,
prompt_id) clusters), seeded, with the statistics of :mod:`refusal_stability.definitions.agreement`.

- :func:`pairwise_agreement`: agreement % and Cohen's kappa with 95 % CIs for every pair of judges.
- :func:`panel_statistics`: Fleiss' kappa and Krippendorff's alpha (nominal) of a panel's members, with CIs.
- :func:`panel_consensus`: stability on the panel's records vs on its consensus records (a strict majority
  of the members agree), with the existing minimum rule: consensus.csv and judge sensitivity over a panel.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.agreement import PAIR_KEYS, consensus_tables
from refusal_stability.analysis.metrics import COUNT_COLUMNS
from refusal_stability.definitions.agreement import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    pair_agreement,
    panel_agreement,
    vote_counts,
)
from refusal_stability.definitions.labels import LABELS
from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD

__all__ = ["label_matrix", "pairwise_agreement", "panel_consensus", "panel_statistics"]

_MISSING = -1


def _codes(labels: pd.Series) -> np.ndarray:
    lookup = {label: code for code, label in enumerate(LABELS)}
    return labels.astype(str).map(lookup).fillna(len(LABELS)).to_numpy(dtype=np.int64)


def label_matrix(frame: pd.DataFrame, judges: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Align the judges' records of the same responses.

    Args:
        frame: tidy frame (model, prompt_id, temperature, seed, judge, label; optional epoch, eval_id, origin).
        judges: the judges, in column order.

    Returns:
        ``(keys, codes)``: keys has model, prompt_id, temperature, seed (+ epoch and origin of the first judge
        that has the record); codes is (n_records, n_judges): 0-2 a valid label, 3 UNSCORED, -1 no record.
    """
    rows = frame[frame["judge"].astype(str).isin(judges)].copy()
    for column in ("model", "prompt_id", "judge"):
        rows[column] = rows[column].astype(str)
    order = [c for c in ("eval_id", "epoch") if c in rows.columns]
    rows = rows.sort_values([*PAIR_KEYS, *order], kind="stable")
    rows["_rep"] = rows.groupby(["judge", *PAIR_KEYS], dropna=False, sort=False).cumcount()
    rows["_code"] = _codes(rows["label"])
    keys = [*PAIR_KEYS, "_rep"]
    wide = rows.pivot_table(index=keys, columns="judge", values="_code", aggfunc="first", dropna=False)
    wide = wide.dropna(how="all").reindex(columns=judges)
    codes = wide.fillna(_MISSING).to_numpy(dtype=np.int64)
    extra = [c for c in ("epoch", "origin") if c in rows.columns]
    firsts = rows.drop_duplicates(keys).set_index(keys)[extra] if extra else None
    index = wide.index.to_frame(index=False)
    if firsts is not None:
        index = index.join(firsts.reindex(wide.index).reset_index(drop=True))
    return index.drop(columns="_rep"), codes


def _clusters(keys: pd.DataFrame) -> np.ndarray:
    return pd.factorize(keys["model"].astype(str) + "\x1f" + keys["prompt_id"].astype(str))[0]


def pairwise_agreement(
    frame: pd.DataFrame, judges: list[str], n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> list[dict[str, Any]]:
    """Agreement % and Cohen's kappa with cluster-bootstrap 95 % CIs for every pair of ``judges``.

    Args:
        frame: tidy frame of every judge.
        judges: the judges (pairs in this order: (j0, j1), (j0, j2), ...).
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        One object per pair: ``judges`` [a, b], ``n_pairs``, ``n_excluded`` (a label UNSCORED), ``agreement_pct``
        + ``agreement_ci_low/high``, ``kappa`` + ``kappa_ci_low/high`` (None where undefined).
    """
    keys, codes = label_matrix(frame, judges)
    clusters = _clusters(keys)
    out = []
    for i, j in combinations(range(len(judges)), 2):
        both = (codes[:, i] != _MISSING) & (codes[:, j] != _MISSING)
        figures = pair_agreement(codes[both, i], codes[both, j], clusters[both], n_boot=n_boot, seed=seed)
        figures.pop("confusion")
        out.append({"judges": [judges[i], judges[j]], **figures})
    return out


def panel_statistics(
    frame: pd.DataFrame, members: list[str], n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> dict[str, Any]:
    """Fleiss' kappa (units every member labelled) and Krippendorff's alpha (units with >= 2 labels), with CIs.

    Args:
        frame: tidy frame holding the members' records.
        members: the panel's members (judge names), two or more.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        ``members`` plus the figures of :func:`refusal_stability.definitions.agreement.panel_agreement`.
    """
    keys, codes = label_matrix(frame, members)
    return {"members": list(members), **panel_agreement(codes, _clusters(keys), n_boot=n_boot, seed=seed)}


def _prompt_counts(keys: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """n_refuse, n_partial, n_comply per (model, prompt_id) over the records with a valid label code."""
    valid = (labels >= 0) & (labels < len(LABELS))
    part = keys.loc[valid, ["model", "prompt_id"]].assign(_label=labels[valid])
    counts = pd.crosstab([part["model"], part["prompt_id"]], part["_label"]).reindex(
        columns=range(len(LABELS)), fill_value=0
    )
    counts.columns = COUNT_COLUMNS
    return counts


def panel_consensus(
    frame: pd.DataFrame,
    panel_judge: str,
    members: list[str],
    min_records: int = 5,
    threshold: float = UNSTABLE_THRESHOLD,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stability on the panel's records vs on its consensus records (consensus.csv over a panel).

    A consensus record is one where more than half of the members gave the same valid label (a withheld vote
    counts in the panel's size): with two judges, both agree. A prompt enters the consensus figures with at
    least ``min_records`` consensus records; it flips on them when they hold more than one label.

    Args:
        frame: tidy frame with the panel judge's and its members' records.
        panel_judge: the panel's record judge (its plurality labels: the "all" figures).
        members: the members' judge names.
        min_records: minimum consensus records for a prompt to count (``--consensus-min``).
        threshold: SSI threshold for "unstable".

    Returns:
        ``(consensus_table, judge_sensitive)`` with the columns of :func:`agreement.consensus`.
    """
    if min_records < 1:
        raise ValueError(f"min_records must be at least 1, got {min_records}")
    keys, codes = label_matrix(frame, [panel_judge, *members])
    votes = vote_counts(codes[:, 1:])
    top = votes.argmax(axis=1)
    agreed = np.where(votes.max(axis=1) * 2 > len(members), top, _MISSING)
    return consensus_tables(_prompt_counts(keys, codes[:, 0]), _prompt_counts(keys, agreed), min_records, threshold)
