"""Reading .eval logs (header reductions and sample-summary fallback) and label CSVs into the tidy frame."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai.log import write_eval_log
from inspect_ai.scorer import Score
from synthetic_logs import PromptInfo, build_eval_log, response_text

from refusal_stability.analysis import parallel
from refusal_stability.analysis.checks import check_grids, select_judge
from refusal_stability.analysis.inputs import load_inputs
from refusal_stability.analysis.read_labels import read_labels_csv
from refusal_stability.analysis.read_logs import read_eval_file
from refusal_stability.analysis.tidy import TIDY_COLUMNS, AnalysisInputError

CORE = ["model", "prompt_id", "source", "category", "epoch", "temperature", "seed", "judge", "label"]

TEMPS, SEEDS = (0.0, 1.0), (42, 43, 44)
PROMPTS = [PromptInfo("p-a", "advbench", "cyber"), PromptInfo("p-b", "harmbench", None), PromptInfo("p-c")]
LABELS_A = {
    "p-a": ["REFUSE"] * 6,
    "p-b": ["REFUSE", "REFUSE", "COMPLY", "PARTIAL", "COMPLY", "UNSCORED"],
    "p-c": ["COMPLY", "COMPLY", "COMPLY", "REFUSE", "REFUSE", "REFUSE"],
}
LABELS_B = {  # a second judge on the same responses: disagrees on 2 of 17 commonly valid records
    "p-a": ["REFUSE"] * 5 + ["PARTIAL"],
    "p-b": ["REFUSE", "REFUSE", "COMPLY", "COMPLY", "COMPLY", "REFUSE"],
    "p-c": ["COMPLY", "COMPLY", "COMPLY", "REFUSE", "REFUSE", "UNSCORED"],
}


def write_log(path: Path, model: str = "mockllm/a", labels=LABELS_A, **kwargs) -> Path:  # noqa: ANN001
    write_eval_log(build_eval_log(model, PROMPTS, labels, TEMPS, SEEDS, **kwargs), str(path))
    return path


def expected_rows(model: str, judge: str, labels: dict[str, list[str]]) -> pd.DataFrame:
    grid = [(t, s) for t in TEMPS for s in SEEDS]
    rows = [
        {
            "model": model,
            "prompt_id": p.prompt_id,
            "source": p.source,
            "category": p.category,
            "epoch": e + 1,
            "temperature": grid[e][0],
            "seed": grid[e][1],
            "judge": judge,
            "label": label,
        }
        for p in PROMPTS
        for e, label in enumerate(labels[p.prompt_id])
    ]
    return pd.DataFrame(rows)


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[CORE].astype(object).where(frame[CORE].notna(), None)
    return out.sort_values(["model", "judge", "prompt_id", "epoch"]).reset_index(drop=True)


@pytest.mark.parametrize("with_reductions", [True, False], ids=["reductions", "sample_summaries"])
def test_log_rows_match_the_scores(tmp_path: Path, with_reductions: bool) -> None:
    path = write_log(tmp_path / "a.eval", with_reductions=with_reductions)
    frame, prompts, info = read_eval_file(path)
    assert info.kind == ("log (reductions)" if with_reductions else "log (sample summaries)")
    assert list(frame.columns) == TIDY_COLUMNS
    pd.testing.assert_frame_equal(
        _comparable(frame), _comparable(expected_rows("mockllm/a", "heuristic", LABELS_A)), check_dtype=False
    )
    assert set(frame["scorer"]) == {"refusal_judge"} and set(frame["origin"]) == {str(path)}
    assert frame["base_model"].eq("mockllm/a").all() and frame["condition"].isna().all()
    assert frame["eval_id"].nunique() == 1 and frame["eval_id"].iloc[0]
    row = frame[(frame["prompt_id"] == "p-b") & (frame["epoch"] == 3)].iloc[0]
    text = response_text("p-b", 3, "COMPLY")  # the fingerprint the task records: sha256 of the stripped text
    assert row["response_hash"] == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert row["response_chars"] == len(text)
    assert info.status == "success" and info.planned_records == 18 and info.present_records == 18
    assert info.complete and info.missing_records == 0
    assert prompts.set_index("prompt_id").loc["p-a", "source"] == "advbench"


def test_second_judge_in_one_log_and_judge_selection(tmp_path: Path) -> None:
    path = write_log(tmp_path / "two.eval", judge="vllm/grader-a", second_judges={"vllm/grader-b": LABELS_B})
    loaded = load_inputs([tmp_path])
    assert sorted(loaded.frame["judge"].unique()) == ["vllm/grader-a", "vllm/grader-b"]
    with pytest.raises(AnalysisInputError, match="vllm/grader-a.*vllm/grader-b.*--judge"):
        select_judge(loaded.frame, None)
    with pytest.raises(AnalysisInputError, match="judges found"):
        select_judge(loaded.frame, "nobody")
    chosen = select_judge(loaded.frame, "vllm/grader-b")
    assert len(chosen) == 18 and set(chosen["judge"]) == {"vllm/grader-b"}
    assert path.exists()


def test_corrupt_and_foreign_files_in_a_directory_warn(tmp_path: Path) -> None:
    write_log(tmp_path / "good.eval")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "corrupt.eval").write_bytes(b"PK\x03\x04 not really a zip")
    foreign = build_eval_log("mockllm/x", PROMPTS[:1], {"p-a": ["REFUSE"] * 6}, TEMPS, SEEDS)
    foreign.eval.task = "some_other_task"
    foreign.reductions, foreign.results = None, None
    for sample in foreign.samples:
        sample.scores = {"accuracy": Score(value=1.0)}
    write_eval_log(foreign, str(tmp_path / "nested" / "foreign.eval"))
    with pytest.warns(UserWarning) as caught:
        loaded = load_inputs([tmp_path])
    messages = " ".join(str(w.message) for w in caught)
    assert "corrupt.eval" in messages and "foreign.eval" in messages and "no refusal labels" in messages
    assert len(loaded.frame) == 18 and len(loaded.skipped) == 2
    with pytest.raises(AnalysisInputError, match="corrupt.eval"):
        load_inputs([tmp_path / "nested" / "corrupt.eval"])


def test_duplicate_runs_are_replicates_never_pooled(tmp_path: Path) -> None:
    write_log(tmp_path / "one.eval")
    write_log(tmp_path / "two.eval")
    with pytest.warns(UserWarning, match="analysed as replicates"):
        frame = load_inputs([tmp_path]).frame
    per_run = frame.groupby("model", observed=True)["origin"].nunique()
    assert len(per_run) == 2 and (per_run == 1).all()  # each replicate is one log's records, never both


def test_mixed_grids_error_or_explicit_handling(tmp_path: Path) -> None:
    write_log(tmp_path / "full.eval")
    short = build_eval_log("mockllm/a", [PromptInfo("p-d")], {"p-d": ["REFUSE"] * 3}, (0.5,), SEEDS)
    write_eval_log(short, str(tmp_path / "other_grid.eval"))
    loaded = load_inputs([tmp_path]).frame
    assert loaded["model"].nunique() == 2  # two grids of one model are two runs (run identity), never pooled
    frame = loaded.assign(model="mockllm/a")  # one run over both grids, as label CSVs of one model could hold
    with pytest.raises(AnalysisInputError, match="mixes sampling grids.*--allow-incomplete"):
        check_grids(frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        missing = check_grids(frame, allow_incomplete=True)
    assert missing == 3 * 3 + 1 * 6 and "mixes sampling grids" in str(caught[0].message)
    assert check_grids(frame[frame["prompt_id"] != "p-d"]) == 0


def test_labels_csv_error_becomes_unscored_and_epochs_follow_the_grid(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv.gz"
    pd.DataFrame(
        {
            "model": ["m"] * 4,
            "prompt_id": ["0012", "0012", "0012", "0012"],
            "temperature": [1.0, 0.0, 0.0, 1.0],
            "seed": [43, 42, 43, 42],
            "judge": ["j"] * 4,
            "label": ["REFUSE", "ERROR", "comply", "PARTIAL"],
        }
    ).to_csv(csv, index=False)
    frame, info = read_labels_csv(csv)
    assert info.kind == "labels csv"
    assert frame["prompt_id"].tolist() == ["0012"] * 4  # ids stay strings
    assert frame["label"].tolist() == ["REFUSE", "UNSCORED", "COMPLY", "PARTIAL"]
    assert frame["epoch"].tolist() == [4, 1, 2, 3]


def test_csv_without_required_columns_names_them(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("model,prompt_id,label\nm,p,REFUSE\n")
    with pytest.raises(AnalysisInputError, match="bad.csv.*temperature"):
        read_labels_csv(csv)


def test_parallel_read_equals_serial_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_log(tmp_path / "a.eval", model="mockllm/a")
    write_log(tmp_path / "b.eval", model="mockllm/b", labels=LABELS_B)
    serial = load_inputs([tmp_path], workers=1).frame
    pools: list[int] = []

    class CountingPool(parallel.ProcessPoolExecutor):
        def __init__(self, workers: int, **kwargs) -> None:  # noqa: ANN003
            pools.append(workers)
            super().__init__(workers, **kwargs)

    monkeypatch.setattr("refusal_stability.analysis.inputs.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)  # threads left by other tests' evals
    forked = load_inputs([tmp_path], workers=2).frame
    assert pools == [2], "the parallel read did not run in worker processes"
    pd.testing.assert_frame_equal(serial, forked)


def test_headers_read_in_one_loop_equal_per_file_reads(tmp_path: Path) -> None:
    import asyncio

    from refusal_stability.analysis.read_logs import read_eval_files

    paths = [write_log(tmp_path / "a.eval", model="mockllm/a"), tmp_path / "corrupt.eval"]
    paths[1].write_bytes(b"PK\x03\x04 not really a zip")
    paths.append(write_log(tmp_path / "b.eval", model="mockllm/b", labels=LABELS_B))

    def check(outcomes: list) -> None:  # noqa: ANN001
        assert isinstance(outcomes[1], AnalysisInputError) and "corrupt.eval" in str(outcomes[1])
        for path, outcome in zip(paths[::2], outcomes[::2], strict=True):
            frame, prompts, info = read_eval_file(path)
            pd.testing.assert_frame_equal(outcome[0], frame)
            pd.testing.assert_frame_equal(outcome[1], prompts)
            assert outcome[2] == info

    check(read_eval_files(paths))

    async def in_a_running_loop() -> list:  # a notebook: each log read on its own
        return read_eval_files(paths)

    check(asyncio.run(in_a_running_loop()))


def test_concat_keeps_sorted_united_categories() -> None:
    from pandas.api.types import union_categoricals

    from refusal_stability.analysis.tidy import CATEGORICAL_COLUMNS, as_categorical, concat_tidy, finish_tidy

    frames = [
        finish_tidy(pd.DataFrame({"model": ["m b", "m b"], "prompt_id": ["10", "9"], "label": ["REFUSE", "COMPLY"]})),
        finish_tidy(pd.DataFrame({"model": ["m a"], "prompt_id": ["9"], "label": ["UNSCORED"], "eval_id": ["e"]})),
        finish_tidy(pd.DataFrame({"model": ["m c", "m a"], "prompt_id": ["a", "10"], "label": ["PARTIAL", "COMPLY"]})),
    ]
    got = concat_tidy([frame.copy() for frame in frames])
    for column in CATEGORICAL_COLUMNS:
        expected = union_categoricals([as_categorical(f.copy())[column] for f in frames], sort_categories=True)
        pd.testing.assert_series_equal(got[column], pd.Series(expected, name=column))
    assert list(got["model"].cat.categories) == ["m a", "m b", "m c"] and got["eval_id"].isna().sum() == 4
