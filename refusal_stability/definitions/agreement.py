"""Agreement between judges, with cluster-bootstrap confidence intervals: the one implementation.

Labels are integer codes ``0 .. n_labels - 1`` (the order of ``LABELS``); any other code (negative, or
``>= n_labels``) is an invalid label (UNSCORED, a withheld vote, a missing judge) and is left out of
every figure, never counted as a category.

- Cohen's kappa of two judges: kappa = (p_o - p_e) / (1 - p_e) from their confusion table; a weighted
  table (population weights) gives the weighted kappa.
- Fleiss' kappa of a panel: over the units every member labelled (a constant number of raters per unit).
- Krippendorff's alpha (nominal) of a panel: over every unit with at least two valid labels (members may
  be missing), from the coincidence matrix.
- Confidence intervals: percentile bootstrap, resampling clusters (prompts) with replacement, seeded; all
  records of a cluster go in or out together. Every statistic here is a function of per-cluster sums, so a
  resample is a weighted sum of cluster tables.
- Panel votes: :func:`plurality` (a label wins only with more votes than every other) and
  :func:`strict_majority` (more than half of the panel, withheld votes counted in the panel's size).

No Inspect or pandas import: the judge-check metrics and the analysis both compute their figures here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "BOOTSTRAP_LEVEL",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "cluster_codes",
    "coincidence_matrix",
    "fleiss_from_counts",
    "kappa_from_tables",
    "krippendorff_from_coincidence",
    "pair_agreement",
    "panel_agreement",
    "percentile_interval",
    "plurality",
    "resampled_sums",
    "strict_majority",
    "vote_counts",
]

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
BOOTSTRAP_LEVEL = 0.95
_CHUNK_CELLS = 4_000_000  # resample-weight cells built at once (n_resamples x n_clusters), ~32 MB

Vote = TypeVar("Vote", bound=Hashable)


def kappa_from_tables(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each square confusion table (rows judge A, columns judge B; counts or weights).

    Args:
        tables: array of shape (..., L, L), non-negative.

    Returns:
        Array of shape (...): kappa; NaN where a table is empty or p_e == 1 (both judges used one and the
        same label throughout: 0/0).
    """
    table = np.asarray(tables, dtype=float)
    total = table.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.trace(table, axis1=-2, axis2=-1) / total
        expected = (table.sum(axis=-1) * table.sum(axis=-2)).sum(axis=-1) / total**2
        kappa = (observed - expected) / (1 - expected)
    return np.where((total > 0) & (expected < 1 - 1e-12), kappa, np.nan)


def vote_counts(codes: np.ndarray, n_labels: int = 3) -> np.ndarray:
    """Per unit, how many judges gave each valid label.

    Args:
        codes: (n_units, n_judges) label codes; invalid codes are not counted.
        n_labels: number of valid labels.

    Returns:
        (n_units, n_labels) int64 counts.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be a 2-d array (units x judges), got shape {codes.shape}")
    valid = (codes >= 0) & (codes < n_labels)
    rows = np.broadcast_to(np.arange(len(codes))[:, None], codes.shape)
    cells = rows[valid] * n_labels + codes[valid].astype(np.int64)
    return np.bincount(cells, minlength=len(codes) * n_labels).reshape(len(codes), n_labels)


def fleiss_from_counts(counts: np.ndarray) -> float:
    """Fleiss' kappa of units that all have the same number of ratings (>= 2).

    P_i = (sum_j n_ij^2 - m) / (m (m - 1)); P_bar = mean P_i; p_j = sum_i n_ij / (N m); P_e = sum_j p_j^2;
    kappa = (P_bar - P_e) / (1 - P_e).

    Args:
        counts: (n_units, n_labels) ratings per label; every row sums to the same m >= 2.

    Returns:
        Fleiss' kappa; NaN with no unit or when P_e == 1 (every rating the same label).

    Raises:
        ValueError: rows with different or fewer than two ratings.
    """
    counts = np.asarray(counts, dtype=float)
    if len(counts) == 0:
        return float("nan")
    raters = counts.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings on every unit")
    return float(_fleiss(len(counts), _fleiss_agreement(counts).sum(), counts.sum(axis=0), raters[0]))


def _fleiss_agreement(counts: np.ndarray) -> np.ndarray:
    """P_i of each unit (rows of equal size m)."""
    m = counts.sum(axis=1)
    return ((counts**2).sum(axis=1) - m) / (m * (m - 1))


def _fleiss(n_units: Any, sum_agreement: Any, label_totals: np.ndarray, raters: float) -> Any:
    """Fleiss' kappa from sums (vectorised over a leading resample axis)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_agreement = sum_agreement / n_units
        shares = label_totals / (np.asarray(n_units, dtype=float)[..., None] * raters)
        expected = (shares**2).sum(axis=-1)
        kappa = (mean_agreement - expected) / (1 - expected)
    return np.where((np.asarray(n_units) > 0) & (expected < 1 - 1e-12), kappa, np.nan)


def coincidence_matrix(counts: np.ndarray) -> np.ndarray:
    """Krippendorff's coincidence matrix of units given as label counts (units with < 2 values add nothing).

    o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (m_u - 1), m_u the unit's number of values.

    Args:
        counts: (n_units, n_labels) values per label and unit.

    Returns:
        (n_units, n_labels, n_labels) per-unit coincidences (sum over units for the matrix).
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    pairs = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(counts.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        per_unit = pairs / (m - 1)[:, None, None]
    return np.where((m >= 2)[:, None, None], per_unit, 0.0)


def krippendorff_from_coincidence(coincidence: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha (nominal) from coincidence matrices (..., L, L).

    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k, n_c the marginals and n their total.

    Returns:
        Array (...): alpha; NaN with fewer than two pairable values or a single label used throughout.
    """
    table = np.asarray(coincidence, dtype=float)
    marginals = table.sum(axis=-1)
    n = marginals.sum(axis=-1)
    observed = table.sum(axis=(-2, -1)) - np.trace(table, axis1=-2, axis2=-1)
    expected = n**2 - (marginals**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * observed / expected
    return np.where((n > 1) & (expected > 1e-12), alpha, np.nan)


def cluster_codes(clusters: Sequence[Hashable] | np.ndarray | None, n_units: int) -> np.ndarray:
    """Dense cluster index per unit (first-seen order); each unit its own cluster when ``clusters`` is None."""
    if clusters is None:
        return np.arange(n_units)
    values = list(clusters)
    if len(values) != n_units:
        raise ValueError(f"clusters has {len(values)} entries for {n_units} units")
    index: dict[Hashable, int] = {}
    return np.fromiter((index.setdefault(value, len(index)) for value in values), dtype=np.int64, count=n_units)


def resampled_sums(
    per_cluster: np.ndarray, n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """Sums of per-cluster arrays over bootstrap resamples of the clusters (with replacement).

    Args:
        per_cluster: (n_clusters, ...) array; each resample draws n_clusters clusters.
        n_boot: number of resamples.
        seed: seed of numpy's default generator (the same seed gives the same resamples).

    Returns:
        (n_boot, ...) array: for each resample, the sum of the drawn clusters' arrays.
    """
    values = np.asarray(per_cluster, dtype=float)
    n_clusters = len(values)
    flat = values.reshape(n_clusters, -1)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(n_clusters, 1))
    out = np.empty((n_boot, flat.shape[1]))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_clusters, size=(size, n_clusters))
        cells = (draws + np.arange(size)[:, None] * n_clusters).ravel()
        weights = np.bincount(cells, minlength=size * n_clusters).reshape(size, n_clusters)
        out[start : start + size] = weights @ flat
    return out.reshape((n_boot, *values.shape[1:]))


def percentile_interval(values: np.ndarray, level: float = BOOTSTRAP_LEVEL) -> tuple[float | None, float | None]:
    """Percentile interval of bootstrap values, NaN resamples left out; (None, None) when none is finite."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _number(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def pair_agreement(
    codes_a: np.ndarray,
    codes_b: np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    weights: np.ndarray | None = None,
    n_labels: int = 3,
    n_boot: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Agreement % and Cohen's kappa of two judges on the same units, with cluster-bootstrap 95 % CIs.

    Args:
        codes_a: judge A's label code per unit (rows of the confusion table).
        codes_b: judge B's label code per unit (columns).
        clusters: cluster (prompt) of each unit; None: every unit is its own cluster.
        weights: optional population weight per unit; the figures are then weighted.
        n_labels: number of valid labels.
        n_boot: bootstrap resamples (0: no intervals).
        seed: bootstrap seed.

    Returns:
        ``n_pairs`` (units where both labels are valid), ``n_excluded``, ``agreement_pct`` (0-100),
        ``agreement_ci_low/high``, ``kappa``, ``kappa_ci_low/high``, ``confusion`` (L x L list of lists,
        weighted when weights are given); None where undefined (no pair; kappa 0/0).
    """
    a, b = np.asarray(codes_a), np.asarray(codes_b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"codes_a and codes_b must be 1-d arrays of one length, got {a.shape} and {b.shape}")
    unit_weights = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=float)
    if unit_weights.shape != a.shape or not np.all(np.isfinite(unit_weights)) or (unit_weights < 0).any():
        raise ValueError("weights must be finite, non-negative and one per unit")
    valid = (a >= 0) & (a < n_labels) & (b >= 0) & (b < n_labels)
    groups = cluster_codes(clusters, len(a))
    n_clusters = int(groups.max()) + 1 if len(groups) else 0
    cells = (groups[valid] * n_labels + a[valid]) * n_labels + b[valid]
    tables = np.bincount(cells.astype(np.int64), unit_weights[valid], minlength=n_clusters * n_labels**2)
    tables = tables.reshape(n_clusters, n_labels, n_labels)
    table = tables.sum(axis=0)
    total = table.sum()
    result: dict[str, Any] = {
        "n_pairs": int(valid.sum()),
        "n_excluded": int((~valid).sum()),
        "agreement_pct": _number(np.trace(table) / total * 100) if total > 0 else None,
        "kappa": _number(kappa_from_tables(table)),
        "agreement_ci_low": None,
        "agreement_ci_high": None,
        "kappa_ci_low": None,
        "kappa_ci_high": None,
        "confusion": table.tolist() if weights is not None else table.astype(np.int64).tolist(),
    }
    if n_boot > 0 and total > 0:
        boot = resampled_sums(tables, n_boot, seed)
        with np.errstate(divide="ignore", invalid="ignore"):
            agreement = np.trace(boot, axis1=-2, axis2=-1) / boot.sum(axis=(-2, -1)) * 100
        result["agreement_ci_low"], result["agreement_ci_high"] = percentile_interval(agreement)
        result["kappa_ci_low"], result["kappa_ci_high"] = percentile_interval(kappa_from_tables(boot))
    return result


def panel_agreement(
    codes: np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    n_labels: int = 3,
    n_boot: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Fleiss' kappa and Krippendorff's alpha (nominal) of a panel, with cluster-bootstrap 95 % CIs.

    Args:
        codes: (n_units, n_judges) label codes, n_judges >= 2; invalid codes are missing values.
        clusters: cluster (prompt) of each unit; None: every unit is its own cluster.
        n_labels: number of valid labels.
        n_boot: bootstrap resamples (0: no intervals).
        seed: bootstrap seed (the same resamples for both statistics).

    Returns:
        ``n_judges``, ``n_units``, ``n_complete`` (units every judge labelled: Fleiss' units),
        ``fleiss_kappa`` + ``fleiss_kappa_ci_low/high``, ``n_pairable`` (units with >= 2 valid labels:
        Krippendorff's units), ``krippendorff_alpha`` + ``krippendorff_alpha_ci_low/high``; None where
        undefined.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"codes must be units x judges with at least two judges, got shape {codes.shape}")
    n_judges = codes.shape[1]
    counts = vote_counts(codes, n_labels)
    groups = cluster_codes(clusters, len(codes))
    n_clusters = int(groups.max()) + 1 if len(groups) else 0
    complete = counts.sum(axis=1) == n_judges
    # per cluster: [n_complete, sum P_i, label totals...] for Fleiss; the coincidence matrix for alpha
    fleiss_parts = np.zeros((len(codes), 2 + n_labels))
    fleiss_parts[complete, 0] = 1
    fleiss_parts[complete, 1] = _fleiss_agreement(counts[complete].astype(float))
    fleiss_parts[complete, 2:] = counts[complete]
    coincidence = coincidence_matrix(counts).reshape(len(codes), -1)
    parts = np.zeros((n_clusters, fleiss_parts.shape[1] + coincidence.shape[1]))
    np.add.at(parts, groups, np.hstack([fleiss_parts, coincidence]))

    def statistics(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fleiss = _fleiss(sums[..., 0], sums[..., 1], sums[..., 2 : 2 + n_labels], n_judges)
        alpha = krippendorff_from_coincidence(sums[..., 2 + n_labels :].reshape(*sums.shape[:-1], n_labels, n_labels))
        return fleiss, alpha

    fleiss, alpha = statistics(parts.sum(axis=0))
    result: dict[str, Any] = {
        "n_judges": n_judges,
        "n_units": len(codes),
        "n_complete": int(complete.sum()),
        "fleiss_kappa": _number(fleiss),
        "fleiss_kappa_ci_low": None,
        "fleiss_kappa_ci_high": None,
        "n_pairable": int((counts.sum(axis=1) >= 2).sum()),
        "krippendorff_alpha": _number(alpha),
        "krippendorff_alpha_ci_low": None,
        "krippendorff_alpha_ci_high": None,
    }
    if n_boot > 0 and n_clusters:
        boot_fleiss, boot_alpha = statistics(resampled_sums(parts, n_boot, seed))
        result["fleiss_kappa_ci_low"], result["fleiss_kappa_ci_high"] = percentile_interval(boot_fleiss)
        result["krippendorff_alpha_ci_low"], result["krippendorff_alpha_ci_high"] = percentile_interval(boot_alpha)
    return result


def plurality(votes: Sequence[Vote | None]) -> Vote | None:
    """The vote with more votes than every other (None votes are withheld); None on a tie or no vote."""
    counts = Counter(vote for vote in votes if vote is not None).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def strict_majority(votes: Sequence[Vote | None]) -> Vote | None:
    """The vote held by more than half of the panel (withheld None votes count in its size); else None."""
    counts = Counter(vote for vote in votes if vote is not None).most_common(1)
    if counts and counts[0][1] * 2 > len(votes):
        return counts[0][0]
    return None
