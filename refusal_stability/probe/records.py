"""The probe's records: its prompts, one request's outcome, one condition's run, and its error type."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ConditionRun", "Outcome", "ProbeError", "ProbePrompt"]


class ProbeError(ValueError):
    """A bad probe argument or an unusable server; the message says what is expected."""


@dataclass(frozen=True)
class ProbePrompt:
    """One prompt of the probe."""

    prompt_id: str
    prompt: str
    category: str | None = None
    source: str | None = None


@dataclass
class Outcome:
    """One probe request's result under one condition (``error`` set when the request failed)."""

    response: str | None = None
    response_hash: str | None = None
    response_chars: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    label: str | None = None
    error: str | None = None


@dataclass
class ConditionRun:
    """What one condition sent: probe and filler request counts, errors, wall time."""

    name: str
    concurrency: int
    probe_slots: int
    filler_slots: int
    filler_requests: int = 0
    filler_errors: int = 0
    seconds: float = 0.0
    outcomes: dict[str, Outcome] = field(default_factory=dict)
