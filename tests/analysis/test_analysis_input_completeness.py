"""`analyze` knows when a study is incomplete (errored, cancelled or partial logs; retries)."""

from __future__ import annotations

import argparse
import shlex
import warnings
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog, read_eval_log, write_eval_log
from mock_models import mock_model

from refusal_stability.analysis import AnalysisInputError, analyze
from refusal_stability.analysis.cli import add_analyze_arguments, run_analyze
from refusal_stability.inspect_tasks import refusal_stability

N_PROMPTS, TEMPS, SEEDS = 3, [0.0, 0.7], [42, 43]
PLANNED = N_PROMPTS * len(TEMPS) * len(SEEDS)  # 12 records


def run_task(log_dir: Path, fail_calls: tuple[int, ...] = (), **eval_args) -> EvalLog:  # noqa: ANN003
    """A real run of the task with mockllm; the model raises on the given (1-based) calls."""
    calls = {"n": 0}

    def respond(messages, config) -> str:  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] in fail_calls:
            raise RuntimeError("model server went away")
        return "I can't help with that."

    [log] = inspect_eval(
        refusal_stability(dataset="bundled", n_prompts=N_PROMPTS, temperatures=TEMPS, seeds=SEEDS, judge="heuristic"),
        model=mock_model(respond),
        log_dir=str(log_dir),
        display="none",
        max_samples=1,
        **eval_args,
    )
    return log


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_analyze_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def errored(tmp_path_factory: pytest.TempPathFactory) -> EvalLog:
    """An errored run (the model fails on its 4th call): 3 of 12 records done, in a directory with a space."""
    log = run_task(tmp_path_factory.mktemp("runs") / "my logs", fail_calls=(4,))
    assert log.status == "error"
    return log


def test_errored_log_is_an_error_with_the_retry_command(errored: EvalLog, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    with pytest.raises(AnalysisInputError) as caught:
        analyze([errored.location])
    message = str(caught.value)
    assert errored.location in message and "error log" in message
    assert f"of {PLANNED} planned records missing" in message
    assert f"inspect eval-retry {shlex.quote(errored.location)}" in message and "'" in shlex.quote(errored.location)
    assert "--allow-incomplete" in message

    assert run_analyze(parse([errored.location, "--out", str(tmp_path / "out"), "--quiet"])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_allow_incomplete_reports_what_is_missing(errored: EvalLog) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analyze([errored.location], allow_incomplete=True, n_boot=10)
    row = result.completeness.iloc[0]
    present = int(row["present_records"])
    assert row["status"] == "error" and row["planned_records"] == PLANNED
    assert 0 < present < PLANNED and row["missing_records"] == PLANNED - present
    assert present == len(result.frame)  # what is present is analysed, nothing invented
    assert result.n_missing >= PLANNED - present
    [line] = result.incomplete_lines()
    assert f"{PLANNED - present} of {PLANNED} planned records missing" in line and "error" in line
    assert any("incomplete" in str(w.message) for w in caught)


def test_errored_samples_of_a_tolerant_run_are_missing_not_unscored(tmp_path: Path) -> None:
    log = run_task(tmp_path / "logs", fail_calls=(2, 7), fail_on_error=0.9)
    assert log.status == "success"  # Inspect tolerated the two errors
    with pytest.raises(AnalysisInputError, match=rf"2 of {PLANNED} planned records missing"):
        analyze([log.location])
    result = analyze([log.location], allow_incomplete=True, n_boot=10)
    assert result.completeness.iloc[0]["missing_records"] == 2
    assert len(result.frame) == PLANNED - 2 and result.statistics["n_unscored"] == 0
    assert result.per_model.loc[0, "n_unscored"] == 0


def test_a_log_and_its_retry_count_once(errored: EvalLog, tmp_path: Path) -> None:
    """An errored log and its retry share a task id: the most complete one is used, never both.

    Inspect gives the retry a new eval id; the other log is named as skipped, nothing is counted twice.
    """
    logs = tmp_path / "logs"
    logs.mkdir()
    first = logs / "first.eval"
    write_eval_log(read_eval_log(errored.location), str(first))
    retry = read_eval_log(run_task(tmp_path / "scratch").location)
    retry.eval.task_id = errored.eval.task_id  # what `inspect eval-retry` keeps
    write_eval_log(retry, str(logs / "retry.eval"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analyze([logs], n_boot=10)
    assert len(result.frame) == PLANNED and len(result.per_prompt) == N_PROMPTS
    assert [Path(p).name for p in result.completeness["log"]] == ["retry.eval"]
    assert any("first.eval" in str(w.message) and "superseded" in str(w.message) for w in caught)
    assert len(result.skipped) == 1 and "first.eval" in result.skipped[0]
