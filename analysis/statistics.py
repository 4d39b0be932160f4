"""Significance tests and judge agreement: Friedman + Kendall's W, Wilcoxon post-hoc, Spearman, Cohen's kappa."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from refusal_stability.scorers.labels import LABELS, UNSCORED


def _num(value: float) -> float | None:
    """JSON-safe float (NaN -> None)."""
    value = float(value)
    return None if math.isnan(value) else value


def temperature_blocks(wt_prompts: pd.DataFrame) -> pd.DataFrame:
    """Within-temperature SSI as blocks (model, prompt) x temperatures, complete blocks only.

    Only temperatures every model was run at are kept.
    """
    per_model = [set(t) for t in wt_prompts.groupby("model")["temperature"].unique()]
    shared = set.intersection(*per_model) if per_model else set()
    kept = wt_prompts[wt_prompts["temperature"].isin(shared)]
    blocks = kept.pivot_table(index=["model", "prompt_id"], columns="temperature", values="ssi")
    return blocks.dropna().sort_index(axis=1)


def friedman(blocks: pd.DataFrame) -> dict[str, Any]:
    """Friedman test over temperatures with Kendall's W = chi2 / (n_blocks * (k - 1))."""
    n_blocks, k = blocks.shape
    result: dict[str, Any] = {
        "chi2": None,
        "p": None,
        "kendalls_w": None,
        "n_blocks": int(n_blocks),
        "temperatures": [float(t) for t in blocks.columns],
    }
    if k < 3 or n_blocks < 2:
        result["note"] = "needs at least 3 temperatures and 2 complete blocks"
        return result
    chi2, p = stats.friedmanchisquare(*(blocks[c].to_numpy() for c in blocks.columns))
    result.update(chi2=_num(chi2), p=_num(p), kendalls_w=_num(chi2 / (n_blocks * (k - 1))))
    return result


def wilcoxon_posthoc(blocks: pd.DataFrame) -> list[dict[str, Any]]:
    """Wilcoxon signed-rank on neighbouring temperatures and lowest vs highest, Bonferroni-corrected."""
    temps = list(blocks.columns)
    pairs = list(zip(temps, temps[1:], strict=False))
    if len(temps) > 2:
        pairs.append((temps[0], temps[-1]))
    results = []
    for a, b in pairs:
        x, y = blocks[a].to_numpy(), blocks[b].to_numpy()
        if np.allclose(x, y):
            statistic, p = float("nan"), 1.0
        else:
            statistic, p = stats.wilcoxon(x, y)
        results.append(
            {
                "a": float(a),
                "b": float(b),
                "statistic": _num(statistic),
                "p": _num(p),
                "p_bonferroni": _num(min(1.0, p * len(pairs))),
            }
        )
    return results


def spearman(prompts: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Spearman rho between per-prompt SSI and compliance rate, per model."""
    out = {}
    for model, table in prompts.groupby("model", sort=True):
        if table["ssi"].nunique() < 2 or table["compliance_rate"].nunique() < 2:
            out[model] = {"rho": None, "p": None, "n": len(table)}
            continue
        rho, p = stats.spearmanr(table["ssi"], table["compliance_rate"])
        out[model] = {"rho": _num(rho), "p": _num(p), "n": len(table)}
    return out


def cohens_kappa(confusion: np.ndarray) -> float:
    """Cohen's kappa from a square confusion matrix (rows: judge A, columns: judge B)."""
    total = confusion.sum()
    observed = np.trace(confusion) / total
    expected = (confusion.sum(axis=0) * confusion.sum(axis=1)).sum() / total**2
    return 1.0 if expected == 1 else float((observed - expected) / (1 - expected))


def judge_agreement(frame: pd.DataFrame, first: str, second: str) -> dict[str, Any]:
    """Exact agreement and Cohen's kappa between two judges on the records valid for both."""
    key = ["model", "prompt_id", "temperature", "seed"]
    rows = frame[frame["label"] != UNSCORED].copy()
    rows["rep"] = rows.groupby([*key, "judge"], dropna=False).cumcount()
    a = rows[rows["judge"] == first][[*key, "rep", "label"]]
    b = rows[rows["judge"] == second][[*key, "rep", "label"]]
    pairs = a.merge(b, on=[*key, "rep"], suffixes=("_a", "_b"))
    confusion = pd.crosstab(pairs["label_a"], pairs["label_b"]).reindex(index=LABELS, columns=LABELS, fill_value=0)
    n_pairs = len(pairs)
    return {
        "judges": [first, second],
        "n_pairs": n_pairs,
        "agreement_pct": _num((pairs["label_a"] == pairs["label_b"]).mean() * 100) if n_pairs else None,
        "kappa": cohens_kappa(confusion.to_numpy()) if n_pairs else None,
        "confusion": {la: {lb: int(confusion.loc[la, lb]) for lb in LABELS} for la in LABELS},
    }


def agreement_report(frame: pd.DataFrame, primary: str | None = None) -> dict[str, Any] | None:
    """agreement.json content: None with one judge; one pair object with two; {"pairs": [...]} with more.

    The primary (selected) judge comes first in every pair it belongs to.
    """
    judges = sorted(frame["judge"].unique())
    if len(judges) < 2:
        return None
    if primary in judges:
        judges = [primary] + [j for j in judges if j != primary]
    pairs = [judge_agreement(frame, a, b) for i, a in enumerate(judges) for b in judges[i + 1 :]]
    return pairs[0] if len(pairs) == 1 else {"pairs": pairs}
