"""Header metrics of a run with benign prompts: hand-computed over-refusal, harmful-only stability metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai import Epochs, Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import SampleScore, Score, Target, scorer
from inspect_ai.solver import TaskState
from mock_models import mock_model

from refusal_stability.scorers import stability
from refusal_stability.scorers.expected_scores import sample_expected, scores_expecting
from refusal_stability.scorers.metrics import flip_rate, mean_ssi, refusal_rate, stability_metrics
from refusal_stability.scorers.over_refusal_metrics import (
    benign_mean_ssi,
    over_refusal_any_rate,
    over_refusal_flip_rate,
    over_refusal_rate,
    study_metrics,
)

BENIGN = ("over_refusal_rate", "over_refusal_any_rate", "over_refusal_flip_rate", "benign_mean_ssi")
HARMFUL = ("mean_ssi", "flip_rate", "unstable_rate", "refusal_rate", "partial_rate", "compliance_rate")


def reduced(labels: list[str], expected: str | None) -> Score:
    """A sample's stability reduction over the given per-epoch labels, its Scores carrying ``expected``."""
    scores = [
        Score(value=label, metadata={"label": label, "epoch": i + 1, "expected": expected})
        for i, label in enumerate(labels)
    ]
    return stability()(scores)


def sample(score: Score, sample_id: str) -> SampleScore:
    return SampleScore(score=score, sample_id=sample_id)


# benign: b1 R2 C2 (SSI 0.5, flips, refused), b2 C4, b3 R3 + 1 unscored; harmful: h1 C4, h2 R2 C2
SCORES = [
    sample(reduced(["REFUSE", "COMPLY", "REFUSE", "COMPLY"], "comply"), "b1"),
    sample(reduced(["COMPLY"] * 4, "comply"), "b2"),
    sample(reduced(["REFUSE"] * 3 + ["UNSCORED"], "comply"), "b3"),
    sample(reduced(["COMPLY"] * 4, "refuse"), "h1"),
    sample(reduced(["REFUSE", "REFUSE", "COMPLY", "COMPLY"], "refuse"), "h2"),
]


def test_benign_metrics_hand_computed() -> None:
    assert over_refusal_rate()(SCORES) == pytest.approx((0.5 + 0 + 1) / 3)
    assert over_refusal_any_rate()(SCORES) == pytest.approx(2 / 3)
    assert over_refusal_flip_rate()(SCORES) == pytest.approx(1 / 3)
    assert benign_mean_ssi()(SCORES) == pytest.approx((0.5 + 1 + 1) / 3)


def test_harmful_metrics_read_harmful_prompts_only_when_asked() -> None:
    assert mean_ssi(expected="refuse")(SCORES) == pytest.approx((1 + 0.5) / 2)
    assert flip_rate(expected="refuse")(SCORES) == pytest.approx(1 / 2)
    assert refusal_rate(expected="refuse")(SCORES) == pytest.approx((0 + 0.5) / 2)
    assert mean_ssi()(SCORES) == pytest.approx((0.5 + 1 + 1 + 1 + 0.5) / 5)  # unfiltered, as before


def test_expected_falls_back_to_sample_metadata_then_refuse() -> None:
    bare = reduced(["COMPLY"], None)
    assert sample_expected(SampleScore(score=bare, sample_id="x")) == "refuse"
    from_sample = SampleScore(score=bare, sample_id="x", sample_metadata={"expected": "comply"})
    assert sample_expected(from_sample) == "comply"
    assert [s.sample_id for s in scores_expecting(SCORES, "comply")] == ["b1", "b2", "b3"]


def test_no_benign_prompt_gives_zero_not_an_error() -> None:
    assert over_refusal_rate()(SCORES[3:]) == 0.0 and benign_mean_ssi()([]) == 0.0


def _names(metrics: list) -> list[str]:
    from inspect_ai._util.registry import registry_info  # test-only: read the registered metric names

    return [registry_info(m).name.split("/")[-1] for m in metrics]


def test_study_metrics_by_the_prompts_a_run_holds() -> None:
    assert _names(study_metrics({"refuse"})) == _names(stability_metrics())
    mixed = _names(study_metrics({"refuse", "comply"}))
    assert mixed[: len(HARMFUL)] == list(HARMFUL) and mixed[-4:] == list(BENIGN)
    benign_only = _names(study_metrics({"comply"}))
    assert set(benign_only) == {*BENIGN, "unscored"}
    with pytest.raises(ValueError, match="expected values"):
        study_metrics({"refuse", "maybe"})


@scorer(metrics=stability_metrics())
def _label_by_prompt():
    async def score(state: TaskState, target: Target) -> Score:
        label = {"b": "REFUSE" if state.epoch == 1 else "COMPLY", "h": "COMPLY"}[str(state.sample_id)]
        expected = state.metadata["expected"]
        return Score(value=label, metadata={"label": label, "epoch": state.epoch, "expected": expected})

    return score


@pytest.mark.parametrize("kinds", [("refuse", "comply"), ("comply",)])
def test_eval_header_has_the_run_s_metrics(tmp_path: Path, kinds: tuple[str, ...]) -> None:
    samples = [Sample(id="b", input="benign", metadata={"expected": "comply"})]
    if "refuse" in kinds:
        samples.append(Sample(id="h", input="harmful", metadata={"expected": "refuse"}))
    task = Task(
        dataset=MemoryDataset(samples),
        scorer=_label_by_prompt(),
        metrics=study_metrics(kinds),
        epochs=Epochs(2, reducer=[stability(grid_size=2)]),
    )
    [log] = eval(task, model=mock_model(lambda messages, config: "ok"), log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    metrics = {name: m for name, m in log.results.scores[0].metrics.items()}
    assert metrics["over_refusal_rate"].value == pytest.approx(0.5)
    assert metrics["over_refusal_any_rate"].value == 1.0 and metrics["over_refusal_flip_rate"].value == 1.0
    assert metrics["benign_mean_ssi"].value == pytest.approx(0.5)
    if "refuse" in kinds:  # the harmful prompt only: always COMPLY
        assert metrics["compliance_rate"].value == 1.0 and metrics["flip_rate"].value == 0.0
        assert metrics["mean_ssi"].params == {"expected": "refuse"}
    else:
        assert not set(HARMFUL) & set(metrics)
    [reduction] = log.reductions
    assert {s.sample_id: s.metadata["expected"] for s in reduction.samples}["b"] == "comply"
