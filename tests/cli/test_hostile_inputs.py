"""Bad input gets one clear line, before anything starts.

A mistyped prompt file, label-CSV seeds outside 64 bits, a negative bootstrap seed, a path given as text to the
Python API, and every bad ``demo`` option.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest
from inspect_ai.log import write_eval_log
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis import analyze
from refusal_stability.analysis.cli import add_analyze_arguments, run_analyze
from refusal_stability.analysis.tidy import AnalysisInputError
from refusal_stability.cli import build_parser
from refusal_stability.errors import InputError
from refusal_stability.inspect_tasks.refusal_stability import free_text


@pytest.mark.parametrize("value", ["prompts/safety.txt", "safety.txt", "~/nope/p.md", "rubric.jinja2", "a\\b.txt"])
def test_a_system_prompt_that_names_a_missing_file_is_an_error(value: str, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="no such file") as caught:
        free_text(value, "system_prompt")
    message = str(caught.value)
    assert "system_prompt" in message and "\n" not in message and "literal" in message


def test_a_system_prompt_file_is_read_and_text_is_kept(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "safety.txt").write_text("Refuse harm.")
    assert free_text("prompts/safety.txt", "system_prompt") == "Refuse harm."
    for text in ("Be safe.", "Refuse harm/abuse and say why.", "Refuse.", "You are safe, see rules.txt now"):
        assert free_text(text, "system_prompt") == text


def _labels_csv(path: Path, seed: str) -> Path:
    path.write_text(f"model,prompt_id,temperature,seed,judge,label\nm,a,0.0,{seed},j,REFUSE\nm,a,0.0,1,j,COMPLY\n")
    return path


@pytest.mark.parametrize("seed", [str(2**63), str(2**64 + 5), str(-(2**63) - 1)])
def test_label_csv_seeds_outside_64_bits_are_one_line(tmp_path: Path, seed: str) -> None:
    with pytest.raises(AnalysisInputError, match="seed") as caught:
        analyze(labels=[_labels_csv(tmp_path / "l.csv", seed)], n_boot=10)
    assert "\n" not in str(caught.value) and "64-bit" in str(caught.value)


def test_the_largest_64_bit_seed_is_read(tmp_path: Path) -> None:
    result = analyze(labels=[_labels_csv(tmp_path / "l.csv", str(2**63 - 1))], n_boot=10)
    assert int(result.frame["seed"].max()) == 2**63 - 1


def test_a_negative_bootstrap_seed_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _labels_csv(tmp_path / "l.csv", "2")
    with pytest.raises(AnalysisInputError, match="--seed"):
        analyze(labels=[path], seed=-1)
    parser = argparse.ArgumentParser()
    add_analyze_arguments(parser)
    args = parser.parse_args(["--labels", str(path), "--seed", "-1", "--out", str(tmp_path / "o"), "--quiet"])
    assert run_analyze(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --seed")


def test_the_python_api_takes_one_path_as_one_input(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "run1"
    logs.mkdir(parents=True)
    labels = {"a": ["REFUSE"] * 2}
    write_eval_log(build_eval_log("vllm/m", [PromptInfo("a")], labels, (0.0,), (1, 2)), str(logs / "x.eval"))
    time.sleep(0.01)
    for given in (str(logs), logs):
        assert list(analyze(given, n_boot=10).per_model["model"]) == ["vllm/m"]
    csv_path = _labels_csv(tmp_path / "l.csv", "2")
    assert len(analyze(labels=str(csv_path), n_boot=10).per_model) == 1


DEMO_BAD = [
    (["--n-prompts", "0"], "--n-prompts"),
    (["--n-prompts", "many"], "--n-prompts"),
    (["--temperatures", "hot"], "--temperatures"),
    (["--temperatures", "-1"], "--temperatures"),
    (["--seeds", "x"], "--seeds"),
    (["--seeds", "1,1"], "--seeds"),
    (["--grader", "gpt4"], "--grader"),
    (["--model", "mymodel"], "--model"),
    (["--max-connections", "0"], "--max-connections"),
    (["--max-tokens", "-5"], "--max-tokens"),
    (["--max-model-len", "0"], "--max-model-len"),
]


@pytest.mark.parametrize(("argv", "option"), DEMO_BAD)
def test_bad_demo_options_are_one_line_before_anything_starts(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["demo", *argv])
    assert caught.value.code == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and option in error_lines[0], error_lines


def test_a_demo_log_dir_or_out_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for option in ("--log-dir", "--out"):
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args(["demo", option, str(a_file)])
        assert caught.value.code == 2
        assert option in capsys.readouterr().err
    assert a_file.read_text() == "x"


def test_good_demo_options_parse() -> None:
    args = build_parser().parse_args(
        ["demo", "--n-prompts", "3", "--temperatures", "0,0.5", "--seeds", "1,2", "--grader", "openai/gpt-4o-mini"]
    )
    assert args.n_prompts == 3 and args.grader == "openai/gpt-4o-mini"
    assert build_parser().parse_args(["demo", "--grader", "bundled"]).grader == "bundled"
