"""Integration: ``refusal-stability probe`` on a real vLLM CPU server with the bundled model.

The probe starts its own server (127.0.0.1, random key) and stops it. Small: 10 prompts, concurrency 1 and 32,
32 tokens; about 1.5 minutes on 2 cores. Skipped when vLLM or the bundled model is missing, except under CI.

Run: ``pytest -m integration tests/probe/test_probe_integration.py``.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.integration

from vllm_server import bundled_model_or_skip, require_vllm  # noqa: E402

require_vllm()

from refusal_stability.cli import main  # noqa: E402
from refusal_stability.scorers.heuristic import classify  # noqa: E402

N_PROMPTS, CONCURRENCY, MAX_TOKENS = 10, (1, 32), 32
HEX16 = re.compile(r"[0-9a-f]{16}")


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str]:
    bundled_model_or_skip()
    out = tmp_path_factory.mktemp("probe")
    argv = ["probe", "--n-prompts", str(N_PROMPTS), "--concurrency", ",".join(map(str, CONCURRENCY))]
    argv += ["--max-tokens", str(MAX_TOKENS), "--max-model-len", "1024", "--out", str(out)]
    rc = main(argv)
    data = json.loads((out / "probe.json").read_text())
    return rc, data, (out / "vllm_server.log").read_text(errors="replace")


def test_probe_json_structure_and_share(probe_run: tuple[int, dict, str]) -> None:
    rc, data, _ = probe_run
    assert rc == 0
    meta = data["probe"]
    assert meta["model"] == "vllm/smollm2-135m-instruct"
    assert meta["concurrency"] == list(CONCURRENCY) and meta["max_tokens"] == MAX_TOKENS
    assert meta["server"]["started_by_probe"] is True and meta["server"]["host"] == "127.0.0.1"
    assert meta["server"]["vllm_version"]
    summary = data["summary"]
    assert summary["n_prompts"] == N_PROMPTS and summary["n_errors"] == 0 and summary["n_compared"] == N_PROMPTS
    for key in ("text_differs_share", "label_differs_share"):
        assert isinstance(summary[key], float) and 0.0 <= summary[key] <= 1.0
    assert summary["label_differs_share"] <= summary["text_differs_share"]
    assert summary["n_text_differs"] == sum(row["text_differs"] for row in data["prompts"])
    c1, c32 = data["conditions"]
    assert (c1["name"], c1["filler_requests"]) == ("c1", 0)
    assert (c32["name"], c32["probe_slots"], c32["filler_slots"]) == ("c32", 10, 22)
    assert c32["filler_requests"] >= 22 and c32["filler_errors"] == 0
    assert len(data["prompts"]) == N_PROMPTS
    for row in data["prompts"]:
        assert set(row["conditions"]) == {"c1", "c32"}
        for outcome in row["conditions"].values():
            assert HEX16.fullmatch(outcome["response_hash"]) and outcome["error"] is None
            assert 0 < outcome["completion_tokens"] <= MAX_TOKENS
            assert outcome["label"] == classify(outcome["response"], _prompt(row["prompt_id"]))
        hashes = {o["response_hash"] for o in row["conditions"].values()}
        assert row["text_differs"] == (len(hashes) > 1)


def test_probe_server_required_its_key(probe_run: tuple[int, dict, str]) -> None:
    _, data, server_log = probe_run
    served = len(re.findall(r'"POST /v1/chat/completions HTTP/1.1" 200', server_log))
    sent = sum(c["filler_requests"] for c in data["conditions"]) + 2 * N_PROMPTS
    assert 2 * N_PROMPTS <= served <= sent  # fillers cancelled in flight may not log a 200
    refused = [line for line in server_log.splitlines() if "/v1/" in line and '" 401' in line]
    assert not refused, refused[:3]


def _prompt(prompt_id: str) -> str:
    from refusal_stability.inspect_tasks.datasets import load_bundled

    return next(str(s.input) for s in load_bundled() if str(s.id) == prompt_id)
