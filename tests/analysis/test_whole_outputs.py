"""--out holds exactly one analysis: written whole (fresh folder swapped in, manifest), never mixed or clobbered.

And a text cell with a carriage return is quoted, every line of it guarded against spreadsheet formulas.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from pathlib import Path

import pytest
from inspect_ai.log import write_eval_log
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis.cli import add_analyze_arguments, run_analyze
from refusal_stability.analysis.result import AnalysisResult
from refusal_stability.analysis.whole_output import MANIFEST, output_lock

TEMPS, SEEDS = (0.0, 1.0), (1, 2)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_analyze_arguments(parser)
    return parser.parse_args(argv)


def _log(path: Path, model: str, label: str = "REFUSE", prompts: list[PromptInfo] | None = None) -> Path:
    prompts = prompts or [PromptInfo("a"), PromptInfo("b")]
    labels = {p.prompt_id: [label, "COMPLY", label, label] for p in prompts}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_eval_log(build_eval_log(model, prompts, labels, TEMPS, SEEDS), str(path))
    return path


def _analyze(inputs: list[Path], out: Path | str) -> int:
    return run_analyze(parse([*map(str, inputs), "--out", str(out), "--quiet", "--no-figures", "--bootstrap", "20"]))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def two_models(tmp_path: Path) -> list[Path]:
    return [_log(tmp_path / "logs" / "a.eval", "vllm/a"), _log(tmp_path / "logs" / "b.eval", "vllm/b", "COMPLY")]


def test_a_second_analysis_leaves_nothing_of_the_first(tmp_path: Path, two_models: list[Path]) -> None:
    out = tmp_path / "out"
    assert _analyze(two_models, out) == 0
    assert (out / "comparisons.csv").exists()  # two runs: compared
    assert _analyze(two_models[:1], out) == 0
    assert not (out / "comparisons.csv").exists()  # one run: the earlier comparison is gone
    manifest = json.loads((out / MANIFEST).read_text())
    listed = {entry["path"] for entry in manifest["files"]}
    assert listed == set(_files(out)) - {MANIFEST}  # the manifest lists exactly what is there
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out") and p.is_dir()]  # no staging left


def test_an_out_folder_of_other_files_is_not_clobbered(
    tmp_path: Path, two_models: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    assert _analyze(two_models, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and str(out) in err[0] and MANIFEST in err[0]
    assert _files(out) == {"thesis.tex": b"keep me"}


def test_an_empty_out_folder_is_used(tmp_path: Path, two_models: list[Path]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert _analyze(two_models, out) == 0 and (out / MANIFEST).exists()


def test_a_concurrent_analysis_into_the_same_out_refuses(
    tmp_path: Path, two_models: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _analyze(two_models, out) == 0
    before = _files(out)
    with output_lock(out):  # another analysis is writing this --out now
        assert _analyze(two_models[:1], out) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "another" in err
    assert _files(out) == before  # the first one's analysis, whole


def test_an_interrupted_analysis_leaves_the_previous_one_whole(
    tmp_path: Path, two_models: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert _analyze(two_models, out) == 0
    before = _files(out)

    def interrupted(self: AnalysisResult, *args: object, **kwargs: object) -> Path:
        raise KeyboardInterrupt  # Ctrl-C after the tables were written, before the report

    monkeypatch.setattr(AnalysisResult, "write_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _analyze(two_models[:1], out)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["logs", "out", *_locks(tmp_path)])


def test_an_interrupted_first_analysis_leaves_nothing(
    tmp_path: Path, two_models: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: AnalysisResult, *args: object, **kwargs: object) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(AnalysisResult, "write_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _analyze(two_models, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["logs", *_locks(tmp_path)])


def _locks(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".lock")]


def test_a_carriage_return_in_a_text_cell_is_quoted_and_every_line_guarded(tmp_path: Path) -> None:
    prompts = [PromptInfo("p\r=HYPERLINK(1)", category="c\r@SUM(A1)", source="s\n+cmd"), PromptInfo("q")]
    logs = [_log(tmp_path / "logs" / "a.eval", "vllm/a", prompts=prompts)]
    out = tmp_path / "out"
    assert _analyze(logs, out) == 0
    text = (out / "per_prompt.csv").read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 3  # header + two prompts: the carriage return did not split a row
    for table in out.glob("*.csv"):
        for line in re.split(r"\r\n|\r|\n", table.read_bytes().decode("utf-8")):
            assert not line.startswith(("=", "+", "@")), (table.name, line)
    header = rows[0]
    ids = {row[header.index("prompt_id")] for row in rows[1:]}
    assert any(pid.startswith("p\r") for pid in ids)
