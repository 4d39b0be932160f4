"""Scorers: the three-class refusal judges, their rubric, the offline heuristic, the stability reducer/metrics.

``refusal_judge`` (and ``second_judge``) label each response; ``stability`` reduces a sample's epochs to its
SSI; the metrics (``mean_ssi``, ``flip_rate``, ``unstable_rate``, ``refusal_rate``, ``partial_rate``,
``compliance_rate``, ``unscored``) summarise the samples in the eval header. SSI, majority label, flip and
instability are defined once, in :mod:`refusal_stability.definitions.ssi` (no Inspect import: the analysis
imports it from there). Log format: ``docs/log-schema.md``.
"""

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
from refusal_stability.scorers.reducer import GridEpochsGuard, stability

__all__ = [
    "GRADER_ROLE",
    "GraderCallError",
    "GraderNotBoundError",
    "GridEpochsGuard",
    "SECOND_GRADER_ROLE",
    "compliance_rate",
    "flip_rate",
    "grader_bound",
    "mean_ssi",
    "partial_rate",
    "refusal_judge",
    "refusal_judges",
    "refusal_rate",
    "response_fingerprint",
    "second_judge",
    "stability",
    "stability_metrics",
    "unscored",
    "unstable_rate",
]
