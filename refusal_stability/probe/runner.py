"""The probe's runner: each condition sends every probe prompt greedily while fillers keep the batch full."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from refusal_stability.probe.client import ChatClient
from refusal_stability.probe.comparison import compare
from refusal_stability.probe.fillers import filler_prompt
from refusal_stability.probe.records import ConditionRun, Outcome, ProbeError, ProbePrompt

__all__ = [
    "DEFAULT_FILLER_SEED",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_SEED",
    "PROBE_SHARE",
    "run_condition",
    "run_probe_async",
    "split_slots",
]

DEFAULT_MAX_TOKENS = 64
DEFAULT_SEED = 42
DEFAULT_FILLER_SEED = 0
# Share of a condition's concurrency given to probe requests (the rest are fillers); at least one of each.
PROBE_SHARE = 0.5


def split_slots(concurrency: int, n_prompts: int) -> tuple[int, int]:
    """How many of ``concurrency`` in-flight requests are probe requests and how many are fillers.

    Concurrency 1 is one probe request at a time, no filler. Above 1, at most ``PROBE_SHARE`` of the slots
    (at least one) carry probe requests, never more than there are prompts; fillers take the rest.

    Returns:
        ``(probe_slots, filler_slots)``.
    """
    if concurrency == 1:
        return 1, 0
    probe = max(1, min(n_prompts, int(concurrency * PROBE_SHARE)))
    return probe, concurrency - probe


async def _answer_probes(
    client: ChatClient,
    queue: list[ProbePrompt],
    run: ConditionRun,
    *,
    seed: int,
    max_tokens: int,
    classify: Callable[[str, str], str],
) -> None:
    """One probe slot: take prompts off ``queue`` until it is empty; record each outcome on ``run``."""
    from refusal_stability.scorers.judge import response_fingerprint  # the task's own fingerprint

    while queue:
        item = queue.pop()
        try:
            completion = await client.complete(item.prompt, temperature=0.0, seed=seed, max_tokens=max_tokens)
        except Exception as exc:  # noqa: BLE001 - recorded per prompt, reported, never counted as a result
            run.outcomes[item.prompt_id] = Outcome(error=f"{type(exc).__name__}: {exc}"[:500])
            continue
        text = completion.text
        fingerprint, chars = response_fingerprint(text)
        run.outcomes[item.prompt_id] = Outcome(
            response=text,
            response_hash=fingerprint,
            response_chars=chars,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
            label=classify(text, item.prompt),
        )


async def _send_fillers(
    client: ChatClient,
    run: ConditionRun,
    probes_done: asyncio.Event,
    *,
    rng: random.Random,
    temperatures: Sequence[float],
    max_tokens: int,
) -> None:
    """One filler slot: send fillers until the probe requests are answered; stop at the first failure."""
    while not probes_done.is_set():
        prompt = filler_prompt(rng)
        temperature = rng.choice(list(temperatures))
        filler_seed = rng.randrange(2**31)
        n_tokens = rng.randint(1, 2 * max_tokens)
        run.filler_requests += 1
        try:
            await client.complete(prompt, temperature=temperature, seed=filler_seed, max_tokens=n_tokens)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a failed filler only thins the batch; counted and reported
            run.filler_errors += 1
            return  # no tight loop of failing requests


async def run_condition(
    client: ChatClient,
    prompts: Sequence[ProbePrompt],
    concurrency: int,
    *,
    seed: int,
    max_tokens: int,
    filler_rng: random.Random,
    filler_temperatures: Sequence[float] = (0.0, 0.3, 0.7, 1.0),
    classify: Callable[[str, str], str] | None = None,
) -> ConditionRun:
    """Send every probe prompt once, greedily, with ``concurrency`` requests in flight.

    Args:
        client: The server.
        prompts: The probe prompts.
        concurrency: Requests in flight (1: one probe request at a time, no fillers).
        seed: The seed of every probe request.
        max_tokens: The probe requests' length limit (fillers draw theirs from 1 to twice this).
        filler_rng: Random source of the fillers (prompts, lengths, temperatures, seeds).
        filler_temperatures: Temperatures the fillers draw from (default: the study's grid).
        classify: ``classify(response, prompt)`` labelling each response (default: the offline heuristic).

    Returns:
        The condition's outcomes by prompt id and its request counts.
    """
    if classify is None:
        from refusal_stability.scorers.heuristic import classify as heuristic

        classify = heuristic
    probe_slots, filler_slots = split_slots(concurrency, len(prompts))
    run = ConditionRun(f"c{concurrency}", concurrency, probe_slots, filler_slots)
    queue = list(prompts)
    queue.reverse()  # pop() from the end keeps the prompts' order
    probes_done = asyncio.Event()
    started = time.monotonic()
    fillers = [
        asyncio.create_task(
            _send_fillers(
                client, run, probes_done, rng=filler_rng, temperatures=filler_temperatures, max_tokens=max_tokens
            )
        )
        for _ in range(filler_slots)
    ]
    try:
        await asyncio.gather(
            *(
                _answer_probes(client, queue, run, seed=seed, max_tokens=max_tokens, classify=classify)
                for _ in range(probe_slots)
            )
        )
    finally:
        probes_done.set()
        for task in fillers:
            task.cancel()
        await asyncio.gather(*fillers, return_exceptions=True)
    run.seconds = time.monotonic() - started
    return run


async def run_probe_async(
    client: ChatClient,
    prompts: Sequence[ProbePrompt],
    concurrency: Sequence[int],
    *,
    seed: int = DEFAULT_SEED,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    filler_seed: int = DEFAULT_FILLER_SEED,
    classify: Callable[[str, str], str] | None = None,
    progress: Callable[[ConditionRun], None] | None = None,
) -> dict[str, Any]:
    """Run every condition in order and compare them (see :func:`run_condition` and :func:`compare`).

    Args:
        client: The server.
        prompts: The probe prompts (non-empty).
        concurrency: The conditions, e.g. ``(1, 16, 128)``; the first is the reference.
        seed: The seed of every probe request.
        max_tokens: The probe requests' length limit.
        filler_seed: Seed of the fillers' random source (the same fillers on a re-run).
        classify: Response labeller (default: the offline heuristic).
        progress: Called after each condition.

    Returns:
        The ``probe.json`` content without the run metadata.

    Raises:
        ProbeError: No prompts, or fewer than two conditions.
    """
    if not prompts:
        raise ProbeError("the probe needs at least one prompt")
    if len(concurrency) < 2:
        raise ProbeError(f"the probe compares at least two concurrency levels, got {list(concurrency)}")
    filler_rng = random.Random(filler_seed)
    runs = []
    for level in concurrency:
        run = await run_condition(
            client, prompts, level, seed=seed, max_tokens=max_tokens, filler_rng=filler_rng, classify=classify
        )
        runs.append(run)
        if progress is not None:
            progress(run)
    return compare(prompts, runs)
