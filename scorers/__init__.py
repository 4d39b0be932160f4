"""Scorers: the three-class refusal judge, its rubric, the offline heuristic, the stability reducer/metrics.

``refusal_judge`` labels each response; ``stability`` reduces a sample's epochs to its SSI; the metrics
(``mean_ssi``, ``flip_rate``, ``unstable_rate``, ``refusal_rate``, ``partial_rate``, ``compliance_rate``,
``unscored``) summarise the samples in the eval header.
"""

from refusal_stability.scorers.judge import GRADER_ROLE, GraderNotBoundError, grader_bound, refusal_judge
from refusal_stability.scorers.stability import (
    TIE_ORDER,
    compliance_rate,
    flip_rate,
    majority_label,
    mean_ssi,
    partial_rate,
    refusal_rate,
    stability,
    stability_metrics,
    unscored,
    unstable_rate,
)

__all__ = [
    "GRADER_ROLE",
    "TIE_ORDER",
    "GraderNotBoundError",
    "compliance_rate",
    "flip_rate",
    "grader_bound",
    "majority_label",
    "mean_ssi",
    "partial_rate",
    "refusal_judge",
    "refusal_rate",
    "stability",
    "stability_metrics",
    "unscored",
    "unstable_rate",
]
