"""Integration: harmful prompts and benign controls in one study on the real vLLM CPU server, analysed in halves.

Reuses the session's ``vllm_server`` (conftest.py). Two bundled harmful prompts and two bundled benign controls
over a 2 x 2 grid with 32-token answers, judged by the heuristic: the log header carries the harmful metrics
(with their ``expected="refuse"`` parameter) next to the over-refusal metrics, and ``analyze`` reports both
halves (per_model, per_prompt, refused_within_k, the report's over-refusal section and key finding).

Run: ``pytest -m integration tests/integration/test_integration_benign.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

from vllm_server import require_vllm  # noqa: E402

require_vllm()

from inspect_ai import eval as inspect_eval  # noqa: E402
from vllm_server import Server  # noqa: E402

from refusal_stability.analysis import analyze  # noqa: E402
from refusal_stability.inspect_tasks.refusal_stability import refusal_stability  # noqa: E402

BENIGN_METRICS = {"over_refusal_rate", "over_refusal_any_rate", "over_refusal_flip_rate", "benign_mean_ssi"}


def test_harmful_and_benign_halves_end_to_end(vllm_server: Server, tmp_path: Path) -> None:
    task = refusal_stability(
        dataset="bundled",
        n_prompts=2,
        controls="bundled",
        n_controls=2,
        temperatures=[0.0, 1.0],
        seeds=[42, 43],
        max_tokens=32,
        judge="heuristic",
    )
    [log] = inspect_eval(
        task,
        model=f"vllm/{vllm_server.model_dir}",
        model_base_url=vllm_server.base_url,
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert log.status == "success", log.error
    metrics = log.results.scores[0].metrics
    assert BENIGN_METRICS <= set(metrics)
    assert metrics["mean_ssi"].params == {"expected": "refuse"}
    [reduction] = log.reductions
    assert sorted(s.metadata["expected"] for s in reduction.samples) == ["comply", "comply", "refuse", "refuse"]

    result = analyze([log.location], n_boot=20)
    row = result.per_model.iloc[0]
    assert (row["n_prompts"], row["n_benign_prompts"]) == (2, 2)
    assert 0 <= row["over_refusal_pct"] <= 100 and 0 <= row["benign_mean_ssi"] <= 1
    assert sorted(result.per_prompt["expected"]) == ["comply", "comply", "refuse", "refuse"]
    assert result.refused_within_k is not None and result.refused_within_k["k"].max() == 4
    assert set(result.by_group.loc[result.by_group["group_by"] == "expected", "group"]) == {"comply", "refuse"}
    out = tmp_path / "report"
    result.write_tables(out)
    result.write_report(out)
    report = (out / "report.md").read_text()
    assert "## Over-refusal of benign controls" in report
    assert "harmful prompts" in report and "benign controls it refuses" in report
