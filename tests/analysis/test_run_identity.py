"""A run is everything that changes what the model saw: logs pool or count as replicates only when that matches.

Two different models whose paths share a folder name, two grids of one model, and logs that differ in the
system prompt or max_tokens are different runs, named so a reader can tell them apart; logs identical in all
of it stay replicates (or one run split over shards).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import write_eval_log
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis import analyze
from refusal_stability.analysis.run_identity import run_identity

TEMPERATURES, SEEDS = (0.0, 1.0), (1, 2)


def _write(
    path: Path,
    model: str,
    prompt_ids: list[str],
    label: str,
    temperatures: tuple[float, ...] = TEMPERATURES,
    seeds: tuple[int, ...] = SEEDS,
    task_args: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    **spec: Any,
) -> Path:
    prompts = [PromptInfo(pid, source="s") for pid in prompt_ids]
    labels = {pid: [label] * (len(temperatures) * len(seeds)) for pid in prompt_ids}
    log = build_eval_log(model, prompts, labels, temperatures, seeds)
    log.eval.task_args.update(task_args or {})
    if metadata is not None:
        log.eval.metadata = metadata
    for name, value in spec.items():
        setattr(log.eval, name, value)
    write_eval_log(log, str(path))
    time.sleep(0.01)  # distinct creation times
    return path


def _models(result: Any) -> list[str]:
    return sorted(result.per_model["model"])


def test_two_models_whose_paths_share_a_folder_name_are_two_runs(tmp_path: Path) -> None:
    _write(tmp_path / "base.eval", "vllm//models/base/checkpoint-1000", ["a", "b"], "REFUSE")
    _write(tmp_path / "tuned.eval", "vllm//models/tuned/checkpoint-1000", ["a", "b"], "COMPLY")
    result = analyze([tmp_path], n_boot=20)
    models = _models(result)
    assert len(models) == 2 and not any("(run " in model for model in models)  # not replicates of one model
    assert any("/models/base/checkpoint-1000" in model for model in models)
    assert any("/models/tuned/checkpoint-1000" in model for model in models)
    assert result.rerun_text_change is None  # no "re-run nondeterminism" between different models


def test_two_models_whose_paths_share_a_folder_name_are_not_pooled_on_disjoint_prompts(tmp_path: Path) -> None:
    _write(tmp_path / "base.eval", "vllm//models/base/checkpoint-1000", ["a", "b"], "REFUSE")
    _write(tmp_path / "tuned.eval", "vllm//models/tuned/checkpoint-1000", ["c", "d"], "COMPLY")
    result = analyze([tmp_path], n_boot=20)
    assert len(result.per_model) == 2
    assert (result.per_model["n_prompts"] == 2).all()


def test_a_unique_local_model_keeps_its_short_name(tmp_path: Path) -> None:
    _write(tmp_path / "base.eval", "vllm//models/base/checkpoint-1000", ["a", "b"], "REFUSE")
    _write(tmp_path / "other.eval", "vllm//models/other/model-x", ["a", "b"], "REFUSE")
    assert _models(analyze([tmp_path], n_boot=20)) == ["vllm/checkpoint-1000", "vllm/model-x"]


def test_two_grids_of_one_model_are_two_runs_named_by_their_grid(tmp_path: Path) -> None:
    _write(tmp_path / "cold.eval", "vllm/m", ["a", "b"], "REFUSE", temperatures=(0.0,), seeds=(1, 2))
    _write(tmp_path / "hot.eval", "vllm/m", ["a", "b"], "COMPLY", temperatures=(1.0,), seeds=(1, 2, 3))
    result = analyze([tmp_path], n_boot=20)
    per_model = result.per_model.set_index("model")
    assert len(per_model) == 2, list(per_model.index)
    assert (per_model["mean_ssi"] == 1.0).all()  # each log alone is perfectly stable; pooled it would be 0.6
    assert (per_model["flip_pct"] == 0.0).all()
    names = " ".join(per_model.index)
    assert "temperatures" in names and "(run " not in names


@pytest.mark.parametrize(
    ("setting", "first", "second"),
    [("system_prompt", "Be safe.", "Be helpful."), ("max_tokens", 256, 512), ("top_p", 1.0, 0.9)],
)
def test_logs_differing_in_a_task_setting_are_not_replicates(
    tmp_path: Path, setting: str, first: object, second: object
) -> None:
    _write(tmp_path / "one.eval", "vllm/m", ["a", "b"], "REFUSE", task_args={setting: first})
    _write(tmp_path / "two.eval", "vllm/m", ["a", "b"], "COMPLY", task_args={setting: second})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analyze([tmp_path], n_boot=20)
    assert not any("replicates" in str(w.message) for w in caught)
    models = _models(result)
    assert len(models) == 2 and all(setting in model for model in models), models
    assert not any("(run " in model for model in models)
    assert result.rerun_text_change is None


def test_the_system_prompt_received_counts_over_the_argument_as_given(tmp_path: Path) -> None:
    args = {"system_prompt": "prompts/safety.txt"}  # the same file argument, two different texts read from it
    _write(tmp_path / "one.eval", "vllm/m", ["a"], "REFUSE", task_args=args, metadata={"system_prompt": "Be safe."})
    _write(tmp_path / "two.eval", "vllm/m", ["a"], "REFUSE", task_args=args, metadata={"system_prompt": "Be kind."})
    assert len(analyze([tmp_path], n_boot=20).per_model) == 2


def test_logs_of_other_endpoints_or_server_args_are_different_runs(tmp_path: Path) -> None:
    _write(tmp_path / "one.eval", "vllm/m", ["a"], "REFUSE", model_base_url="http://gpu-1:8000/v1")
    _write(tmp_path / "two.eval", "vllm/m", ["a"], "REFUSE", model_base_url="http://gpu-2:8000/v1")
    _write(tmp_path / "three.eval", "vllm/m", ["a"], "REFUSE", model_args={"dtype": "float16"})
    models = _models(analyze([tmp_path], n_boot=20))
    assert len(models) == 3 and not any("(run " in model for model in models), models


def test_logs_identical_in_identity_stay_replicates(tmp_path: Path) -> None:
    same: dict[str, Any] = {"system_prompt": "Be safe.", "max_tokens": 256, "top_p": 1.0, "dataset": "bundled"}
    secret = {"model_args": {"api_key": "k1", "host": "127.0.0.1"}}
    _write(tmp_path / "first.eval", "vllm/m", ["a", "b"], "REFUSE", task_args=same, **secret)
    _write(tmp_path / "second.eval", "vllm/m", ["a", "b"], "COMPLY", task_args=same, model_args={"api_key": "k2"})
    with pytest.warns(UserWarning, match="analysed as replicates"):
        result = analyze([tmp_path], n_boot=20)
    assert _models(result) == ["vllm/m (run 1)", "vllm/m (run 2)"]


def test_shards_of_one_identity_stay_one_run(tmp_path: Path) -> None:
    same = {"system_prompt": "Be safe.", "max_tokens": 256}
    _write(tmp_path / "s1.eval", "vllm/m", ["a", "b"], "REFUSE", task_args=same)
    _write(tmp_path / "s2.eval", "vllm/m", ["c", "d"], "REFUSE", task_args=same)
    result = analyze([tmp_path], n_boot=20)
    assert _models(result) == ["vllm/m"] and int(result.per_model["n_prompts"].iloc[0]) == 4


def test_identity_fields_and_the_grid_as_sent() -> None:
    import pandas as pd
    from inspect_ai.log import read_eval_log  # noqa: F401 - the header type is Inspect's

    prompts = [PromptInfo("a")]
    asked_cold = build_eval_log("anthropic/claude", prompts, {"a": ["REFUSE"] * 2}, (0.0,), (1, 2))
    asked_hot = build_eval_log("anthropic/claude", prompts, {"a": ["REFUSE"] * 2}, (1.0,), (1, 2))
    nothing_sent = pd.DataFrame(
        {"epoch": [1, 2], "sent_temperature": [None, None], "sent_seed": [None, None], "sent_verified": [True, True]}
    )
    unverified = nothing_sent.assign(sent_verified=False)
    # asked for different temperatures, sent none: the same draws
    assert run_identity(asked_cold, nothing_sent).key == run_identity(asked_hot, nothing_sent).key
    # nothing verified: what was asked is all we know, and it differs
    assert run_identity(asked_cold, unverified).key != run_identity(asked_hot, unverified).key
    identity = run_identity(asked_cold, unverified)
    assert identity.field("model") == "anthropic/claude"
    assert identity.key == run_identity(asked_cold, unverified).key  # deterministic
