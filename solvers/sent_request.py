"""What one generation sent: the request body of the model under test, and a warning when a parameter was dropped.

Read right after ``generate`` from the sample's transcript (public ``inspect_ai.log.transcript()``): the model
events added by this generate call whose model is the one under test (a grader runs later, in the scorer, under
its own role). Their ``call.request`` is the body the provider client sent; ``call`` is None for cache hits,
``--log-model-api false`` and providers that log no call, and the record is then unverified (so is
``mockllm/``, whose logged request is synthetic).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from inspect_ai.event import ModelEvent
from inspect_ai.log import transcript

from refusal_stability.definitions.sent_sampling import UNVERIFIED, SentSampling, read_sent_sampling

logger = logging.getLogger(__name__)

SAMPLING_MODES = ("warn", "strict")
MOCK_PROVIDERS = ("mockllm/",)


class SamplingNotSentError(RuntimeError):
    """``sampling=strict``: a grid parameter did not reach the model (one line, fails the sample)."""


def event_count() -> int:
    """How many events the sample's transcript holds now (mark it before ``generate``)."""
    return len(transcript().events)


def generation_event(since: int, model: str) -> ModelEvent | None:
    """The last model event of ``model`` added to the transcript after position ``since`` (None: none)."""
    for event in reversed(transcript().events[since:]):
        if isinstance(event, ModelEvent) and event.model == model and not (event.role or "").startswith("grader"):
            return event
    return None


def sent_by(event: ModelEvent | None) -> tuple[SentSampling, str | None]:
    """What the event's request carried, and the response's ``system_fingerprint`` when it has one.

    ``mockllm/`` logs a synthetic request (its messages only) while it reads the config directly: no request
    went over a wire, so it is unverified, like a call that was not logged.
    """
    if event is None or event.call is None or str(event.model).startswith(MOCK_PROVIDERS):
        return UNVERIFIED, None
    response = event.call.response if isinstance(event.call.response, dict) else {}
    fingerprint = response.get("system_fingerprint")
    return read_sent_sampling(event.call.request), str(fingerprint) if fingerprint else None


def dropped_parameters(asked: dict[str, Any], sent: SentSampling) -> list[str]:
    """The asked-for parameters (non-None in ``asked``) that a verified request did not carry."""
    if not sent.verified:
        return []
    carried = {"temperature": sent.temperature, "seed": sent.seed, "top_p": sent.top_p}
    return [name for name, value in asked.items() if value is not None and carried.get(name) is None]


def what_the_study_becomes(dropped: list[str], n_epochs: int) -> str:
    """Plain words for what a run is when ``dropped`` parameters never reach the model."""
    parts = []
    if "temperature" in dropped:
        parts.append(f"{n_epochs} draws per prompt at the provider's default temperature")
    if "seed" in dropped:
        parts.append("unseeded replicate draws (seeds cannot separate engine from sampling)")
    if "top_p" in dropped:
        parts.append("the provider's default top_p")
    return "; ".join(parts)


@dataclass
class DroppedParameterAlarm:
    """Warns once per run (or raises, with ``sampling=strict``) when a grid parameter did not reach the model."""

    mode: str
    n_epochs: int
    warned: bool = field(default=False)

    def check(self, model: str, asked: dict[str, Any], sent: SentSampling) -> None:
        """Warn (first time only) or raise when ``sent`` lacks a parameter in ``asked``.

        Raises:
            SamplingNotSentError: ``mode == "strict"`` and a parameter was dropped.
        """
        dropped = dropped_parameters(asked, sent)
        if not dropped:
            return
        names = " and ".join(dropped)
        becomes = what_the_study_becomes(dropped, self.n_epochs)
        if self.mode == "strict":
            raise SamplingNotSentError(
                f"{model} did not receive {names} (sampling=strict): the study would be {becomes}; "
                "use -T temperatures=default / -T seeds=none to ask for that, or a provider that takes them"
            )
        if not self.warned:
            self.warned = True
            logger.warning(
                f"{model} did not receive {names}: the provider dropped it, so this run is {becomes} "
                "(recorded per epoch as sent_*; -T sampling=strict stops the run instead)"
            )
