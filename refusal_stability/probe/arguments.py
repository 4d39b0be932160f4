"""The probe's command-line options and their parsing."""

from __future__ import annotations

import argparse
import os

from refusal_stability.definitions.grid import SEED_MAX, SEED_MIN
from refusal_stability.option_types import positive_int_option
from refusal_stability.probe.runner import DEFAULT_FILLER_SEED, DEFAULT_MAX_TOKENS, DEFAULT_SEED
from refusal_stability.probe.server import BUNDLED

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_MODEL_LEN",
    "DEFAULT_N_PROMPTS",
    "DEFAULT_OUT",
    "add_probe_arguments",
    "parse_concurrency",
]

DEFAULT_N_PROMPTS = 30  # with 1,16,128 and 64 tokens: ~3 min on 2 CPU cores (server start included)
DEFAULT_CONCURRENCY = (1, 16, 128)
DEFAULT_MAX_MODEL_LEN = 2048
DEFAULT_OUT = os.path.join("reports", "probe")


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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed {text!r}: expected an integer") from None
    if not SEED_MIN <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"--seed {text!r}: outside the signed 64-bit range")
    return value


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
        type=positive_int_option("--n-prompts"),
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
        type=positive_int_option("--max-tokens"),
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
        type=positive_int_option("--max-model-len"),
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
