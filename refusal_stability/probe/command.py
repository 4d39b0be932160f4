"""``refusal-stability probe``: load the prompts, connect to the server, run the conditions, write probe.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refusal_stability.probe.arguments import add_probe_arguments
from refusal_stability.probe.records import ProbeError, ProbePrompt
from refusal_stability.probe.runner import PROBE_SHARE
from refusal_stability.probe.server import BUNDLED, connect, display_name, probe_server, served_name, server_version
from refusal_stability.probe.summary import summary_lines
from refusal_stability.serving import vllm_cpu
from refusal_stability.serving.bundled_model import BundledModelError

__all__ = ["DESCRIPTION", "load_probe_prompts", "main", "run_probe"]

DESCRIPTION = "``refusal-stability probe``: does a model's greedy answer depend on what else the server is batching?"


def load_probe_prompts(n_prompts: int) -> list[ProbePrompt]:
    """The first ``n_prompts`` bundled prompts.

    Raises:
        ProbeError: ``n_prompts`` exceeds the bundled set.
    """
    # imported here: the datasets module loads Inspect, which the probe's options do not need
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


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ProbeError(f"--out {out!r} is an existing file; expected a folder (created when missing)")
    return path


def _run_metadata(args: argparse.Namespace, served: str, n_prompts: int, server: dict[str, Any]) -> dict[str, Any]:
    """The ``probe`` record of probe.json (without ``started_at`` and ``seconds``)."""
    return {
        "model": display_name(served),
        "served_model": served,
        "n_prompts": n_prompts,
        "concurrency": list(args.concurrency),
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": args.seed,
        "max_tokens": args.max_tokens,
        "filler_seed": args.filler_seed,
        "probe_share": PROBE_SHARE,
        "dataset": BUNDLED,
    }


def run_probe(args: argparse.Namespace) -> int:
    """Run the probe; return the exit code (0 ok, 1 a probe request failed, 2 bad input or no server)."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    process = None
    try:
        out = _check_out(args.out)
        prompts = load_probe_prompts(args.n_prompts)
        served = served_name(args.model, args.cache_dir)
        process, base_url, api_key, server = connect(args, served, out)
        server |= {
            "vllm_version": server_version(base_url),
            "VLLM_BATCH_INVARIANT": os.environ.get("VLLM_BATCH_INVARIANT"),
        }
        print(
            f"probe: {display_name(served)}, {len(prompts)} prompts, greedy (temperature 0, seed {args.seed}, "
            f"max_tokens {args.max_tokens}) at concurrency {', '.join(map(str, args.concurrency))}",
            flush=True,
        )
        started = time.monotonic()
        result = asyncio.run(probe_server(args, base_url, api_key, served, prompts))
    except (ProbeError, BundledModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if process is not None:
            vllm_cpu.stop_vllm_server(process)
    metadata = _run_metadata(args, served, len(prompts), server)
    metadata |= {"started_at": started_at, "seconds": round(time.monotonic() - started, 1), "server": server}
    result = {"probe": metadata} | result
    out.mkdir(parents=True, exist_ok=True)
    path = out / "probe.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    for line in summary_lines(result):
        print(line, flush=True)
    return 1 if result["summary"]["n_errors"] else 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m refusal_stability.probe``)."""
    parser = argparse.ArgumentParser(prog="refusal-stability probe", description=DESCRIPTION)
    add_probe_arguments(parser)
    return run_probe(parser.parse_args(argv))
