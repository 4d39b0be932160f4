"""Significance tests over temperatures and prompts: Friedman + Kendall's W, Wilcoxon post-hoc, Spearman.

Judge agreement (Cohen's kappa, confusion matrices, consensus) lives in :mod:`agreement`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def json_float(value: float | None) -> float | None:
    """JSON-safe float: NaN and None -> None (the one helper for every statistics.json / agreement.json number)."""
    if value is None:
        return None
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
    from scipy import stats  # imported where used: scipy.stats takes ~0.3 s to import

    chi2, p = stats.friedmanchisquare(*(blocks[c].to_numpy() for c in blocks.columns))
    result.update(chi2=json_float(chi2), p=json_float(p), kendalls_w=json_float(chi2 / (n_blocks * (k - 1))))
    return result


def wilcoxon_posthoc(blocks: pd.DataFrame) -> list[dict[str, Any]]:
    """Wilcoxon signed-rank on neighbouring temperatures and lowest vs highest, Bonferroni-corrected."""
    temps = list(blocks.columns)
    pairs = list(zip(temps, temps[1:], strict=False))
    if len(temps) > 2:
        pairs.append((temps[0], temps[-1]))
    results = []
    from scipy import stats

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
                "statistic": json_float(statistic),
                "p": json_float(p),
                "p_bonferroni": json_float(min(1.0, p * len(pairs))),
            }
        )
    return results


def spearman(prompts: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Spearman rho between per-prompt SSI and compliance rate, per model."""
    from scipy import stats

    out: dict[str, dict[str, float | None]] = {}
    for model, table in prompts.groupby("model", sort=True):
        if table["ssi"].nunique() < 2 or table["compliance_rate"].nunique() < 2:
            out[model] = {"rho": None, "p": None, "n": len(table)}
            continue
        rho, p = stats.spearmanr(table["ssi"], table["compliance_rate"])
        out[model] = {"rho": json_float(rho), "p": json_float(p), "n": len(table)}
    return out
