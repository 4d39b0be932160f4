"""The judge check task: given responses graded by the study's judge, agreement with reference labels.

Runs through ``inspect_ai.eval`` with ``model="none"`` (no model under test), the heuristic or a mockllm grader
bound to the ``grader`` role whose verdicts are known, so every header figure has a hand-computed value.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from inspect_ai import eval
from inspect_ai.log import EvalLog
from inspect_ai.model import get_model
from mock_models import text_output

from refusal_stability.definitions.judge_check import CONTRACT_NAMES, WEIGHTED_NAMES, judge_check_figures
from refusal_stability.errors import InputError
from refusal_stability.inspect_tasks.judge_check import judge_check_task
from refusal_stability.inspect_tasks.reference_set import load_reference
from refusal_stability.scorers import grading as grading_module
from refusal_stability.scorers.heuristic import classify

LABELS = ["REFUSE", "PARTIAL", "COMPLY"]
# reference (rows) vs mock grader (columns): confusion [[3,1,0],[0,1,1],[1,0,3]] -> agreement 0.7, kappa 0.53125
REFERENCE = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
GRADED = [0, 0, 1, 1, 2, 2, 2, 2, 0, 0]
WEIGHTS = [1, 1, 2, 1, 1, 1, 1, 1, 3, 1]  # weighted table [[3,2,0],[0,1,1],[3,0,3]]: p_o 7/13, p_e 60/169


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grading_module, "RETRY_WAIT_MULTIPLIER", 0.0)
    monkeypatch.setattr(grading_module, "RETRY_WAIT_MAX", 0.0)


def _rows(weights: bool = True) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {"id": f"r{i:02d}", "prompt": f"request {i}", "response": f"answer number {i}.", "label": LABELS[ref]}
        for i, ref in enumerate(REFERENCE)
    ]
    rows.append({"id": "r10", "prompt": "request 10", "response": "answer number 10.", "label": "UNKNOWN"})
    rows.append({"id": "r11", "prompt": "request 11", "response": "answer number 11.", "label": "REFUSE"})
    for row, weight in zip(rows, [*WEIGHTS, 1, 1], strict=True):
        if weights:
            row["weight"] = weight
    return rows


def _write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _grader(calls: list[str]):
    """Verdicts by response number: GRADED for 0-9, REFUSE for 10, garbage (unparseable) for 11."""

    def reply(input, tools, tool_choice, config):
        text = input[-1].text
        calls.append(text)
        number = int(text.split("answer number ")[1].split(".")[0])
        if number == 11:
            return text_output("I am not sure.")
        verdict = "REFUSE" if number == 10 else LABELS[GRADED[number]]
        return text_output(f"Reasoning.\nVERDICT: {verdict}")

    return get_model("mockllm/judge-under-check", custom_outputs=reply)


def _metrics(log: EvalLog) -> dict[str, float]:
    assert log.status == "success", log.error
    assert log.results is not None
    [score] = log.results.scores
    assert score.name == "judge_check"
    return {name: metric.value for name, metric in score.metrics.items()}


def _check(tmp_path: Path, reference: Path, calls: list[str]) -> EvalLog:
    [log] = eval(
        judge_check_task(reference=str(reference), grader_attempts=2),
        model="none",
        model_roles={"grader": _grader(calls)},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    return log


def test_mock_grader_known_answers_give_known_kappa(tmp_path: Path) -> None:
    calls: list[str] = []
    log = _check(tmp_path, _write_csv(tmp_path / "ref.csv", _rows()), calls)
    metrics = _metrics(log)
    assert metrics["agreement"] == pytest.approx(0.7)
    assert metrics["kappa"] == pytest.approx(0.53125)
    assert metrics["kappa_ci_low"] <= metrics["kappa"] <= metrics["kappa_ci_high"]
    assert metrics["weighted_agreement"] == pytest.approx(7 / 13)
    p_o, p_e = 7 / 13, 60 / 169
    assert metrics["weighted_kappa"] == pytest.approx((p_o - p_e) / (1 - p_e))
    assert metrics["precision_REFUSE"] == pytest.approx(3 / 4) and metrics["recall_COMPLY"] == pytest.approx(3 / 4)
    assert metrics["precision_PARTIAL"] == pytest.approx(1 / 2) and metrics["recall_PARTIAL"] == pytest.approx(1 / 2)
    expected = [[3, 1, 0], [0, 1, 1], [1, 0, 3]]
    for i, ref in enumerate(LABELS):
        for j, judged in enumerate(LABELS):
            assert metrics[f"confusion_{ref}_{judged}"] == expected[i][j]
    # r10: reference UNKNOWN; r11: the grader's verdict stays unparseable (2 attempts)
    assert (metrics["n_scored"], metrics["n_unscored"]) == (10, 2)
    assert len(calls) == 13  # 11 verdicts + 2 attempts on r11; the model under test is never called
    assert log.samples is not None
    assert sorted(str(sample.id) for sample in log.samples) == [f"r{i:02d}" for i in range(12)]
    [usage_model] = log.stats.model_usage
    assert "judge-under-check" in usage_model


def test_no_weight_column_no_weighted_metrics(tmp_path: Path) -> None:
    metrics = _metrics(_check(tmp_path, _write_csv(tmp_path / "ref.csv", _rows(weights=False)), []))
    assert not set(WEIGHTED_NAMES) & set(metrics)
    assert metrics["kappa"] == pytest.approx(0.53125)


def test_metric_names_are_the_contract(tmp_path: Path) -> None:
    metrics = _metrics(_check(tmp_path, _write_csv(tmp_path / "ref.csv", _rows()), []))
    assert list(metrics) == list(CONTRACT_NAMES)
    for name in ("agreement", "kappa", "kappa_ci_low", "kappa_ci_high", "weighted_agreement", "weighted_kappa"):
        assert name in CONTRACT_NAMES
    assert {f"precision_{label}" for label in LABELS} | {f"recall_{label}" for label in LABELS} <= set(metrics)
    assert "n_unscored" in metrics


def test_heuristic_on_the_bundled_set(tmp_path: Path) -> None:
    limit = 80
    [log] = eval(judge_check_task(judge="heuristic"), model="none", limit=limit, log_dir=str(tmp_path), display="none")
    metrics = _metrics(log)
    rows = list(
        csv.DictReader(gzip.open(Path(__file__).parents[2] / "inspect_tasks/data/judge_reference_set.csv.gz", "rt"))
    )
    rows = rows[:limit]
    expected = judge_check_figures(
        reference=[row["label"] for row in rows],
        judged=[classify(row["response"], row["prompt"]) for row in rows],
        clusters=[row["prompt_id"] for row in rows],
        weights=[float(row["weight"]) for row in rows],
    )
    for name, value in expected.items():
        if value is None:
            assert name not in metrics
        else:
            assert metrics[name] == pytest.approx(value), name
    assert metrics["n_scored"] + metrics["n_unscored"] == limit
    assert log.eval.metadata is not None and log.eval.metadata["reference"] == "bundled"


def test_bundled_reference_loads_with_ids_weights_and_clusters() -> None:
    dataset = load_reference()
    assert len(dataset) == 500
    first = dataset[0]
    assert first.id == "ref-000" and first.metadata is not None
    assert first.metadata["reference_label"] in LABELS and first.metadata["weight"] > 0
    assert first.metadata["cluster"] == first.metadata["prompt_id"]
    assert "label_primary" in first.metadata["reference_columns"]


def test_jsonl_reference_without_ids_or_prompts(tmp_path: Path) -> None:
    path = tmp_path / "ref.jsonl"
    path.write_text("\n".join(json.dumps({"response": f"r{i}", "label": "comply "}) for i in range(3)) + "\n")
    dataset = load_reference(str(path))
    assert [sample.id for sample in dataset] == ["row-1", "row-2", "row-3"]
    assert dataset[0].metadata is not None
    assert dataset[0].metadata["reference_label"] == "COMPLY" and dataset[0].metadata["weight"] is None


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.csv", None, "does not exist"),
        ("ref.txt", "response,label\nx,REFUSE\n", "unsupported type"),
        ("ref.csv", "response,verdict\nx,REFUSE\n", "no 'label' column"),
        ("ref.csv", "response,label,weight\nx,REFUSE,-1\n", "line 2: weight '-1'"),
        ("ref.csv", "id,response,label\na,x,REFUSE\na,y,COMPLY\n", "duplicate id 'a'"),
        ("ref.csv", "id,response,label\na/b,x,REFUSE\n", "contains '/'"),
        ("ref.jsonl", '{"response": "x", "label": "REFUSE"}\n{oops\n', "line 2: malformed JSON"),
        ("ref.csv", "response,label\n", "holds no rows"),
    ],
)
def test_bad_reference_files_get_one_line_errors(tmp_path: Path, name: str, content: str | None, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=match) as error:
        judge_check_task(reference=str(path), judge="heuristic")
    assert "\n" not in str(error.value)


def test_more_than_one_epoch_is_refused(tmp_path: Path) -> None:
    [log] = eval(
        judge_check_task(reference=str(_write_csv(tmp_path / "ref.csv", _rows())), judge="heuristic"),
        model="none",
        epochs=2,
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert log.status == "error" and log.error is not None and "--epochs 2" in log.error.message


def _fixed_grader(name: str, verdicts: dict[int, str]):
    """A panel member answering ``verdicts[number]`` (default: the reference label) for 'answer number N.'."""

    def reply(input, tools, tool_choice, config):
        number = int(input[-1].text.split("answer number ")[1].split(".")[0])
        default = "REFUSE" if number >= 10 else LABELS[REFERENCE[number]]
        answer = verdicts.get(number, default)
        return text_output(answer if answer.startswith("?") else f"Because.\nVERDICT: {answer}")

    return get_model(f"mockllm/{name}", custom_outputs=reply)


def test_three_member_panel_judge_check_end_to_end(tmp_path: Path) -> None:
    from refusal_stability.analysis.judge_check import judge_check_table, read_judge_check

    panel = [
        _fixed_grader("a", {0: "COMPLY", 1: "COMPLY"}),  # response 1: COMPLY, COMPLY, REFUSE -> COMPLY
        _fixed_grader("b", {1: "COMPLY", 2: "?unsure", 3: "REFUSE"}),  # 2: b withholds; 3: PARTIAL/REFUSE/COMPLY tie
        _fixed_grader("c", {3: "COMPLY"}),
    ]
    [log] = eval(
        judge_check_task(reference=str(_write_csv(tmp_path / "ref.csv", _rows())), grader_attempts=1),
        model="none",
        model_roles={"grader": panel},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    metrics = _metrics(log)
    assert log.samples is not None
    scores = {str(s.id): s.scores["judge_check"] for s in log.samples if s.scores}
    assert scores["r00"].value == "REFUSE" and scores["r01"].value == "COMPLY"
    assert scores["r03"].value == "UNSCORED" and scores["r03"].metadata["reason"] == "panel tie"
    panel_meta = scores["r02"].metadata["panel"]
    assert panel_meta["members"] == ["mockllm/a", "mockllm/b", "mockllm/c"]
    assert panel_meta["votes"] == ["REFUSE", None, "REFUSE"] and panel_meta["failures"][0]["member"] == "mockllm/b"
    assert scores["r02"].metadata["judge"] == "panel(mockllm/a,mockllm/b,mockllm/c)"
    # r01 and r03 wrong/unscored, r10 UNKNOWN reference, r11 agrees (REFUSE): 9 scored, 8 agree
    assert (metrics["n_scored"], metrics["n_unscored"]) == (10, 2)
    assert metrics["agreement"] == pytest.approx(9 / 10)
    table = judge_check_table([read_judge_check(log.location)], n_boot=1000)
    panel_row = table[table["kind"] == "judge"].iloc[0]
    assert panel_row["kappa"] == pytest.approx(metrics["kappa"])
    assert panel_row["kappa_ci_low"] == pytest.approx(metrics["kappa_ci_low"])
    members = table[table["kind"] == "panel member"].set_index("judge")
    assert list(members.index) == ["mockllm/a", "mockllm/b", "mockllm/c"]
    assert members.loc["mockllm/b", "n_unscored"] == 2  # its withheld vote and the UNKNOWN reference
    assert members.loc["mockllm/c", "agreement"] == pytest.approx(10 / 11)  # wrong only on response 3
