"""The Inspect task and its datasets. ``from refusal_stability.inspect_tasks import refusal_stability``."""

from refusal_stability.inspect_tasks.refusal_stability import refusal_stability

__all__ = ["refusal_stability"]
