"""Throughput of the Inspect task against a vLLM server vs raw vLLM offline batches, in one run.

Same model (default: the bundled SmolLM2-135M-Instruct), same prompts (the first N bundled prompts),
same (temperature, seed) grid and max_tokens, both on the same machine:

(a) raw:     vLLM's offline ``LLM.chat`` on all (prompt, temperature, seed) requests as one batch, each
             with its own ``SamplingParams(temperature, seed, top_p, max_tokens)``; engine start and a
             one-request warm-up excluded.
(b) inspect: the refusal-stability task (heuristic judge) run by ``inspect_ai.eval`` against a
             ``vllm serve`` of the same model started beforehand (``--model-base-url``); server start and
             a one-sample warm-up eval excluded, Inspect's whole eval (solver, scorer, logging) included.

Generated tokens/s = completion tokens / wall seconds.

Second-judge overhead (target <= 3 %): with ``-T judge=model`` the offline heuristic also labels every
record. Its cost is the time the heuristic takes to label the same responses (those of the best (b) run, each
with its prompt; median of 5 passes) as a share of that run's study wall time.

The grid, the temperatures/seeds and ``max_connections`` default to the task's own defaults
(``refusal_stability.solvers.sampling_grid``, ``refusal_stability.inspect_tasks.refusal_stability``). The
server listens on 127.0.0.1 with a random API key. The last line is exactly
``raw_tok_s=<float> inspect_tok_s=<float> ratio=<float> second_judge_overhead_pct=<float>``
(ratio = inspect / raw).

Usage:
    python bench/throughput.py                       # 8 prompts x 4 temperatures x 5 seeds, 64 tokens
    python bench/throughput.py --max-connections 0 10 64 160   # sweep (0 = adaptive); ratio uses the best
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from refusal_stability.definitions.grid import DEFAULT_SEEDS, DEFAULT_TEMPERATURES
from refusal_stability.inspect_tasks.refusal_stability import DEFAULT_MAX_CONNECTIONS

RAW_MARKER = "RAW_RESULT "
JUDGE_PASSES = 5


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="HF model dir or id (default: the bundled model)")
    parser.add_argument("--n-prompts", type=int, default=8, help="bundled prompts (default 8)")
    parser.add_argument("--temperatures", default=",".join(map(str, DEFAULT_TEMPERATURES)))
    parser.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument(
        "--max-num-seqs",
        type=int,
        default=256,
        help="vLLM --max-num-seqs for both engines (vLLM-CPU defaults differ: offline 256, server 128)",
    )
    parser.add_argument(
        "--max-num-batched-tokens",
        type=int,
        default=4096,
        help="vLLM --max-num-batched-tokens for both engines (vLLM-CPU defaults: offline 4096, server 2048)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        nargs="+",
        default=[DEFAULT_MAX_CONNECTIONS],
        help="Inspect max_connections value(s); 0 = Inspect's default (adaptive concurrency); "
        f"several values run a sweep (default: the task's {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--eager",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enforce_eager for both engines (default on: CPU start-up in ~1 min)",
    )
    parser.add_argument(
        "--chunked-prefill",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="vLLM chunked prefill (default off: on the CPU build a seeded request whose prompt "
        "is split across steps crashes the engine, 'CPU Generator does not use offset')",
    )
    parser.add_argument("--raw-only", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _grid(args: argparse.Namespace) -> list[tuple[float, int]]:
    temps = [float(t) for t in args.temperatures.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    return [(t, s) for t in temps for s in seeds]


def _prompts(n: int) -> list[str]:
    from refusal_stability.inspect_tasks.datasets import load_prompts

    return [str(sample.input) for sample in load_prompts("bundled", n_prompts=n)]


def _model_dir(args: argparse.Namespace) -> str:
    if args.model:
        return args.model
    from refusal_stability.serving.bundled_model import provision_bundled_model

    return str(provision_bundled_model())


def run_raw(args: argparse.Namespace) -> dict[str, Any]:
    """(a) vLLM offline: one ``LLM.chat`` batch over every (prompt, temperature, seed)."""
    from vllm import LLM, SamplingParams

    model = _model_dir(args)
    messages, params = [], []
    for prompt in _prompts(args.n_prompts):
        for temperature, seed in _grid(args):
            messages.append([{"role": "user", "content": prompt}])
            params.append(SamplingParams(temperature=temperature, seed=seed, top_p=1.0, max_tokens=args.max_tokens))
    started = time.monotonic()
    llm = LLM(
        model=model,
        enforce_eager=args.eager,
        max_model_len=args.max_model_len,
        enable_chunked_prefill=args.chunked_prefill,
        max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens,
    )
    engine_s = time.monotonic() - started
    # warm-up (one short request), as for (b): steady-state throughput, not first-call costs
    llm.chat(messages[:1], SamplingParams(temperature=0.0, seed=0, max_tokens=8), use_tqdm=False)
    started = time.monotonic()
    outputs = llm.chat(messages, params, use_tqdm=False)
    wall = time.monotonic() - started
    tokens = sum(len(out.outputs[0].token_ids) for out in outputs)
    return {"requests": len(outputs), "tokens": tokens, "seconds": wall, "engine_start_s": engine_s}


def run_inspect(
    args: argparse.Namespace,
    base_url: str,
    api_key: str,
    model: str,
    max_connections: int,
    log_dir: str,
    warmup: bool = False,
) -> dict[str, Any]:
    """(b) the refusal-stability task against the running server (``warmup``: one short sample)."""
    from inspect_ai import eval as inspect_eval

    from refusal_stability.inspect_tasks.refusal_stability import refusal_stability

    if warmup:
        task = refusal_stability(
            dataset="bundled", n_prompts=1, temperatures=[0.0], seeds=[0], max_tokens=8, judge="heuristic"
        )
    else:
        task = refusal_stability(
            dataset="bundled",
            n_prompts=args.n_prompts,
            temperatures=args.temperatures,
            seeds=args.seeds,
            max_tokens=args.max_tokens,
            top_p=1.0,
            judge="heuristic",
        )
    started = time.monotonic()
    limits = {"max_connections": max_connections} if max_connections > 0 else {}
    log = inspect_eval(
        task,
        model=f"vllm/{model}",
        model_base_url=base_url,
        model_args={"api_key": api_key},
        log_dir=log_dir,
        display="none",
        **limits,
    )[0]
    wall = time.monotonic() - started
    if log.status != "success":
        raise RuntimeError(f"inspect eval failed: {log.error}")
    usage = next(iter(log.stats.model_usage.values()))
    responses = [(sample.output.completion, str(sample.input)) for sample in log.samples or []]
    return {
        "requests": len(log.samples or []),
        "tokens": usage.output_tokens,
        "seconds": wall,
        "max_connections": max_connections,
        "responses": responses,
    }


def second_judge_seconds(responses: list[tuple[str, str]], passes: int = JUDGE_PASSES) -> float:
    """Median wall seconds for the offline heuristic to label every ``(response, prompt)`` once."""
    from refusal_stability.scorers.heuristic import classify

    times = []
    for _ in range(passes):
        started = time.perf_counter()
        for response, prompt in responses:
            classify(response, prompt)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_raw(args: argparse.Namespace, model: str) -> dict[str, Any] | None:
    """(a) in a child process (its offline engine's memory and threads stay out of (b)); None when it failed."""
    child_argv = [
        *(sys.executable, __file__, "--raw-only", "--model", model, "--n-prompts", str(args.n_prompts)),
        *("--temperatures", args.temperatures, "--seeds", args.seeds, "--max-tokens", str(args.max_tokens)),
        *("--max-model-len", str(args.max_model_len), "--eager" if args.eager else "--no-eager"),
        "--chunked-prefill" if args.chunked_prefill else "--no-chunked-prefill",
        *("--max-num-seqs", str(args.max_num_seqs), "--max-num-batched-tokens", str(args.max_num_batched_tokens)),
    ]
    child = subprocess.run(child_argv, capture_output=True, text=True, check=False)
    lines = [line for line in child.stdout.splitlines() if line.startswith(RAW_MARKER)]
    if child.returncode != 0 or not lines:
        print(child.stdout[-3000:], child.stderr[-3000:], file=sys.stderr)
        return None
    raw: dict[str, Any] = json.loads(lines[-1][len(RAW_MARKER) :])
    print(
        f"(a) raw vLLM LLM.chat: {raw['tokens']} tokens in {raw['seconds']:.1f} s = "
        f"{raw['tokens'] / raw['seconds']:.1f} tok/s (engine start {raw['engine_start_s']:.1f} s, not counted)",
        flush=True,
    )
    return raw


def measure_inspect(args: argparse.Namespace, model: str) -> list[dict[str, Any]]:
    """(b) the task against a ``vllm serve`` of the same engine settings, once per ``--max-connections`` value."""
    from refusal_stability.serving.vllm_cpu import launch_vllm_server, stop_vllm_server

    flags = ["--max-model-len", str(args.max_model_len)] + (["--enforce-eager"] if args.eager else [])
    flags.append("--enable-chunked-prefill" if args.chunked_prefill else "--no-enable-chunked-prefill")
    flags += ["--max-num-seqs", str(args.max_num_seqs), "--max-num-batched-tokens", str(args.max_num_batched_tokens)]
    results = []
    with tempfile.TemporaryDirectory(prefix="rs-bench-") as tmp:
        started = time.monotonic()
        # 127.0.0.1 and a random key; Inspect's vllm provider sends the key (model_args api_key)
        process, base_url, api_key = launch_vllm_server(model, log_path=Path(tmp, "vllm.log"), extra_args=flags)
        print(f"vllm serve up in {time.monotonic() - started:.1f} s (not counted)", flush=True)
        try:
            # warm-up (one short sample), as for (a): Inspect's first eval in a process pays one-time costs
            run_inspect(args, base_url, api_key, model, 1, str(Path(tmp, "warmup")), warmup=True)
            for max_connections in args.max_connections:
                result = run_inspect(args, base_url, api_key, model, max_connections, str(Path(tmp, "logs")))
                results.append(result)
                label = max_connections if max_connections > 0 else "adaptive (Inspect default)"
                print(
                    f"(b) Inspect task, max_connections={label}: {result['tokens']} tokens in "
                    f"{result['seconds']:.1f} s = {result['tokens'] / result['seconds']:.1f} tok/s",
                    flush=True,
                )
        finally:
            stop_vllm_server(process)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print the comparison."""
    args = _parse_args(argv)
    from refusal_stability.serving.vllm_cpu import ensure_vllm_cli

    ensure_vllm_cli()  # vllm-cpu: the `vllm` launcher and a KV-cache size both engines inherit
    if args.raw_only:  # child process: keeps the offline engine's memory and threads out of phase (b)
        print(RAW_MARKER + json.dumps(run_raw(args)), flush=True)
        return 0

    model = _model_dir(args)
    print(
        f"model={model} prompts={args.n_prompts} grid={len(_grid(args))} "
        f"requests={args.n_prompts * len(_grid(args))} max_tokens={args.max_tokens} "
        f"max_num_seqs={args.max_num_seqs} max_num_batched_tokens={args.max_num_batched_tokens}",
        flush=True,
    )
    raw = measure_raw(args, model)
    if raw is None:
        return 1
    raw_tok_s = raw["tokens"] / raw["seconds"]
    results = measure_inspect(args, model)
    best = max(results, key=lambda r: r["tokens"] / r["seconds"])
    inspect_tok_s = best["tokens"] / best["seconds"]
    if len(results) > 1:
        print(f"best max_connections={best['max_connections']}")
    judge_s = second_judge_seconds(best["responses"])
    overhead_pct = 100 * judge_s / best["seconds"]
    print(
        f"second judge (offline heuristic): {len(best['responses'])} responses labelled in {judge_s * 1000:.1f} ms "
        f"= {overhead_pct:.3f} % of the {best['seconds']:.1f} s study (target <= 3 %)",
        flush=True,
    )
    print(
        f"raw_tok_s={raw_tok_s:.2f} inspect_tok_s={inspect_tok_s:.2f} ratio={inspect_tok_s / raw_tok_s:.3f} "
        f"second_judge_overhead_pct={overhead_pct:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
