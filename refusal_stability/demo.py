"""``refusal-stability demo``: a real study of the bundled SmolLM2-135M-Instruct on a local vLLM server.

One command, no GPU and no network: provision the bundled model (once, cached), let Inspect's ``vllm/``
provider start ``vllm serve`` on it, run the refusal-stability task on the bundled prompts over the
full 4 x 5 (temperature, seed) grid, judge with the offline heuristic (or a grader model given with
``--grader``), then build the analysis report from the log. The defaults finish within 10 minutes on
2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refusal_stability.definitions.grid import DEFAULT_SEEDS, DEFAULT_TEMPERATURES

if TYPE_CHECKING:
    from inspect_ai.model import Model
from refusal_stability.inspect_tasks.refusal_stability import DEFAULT_MAX_CONNECTIONS
from refusal_stability.option_types import (
    folder_option,
    model_option,
    positive_int_option,
    seeds_option,
    temperatures_option,
)

# Sized for 2 CPU cores: 30 prompts x 20 (temperature, seed) configs x <= 80 new tokens; measured ~4 min
# (cold cache, conversion included) on a quiet 2-core machine, leaving room for a busy one.
DEFAULT_N_PROMPTS = 30
DEFAULT_N_CONTROLS = 16  # two benign controls of each of the eight kinds
DEFAULT_MAX_TOKENS = 80
DEFAULT_MAX_MODEL_LEN = 2048
BUNDLED = "bundled"


def _csv(values: tuple[float, ...] | tuple[int, ...]) -> str:
    return ",".join(map(str, values))


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo options to ``parser``."""
    parser.add_argument(
        "--n-prompts",
        type=positive_int_option("--n-prompts"),
        default=DEFAULT_N_PROMPTS,
        help=f"bundled prompts to run (default {DEFAULT_N_PROMPTS})",
    )
    parser.add_argument(
        "--n-controls",
        type=int,
        default=DEFAULT_N_CONTROLS,
        help=f"bundled benign controls added (over-refusal; default {DEFAULT_N_CONTROLS}, 0 for none)",
    )
    parser.add_argument(
        "--max-tokens",
        type=positive_int_option("--max-tokens"),
        default=DEFAULT_MAX_TOKENS,
        help=f"response length limit (default {DEFAULT_MAX_TOKENS})",
    )
    parser.add_argument(
        "--temperatures",
        type=temperatures_option,
        default=DEFAULT_TEMPERATURES,
        help=f"comma-separated temperatures (default {_csv(DEFAULT_TEMPERATURES)})",
    )
    parser.add_argument(
        "--seeds",
        type=seeds_option,
        default=DEFAULT_SEEDS,
        help=f"comma-separated seeds (default {_csv(DEFAULT_SEEDS)})",
    )
    _add_model_and_output_arguments(parser)


def _add_model_and_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's models, server, output and display options."""
    parser.add_argument(
        "--grader",
        metavar="MODEL",
        type=model_option("--grader", BUNDLED),
        default=None,
        help="grade with this model bound to the grader role (an Inspect model such as "
        "vllm/<dir> or openai/gpt-4o-mini, or 'bundled' for the bundled model itself); "
        "default: the offline heuristic judge",
    )
    parser.add_argument(
        "--model",
        type=model_option("--model", BUNDLED),
        default=BUNDLED,
        help="model under test: 'bundled' (default) or an Inspect model such as vllm/<dir>",
    )
    parser.add_argument(
        "--base-url", default=None, help="use an already running vLLM server (its /v1 URL) instead of starting one"
    )
    parser.add_argument(
        "--max-connections",
        type=positive_int_option("--max-connections"),
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"concurrent requests to the server (default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--max-model-len",
        type=positive_int_option("--max-model-len"),
        default=DEFAULT_MAX_MODEL_LEN,
        help=f"vLLM context length (default {DEFAULT_MAX_MODEL_LEN})",
    )
    parser.add_argument(
        "--log-dir", type=folder_option("--log-dir"), default="logs", help="Inspect log directory (default: logs)"
    )
    parser.add_argument(
        "--out",
        type=folder_option("--out"),
        default=os.path.join("reports", "demo"),
        metavar="DIR",
        help="analysis report directory (default: reports/demo)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="cache root for the converted model (default $REFUSAL_STABILITY_CACHE or ~/.cache/refusal-stability)",
    )
    parser.add_argument("--no-figures", action="store_true", help="report without figures")
    parser.add_argument(
        "--display", default=None, help="Inspect display: full, rich, plain, log, none (default: Inspect's)"
    )


def _server_args(args: argparse.Namespace) -> dict[str, Any]:
    """The vLLM server flags (``-M``) for the model under test and a vllm/ grader (see ``vllm_server_args``)."""
    from refusal_stability.serving.vllm_cpu import vllm_server_args

    if args.base_url:
        return {}
    return vllm_server_args(args.max_model_len)


def _resolve_model(args: argparse.Namespace) -> str:
    from refusal_stability.serving.bundled_model import provision_bundled_model
    from refusal_stability.serving.vllm_cpu import ensure_vllm_cli

    model = args.model
    if model == BUNDLED:
        model = f"vllm/{provision_bundled_model(args.cache_dir)}"
    if model.startswith("vllm/"):
        ensure_vllm_cli(args.cache_dir)  # vllm-cpu only: a working `vllm` command and a KV-cache size
    return model


def _retry_hint(log_location: str, started_server: bool = True) -> str:
    """The shell command that finishes an interrupted demo run.

    ``inspect eval-retry`` restarts the server with the log's model args: the host is in the log, the API key
    is not, so a server the demo started needs a fresh key in ``VLLM_API_KEY`` (else Inspect's public default).
    """
    from refusal_stability.serving.vllm_cpu import vllm_cli_needs_shim

    env = ""
    if vllm_cli_needs_shim():
        bin_dir = os.environ.get("PATH", "").split(os.pathsep)[0]
        kv_cache = shlex.quote(os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"))
        env = f'PATH={shlex.quote(bin_dir)}:"$PATH" VLLM_CPU_KVCACHE_SPACE={kv_cache} '
    if started_server:
        env += "VLLM_API_KEY=\"$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\" "
    return f"{env}inspect eval-retry {shlex.quote(log_location)}"


def _analyze(log_path: str, args: argparse.Namespace) -> Path:
    """Analyse the demo's log into ``args.out``; return the report path."""
    from refusal_stability.analysis import analyze
    from refusal_stability.analysis.whole_output import write_analysis

    result = analyze([log_path])
    return Path(write_analysis(result, args.out, figures=not args.no_figures))  # --out replaced whole


def _grader_roles(
    model: str, grader: str | Model | None, base_url: str | None, model_args: dict[str, Any]
) -> dict[str, str | Model] | None:
    """The grader role: a vllm/ grader on the model under test shares the server Inspect starts for it."""
    from inspect_ai.model import get_model

    if grader is None:
        return None
    if grader == model and base_url:
        return {"grader": get_model(grader, base_url=base_url)}
    if grader == model and model_args:
        return {"grader": get_model(grader, **model_args)}
    return {"grader": grader}


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo study and its report; return the exit code (0 ok, 1 eval failed, 2 bad setup)."""
    from inspect_ai import eval as inspect_eval

    from refusal_stability.analysis.tidy import AnalysisInputError
    from refusal_stability.analysis.whole_output import check_writable_out
    from refusal_stability.inspect_tasks.refusal_stability import refusal_stability
    from refusal_stability.serving.bundled_model import BundledModelError

    started = time.monotonic()
    try:
        check_writable_out(args.out)  # before the model, the server and the eval: an --out it cannot replace
        model = _resolve_model(args)
        grader: str | Model | None = (model if args.grader == BUNDLED else args.grader) if args.grader else None
    except (BundledModelError, AnalysisInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    model_args = _server_args(args) if model.startswith("vllm/") else {}
    model_roles = _grader_roles(model, grader, args.base_url, model_args)
    task = refusal_stability(
        dataset="bundled",
        n_prompts=args.n_prompts,
        controls="bundled" if args.n_controls > 0 else None,
        n_controls=args.n_controls if args.n_controls > 0 else None,
        temperatures=args.temperatures,
        seeds=args.seeds,
        max_tokens=args.max_tokens,
        judge="model" if grader is not None else "heuristic",
    )
    print(
        f"demo: {model} on {args.n_prompts} bundled prompts + {max(args.n_controls, 0)} controls "
        f"x grid T={_csv(args.temperatures)} "
        f"seeds={_csv(args.seeds)}, "
        f"max_tokens={args.max_tokens}, judge={'grader ' + str(args.grader) if grader else 'heuristic'}",
        flush=True,
    )
    eval_kwargs: dict[str, Any] = {}
    if args.display:
        eval_kwargs["display"] = args.display
    logs = inspect_eval(
        task,
        model=model,
        model_args=model_args,
        model_base_url=args.base_url,
        model_roles=model_roles,
        log_dir=args.log_dir,
        max_connections=args.max_connections,
        **eval_kwargs,
    )
    log = logs[0]
    if log.status != "success":
        error = log.error.message if log.error else log.status
        print(f"error: the eval did not finish ({error}); log: {log.location}", file=sys.stderr)
        hint = _retry_hint(log.location, started_server=not args.base_url)
        print(f"resume it (finished samples are kept) with: {hint}", file=sys.stderr)
        return 1
    report: Path | None = None
    try:
        report = _analyze(log.location, args)
    except Exception as exc:  # noqa: BLE001 - the eval succeeded: keep its log, report the analysis failure
        print(
            f"error: the analysis failed ({type(exc).__name__}: {exc}); the eval log is complete, rerun with: "
            f"refusal-stability analyze {shlex.quote(log.location)} --out {shlex.quote(str(args.out))}",
            file=sys.stderr,
        )
    elapsed = time.monotonic() - started
    print(f"\nlog:    {log.location}")
    if report is not None:
        print(f"report: {report.resolve()}  (and report.md beside it)")
    print(f"demo finished in {elapsed / 60:.1f} min", flush=True)
    return 0 if report is not None else 1


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m refusal_stability.demo``)."""
    parser = argparse.ArgumentParser(prog="refusal-stability demo", description=__doc__.splitlines()[0])
    add_demo_arguments(parser)
    return run_demo(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
