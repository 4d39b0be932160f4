"""Finding the logs of the inputs: directories hold logs of both formats; other files are not logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai.log import write_eval_log
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis.inputs import load_inputs
from refusal_stability.analysis.log_locations import expand_inputs, is_log_name, is_url, log_dir_of
from refusal_stability.analysis.tidy import AnalysisInputError

PROMPTS = [PromptInfo("p-a"), PromptInfo("p-b")]
LABELS = {"p-a": ["REFUSE", "COMPLY"], "p-b": ["REFUSE", "REFUSE"]}
JSON_NAME = "2026-01-02T03-04-05+00-00_refusal-stability_AbCdEf123.json"  # as `--log-format json` names it


def write_log(path: Path, model: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_eval_log(build_eval_log(model, PROMPTS, LABELS, (0.0,), (1, 2)), str(path))
    return path


def test_a_directory_holds_logs_of_both_formats(tmp_path: Path) -> None:
    write_log(tmp_path / "logs" / "a.eval", "mockllm/a")
    write_log(tmp_path / "logs" / "nested" / JSON_NAME, "mockllm/b")
    (tmp_path / "logs" / "logs.json").write_text("{}")  # Inspect's listing index: not a log
    (tmp_path / "logs" / "eval-set.json").write_text("{}")

    found = expand_inputs([tmp_path / "logs"])
    assert [Path(f.location).name for f in found] == ["a.eval", JSON_NAME]
    assert all(f.from_dir and f.size > 0 for f in found)

    loaded = load_inputs([tmp_path / "logs"])
    assert sorted(loaded.frame["model"].unique()) == ["mockllm/a", "mockllm/b"]
    assert loaded.skipped == []
    assert sorted(Path(info.path).suffix for info in loaded.sources) == [".eval", ".json"]


def test_a_json_log_with_another_name_is_read_when_named(tmp_path: Path) -> None:
    path = write_log(tmp_path / "logs" / "renamed.json", "mockllm/a")
    with pytest.raises(AnalysisInputError, match="no refusal labels found"):
        load_inputs([tmp_path / "logs"])
    assert load_inputs([path]).frame["model"].unique().tolist() == ["mockllm/a"]


def test_a_file_named_twice_and_found_in_its_directory_is_read_once(tmp_path: Path) -> None:
    path = write_log(tmp_path / "logs" / "a.eval", "mockllm/a")
    found = expand_inputs([path, tmp_path / "logs", f"file://{path}"])
    assert [(Path(f.location).resolve(), f.from_dir) for f in found] == [(path.resolve(), False)]


def test_a_missing_local_path_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(AnalysisInputError, match=r"nope: no such file or directory \(expected"):
        expand_inputs([tmp_path / "nope"])


def test_urls_and_log_names() -> None:
    assert is_url("s3://bucket/run") and is_url("gs://b/x.eval")
    assert not is_url("logs/run") and not is_url("file:///tmp/x.eval") and not is_url(Path("s3:/x"))
    assert is_log_name("x.eval") and is_log_name(JSON_NAME)
    assert not is_log_name("logs.json") and not is_log_name("x.eval.bak")
    assert log_dir_of("s3://bucket/run/a/x.eval") == "s3://bucket/run/a"
    assert log_dir_of("logs/x.eval") == str(Path("logs").resolve())
