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

Modules: ``records`` (prompts, outcomes, condition runs, ``ProbeError``), ``client`` (the OpenAI-compatible
HTTP client), ``fillers`` (the filler prompts), ``runner`` (one condition, then all of them), ``comparison``
(the per-prompt comparison and its summary numbers), ``summary`` (the printed lines), ``server`` (which model,
starting ``vllm serve``, probing it), ``arguments`` (the options), ``command`` (``run_probe``, ``main``).
"""

from refusal_stability.probe.arguments import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_MODEL_LEN,
    DEFAULT_N_PROMPTS,
    DEFAULT_OUT,
    add_probe_arguments,
    parse_concurrency,
)
from refusal_stability.probe.client import ChatClient, Completion, OpenAIChatClient
from refusal_stability.probe.command import load_probe_prompts, main, run_probe
from refusal_stability.probe.comparison import compare
from refusal_stability.probe.fillers import filler_prompt
from refusal_stability.probe.records import ConditionRun, Outcome, ProbeError, ProbePrompt
from refusal_stability.probe.runner import (
    DEFAULT_FILLER_SEED,
    DEFAULT_MAX_TOKENS,
    DEFAULT_SEED,
    PROBE_SHARE,
    run_condition,
    run_probe_async,
    split_slots,
)
from refusal_stability.probe.server import BUNDLED
from refusal_stability.probe.summary import summary_lines

__all__ = [
    "BUNDLED",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_FILLER_SEED",
    "DEFAULT_MAX_MODEL_LEN",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_N_PROMPTS",
    "DEFAULT_OUT",
    "DEFAULT_SEED",
    "PROBE_SHARE",
    "ChatClient",
    "Completion",
    "ConditionRun",
    "OpenAIChatClient",
    "Outcome",
    "ProbeError",
    "ProbePrompt",
    "add_probe_arguments",
    "compare",
    "filler_prompt",
    "load_probe_prompts",
    "main",
    "parse_concurrency",
    "run_condition",
    "run_probe",
    "run_probe_async",
    "split_slots",
    "summary_lines",
]
