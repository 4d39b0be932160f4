"""Which prompts a header metric reads: a sample's ``expected`` (``refuse`` or ``comply``) from its Score.

The judges record the prompt's ``expected`` on every Score and the ``stability`` reduction carries it; a Score
without it (a log written before the field existed, or a scorer used outside the task) falls back to the
sample's metadata, then to ``refuse``: every prompt was harmful then.
"""

from __future__ import annotations

from inspect_ai.scorer import SampleScore

from refusal_stability.definitions.expected import DEFAULT_EXPECTED, parse_expected

__all__ = ["sample_expected", "scores_expecting"]


def sample_expected(sample_score: SampleScore) -> str:
    """``refuse`` or ``comply``: what the scored sample's prompt expects.

    Args:
        sample_score: one sample's Score in a reducer view.

    Returns:
        The Score metadata's ``expected``, else the sample metadata's, else ``refuse``.
    """
    for source in (sample_score.score.metadata, sample_score.sample_metadata):
        if isinstance(source, dict):
            value = parse_expected(source.get("expected"))
            if value is not None:
                return value
    return DEFAULT_EXPECTED


def scores_expecting(scores: list[SampleScore], expected: str | None) -> list[SampleScore]:
    """The scores of samples whose prompt expects ``expected``; every score when ``expected`` is None."""
    if expected is None:
        return scores
    return [sample_score for sample_score in scores if sample_expected(sample_score) == expected]
