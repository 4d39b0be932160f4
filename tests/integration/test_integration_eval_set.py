"""Integration: a sweep with ``inspect eval-set`` over two models, resumed, then analysed as one study.

The README's recipe as a user runs it: the ``inspect eval-set`` command over two models served by one vLLM
engine (the session's server answers to the model directory and to ``bundled-alias``: ``--served-model-name``
with two names), both logs in one log directory. The same command run again is eval-set's own resume: every
task is complete, so it must send no request and write no log. ``refusal-stability analyze`` on the directory
then finds two runs, compares them once, and counts each record once. Tiny grid: 2 prompts x 1 temperature x
2 seeds, 16 tokens, the offline heuristic judge.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

from vllm_server import require_vllm  # noqa: E402

require_vllm()

from inspect_ai.log import list_eval_logs, read_eval_log  # noqa: E402
from vllm_server import ALIAS, Server  # noqa: E402

from refusal_stability.cli import main as cli_main  # noqa: E402

PROMPTS = 2
SEEDS = (1, 2)


def eval_set(server: Server, log_dir: Path) -> subprocess.CompletedProcess[str]:
    """``inspect eval-set`` of the task over the server's two names into ``log_dir`` (the key: VLLM_API_KEY)."""
    models = ",".join(f"vllm/{name}" for name in server.served_names)
    command = [
        *(sys.executable, "-m", "inspect_ai", "eval-set", "refusal_stability/refusal_stability"),
        *("--model", models, "--model-base-url", server.base_url, "--log-dir", str(log_dir)),
        *("-T", "dataset=bundled", "-T", f"n_prompts={PROMPTS}", "-T", "temperatures=[0.7]"),
        *("-T", f"seeds=[{','.join(map(str, SEEDS))}]", "-T", "max_tokens=16", "-T", "judge=heuristic"),
        *("--retry-attempts", "1", "--display", "none"),
    ]
    assert os.environ.get("VLLM_API_KEY") == server.api_key  # set for the session by the fixture
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def log_files(log_dir: Path) -> dict[str, tuple[int, int]]:
    """The directory's ``.eval`` files: name -> (size, modification time in ns)."""
    return {path.name: (path.stat().st_size, path.stat().st_mtime_ns) for path in sorted(log_dir.glob("*.eval"))}


def test_eval_set_over_two_served_names_resumes_and_is_analysed_once(vllm_server: Server, tmp_path: Path) -> None:
    log_dir = tmp_path / "sweep"
    first = eval_set(vllm_server, log_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    logs = [read_eval_log(info, header_only=True) for info in list_eval_logs(str(log_dir))]
    assert sorted(log.eval.model for log in logs) == sorted(f"vllm/{name}" for name in vllm_server.served_names)
    assert all(log.status == "success" for log in logs), [log.error for log in logs]
    assert all(log.results and log.results.completed_samples == PROMPTS * len(SEEDS) for log in logs)

    written, served = log_files(log_dir), vllm_server.requests_served()
    assert len(written) == 2 and served >= 2 * PROMPTS * len(SEEDS)
    again = eval_set(vllm_server, log_dir)  # eval-set's resume: everything is complete, so nothing runs
    assert again.returncode == 0, again.stderr[-3000:]
    assert log_files(log_dir) == written, "the resumed eval-set rewrote or added logs"
    assert vllm_server.requests_served() == served, "the resumed eval-set sent requests"

    out = tmp_path / "report"
    assert cli_main(["analyze", str(log_dir), "--out", str(out), "--bootstrap", "200", "--quiet"]) == 0
    per_model = pd.read_csv(out / "per_model.csv")
    runs = sorted(per_model["model"])
    assert len(runs) == 2 and any(ALIAS in run for run in runs), runs
    assert (per_model["n_prompts"] == PROMPTS).all()
    per_prompt = pd.read_csv(out / "per_prompt.csv")
    assert len(per_prompt) == 2 * PROMPTS  # one row per (run, prompt): nothing counted twice
    labelled = per_prompt[["n_refuse", "n_partial", "n_comply"]].sum(axis=1) + per_prompt.get("n_unscored", 0)
    assert (labelled == len(SEEDS)).all(), per_prompt
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert {tuple(sorted(pair)) for pair in zip(comparisons["a"], comparisons["b"], strict=True)} == {tuple(runs)}
    assert comparisons.groupby("metric").size().eq(1).all()  # one comparison (each metric once)
