"""Is the flip real? End to end: the real task on mock models, then ``analyze`` separates the three sources.

The model under test returns the same text for every seed at temperature 0 and a seed-dependent text at
temperature 1 (one seed refuses, the other complies). The model grader is flaky: it answers REFUSE and
gets every third call wrong, whatever it reads. The offline heuristic is the second judge. Expected, by hand:
- at T=0 every prompt's text is byte-identical across seeds (text_identical 100 %) and, because identical
  (prompt, response) pairs are graded once per run (the verdict cache), the flaky grader cannot flip it
  (label_flip 0 %, flip_same_text 0 %);
- at T=1 every prompt flips with changed text (flip_text_changed 100 %): sampling;
- the flaky grader and the heuristic disagree on some records: agreement below 100 %, and the prompts whose
  flip exists only because of the grader are judge_sensitive;
- a re-run of the same grid gives byte-identical texts (rerun text change 0 %).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model
from mock_models import text_output

from refusal_stability.analysis import analyze
from refusal_stability.inspect_tasks import refusal_stability

TEMPERATURES, SEEDS, N_PROMPTS = [0.0, 1.0], [42, 43], 3
REFUSAL = "I'm sorry, but I can't help with that request."
STEPS = "Sure. Step 1: gather the materials. Step 2: follow the procedure carefully. Step 3: finish the job."


def _target(messages, tools, tool_choice, config):
    if config.temperature == 0.0:
        return text_output(REFUSAL)  # greedy: the same text whatever the seed
    return text_output(REFUSAL if config.seed == 42 else STEPS)  # sampled: the seed decides


GRADER_CALLS: list[str] = []


def _flaky_grader():
    """Right (COMPLY for the steps, else REFUSE) except on every third call, where it says the opposite."""
    calls = itertools.count(1)

    def reply(messages, tools, tool_choice, config):
        right = "COMPLY" if "Step 1: gather" in messages[-1].text else "REFUSE"
        verdict = right if next(calls) % 3 else {"COMPLY": "REFUSE", "REFUSE": "COMPLY"}[right]
        GRADER_CALLS.append(verdict)
        return text_output(f"Reasoning.\nVERDICT: {verdict}")

    return get_model("mockllm/flaky-grader", custom_outputs=reply)


def _run(log_dir: Path) -> None:
    [log] = inspect_eval(
        refusal_stability(dataset="bundled", n_prompts=N_PROMPTS, temperatures=TEMPERATURES, seeds=SEEDS),
        model=get_model("mockllm/target", custom_outputs=_target),
        model_roles={"grader": _flaky_grader()},
        log_dir=str(log_dir),
        display="none",
    )
    assert log.status == "success", log.error


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    logs = tmp_path_factory.mktemp("logs")
    _run(logs)
    return analyze([logs], n_boot=50)


def test_greedy_text_is_identical_and_the_cached_judge_cannot_flip_it(result) -> None:
    # one grader call per distinct (prompt, response): the refusal (T=0 both seeds, T=1 seed 42) and the steps
    assert len(GRADER_CALLS) == N_PROMPTS * 2
    t0 = result.provenance.set_index("temperature").loc[0.0]
    assert t0["n_prompts"] == N_PROMPTS
    assert t0["text_identical_pct"] == 100.0
    assert t0["label_flip_pct"] == 0.0 and t0["flip_same_text_pct"] == 0.0


def test_sampled_flips_come_with_changed_text(result) -> None:
    t1 = result.provenance.set_index("temperature").loc[1.0]
    assert t1["text_identical_pct"] == 0.0
    # the heuristic-free primary judge (flaky grader) saw two different texts per prompt at T=1
    assert t1["flip_same_text_pct"] == 0.0
    assert t1["flip_text_changed_pct"] == t1["label_flip_pct"]


def test_the_two_judges_are_compared(result) -> None:
    agreement = result.agreement
    assert agreement is not None and agreement["n_pairs"] == N_PROMPTS * len(TEMPERATURES) * len(SEEDS)
    # 2 of the 6 graded pairs were graded wrong: the refusal pair covers 3 records, the steps pair 1
    assert 0.0 < agreement["agreement_pct"] < 100.0
    heuristic = result.tidy[result.tidy["judge"] == "heuristic"]
    # the heuristic labels the refusal REFUSE and the steps COMPLY, whatever the grader does
    assert set(heuristic.loc[heuristic["temperature"] == 0.0, "label"]) == {"REFUSE"}
    assert isinstance(result.consensus, pd.DataFrame) and len(result.consensus) == 1
    assert "judge_sensitive" in result.per_prompt.columns


def test_a_rerun_of_the_same_grid_is_a_replicate_with_identical_texts(tmp_path: Path) -> None:
    _run(tmp_path)
    _run(tmp_path)
    with pytest.warns(UserWarning, match="replicates"):
        rerun = analyze([tmp_path], n_boot=20)
    assert sorted(rerun.per_model["model"]) == ["mockllm/target (run 1)", "mockllm/target (run 2)"]
    change = rerun.rerun_text_change.set_index("temperature")
    assert change.loc["all", "n_runs"] == 2
    assert change.loc["all", "n_records"] == N_PROMPTS * len(TEMPERATURES) * len(SEEDS)
    assert change.loc["all", "text_changed_pct"] == 0.0  # the mock model is deterministic
