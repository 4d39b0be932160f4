"""The stability reduction's two layouts: epoch columns (current) and a list of epochs (older logs) read alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inspect_ai.log import EvalSampleReductions, EvalSampleScore, write_eval_log
from inspect_ai.scorer import Score
from synthetic_logs import PromptInfo, build_eval_log, old_layout_score

from refusal_stability.analysis.epoch_columns import epoch_columns, epoch_records
from refusal_stability.analysis.log_rows import rows_from_reductions
from refusal_stability.analysis.read_logs import read_eval_file
from refusal_stability.analysis.tidy import AnalysisInputError
from refusal_stability.scorers import stability

TEMPS, SEEDS = (0.0, 1.0), (42, 43)
PROMPTS = [PromptInfo("p-a", "advbench", "cyber"), PromptInfo("p-b", "harmbench", None)]
PRIMARY = {"p-a": ["REFUSE", "REFUSE", "COMPLY", "UNSCORED"], "p-b": ["COMPLY"] * 4}
SECOND = {"p-a": ["REFUSE", "PARTIAL", "COMPLY", "REFUSE"], "p-b": ["COMPLY", "COMPLY", None, "REFUSE"]}


def _read(tmp_path: Path, name: str, old_layout: bool) -> tuple[pd.DataFrame, Any]:
    log = build_eval_log(
        "mockllm/m", PROMPTS, PRIMARY, TEMPS, SEEDS, second_judges={"heur-2": SECOND}, with_roles=True,
        old_layout=old_layout,
    )  # fmt: skip
    path = tmp_path / f"{name}.eval"
    write_eval_log(log, str(path))
    frame, _, info = read_eval_file(path)
    return frame.drop(columns=["origin", "eval_id"]).reset_index(drop=True), info


def test_old_and_new_layouts_read_alike(tmp_path: Path) -> None:
    new, new_info = _read(tmp_path, "new", old_layout=False)
    old, old_info = _read(tmp_path, "old", old_layout=True)
    pd.testing.assert_frame_equal(new, old)
    assert new_info.identity == old_info.identity and new_info.reproducibility == old_info.reproducibility
    # the second judge's rows carry the grid and fingerprints of the primary's reduction, matched by epoch
    second = new[new["judge"] == "heur-2"].set_index(["prompt_id", "epoch"])
    primary = new[new["judge"] == "heuristic"].set_index(["prompt_id", "epoch"])
    assert len(second) == 7 and second["temperature"].notna().all() and second["response_hash"].notna().all()
    for column in ("temperature", "seed", "response_hash", "response_chars"):
        assert second[column].equals(primary.loc[second.index, column])
    assert ("p-b", 3) not in second.index  # the epoch the second judge did not label has no row


def test_new_layout_is_lean() -> None:
    scores = _scores("second", [("REFUSE", 1), ("COMPLY", 2)])
    assert stability()(scores).metadata["epochs"] == {"epoch": [1, 2], "label": ["REFUSE", "COMPLY"]}
    primary = stability()(_scores("primary", [("REFUSE", 1), ("COMPLY", 2)])).metadata
    assert "per_temperature" not in primary
    assert set(primary["epochs"]) == {"epoch", "temperature", "seed", "label", "sent_temperature", "sent_verified",
                                      "system_fingerprint"}  # fmt: skip


def _scores(role: str, labels: list[tuple[str, int]]) -> list[Score]:
    return [
        Score(
            value=label,
            metadata={
                "label": label,
                "epoch": epoch,
                "temperature": 0.5,
                "seed": epoch,
                "judge": role,
                "judge_role": role,
                "sent_temperature": 0.5,
                "sent_verified": True,
                "system_fingerprint": "fp-1" if epoch == 1 else None,
            },
        )  # fmt: skip
        for label, epoch in labels
    ]


def _reduction(scorer: str, scores: list[Score], old_layout: bool = False) -> EvalSampleReductions:
    reduced = stability()(scores)
    if old_layout:
        reduced = old_layout_score(reduced, scores)
    sample = EvalSampleScore(**reduced.model_dump(exclude={"history"}), sample_id="p-1")
    return EvalSampleReductions(scorer=scorer, reducer="stability", samples=[sample])


@pytest.mark.parametrize("old_primary", [False, True])
def test_second_judge_takes_sent_fields_from_the_primary(old_primary: bool) -> None:
    primary = _reduction(
        "refusal_judge", _scores("primary", [("REFUSE", 1), ("COMPLY", 2), ("COMPLY", 3)]), old_primary
    )
    second = _reduction("second_judge", _scores("second", [("COMPLY", 3), ("PARTIAL", 1)]))
    cols, _, _ = rows_from_reductions([primary, second])
    assert list(cols["judge"]) == ["primary"] * 3 + ["second"] * 2
    assert cols["label"] == ["REFUSE", "COMPLY", "COMPLY", "PARTIAL", "COMPLY"]
    assert cols["epoch"] == [1, 2, 3, 1, 3]
    assert cols["sent_temperature"] == [0.5] * 5 and cols["sent_verified"] == [True] * 5
    assert cols["system_fingerprint"] == ["fp-1", None, None, "fp-1", None]
    assert cols["sent_seed"] == [None] * 5 and cols["response_hash"] == [None] * 5


def test_second_judge_alone_reads_nulls() -> None:
    second = _reduction("second_judge", _scores("second", [("COMPLY", 1)]))
    cols, _, _ = rows_from_reductions([second])
    assert cols["label"] == ["COMPLY"] and cols["temperature"] == [None] and cols["sent_verified"] == [False]


def test_epoch_columns_of_both_layouts() -> None:
    listed = [{"epoch": 1, "label": "REFUSE", "panel": ["REFUSE", None]}, {"epoch": 2, "label": "COMPLY"}]
    columns = epoch_columns(listed)
    assert columns is not None and columns["epoch"] == [1, 2] and columns["panel"] == [["REFUSE", None], None]
    assert columns["temperature"] == [None, None]
    assert epoch_records({"epoch": [1], "label": ["REFUSE"]}) == [
        {"epoch": 1, "temperature": None, "seed": None, "label": "REFUSE", "response_hash": None,
         "response_chars": None, "sent_temperature": None, "sent_seed": None, "sent_top_p": None,
         "sent_verified": None, "system_fingerprint": None}
    ]  # fmt: skip


@pytest.mark.parametrize(
    "epochs",
    [None, {"label": ["REFUSE"]}, {"epoch": [1, 2], "label": ["REFUSE"]}, {"epoch": 1, "label": "REFUSE"}, [1, 2]],
)
def test_malformed_epochs_are_refused(epochs: Any) -> None:
    assert epoch_columns(epochs) is None
    sample = EvalSampleScore(value=1.0, metadata={"epochs": epochs}, sample_id="p-9")
    reduction = EvalSampleReductions(scorer="refusal_judge", reducer="stability", samples=[sample])
    with pytest.raises(AnalysisInputError, match=r"sample 'p-9' \(scorer 'refusal_judge'\).*metadata\['epochs'\]"):
        rows_from_reductions([reduction])
