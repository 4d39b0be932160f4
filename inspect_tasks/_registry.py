"""Inspect registry entry point: makes ``inspect eval refusal_stability/refusal_stability`` resolve."""

from refusal_stability.inspect_tasks.refusal_stability import refusal_stability  # noqa: F401
