"""Grading one (prompt, response) pair with a grader model: render, call, strip quotes, parse, retry.

- The grader is the model bound to a role (``grader``; ``grader2`` for a second model judge), resolved
  with ``get_model(role=..., required=True)``; an unbound role is one clear error saying how to bind it.
  The model under test is never used as grader unless it is bound to the role.
- Calls use temperature 0, a fixed seed and a small max_tokens (:func:`grader_config`).
- The grader's output loses everything it quoted between the call's fence markers, then its verdict is
  parsed (``verdict.py``). An unparseable verdict (no verdict line, an unknown label, conflicting labels)
  is retried with tenacity (exponential backoff) and a stricter reminder, then returned unscored with a
  reason. A grader CALL that raises (after Inspect's own retries) raises :class:`GraderCallError`: the
  sample errors, and ``inspect eval-retry`` grades it again; no label is invented or lost.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from inspect_ai.model import GenerateConfig, Model, get_model, model_roles
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from refusal_stability.scorers.rubric import RETRY_REMINDER, GraderTemplate, make_tag, strip_fenced
from refusal_stability.scorers.verdict import parse_verdict
from refusal_stability.scorers.verdict_cache import CachedVerdict

__all__ = [
    "GRADER_MAX_TOKENS",
    "GRADER_ROLE",
    "GRADER_SEED",
    "SECOND_GRADER_ROLE",
    "GraderCallError",
    "GraderNotBoundError",
    "grade",
    "grader_bound",
    "grader_config",
    "grader_identity",
    "resolve_grader",
]

GRADER_ROLE = "grader"
SECOND_GRADER_ROLE = "grader2"
GRADER_TEMPERATURE = 0.0
GRADER_SEED = 20240607
GRADER_MAX_TOKENS = 256

# tenacity backoff between attempts on an unparseable verdict: multiplier * 2**n seconds, capped.
# Read at call time, so tests can set RETRY_WAIT_MULTIPLIER = 0.
RETRY_WAIT_MULTIPLIER = 0.5
RETRY_WAIT_MAX = 4.0

# generate-config fields that change how a call is made, not what the grader answers: not part of its identity
_TRANSPORT_FIELDS = {"max_retries", "timeout", "attempt_timeout", "max_connections", "stream_idle_timeout"}
_SECRET = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)


class GraderNotBoundError(RuntimeError):
    """A model judge with no model bound to its role (``grader``, or ``grader2`` for the second judge)."""

    def __init__(self, role: str = GRADER_ROLE) -> None:
        """Build the message for ``role``: how to bind a model to it, or which judge to use instead."""
        if role == GRADER_ROLE:
            message = (
                "refusal_judge(judge='model') needs a grader model bound to the 'grader' role, and none is bound. "
                "Bind one on the command line with `--model-role grader=vllm/<model>` (e.g. "
                "`--model-role grader=openai/gpt-4o-mini`; Python: `eval(..., model_roles={'grader': '<model>'})`), "
                "or grade offline with `-T judge=heuristic`. The model under test is not used as its own grader "
                "unless you bind it to the grader role."
            )
        else:
            message = (
                f"second_judge='model' needs a second grader model bound to the {role!r} role, and none is "
                f"bound. Bind one with `--model-role {role}=vllm/<model>` (Python: "
                f"`eval(..., model_roles={{'{role}': '<model>'}})`), or use `-T second_judge=heuristic` "
                "(offline) or `-T second_judge=none`."
            )
        super().__init__(message)
        self.role = role
        self.message = message


class GraderCallError(RuntimeError):
    """A grader call raised (after Inspect's own retries): the sample errors so eval-retry re-grades it."""


def grader_bound(role: str = GRADER_ROLE) -> bool:
    """Whether a model is bound to ``role`` in the current Inspect context."""
    return model_roles().get(role) is not None


def resolve_grader(role: str = GRADER_ROLE) -> Model:
    """The model bound to ``role``; never the model under test.

    Raises:
        GraderNotBoundError: no model is bound to the role.
    """
    if not grader_bound(role):
        raise GraderNotBoundError(role)
    return get_model(role=role, required=True)


def grader_config(grader: Model) -> GenerateConfig:
    """Per-call grader config: temperature 0 and a fixed seed always; max_tokens from the role or 256.

    A role bound with its own max_tokens (``--model-role grader="{model: ..., max_tokens: 1024}"``, e.g.
    for a reasoning grader) keeps it; temperature and seed are never taken from elsewhere.
    """
    max_tokens = grader.config.max_tokens or GRADER_MAX_TOKENS
    return GenerateConfig(temperature=GRADER_TEMPERATURE, seed=GRADER_SEED, max_tokens=max_tokens)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)  # e.g. a mock model's custom outputs: another object is another grader


def grader_identity(grader: Model, template_hash: str | None) -> dict[str, Any]:
    """Everything that decides what a grader answers: the verdict cache's key and each entry's record.

    Args:
        grader: the grader model.
        template_hash: the rubric's hash.

    Returns:
        ``{"model", "base_url", "model_args", "config", "template_hash"}`` (secrets in model args redacted).
    """
    model_args = {key: "<redacted>" if _SECRET.search(key) else value for key, value in grader.model_args.items()}
    config = grader.config.merge(grader_config(grader)).model_dump(exclude_none=True)
    return {
        "model": str(grader),
        "base_url": grader.api.base_url,
        "model_args": _plain(model_args),
        "config": _plain({key: value for key, value in config.items() if key not in _TRANSPORT_FIELDS}),
        "template_hash": template_hash,
    }


class _Unparseable(Exception):
    def __init__(self, raw: str, error: str) -> None:
        super().__init__(error)
        self.raw = raw
        self.error = error


async def grade(
    grader: Model, template: GraderTemplate, prompt: str, response: str, attempts: int = 3
) -> CachedVerdict:
    """Grade one (prompt, response) pair: render, call the grader, strip its quotes, parse; retry unparseable.

    Args:
        grader: the grader model.
        template: the rubric.
        prompt: the request.
        response: the response under judgement.
        attempts: grader calls before an unparseable verdict is given up (>= 1).

    Returns:
        The verdict; label None (with a reason) when every answer was unparseable.

    Raises:
        GraderCallError: a grader call raised (connection, server error, timeout after Inspect's retries).
    """
    config = grader_config(grader)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=RETRY_WAIT_MULTIPLIER, max=RETRY_WAIT_MAX),
        retry=retry_if_exception_type(_Unparseable),
        sleep=anyio.sleep,
        reraise=True,
    )
    made = 0
    try:
        async for attempt in retrying:
            with attempt:
                made = attempt.retry_state.attempt_number
                tag = make_tag(prompt, response)
                text = template.render(prompt, response, tag=tag)
                if made > 1:
                    text += RETRY_REMINDER
                try:
                    output = await grader.generate(text, config=config)
                except Exception as ex:
                    raise GraderCallError(
                        f"grader {grader} call failed on attempt {made}: {type(ex).__name__}: {ex} "
                        "(the sample errors; `inspect eval-retry <log>` grades it again)"
                    ) from ex
                raw = output.completion or ""
                parsed = parse_verdict(strip_fenced(raw, tag))
                if parsed.label is None:
                    raise _Unparseable(raw, parsed.error or "unparseable verdict")
                return CachedVerdict(parsed.label, parsed.reasoning, raw, attempts=made)
    except _Unparseable as ex:
        return CachedVerdict(
            None, "", ex.raw, reason=f"unparseable grader verdict after {made} attempt(s): {ex.error}", attempts=made
        )
    raise AssertionError("unreachable: tenacity stops with a result or an exception")  # pragma: no cover
