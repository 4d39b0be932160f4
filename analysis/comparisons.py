"""Paired comparisons of runs over their shared prompts (docs/statistics.md "Comparisons").

A run is a model, or a model under a condition (``model [condition]``): the per_prompt table's ``model``
column. Two runs are compared on the prompts both have, metric by metric:

- the difference of means (``diff = value_b - value_a``) with a paired percentile bootstrap CI: prompts
  are resampled with replacement and the same resample applies to every metric of the pair;
- a paired test on the per-prompt values: Wilcoxon signed-rank for SSI (``mean_ssi``) and compliance
  rate (``comply_pct``), exact McNemar (binomial test on the discordant prompts) for the flipped
  (``flip_pct``) and unstable (``unstable_pct``) flags;
- Holm's step-down correction over every test of the table (all pairs and metrics).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

COMPARISON_COLUMNS = [
    "a",
    "b",
    "metric",
    "value_a",
    "value_b",
    "diff",
    "ci_low",
    "ci_high",
    "test",
    "statistic",
    "p",
    "p_holm",
    "n_prompts",
]
# metric -> (per_prompt column, scale, test)
METRICS = {
    "mean_ssi": ("ssi", 1.0, "wilcoxon"),
    "flip_pct": ("flipped", 100.0, "mcnemar_exact"),
    "unstable_pct": ("unstable", 100.0, "mcnemar_exact"),
    "comply_pct": ("compliance_rate", 100.0, "wilcoxon"),
}
EXACT_WILCOXON_MAX_N = 50
_DIGITS = 12  # per-prompt values are ratios of small integers: differences below 1e-12 are zero


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN entries stay NaN and do not count as tests.

    The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) * p_(j)).

    Args:
        p: p-values (any shape is flattened).

    Returns:
        Adjusted p-values in the input order.
    """
    values = np.asarray(p, dtype=float).ravel()
    out = np.full_like(values, np.nan)
    tested = np.flatnonzero(~np.isnan(values))
    if len(tested):
        order = tested[np.argsort(values[tested], kind="stable")]
        m = len(order)
        adjusted = np.maximum.accumulate((m - np.arange(m)) * values[order])
        out[order] = np.minimum(adjusted, 1.0)
    return out


def wilcoxon_signed_rank(differences: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired differences.

    Zero differences are dropped (Wilcoxon's method). The p-value is exact when at most
    ``EXACT_WILCOXON_MAX_N`` non-zero differences remain and their absolute values have no ties;
    otherwise it is the normal approximation with the tie correction of the variance (no continuity
    correction). The statistic is min(W+, W-).

    Args:
        differences: per-prompt differences (b - a).

    Returns:
        ``(statistic, p)``; ``(nan, 1.0)`` when every difference is zero (no evidence of a difference,
        and the statistic is undefined).
    """
    from scipy import stats  # imported where used (scipy.stats is slow to import)

    d = np.round(np.asarray(differences, dtype=float), _DIGITS)
    nonzero = d[d != 0]
    n = len(nonzero)
    if n == 0:
        return float("nan"), 1.0
    magnitude = np.abs(nonzero)
    _, tie_sizes = np.unique(magnitude, return_counts=True)
    if n <= EXACT_WILCOXON_MAX_N and len(tie_sizes) == n:
        result = stats.wilcoxon(nonzero, zero_method="wilcox", correction=False, method="exact")
        return float(result.statistic), float(result.pvalue)
    ranks = stats.rankdata(magnitude)  # average ranks for ties
    r_plus = float(ranks[nonzero > 0].sum())
    statistic = min(r_plus, n * (n + 1) / 2 - r_plus)
    variance = n * (n + 1) * (2 * n + 1) / 24 - float((tie_sizes**3 - tie_sizes).sum()) / 48
    if variance <= 0:
        return statistic, 1.0
    z = (statistic - n * (n + 1) / 4) / np.sqrt(variance)
    return statistic, float(min(1.0, 2 * stats.norm.sf(abs(z))))


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact McNemar test of paired booleans: two-sided binomial test of the discordant pairs at 1/2.

    Args:
        a: per-prompt flags of run a.
        b: per-prompt flags of run b, same prompts and order.

    Returns:
        ``(statistic, p)`` with statistic = min(n_ab, n_ba), the smaller discordant count (n_ab: true in
        a only); ``(nan, 1.0)`` when no prompt is discordant.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return float("nan"), 1.0
    smaller = min(only_a, only_b)
    return float(smaller), float(stats.binomtest(smaller, only_a + only_b, 0.5).pvalue)


def _resample_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) matrix: how often each of n prompts is drawn in each resample, divided by n.

    ``weights @ values`` gives the resample means; the draws are those of
    ``np.random.default_rng(seed).integers(0, n, size=(n_boot, n))`` (as in ``metrics.bootstrap_ci``).
    """
    index = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    offsets = (np.arange(n_boot) * n)[:, None]
    counts = np.bincount((index + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n)
    return counts / n


def compare_runs(
    per_prompt: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    metrics: dict[str, tuple[str, float, str]] | None = None,
) -> pd.DataFrame:
    """comparisons.csv: every pair of runs that share prompts, four metrics each.

    Args:
        per_prompt: per_prompt table, one row per (model, prompt_id), with ssi, flipped, unstable,
            compliance_rate.
        n_boot: bootstrap resamples per pair.
        seed: bootstrap seed. A pair's resample depends only on (seed, number of shared prompts), so
            adding a run to the study does not change the other pairs' intervals.
        level: confidence level of the percentile interval.
        metrics: metric -> (per_prompt column, scale, test "wilcoxon" or "mcnemar_exact"); default
            ``METRICS`` (the benign prompts use ``over_refusal.BENIGN_COMPARISONS``).

    Returns:
        Columns a, b (runs, a < b in sort order), metric (mean_ssi, flip_pct, unstable_pct, comply_pct),
        value_a, value_b (means over the *shared* prompts: they can differ from per_model.csv when the
        runs' prompt sets differ), diff (value_b - value_a), ci_low, ci_high (bootstrap CI of diff),
        test ("wilcoxon" or "mcnemar_exact"), statistic, p, p_holm (Holm over every row), n_prompts
        (shared prompts). SSI is 0-1, the others 0-100. When all differences are zero (Wilcoxon) or no
        prompt is discordant (McNemar), p = 1 and statistic is NaN. Pairs without a shared prompt are
        left out.

    Raises:
        ValueError: duplicate (model, prompt_id) rows, n_boot < 1 or a level outside (0, 1).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    if per_prompt.duplicated(["model", "prompt_id"]).any():
        raise ValueError("per_prompt must have one row per (model, prompt_id)")
    metrics = METRICS if metrics is None else metrics
    columns = [column for column, _, _ in metrics.values()]
    scales = np.array([scale for _, scale, _ in metrics.values()])
    table = per_prompt[["model", "prompt_id", *columns]].astype({c: float for c in columns})
    table = table.assign(prompt_id=table["prompt_id"].astype(str))
    wide = table.set_index(["prompt_id", "model"])[columns].unstack("model")
    models = sorted(wide.columns.get_level_values("model").unique())
    values = np.stack([wide[column][models].to_numpy() for column in columns], axis=2) * scales  # (P, M, 4)
    present = ~np.isnan(values[:, :, 0])
    rows: list[dict] = []
    by_size: dict[int, list[tuple[int, np.ndarray]]] = {}  # n shared -> (first row index, diff matrix)
    for i, j in combinations(range(len(models)), 2):
        shared = present[:, i] & present[:, j]
        n = int(shared.sum())
        if n == 0:
            continue
        x, y = values[shared, i, :], values[shared, j, :]
        diff = y - x
        by_size.setdefault(n, []).append((len(rows), diff))
        mean_x, mean_y, mean_diff = x.mean(axis=0), y.mean(axis=0), diff.mean(axis=0)
        for k, (metric, (_, _, test)) in enumerate(metrics.items()):
            if test == "wilcoxon":
                statistic, p = wilcoxon_signed_rank(diff[:, k])
            else:
                statistic, p = mcnemar_exact(x[:, k] > 0, y[:, k] > 0)
            values_of_row = (models[i], models[j], metric, mean_x[k], mean_y[k], mean_diff[k])
            cells = (*values_of_row, np.nan, np.nan, test, statistic, p, np.nan, n)  # CIs and Holm filled below
            rows.append(dict(zip(COMPARISON_COLUMNS, cells, strict=True)))
    _fill_intervals(rows, by_size, len(metrics), n_boot, seed, level)
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    if len(out):
        out["p_holm"] = holm(out["p"].to_numpy())
    return out


def _fill_intervals(
    rows: list[dict],
    by_size: dict[int, list[tuple[int, np.ndarray]]],
    n_metrics: int,
    n_boot: int,
    seed: int,
    level: float,
) -> None:
    """Bootstrap CIs of every pair's differences: one resample matrix per shared-prompt count, one product."""
    tail = (1 - level) / 2 * 100
    for n, pairs in by_size.items():
        stacked = np.concatenate([diff for _, diff in pairs], axis=1)  # (n, n_metrics * pairs)
        low, high = np.percentile(_resample_weights(n, n_boot, seed) @ stacked, [tail, 100 - tail], axis=0)
        for index, (first, _) in enumerate(pairs):
            block = slice(index * n_metrics, (index + 1) * n_metrics)
            for k, (lo, hi) in enumerate(zip(low[block], high[block], strict=True)):
                rows[first + k]["ci_low"], rows[first + k]["ci_high"] = lo, hi
