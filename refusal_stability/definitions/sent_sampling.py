"""What sampling reached the model: read from the request body a provider actually sent, and summarised per run.

Inspect records the merged generate config it was *asked* for on every model event, and, separately, the
request body the provider client sent (``ModelEvent.call.request``). Providers drop parameters they do not
take (Anthropic takes no seed, and on current models no temperature or top_p; OpenAI's Responses API takes no
seed), so only the body says what the model received. This module reads it by provider-neutral keys:

- a request is recognised by the key that carries its conversation: ``messages`` (Chat Completions, vLLM and
  other OpenAI-compatible servers, Anthropic Messages, Mistral, Bedrock Converse), ``input`` (OpenAI
  Responses), ``contents`` (Google Gemini) or ``prompt`` (text completions);
- each parameter is looked up at the top level, then in the places providers nest it: ``generation_config`` /
  ``generationConfig`` / ``config`` (Google), ``inferenceConfig`` (Bedrock), ``extra_body`` (OpenAI SDK extras);
- names: ``temperature``; ``top_p`` or ``topP``; ``seed`` or ``random_seed`` (Mistral).

A body in no recognised format, or a parameter whose value is not a number, makes the record *unverified*:
never counted as sent. Pure Python; no Inspect import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

CONVERSATION_KEYS = ("messages", "input", "contents", "prompt")
NESTED_PLACES = ("generation_config", "generationConfig", "config", "inferenceConfig", "extra_body")
PARAMETER_NAMES = {"temperature": ("temperature",), "top_p": ("top_p", "topP"), "seed": ("seed", "random_seed")}

SentSummary = Literal["all", "none", "partial", "unverified"]
"""A run's summary of one parameter over its epochs (the ``*_sent`` columns of ``per_model.csv``)."""


@dataclass(frozen=True)
class SentSampling:
    """The sampling parameters one request carried (``None``: not in the request, or not verified)."""

    temperature: float | None = None
    seed: int | None = None
    top_p: float | None = None
    verified: bool = False

    def as_metadata(self) -> dict[str, Any]:
        """The per-epoch metadata fields ``sent_temperature``, ``sent_seed``, ``sent_top_p``, ``sent_verified``."""
        return {
            "sent_temperature": self.temperature,
            "sent_seed": self.seed,
            "sent_top_p": self.top_p,
            "sent_verified": self.verified,
        }


UNVERIFIED = SentSampling()


def _plain(value: Any) -> Any:
    """A pydantic model (Google's ``GenerateContentConfig`` before serialisation) as a dict; others unchanged."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True)
        except TypeError:
            return dump()
    return value


def _lookup(body: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    """The first value found for ``names`` at the top level, then in the nested places; None when absent."""
    places: list[Any] = [body, *(_plain(body.get(place)) for place in NESTED_PLACES)]
    for place in places:
        if isinstance(place, Mapping):
            for name in names:
                if place.get(name) is not None:
                    return place[name]
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(value)
    return float(value)


def read_sent_sampling(request: Any) -> SentSampling:
    """The temperature, seed and top_p a request body carried.

    Args:
        request: the body a provider client sent (``ModelEvent.call.request``), or None when none was logged
            (mock models, cache hits, ``--log-model-api false``, providers that log no call).

    Returns:
        The values found (``None`` for a parameter the request did not carry) with ``verified=True``; or
        :data:`UNVERIFIED` (everything ``None``) when there is no body, its format is not recognised, or a
        parameter's value is not a finite number.
    """
    body = _plain(request)
    if not isinstance(body, Mapping) or not any(key in body for key in CONVERSATION_KEYS):
        return UNVERIFIED
    found = {parameter: _lookup(body, names) for parameter, names in PARAMETER_NAMES.items()}
    try:
        temperature = None if found["temperature"] is None else _number(found["temperature"])
        top_p = None if found["top_p"] is None else _number(found["top_p"])
        seed_value = None if found["seed"] is None else _number(found["seed"])
    except ValueError:
        return UNVERIFIED
    if seed_value is not None and not seed_value.is_integer():
        return UNVERIFIED
    seed = None if seed_value is None else int(seed_value)
    return SentSampling(temperature=temperature, seed=seed, top_p=top_p, verified=True)


def _is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA refuses bool()
        return True


def _is_true(value: Any) -> bool:
    """A true flag (Python or numpy bool, or 1); None, NaN and NA count as false."""
    return not _is_missing(value) and value in (True, 1)


def summarise_sent(values: Iterable[Any], verified: Iterable[Any]) -> SentSummary:
    """One parameter's summary over a run's epochs.

    Args:
        values: the per-epoch sent value (``None``/NaN: not sent).
        verified: the per-epoch ``sent_verified`` flag (missing in logs written before it existed: falsy).

    Returns:
        ``all`` (every epoch verified, every one carried it), ``none`` (every epoch verified, none carried
        it), ``partial`` (verified epochs disagree) or ``unverified`` (any epoch unverified, and the verified
        ones agree — what reached the model is then not known for the whole run).
    """
    carried: set[bool] = set()
    any_unverified = False
    for value, checked in zip(values, verified, strict=True):
        if not _is_true(checked):
            any_unverified = True
            continue
        carried.add(not _is_missing(value))
    if len(carried) > 1:
        return "partial"
    if any_unverified or not carried:
        return "unverified"
    return "all" if carried == {True} else "none"
