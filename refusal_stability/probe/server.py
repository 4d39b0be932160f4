"""The server the probe talks to: which model it serves, starting one on loopback, and probing it."""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from typing import Any

from refusal_stability.probe.client import OpenAIChatClient
from refusal_stability.probe.records import ConditionRun, ProbeError, ProbePrompt
from refusal_stability.probe.runner import run_probe_async
from refusal_stability.serving import bundled_model, vllm_cpu

__all__ = ["BUNDLED", "connect", "display_name", "probe_server", "served_name", "server_version"]

BUNDLED = "bundled"


def served_name(model: str, cache_dir: str | None) -> str:
    """The name vLLM serves ``--model`` under (``vllm serve <path or id>`` serves it under that string)."""
    if model == BUNDLED:
        return str(bundled_model.provision_bundled_model(cache_dir))
    if not model.startswith("vllm/") or model == "vllm/":
        raise ProbeError(
            f"--model {model!r}: expected 'bundled' or vllm/<model dir or hub id> (the probe talks to a vLLM server)"
        )
    return model.removeprefix("vllm/")


def display_name(served: str) -> str:
    """The model as the analysis shows it: ``vllm/<name>``, a local directory by its last part."""
    # imported here: the analysis loads pandas, which the probe needs for this one name only
    from refusal_stability.analysis.tidy import display_model_name

    return display_model_name(f"vllm/{served}")


def server_version(base_url: str) -> str | None:
    """The vLLM version the server reports (``GET /version``), or None when it does not answer."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/version", timeout=5) as response:
            return str(json.loads(response.read()).get("version"))
    except (OSError, ValueError):
        return None


def connect(args: argparse.Namespace, served: str, out: Any) -> tuple[Any, str, str, dict[str, Any]]:
    """The server to probe: ``--base-url`` when given, else ``vllm serve <served>`` started on loopback.

    Args:
        args: The probe's arguments (``base_url``, ``cache_dir``, ``max_model_len``).
        served: The name to serve.
        out: The output folder (a started server's log goes there).

    Returns:
        ``(process or None, base_url, api_key, server record for probe.json)``; the caller stops the process.

    Raises:
        ProbeError: the server did not start.
    """
    if args.base_url:
        base_url = args.base_url.rstrip("/")
        api_key = os.environ.get("VLLM_API_KEY", "inspectai")
        return None, base_url, api_key, {"started_by_probe": False, "base_url": base_url}
    vllm_cpu.ensure_vllm_cli(args.cache_dir)
    flags = vllm_cpu.vllm_serve_flags(args.max_model_len)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "vllm_server.log"
    print(f"probe: starting vllm serve {served} on 127.0.0.1 (log: {log_path}) ...", flush=True)
    try:
        process, base_url, api_key = vllm_cpu.launch_vllm_server(served, log_path=log_path, extra_args=flags)
    except RuntimeError as exc:
        raise ProbeError(f"{exc}") from None
    return (
        process,
        base_url,
        api_key,
        {"started_by_probe": True, "flags": flags, "host": "127.0.0.1", "log": str(log_path)},
    )


def _print_progress(run: ConditionRun) -> None:
    """One line per finished condition."""
    errors = sum(o.error is not None for o in run.outcomes.values())
    print(
        f"  {run.name}: {len(run.outcomes) - errors} probe answers"
        + (f", {errors} failed" if errors else "")
        + f", {run.filler_requests} filler requests ({run.probe_slots} probe + {run.filler_slots} "
        f"filler slots) in {run.seconds:.1f} s",
        flush=True,
    )


async def probe_server(
    args: argparse.Namespace, base_url: str, api_key: str, served: str, prompts: list[ProbePrompt]
) -> dict[str, Any]:
    """Check that the server serves ``served``, then run every condition on it (:func:`run_probe_async`).

    Raises:
        ProbeError: the server cannot be listed (a refused key is named) or does not serve the model.
    """
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
        return await run_probe_async(
            client,
            prompts,
            args.concurrency,
            seed=args.seed,
            max_tokens=args.max_tokens,
            filler_seed=args.filler_seed,
            progress=_print_progress,
        )
    finally:
        await client.aclose()
