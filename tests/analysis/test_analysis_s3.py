"""Logs in an S3 bucket are analysed in place, exactly as their local copies (moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog, write_eval_log
from mock_models import mock_model
from s3_server import s3_bucket, s3_filesystem, s3_server  # noqa: F401 (fixtures)
from synthetic_logs import PromptInfo, build_eval_log, write_study

from refusal_stability.analysis import AnalysisInputError, analyze
from refusal_stability.analysis.cli import main as analyze_main
from refusal_stability.inspect_tasks import refusal_stability

JSON_NAME = "2026-01-02T03-04-05+00-00_refusal-stability_AbCdEf123.json"  # as `--log-format json` names it
TABLES = ("per_model", "per_prompt")


def same_tables(remote: object, local: object) -> None:
    """The analysis tables of the bucket equal those of the local copies."""
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(remote, name), getattr(local, name), check_like=True, obj=name)


def study(tmp_path: Path) -> Path:
    """Two synthetic runs as .eval logs and a third as a --log-format json log, in one local directory."""
    local = tmp_path / "local" / "run"
    write_study(local, ["mockllm/a", "mockllm/b"], n_prompts=6, temperatures=(0.0, 1.0), seeds=(1, 2), seed=3)
    labels = {f"p-{i:05d}": ["REFUSE", "COMPLY", "REFUSE", "REFUSE"] for i in range(6)}
    prompts = [PromptInfo(p) for p in labels]
    log = build_eval_log("mockllm/c", prompts, labels, (0.0, 1.0), (1, 2))
    (local / "json").mkdir()
    write_eval_log(log, str(local / "json" / JSON_NAME), format="json")
    return local


def test_a_bucket_prefix_is_analysed_as_its_local_copy(s3_bucket: str, tmp_path: Path) -> None:  # noqa: F811
    local = study(tmp_path)
    s3_filesystem().put(str(local), f"{s3_bucket}/study/run", recursive=True)

    remote = analyze([f"s3://{s3_bucket}/study"], n_boot=50)
    same_tables(remote, analyze([local], n_boot=50))
    assert sorted(remote.per_model["model"]) == ["mockllm/a", "mockllm/b", "mockllm/c"]
    assert all(info.path.startswith(f"s3://{s3_bucket}/study/run/") for info in remote.sources)


def test_s3_files_and_local_files_mix(s3_bucket: str, tmp_path: Path) -> None:  # noqa: F811
    local = study(tmp_path)
    fs = s3_filesystem()
    fs.put(str(local / "study-00.eval"), f"{s3_bucket}/x/study-00.eval")
    fs.put(str(local / "json" / JSON_NAME), f"{s3_bucket}/x/{JSON_NAME}")
    inputs = [f"s3://{s3_bucket}/x/study-00.eval", local / "study-01.eval", f"s3://{s3_bucket}/x/{JSON_NAME}"]

    remote = analyze(inputs, n_boot=50)
    same_tables(remote, analyze([local], n_boot=50))
    assert [info.path.split("/")[-1] for info in remote.sources] == ["study-00.eval", "study-01.eval", JSON_NAME]


def test_a_label_csv_in_s3_is_refused_with_what_to_do() -> None:
    with pytest.raises(AnalysisInputError, match=r"s3://bucket/labels.csv: label CSVs are read from local files only"):
        analyze(labels=["s3://bucket/labels.csv"])


def run_task(log_dir: str, fail_calls: tuple[int, ...] = ()) -> EvalLog:
    """A real run of the task (mockllm, heuristic judge) writing its log to ``log_dir``."""
    calls = {"n": 0}

    def respond(messages, config) -> str:  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] in fail_calls:
            raise RuntimeError("model server went away")
        return "I can't help with that." if (config.seed + calls["n"]) % 3 else "Sure, here is how."

    task = refusal_stability(dataset="bundled", n_prompts=3, temperatures=[0.0, 0.7], seeds=[42, 43], judge="heuristic")
    [log] = inspect_eval(task, model=mock_model(respond), log_dir=log_dir, display="none", max_samples=1)
    return log


def test_a_study_written_to_s3_by_inspect_is_analysed_as_its_local_copy(
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    log = run_task(f"s3://{s3_bucket}/run")
    assert log.location.startswith(f"s3://{s3_bucket}/run/")
    copy = tmp_path / "copy"
    s3_filesystem().get(f"{s3_bucket}/run", str(copy), recursive=True)

    remote = analyze([f"s3://{s3_bucket}/run"], n_boot=50)
    local = analyze([copy], n_boot=50)
    same_tables(remote, local)
    assert remote.per_model["n_prompts"].tolist() == [3]
    assert (remote.per_prompt["ssi"] < 1).any()  # flips, so the report shows texts read from the bucket

    report = remote.write_report(tmp_path / "out", figures=False).with_name("report.md").read_text()
    assert f"inspect view --log-dir s3://{s3_bucket}/run" in report
    assert "Sure, here is how." in report and "could not read sample" not in report


def test_an_incomplete_log_in_s3_gets_its_retry_command(s3_bucket: str) -> None:  # noqa: F811
    log = run_task(f"s3://{s3_bucket}/run", fail_calls=(4,))
    assert log.status == "error"
    with pytest.raises(AnalysisInputError, match=rf"inspect eval-retry {log.location}"):
        analyze([f"s3://{s3_bucket}/run"])


def analyze_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = analyze_main(argv)
    return code, capsys.readouterr().err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_a_missing_bucket_is_one_line(s3_bucket: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001, F811
    code, err = analyze_cli([f"s3://{s3_bucket}-gone/run", "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    [line] = error_lines(err)
    assert f"s3://{s3_bucket}-gone/run: bucket '{s3_bucket}-gone' does not exist" in line
    assert "check the bucket name" in line and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_missing_prefix_is_one_line(s3_bucket: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001, F811
    code, err = analyze_cli([f"s3://{s3_bucket}/nothing-here", "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    [line] = error_lines(err)
    assert f"s3://{s3_bucket}/nothing-here: no such object or prefix" in line


def test_denied_credentials_are_one_line(
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
    capsys,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server now checks credentials
    code, err = analyze_cli([f"s3://{s3_bucket}/run", "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    [line] = error_lines(err)
    assert f"s3://{s3_bucket}/run: access denied" in line and "check the credentials" in line
    assert not (tmp_path / "out").exists()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_endpoint_is_one_line(
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
    capsys,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore retries a refused connection 5 times by default
    code, err = analyze_cli([f"s3://{s3_bucket}/run", "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    [line] = error_lines(err)
    assert f"s3://{s3_bucket}/run: cannot reach the object store at endpoint {endpoint}" in line
    assert "check AWS_ENDPOINT_URL" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_inspect_eval_cli_to_s3_then_analyze_cli(vllm_server, s3_bucket: str, tmp_path: Path) -> None:  # noqa: ANN001, F811
    """`inspect eval --log-dir s3://…` of a real model, then `refusal-stability analyze s3://…`, as a user runs them.

    The eval runs the bundled model on the session's vLLM server (mockllm's CLI model counts tokens with a
    tokenizer it downloads); the analysis of the bucket equals the analysis of a local copy, file for file.
    """
    url = f"s3://{s3_bucket}/run"
    task_args = ["-T", "dataset=bundled", "-T", "n_prompts=2", "-T", "temperatures=0,1", "-T", "seeds=1,2"]
    model = ["--model", f"vllm/{vllm_server.model_dir}", "--model-base-url", vllm_server.base_url]
    eval_cmd = [sys.executable, "-m", "inspect_ai", "eval", "refusal_stability/refusal_stability", *task_args]
    eval_cmd += ["-T", "judge=heuristic", "-T", "max_tokens=16", *model, "--log-dir", url, "--display", "none"]
    subprocess.run(eval_cmd, check=True, timeout=300, cwd=tmp_path)  # the environment names the S3 endpoint
    copy = tmp_path / "copy"
    s3_filesystem().get(f"{s3_bucket}/run", str(copy), recursive=True)
    outs = {}
    for name, source in (("remote", url), ("local", str(copy))):
        outs[name] = tmp_path / name
        analyze_cmd = [sys.executable, "-m", "refusal_stability.analysis.cli", source, "--out", str(outs[name])]
        subprocess.run([*analyze_cmd, "--no-figures", "--quiet"], check=True, timeout=300, cwd=tmp_path)
    for table in ("per_model.csv", "per_prompt.csv"):
        assert (outs["remote"] / table).read_text() == (outs["local"] / table).read_text()
    assert f"inspect view --log-dir {url}" in (outs["remote"] / "report.md").read_text()
