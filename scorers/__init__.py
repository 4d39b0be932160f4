"""Scorers: the three-class refusal judges, their rubric, the offline heuristic, the stability reducer/metrics.

``refusal_judge`` (and ``second_judge``) label each response; ``stability`` reduces a sample's epochs to its
SSI; the metrics (``mean_ssi``, ``flip_rate``, ``unstable_rate``, ``refusal_rate``, ``partial_rate``,
``compliance_rate``, ``unscored``) summarise the samples in the eval header. ``ssi.stability_of_counts`` is
the one definition of SSI, majority label, flip and instability. Log format: ``docs/log-schema.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refusal_stability.scorers.grading import (
        GRADER_ROLE,
        SECOND_GRADER_ROLE,
        GraderCallError,
        GraderNotBoundError,
        grader_bound,
    )
    from refusal_stability.scorers.judge import (
        refusal_judge,
        refusal_judges,
        response_fingerprint,
        second_judge,
    )
    from refusal_stability.scorers.metrics import (
        compliance_rate,
        flip_rate,
        mean_ssi,
        partial_rate,
        refusal_rate,
        stability_metrics,
        unscored,
        unstable_rate,
    )
    from refusal_stability.scorers.reducer import (
        GridEpochsGuard,
        stability,
    )
    from refusal_stability.scorers.ssi import (
        TIE_ORDER,
        UNSTABLE_THRESHOLD,
        majority_label,
        row_stability,
        stability_of_counts,
    )

_EXPORTS = {
    "GRADER_ROLE": "refusal_stability.scorers.grading",
    "SECOND_GRADER_ROLE": "refusal_stability.scorers.grading",
    "GraderCallError": "refusal_stability.scorers.grading",
    "GraderNotBoundError": "refusal_stability.scorers.grading",
    "grader_bound": "refusal_stability.scorers.grading",
    "refusal_judge": "refusal_stability.scorers.judge",
    "refusal_judges": "refusal_stability.scorers.judge",
    "response_fingerprint": "refusal_stability.scorers.judge",
    "second_judge": "refusal_stability.scorers.judge",
    "compliance_rate": "refusal_stability.scorers.metrics",
    "flip_rate": "refusal_stability.scorers.metrics",
    "mean_ssi": "refusal_stability.scorers.metrics",
    "partial_rate": "refusal_stability.scorers.metrics",
    "refusal_rate": "refusal_stability.scorers.metrics",
    "stability_metrics": "refusal_stability.scorers.metrics",
    "unscored": "refusal_stability.scorers.metrics",
    "unstable_rate": "refusal_stability.scorers.metrics",
    "GridEpochsGuard": "refusal_stability.scorers.reducer",
    "stability": "refusal_stability.scorers.reducer",
    "TIE_ORDER": "refusal_stability.scorers.ssi",
    "UNSTABLE_THRESHOLD": "refusal_stability.scorers.ssi",
    "majority_label": "refusal_stability.scorers.ssi",
    "row_stability": "refusal_stability.scorers.ssi",
    "stability_of_counts": "refusal_stability.scorers.ssi",
}

__all__ = [
    "GRADER_ROLE",
    "GraderCallError",
    "GraderNotBoundError",
    "GridEpochsGuard",
    "SECOND_GRADER_ROLE",
    "TIE_ORDER",
    "UNSTABLE_THRESHOLD",
    "compliance_rate",
    "flip_rate",
    "grader_bound",
    "majority_label",
    "mean_ssi",
    "partial_rate",
    "refusal_judge",
    "refusal_judges",
    "refusal_rate",
    "response_fingerprint",
    "row_stability",
    "second_judge",
    "stability",
    "stability_metrics",
    "stability_of_counts",
    "unscored",
    "unstable_rate",
]


def __getattr__(name: str) -> Any:
    """Import the public API lazily: the analysis needs ``ssi`` without loading Inspect's judges."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
