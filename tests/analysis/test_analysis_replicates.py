"""Independent re-runs of one model and grid are replicates: named apart, compared, never double-counted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from inspect_ai.log import write_eval_log
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis import analyze

TEMPERATURES, SEEDS = (0.0, 1.0), (1, 2)


def _write(path: Path, prompt_ids: list[str], label: str, model: str = "vllm/m") -> Path:
    prompts = [PromptInfo(pid, source="s") for pid in prompt_ids]
    labels = {pid: [label] * (len(TEMPERATURES) * len(SEEDS)) for pid in prompt_ids}
    write_eval_log(build_eval_log(model, prompts, labels, TEMPERATURES, SEEDS), str(path))
    time.sleep(0.01)  # distinct creation times
    return path


def test_two_runs_of_one_grid_are_two_replicates(tmp_path: Path) -> None:
    _write(tmp_path / "first.eval", ["a", "b"], "REFUSE")
    _write(tmp_path / "second.eval", ["a", "b"], "COMPLY")
    with pytest.warns(UserWarning, match="analysed as replicates"):
        result = analyze([tmp_path], n_boot=20)
    per_model = result.per_model.set_index("model")
    assert list(per_model.index) == ["vllm/m (run 1)", "vllm/m (run 2)"]
    assert per_model.loc["vllm/m (run 1)", "refusal_pct"] == 100.0  # the first log created is run 1
    assert per_model.loc["vllm/m (run 2)", "comply_pct"] == 100.0
    assert (per_model["n_prompts"] == 2).all()
    assert (result.per_prompt["n_valid"] == 4).all()  # never 8: the runs are not pooled
    comply = result.comparisons.set_index("metric").loc["comply_pct"]
    assert (comply["a"], comply["b"], comply["diff"]) == ("vllm/m (run 1)", "vllm/m (run 2)", 100.0)


def test_a_run_split_over_logs_of_disjoint_prompts_stays_one_run(tmp_path: Path) -> None:
    _write(tmp_path / "shard1.eval", ["a", "b"], "REFUSE")
    _write(tmp_path / "shard2.eval", ["c", "d"], "REFUSE")
    result = analyze([tmp_path], n_boot=20)
    assert list(result.per_model["model"]) == ["vllm/m"]
    assert int(result.per_model["n_prompts"].iloc[0]) == 4


def test_a_rerun_of_a_sharded_run_pairs_shard_by_shard(tmp_path: Path) -> None:
    _write(tmp_path / "1-shard1.eval", ["a", "b"], "REFUSE")
    _write(tmp_path / "2-shard2.eval", ["c", "d"], "REFUSE")
    _write(tmp_path / "3-rerun-shard1.eval", ["a", "b"], "COMPLY")
    _write(tmp_path / "4-rerun-shard2.eval", ["c", "d"], "COMPLY")
    with pytest.warns(UserWarning, match="replicates"):
        result = analyze([tmp_path], n_boot=20)
    per_model = result.per_model.set_index("model")
    assert per_model.loc["vllm/m (run 1)", "refusal_pct"] == 100.0
    assert per_model.loc["vllm/m (run 2)", "comply_pct"] == 100.0
    assert (per_model["n_prompts"] == 4).all()


def test_the_same_labels_csv_twice_is_still_an_error(tmp_path: Path) -> None:
    rows = "model,prompt_id,temperature,seed,judge,label\nm,a,0.0,1,j,REFUSE\n"
    (tmp_path / "one.csv").write_text(rows)
    (tmp_path / "two.csv").write_text(rows)
    with pytest.raises(ValueError, match="the same records"):
        analyze(labels=[tmp_path / "one.csv", tmp_path / "two.csv"])
