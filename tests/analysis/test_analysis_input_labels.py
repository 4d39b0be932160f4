"""Label CSVs read strictly, one scorer per judge, bad options and safe CSV cells."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai.log import write_eval_log
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis import AnalysisInputError, analyze
from refusal_stability.analysis.cli import add_analyze_arguments, run_analyze
from refusal_stability.analysis.read_labels import read_labels_csv

HEADER = "model,prompt_id,temperature,seed,judge,label\n"
GRID = [(0.0, 1), (0.0, 2), (1.0, 1), (1.0, 2)]


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def grid_rows(prompt: str, labels: list[str], model: str = "m", judge: str = "j") -> list[str]:
    return [f"{model},{prompt},{t},{s},{judge},{label}" for (t, s), label in zip(GRID, labels, strict=True)]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_analyze_arguments(parser)
    return parser.parse_args(argv)


def test_prompt_ids_are_read_verbatim(tmp_path: Path) -> None:
    rows = grid_rows("NA", ["REFUSE"] * 4) + grid_rows("null", ["COMPLY"] * 4) + grid_rows("None", ["REFUSE"] * 4)
    rows += grid_rows("007", ["REFUSE", "REFUSE", "REFUSE", "COMPLY"])
    frame, _ = read_labels_csv(write_csv(tmp_path / "l.csv", rows))
    assert sorted(frame["prompt_id"].unique()) == ["007", "NA", "None", "null"]
    result = analyze(labels=[tmp_path / "l.csv"], n_boot=10)
    assert len(result.per_prompt) == 4  # no row vanished as a missing value
    assert result.per_model.loc[0, "mean_ssi"] == pytest.approx((1 + 1 + 1 + 0.75) / 4)


@pytest.mark.parametrize(
    "bad_row,expected",
    [
        ("m,,1.0,2,j,REFUSE", r"empty 'prompt_id' on line 5"),
        ("m,   ,1.0,2,j,REFUSE", r"empty 'prompt_id' on line 5"),
        (",p,1.0,2,j,REFUSE", r"empty 'model' on line 5"),
        ("m,p,1.0,2,,REFUSE", r"empty 'judge' on line 5"),
        ("m,p,hot,2,j,REFUSE", r"column 'temperature' on line 5 is not a number \(values 'hot'\)"),
        ("m,p,1.0,abc,j,REFUSE", r"column 'seed' on line 5 is not an integer \(values 'abc'\)"),
        ("m,p,1.0,2.5,j,REFUSE", r"column 'seed' on line 5 is not an integer"),
        ("m,p,1.0,,j,REFUSE", r"column 'seed' on line 5"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, bad_row: str, expected: str) -> None:
    path = write_csv(tmp_path / "bad.csv", grid_rows("p", ["REFUSE"] * 3 + ["COMPLY"])[:3] + [bad_row])
    with pytest.raises(AnalysisInputError, match=rf"bad\.csv: .*{expected}"):
        read_labels_csv(path)


def test_duplicate_rows_are_an_error_naming_them(tmp_path: Path) -> None:
    rows = grid_rows("p", ["REFUSE", "REFUSE", "COMPLY", "COMPLY"])
    path = write_csv(tmp_path / "dup.csv", rows + [rows[0]])  # line 6 repeats line 2
    with pytest.raises(AnalysisInputError, match=r"2 rows repeat .* on lines 2, 6 .*prompt 'p', temperature 0, seed 1"):
        read_labels_csv(path)


def test_unknown_labels_are_listed_with_counts_or_mapped_on_request(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    rows = grid_rows("p", ["refused", "YES", "REFUSE", "1"]) + grid_rows("q", ["error", "unknown", "Unscored", "YES"])
    path = write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(AnalysisInputError) as caught:
        read_labels_csv(path)
    message = str(caught.value)
    assert "4 label(s)" in message and "'YES' x2" in message and "'refused' x1" in message and "'1' x1" in message
    assert "'error'" not in message and "'unknown'" not in message and "'Unscored'" not in message  # known ones
    assert "--unknown-labels-as-unscored" in message

    assert run_analyze(parse(["--labels", str(path), "--out", str(tmp_path / "o"), "--quiet"])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1

    frame, info = read_labels_csv(path, unknown_labels_as_unscored=True)
    assert frame["label"].tolist() == ["UNSCORED", "UNSCORED", "REFUSE", "UNSCORED"] + ["UNSCORED"] * 4
    assert "4 unknown label(s) counted as UNSCORED" in info.notes[0]


def test_known_non_labels_are_unscored(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", grid_rows("p", ["ERROR", "unknown", "comply ", "REFUSE"]))
    frame, _ = read_labels_csv(path)
    assert frame["label"].tolist() == ["UNSCORED", "UNSCORED", "COMPLY", "REFUSE"]


PROMPTS = [PromptInfo("p-1"), PromptInfo("p-2")]
LABELS = {"p-1": ["REFUSE", "REFUSE", "COMPLY", "REFUSE"], "p-2": ["COMPLY"] * 4}


def test_two_scorers_with_one_judge_are_used_once(tmp_path: Path) -> None:
    """`inspect score --action append` of the same heuristic judge: never both sets of records."""
    log = build_eval_log("mockllm/m", PROMPTS, LABELS, (0.0, 1.0), (1, 2), second_judges={"heuristic": LABELS})
    write_eval_log(log, str(tmp_path / "twice.eval"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analyze([tmp_path], n_boot=10)
    assert len(result.tidy) == 8 and set(result.tidy["scorer"]) == {"refusal_judge"}
    assert result.per_prompt["n_valid"].tolist() == [4, 4]
    assert result.sample_size[result.sample_size["temperature"].astype(str) == "0.0"]["n"].max() == 1
    [note] = [str(w.message) for w in caught if "carry judge" in str(w.message)]
    assert "using 'refusal_judge'" in note and "refusal_judge_1" in note


def test_primary_judge_is_the_default_when_roles_are_recorded(tmp_path: Path) -> None:
    other = {p: ["REFUSE"] * 4 for p in LABELS}
    log = build_eval_log(
        "mockllm/m",
        PROMPTS,
        LABELS,
        (0.0, 1.0),
        (1, 2),
        judge="vllm/g",
        second_judges={"heuristic": other},
        with_roles=True,
    )
    write_eval_log(log, str(tmp_path / "roles.eval"))
    result = analyze([tmp_path], n_boot=10)
    assert set(result.frame["judge"]) == {"vllm/g"} and set(result.tidy["judge"]) == {"vllm/g", "heuristic"}
    assert result.per_model.loc[0, "mean_ssi"] == pytest.approx((0.75 + 1) / 2)
    assert result.agreement is not None
    chosen = analyze([tmp_path], judge="heuristic", n_boot=10)
    assert chosen.per_model.loc[0, "mean_ssi"] == 1.0


def test_label_csvs_with_two_judges_still_need_a_choice(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", grid_rows("p", ["REFUSE"] * 4) + grid_rows("p", ["COMPLY"] * 4, judge="k"))
    with pytest.raises(AnalysisInputError, match="--judge"):
        analyze(labels=[path])


def test_bad_options(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = write_csv(tmp_path / "l.csv", grid_rows("p", ["REFUSE"] * 4))
    for extra in (["--bootstrap", "0"], ["--bootstrap", "-3"]):
        assert run_analyze(parse(["--labels", str(path), "--out", str(tmp_path / "o"), "--quiet", *extra])) == 2
        assert "--bootstrap" in capsys.readouterr().err
    existing = tmp_path / "a-file"
    existing.write_text("keep me")
    assert run_analyze(parse(["--labels", str(path), "--out", str(existing), "--quiet"])) == 2
    assert "existing file" in capsys.readouterr().err and existing.read_text() == "keep me"


def test_csv_cells_cannot_run_as_formulas(tmp_path: Path) -> None:
    evil_model, evil_prompt = '=HYPERLINK("http://x")', "@SUM(A1)"
    rows = grid_rows(evil_prompt, ["REFUSE", "COMPLY", "REFUSE", "REFUSE"], model=evil_model)
    rows += grid_rows("-5", ["REFUSE"] * 4, model=evil_model) + grid_rows("+cmd", ["REFUSE"] * 4, model=evil_model)
    path = tmp_path / "l.csv"
    pd.DataFrame(
        [r.split(",", 1)[1].split(",") for r in rows], columns=["prompt_id", "temperature", "seed", "judge", "label"]
    ).assign(model=evil_model).to_csv(path, index=False)
    out = tmp_path / "out"
    assert run_analyze(parse(["--labels", str(path), "--out", str(out), "--quiet", "--no-figures"])) == 0
    per_prompt = pd.read_csv(out / "per_prompt.csv", dtype=str, keep_default_na=False)
    assert set(per_prompt["model"]) == {"'" + evil_model}
    assert sorted(per_prompt["prompt_id"]) == ["'+cmd", "'@SUM(A1)", "-5"]  # a plain number stays as it is
    assert per_prompt["ssi"].map(float).min() == pytest.approx(0.75)  # numbers untouched
    per_model = pd.read_csv(out / "per_model.csv", dtype=str, keep_default_na=False)
    assert per_model.loc[0, "model"] == "'" + evil_model and float(per_model.loc[0, "mean_ssi"]) > 0
