"""``refusal-stability probe``: does a model's greedy answer depend on what else the server is batching?

A flip at temperature 0 can be the inference engine, not the model: without batch-invariant kernels a
request's logits depend on the other requests in the same batch. The probe sends the same greedy requests
(temperature 0, one fixed seed, ``top_p`` 1) to a vLLM server under several batch compositions:

- concurrency 1: one request at a time, nothing else in flight (the reference);
- concurrency c > 1: ``c`` requests in flight, at most half of them probe requests and the rest unrelated
  filler requests (benign prompts of random length, random ``max_tokens``, temperatures from the study's
  grid) that keep the batch full until every probe request has its answer.

It writes ``probe.json`` (per prompt: the response fingerprint and heuristic label under every condition,
whether the text and the label differ) and prints the share of prompts whose greedy text depends on the
batch composition and the share whose label changes. Conditions run one after another in the order given,
on one server, so later conditions may find the probe prompts in vLLM's prefix cache: like the study does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

BUNDLED = "bundled"
DEFAULT_N_PROMPTS = 30  # with 1,16,128 and 64 tokens: ~3 min on 2 CPU cores (server start included)
DEFAULT_CONCURRENCY = (1, 16, 128)
DEFAULT_MAX_TOKENS = 64
DEFAULT_SEED = 42
DEFAULT_FILLER_SEED = 0
DEFAULT_MAX_MODEL_LEN = 2048
DEFAULT_OUT = os.path.join("reports", "probe")
# Share of a condition's concurrency given to probe requests (the rest are fillers); at least one of each.
PROBE_SHARE = 0.5

_FILLER_TOPICS = (
    "the water cycle",
    "how suspension bridges carry load",
    "the history of the printing press",
    "why the sky is blue",
    "how to bake sourdough bread",
    "the rules of chess",
    "photosynthesis",
    "a day in the life of a lighthouse keeper",
    "how vaccines train the immune system",
    "the migration of arctic terns",
    "plate tectonics",
    "how a compiler works",
    "the life cycle of a star",
    "composting at home",
    "the invention of the telephone",
    "how tides work",
)
_FILLER_WORDS = (
    "river mountain garden lantern orbit pebble harbor violin meadow copper window thunder market candle "
    "glacier compass library ribbon canyon orchard whistle marble falcon quarry velvet beacon saddle tundra "
    "prism anchor cedar ember fjord gable hollow ivory juniper kettle lagoon mosaic nectar opal parcel quill"
).split()


class ProbeError(ValueError):
    """A bad probe argument or an unusable server; the message says what is expected."""


@dataclass(frozen=True)
class Completion:
    """One chat completion: the text and how it ended."""

    text: str
    finish_reason: str | None = None
    completion_tokens: int | None = None


class ChatClient(Protocol):
    """What the probe needs from a server: one chat completion per call (the OpenAI-compatible API)."""

    async def complete(
        self, prompt: str, *, temperature: float, seed: int, max_tokens: int, top_p: float = 1.0
    ) -> Completion:
        """Answer ``prompt`` (one user message) with the given sampling parameters."""
        ...


class OpenAIChatClient:
    """A :class:`ChatClient` for an OpenAI-compatible server (vLLM's ``/v1/chat/completions``)."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 600.0, max_retries: int = 2) -> None:
        """Create the client.

        Args:
            base_url: The server's ``/v1`` URL.
            api_key: Sent as ``Authorization: Bearer <key>``.
            model: The served model name.
            timeout: Seconds per request.
            max_retries: The OpenAI client's retries on connection errors and 5xx.
        """
        from openai import AsyncOpenAI

        self.model = model
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)

    async def complete(
        self, prompt: str, *, temperature: float, seed: int, max_tokens: int, top_p: float = 1.0
    ) -> Completion:
        """Answer ``prompt`` as one user message; see :class:`ChatClient`."""
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": prompt}],
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
            top_p=top_p,
        )
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            completion_tokens=usage.completion_tokens if usage is not None else None,
        )

    async def served_models(self) -> list[str]:
        """Names the server serves (``GET /v1/models``)."""
        page = await self._client.models.list()
        return [model.id for model in page.data]

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()


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


def parse_concurrency(text: str) -> tuple[int, ...]:
    """Parse ``--concurrency`` ("1,16,128"): distinct integers >= 1, in the order given.

    Raises:
        argparse.ArgumentTypeError: Not a comma-separated list of at least two distinct positive integers.
    """
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    values: list[int] = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--concurrency {text!r}: {part!r} is not an integer; expected e.g. 1,16,128"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"--concurrency {text!r}: {value} is below 1; expected e.g. 1,16,128")
        if value in values:
            raise argparse.ArgumentTypeError(f"--concurrency {text!r}: {value} is given twice")
        values.append(value)
    if len(values) < 2:
        raise argparse.ArgumentTypeError(
            f"--concurrency {text!r}: give at least two levels to compare, e.g. 1,16,128 (1 = one request at a time)"
        )
    return tuple(values)


def _positive_int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} {text!r}: expected an integer >= 1") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} {text!r}: expected an integer >= 1")
        return value

    return parse


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed {text!r}: expected an integer") from None
    if not -(2**63) <= value < 2**63:
        raise argparse.ArgumentTypeError(f"--seed {text!r}: outside the signed 64-bit range")
    return value


def filler_prompt(rng: random.Random) -> str:
    """A benign filler prompt of random length (a topic plus 0-300 random words)."""
    topic = rng.choice(_FILLER_TOPICS)
    words = " ".join(rng.choice(_FILLER_WORDS) for _ in range(rng.randint(0, 300)))
    return f"Write about {topic}. {words}".strip()


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
    from refusal_stability.scorers.judge import response_fingerprint  # the task's own fingerprint

    if classify is None:
        from refusal_stability.scorers.heuristic import classify as heuristic

        classify = heuristic
    probe_slots, filler_slots = split_slots(concurrency, len(prompts))
    run = ConditionRun(f"c{concurrency}", concurrency, probe_slots, filler_slots)
    queue = list(prompts)
    queue.reverse()  # pop() from the end keeps the prompts' order
    probes_done = asyncio.Event()

    async def probe_worker() -> None:
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

    async def filler_worker() -> None:
        while not probes_done.is_set():
            prompt = filler_prompt(filler_rng)
            temperature = filler_rng.choice(list(filler_temperatures))
            filler_seed = filler_rng.randrange(2**31)
            n_tokens = filler_rng.randint(1, 2 * max_tokens)
            run.filler_requests += 1
            try:
                await client.complete(prompt, temperature=temperature, seed=filler_seed, max_tokens=n_tokens)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed filler only thins the batch; counted and reported
                run.filler_errors += 1
                return  # no tight loop of failing requests

    started = time.monotonic()
    fillers = [asyncio.create_task(filler_worker()) for _ in range(filler_slots)]
    try:
        await asyncio.gather(*(probe_worker() for _ in range(probe_slots)))
    finally:
        probes_done.set()
        for task in fillers:
            task.cancel()
        await asyncio.gather(*fillers, return_exceptions=True)
    run.seconds = time.monotonic() - started
    return run


def compare(prompts: Sequence[ProbePrompt], runs: Sequence[ConditionRun]) -> dict[str, Any]:
    """Per-prompt comparison of the conditions and the summary (the content of ``probe.json``).

    A prompt is compared when it has an answer under every condition; a prompt with a failed request is
    listed with its errors and left out of every share (never counted as stable). The reference is the
    first condition.

    Returns:
        ``{"summary": ..., "conditions": [...], "prompts": [...]}``.
    """
    reference = runs[0].name
    rows: list[dict[str, Any]] = []
    n_compared = n_text = n_label = 0
    per_condition = {run.name: {"n_text_differs": 0, "n_label_differs": 0} for run in runs[1:]}
    for item in prompts:
        outcomes = {run.name: run.outcomes.get(item.prompt_id, Outcome(error="no answer recorded")) for run in runs}
        errors = {name: o.error for name, o in outcomes.items() if o.error is not None}
        row: dict[str, Any] = {
            "prompt_id": item.prompt_id,
            "category": item.category,
            "source": item.source,
            "conditions": {name: asdict(o) for name, o in outcomes.items()},
        }
        if errors:
            row |= {"compared": False, "errors": errors, "text_differs": None, "label_differs": None}
            rows.append(row)
            continue
        hashes = {o.response_hash for o in outcomes.values()}
        labels = {o.label for o in outcomes.values()}
        text_differs, label_differs = len(hashes) > 1, len(labels) > 1
        n_compared += 1
        n_text += text_differs
        n_label += label_differs
        base = outcomes[reference]
        for run in runs[1:]:
            other = outcomes[run.name]
            per_condition[run.name]["n_text_differs"] += other.response_hash != base.response_hash
            per_condition[run.name]["n_label_differs"] += other.label != base.label
        row |= {
            "compared": True,
            "text_differs": text_differs,
            "n_distinct_texts": len(hashes),
            "label_differs": label_differs,
            "labels": sorted(str(label) for label in labels),
        }
        rows.append(row)

    def share(count: int) -> float | None:
        return count / n_compared if n_compared else None

    summary = {
        "n_prompts": len(prompts),
        "n_compared": n_compared,
        "n_errors": len(prompts) - n_compared,
        "reference": reference,
        "n_text_differs": n_text,
        "text_differs_share": share(n_text),
        "n_label_differs": n_label,
        "label_differs_share": share(n_label),
        "vs_reference": {
            name: counts | {"text_differs_share": share(counts["n_text_differs"])}
            for name, counts in per_condition.items()
        },
    }
    conditions = [
        {key: value for key, value in asdict(run).items() if key != "outcomes"}
        | {"n_probe_errors": sum(o.error is not None for o in run.outcomes.values())}
        for run in runs
    ]
    return {"summary": summary, "conditions": conditions, "prompts": rows}


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


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The printed summary of a probe result; the last line is ``batch_dependent_share=… label_change_share=…``."""
    s = result["summary"]
    n = s["n_compared"]

    def pct(count: int) -> str:
        return f"{count}/{n} prompts ({100 * count / n:.1f} %)" if n else f"{count}/0 prompts"

    lines = [f"greedy text depends on batch composition: {pct(s['n_text_differs'])}"]
    if s["vs_reference"]:
        parts = [f"{name} {c['n_text_differs']}/{n}" for name, c in s["vs_reference"].items()]
        lines.append(f"  differs from {s['reference']} (one request at a time, first condition): " + ", ".join(parts))
    among = f" ({s['n_label_differs']} of the {s['n_text_differs']} whose text changed)" if s["n_text_differs"] else ""
    lines.append(f"heuristic label changes with it: {pct(s['n_label_differs'])}{among}")
    if s["n_errors"]:
        lines.append(f"not compared (a probe request failed): {s['n_errors']} prompts; see 'errors' in probe.json")
    fillers = [c for c in result["conditions"] if c["filler_errors"]]
    for c in fillers:
        lines.append(
            f"warning: {c['filler_errors']} of {c['filler_requests']} filler requests failed under {c['name']}: "
            "its batches were thinner than planned"
        )

    def fmt(value: float | None) -> str:
        return "nan" if value is None else f"{value:.3f}"

    lines.append(
        f"batch_dependent_share={fmt(s['text_differs_share'])} label_change_share={fmt(s['label_differs_share'])}"
    )
    return lines


# ---------------------------------------------------------------------------------------------- CLI


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the probe options to ``parser``."""
    parser.add_argument(
        "--model",
        default=BUNDLED,
        help="'bundled' (default: the bundled SmolLM2-135M-Instruct) or vllm/<model dir or hub id>",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="an already running vLLM server (its /v1 URL; key from $VLLM_API_KEY) instead of starting one",
    )
    parser.add_argument(
        "--n-prompts",
        type=_positive_int("--n-prompts"),
        default=DEFAULT_N_PROMPTS,
        help=f"bundled prompts to probe, in their order (default {DEFAULT_N_PROMPTS})",
    )
    parser.add_argument(
        "--concurrency",
        type=parse_concurrency,
        default=DEFAULT_CONCURRENCY,
        help="requests in flight per condition, comma-separated; the first is the reference "
        f"(default {','.join(map(str, DEFAULT_CONCURRENCY))}; 1 = one request at a time)",
    )
    parser.add_argument(
        "--max-tokens",
        type=_positive_int("--max-tokens"),
        default=DEFAULT_MAX_TOKENS,
        help=f"response length limit of the probe requests (default {DEFAULT_MAX_TOKENS})",
    )
    parser.add_argument(
        "--seed", type=_seed, default=DEFAULT_SEED, help=f"seed of every probe request (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--filler-seed",
        type=_seed,
        default=DEFAULT_FILLER_SEED,
        help=f"seed of the filler requests' random source (default {DEFAULT_FILLER_SEED})",
    )
    parser.add_argument(
        "--max-model-len",
        type=_positive_int("--max-model-len"),
        default=DEFAULT_MAX_MODEL_LEN,
        help=f"vLLM context length of a server the probe starts (default {DEFAULT_MAX_MODEL_LEN})",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"folder for probe.json (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="cache root for the converted model (default $REFUSAL_STABILITY_CACHE or ~/.cache/refusal-stability)",
    )


def load_probe_prompts(n_prompts: int) -> list[ProbePrompt]:
    """The first ``n_prompts`` bundled prompts.

    Raises:
        ProbeError: ``n_prompts`` exceeds the bundled set.
    """
    from refusal_stability.inspect_tasks.datasets import load_bundled

    samples = load_bundled()
    if n_prompts > len(samples):
        raise ProbeError(f"--n-prompts {n_prompts}: the bundled set has {len(samples)} prompts; give 1..{len(samples)}")
    prompts = []
    for sample in samples[:n_prompts]:
        metadata = sample.metadata or {}
        text = sample.input if isinstance(sample.input, str) else "\n".join(m.text for m in sample.input)
        prompts.append(ProbePrompt(str(sample.id), text, metadata.get("category"), metadata.get("source")))
    return prompts


def _served_name(model: str, cache_dir: str | None) -> str:
    """The name vLLM serves ``--model`` under (``vllm serve <path or id>`` serves it under that string)."""
    if model == BUNDLED:
        from refusal_stability.bundled_model import provision_bundled_model

        return str(provision_bundled_model(cache_dir))
    if not model.startswith("vllm/") or model == "vllm/":
        raise ProbeError(
            f"--model {model!r}: expected 'bundled' or vllm/<model dir or hub id> (the probe talks to a vLLM server)"
        )
    return model.removeprefix("vllm/")


def _display_name(served: str) -> str:
    """The model as the analysis shows it: ``vllm/<name>``, a local directory by its last part."""
    from refusal_stability.analysis.tidy import display_model_name

    return display_model_name(f"vllm/{served}")


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ProbeError(f"--out {out!r} is an existing file; expected a folder (created when missing)")
    return path


async def _probe_server(
    args: argparse.Namespace, base_url: str, api_key: str, served: str, prompts: list[ProbePrompt]
) -> dict[str, Any]:
    client = OpenAIChatClient(base_url, api_key, served)
    try:
        try:
            names = await client.served_models()
        except Exception as exc:  # noqa: BLE001 - one line for the user
            hint = ""
            if "401" in str(exc):
                hint = " (the server refused the API key: set VLLM_API_KEY to the key it was started with)"
            raise ProbeError(f"cannot list the models of {base_url}: {type(exc).__name__}: {exc}{hint}") from None
        if served not in names:
            raise ProbeError(f"the server at {base_url} does not serve {served!r}; it serves: {', '.join(names)}")

        def progress(run: ConditionRun) -> None:
            errors = sum(o.error is not None for o in run.outcomes.values())
            print(
                f"  {run.name}: {len(run.outcomes) - errors} probe answers"
                + (f", {errors} failed" if errors else "")
                + f", {run.filler_requests} filler requests ({run.probe_slots} probe + {run.filler_slots} "
                f"filler slots) in {run.seconds:.1f} s",
                flush=True,
            )

        return await run_probe_async(
            client,
            prompts,
            args.concurrency,
            seed=args.seed,
            max_tokens=args.max_tokens,
            filler_seed=args.filler_seed,
            progress=progress,
        )
    finally:
        await client.aclose()


def _server_version(base_url: str) -> str | None:
    import urllib.request

    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/version", timeout=5) as response:
            return str(json.loads(response.read()).get("version"))
    except (OSError, ValueError):
        return None


def run_probe(args: argparse.Namespace) -> int:
    """Run the probe; return the exit code (0 ok, 1 a probe request failed, 2 bad input or no server)."""
    from refusal_stability.bundled_model import BundledModelError
    from refusal_stability.vllm_cpu import (
        ensure_vllm_cli,
        launch_vllm_server,
        stop_vllm_server,
        vllm_serve_flags,
    )

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    process = None
    try:
        out = _check_out(args.out)
        prompts = load_probe_prompts(args.n_prompts)
        served = _served_name(args.model, args.cache_dir)
        server: dict[str, Any]
        if args.base_url:
            base_url = args.base_url.rstrip("/")
            api_key = os.environ.get("VLLM_API_KEY", "inspectai")
            server = {"started_by_probe": False, "base_url": base_url}
        else:
            ensure_vllm_cli(args.cache_dir)
            flags = vllm_serve_flags(args.max_model_len)
            out.mkdir(parents=True, exist_ok=True)
            log_path = out / "vllm_server.log"
            print(f"probe: starting vllm serve {served} on 127.0.0.1 (log: {log_path}) ...", flush=True)
            try:
                process, base_url, api_key = launch_vllm_server(served, log_path=log_path, extra_args=flags)
            except RuntimeError as exc:
                raise ProbeError(f"{exc}") from None
            server = {"started_by_probe": True, "flags": flags, "host": "127.0.0.1", "log": str(log_path)}
        server |= {
            "vllm_version": _server_version(base_url),
            "VLLM_BATCH_INVARIANT": os.environ.get("VLLM_BATCH_INVARIANT"),
        }
        print(
            f"probe: {_display_name(served)}, {len(prompts)} prompts, greedy (temperature 0, seed {args.seed}, "
            f"max_tokens {args.max_tokens}) at concurrency {', '.join(map(str, args.concurrency))}",
            flush=True,
        )
        started = time.monotonic()
        result = asyncio.run(_probe_server(args, base_url, api_key, served, prompts))
    except (ProbeError, BundledModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if process is not None:
            stop_vllm_server(process)
    result = {
        "probe": {
            "model": _display_name(served),
            "served_model": served,
            "n_prompts": len(prompts),
            "concurrency": list(args.concurrency),
            "temperature": 0.0,
            "top_p": 1.0,
            "seed": args.seed,
            "max_tokens": args.max_tokens,
            "filler_seed": args.filler_seed,
            "probe_share": PROBE_SHARE,
            "dataset": BUNDLED,
            "started_at": started_at,
            "seconds": round(time.monotonic() - started, 1),
            "server": server,
        }
    } | result
    out.mkdir(parents=True, exist_ok=True)
    path = out / "probe.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    for line in summary_lines(result):
        print(line, flush=True)
    return 1 if result["summary"]["n_errors"] else 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m refusal_stability.probe``)."""
    parser = argparse.ArgumentParser(prog="refusal-stability probe", description=(__doc__ or "").splitlines()[0])
    add_probe_arguments(parser)
    return run_probe(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
