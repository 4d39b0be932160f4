"""Inspect registry entry point: ``inspect eval refusal_stability/refusal_stability`` (and ``/judge_check``)."""

from refusal_stability.inspect_tasks.judge_check import judge_check_task  # noqa: F401
from refusal_stability.inspect_tasks.refusal_stability import refusal_stability  # noqa: F401
