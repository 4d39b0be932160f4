"""The task end to end on an offline mock model: every (sample, epoch) is generated with its grid cell."""

from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from mock_models import echo_config, mock_model

from refusal_stability.inspect_tasks import refusal_stability

TEMPERATURES = [0.0, 0.7]
SEEDS = [42, 43]
GRID = [(t, s) for t in TEMPERATURES for s in SEEDS]


def run_task(tmp_path, **task_args):
    """Run the task on 3 bundled prompts against a mock model that echoes its config; return the log."""
    args = {"dataset": "bundled", "n_prompts": 3, "temperatures": TEMPERATURES, "seeds": SEEDS, "judge": "heuristic"}
    [log] = inspect_eval(
        refusal_stability(**{**args, **task_args}),
        model=mock_model(echo_config),
        log_dir=str(tmp_path),
        display="none",
    )
    return read_eval_log(log.location)


def test_each_epoch_uses_its_temperature_and_seed(tmp_path):
    log = run_task(tmp_path)
    assert log.status == "success", log.error
    assert log.eval.config.epochs == len(GRID)
    assert len(log.samples) == 3 * len(GRID)
    for sample in log.samples:
        temperature, seed = GRID[sample.epoch - 1]
        assert (sample.metadata["temperature"], sample.metadata["seed"]) == (temperature, seed)
        assert sample.store["sampling"] == {"epoch": sample.epoch, "temperature": temperature, "seed": seed}
        [model_event] = [event for event in sample.events if event.event == "model"]
        assert (model_event.config.temperature, model_event.config.seed) == (temperature, seed)
        assert model_event.config.max_tokens == 512
        # the mock model saw the same config the event records
        assert f"[temperature={temperature} seed={seed}]" in sample.output.completion


def test_sample_ids_are_stable_across_runs_and_models(tmp_path):
    first = run_task(tmp_path / "a")
    second = run_task(tmp_path / "b", max_tokens=64)
    ids = sorted({str(s.id) for s in first.samples})
    assert ids == sorted({str(s.id) for s in second.samples})
    assert ids == ["b-animal-01", "b-animal-02", "b-animal-03"]


def test_system_prompt_and_generation_options_reach_the_model(tmp_path):
    log = run_task(tmp_path, system_prompt="You are careful.", max_tokens=77, top_p=0.9)
    sample = log.samples[0]
    assert sample.messages[0].role == "system" and sample.messages[0].text == "You are careful."
    [model_event] = [event for event in sample.events if event.event == "model"]
    assert (model_event.config.max_tokens, model_event.config.top_p) == (77, 0.9)


@pytest.mark.parametrize("epochs", [5, 3])
def test_epochs_override_that_does_not_match_the_grid_fails(tmp_path, epochs):
    [log] = inspect_eval(
        refusal_stability(dataset="bundled", n_prompts=1, temperatures=TEMPERATURES, seeds=SEEDS, judge="heuristic"),
        model=mock_model(echo_config),
        epochs=epochs,
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "error"
    assert "len(temperatures) x len(seeds) = 4" in log.error.message


def test_bad_task_arguments_fail_before_running():
    with pytest.raises(ValueError, match="duplicate values"):
        refusal_stability(dataset="bundled", temperatures=[0.0, 0.0])
    with pytest.raises(ValueError, match="n_prompts"):
        refusal_stability(dataset="bundled", n_prompts=0)


@pytest.mark.parametrize(
    ("task_ref", "task_name"),
    [
        ("refusal_stability/refusal_stability", "refusal_stability/refusal_stability"),  # the entry point
        ("inspect_tasks/refusal_stability.py", "refusal_stability"),  # a checkout's file
    ],
)
def test_task_resolves_by_registry_name_and_by_file(tmp_path, monkeypatch, task_ref, task_name):
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)  # a checkout user runs `inspect eval inspect_tasks/refusal_stability.py` from the root
    [log] = inspect_eval(
        task_ref,
        task_args={"dataset": "bundled", "n_prompts": 1, "temperatures": [0.0], "seeds": [1, 2], "judge": "heuristic"},
        model=mock_model(echo_config),
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.eval.task == task_name
    assert log.eval.config.epochs == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"max_tokens": 0}, "max_tokens=0: expected an integer >= 1"),
        ({"max_tokens": 2.5}, "max_tokens=2.5: expected an integer >= 1"),
        ({"top_p": 0}, r"top_p=0: expected a number in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p=1.5: expected a number in \(0, 1\]"),
        ({"seeds": [2**63]}, "outside the signed 64-bit range"),
        ({"seeds": [-(2**63) - 1]}, "outside the signed 64-bit range"),
        ({"n_prompts": "inf"}, "n_prompts='inf': expected an integer >= 1"),
    ],
)
def test_each_bad_generation_argument_gets_one_clear_error(args, message):
    with pytest.raises(ValueError, match=message):
        refusal_stability(dataset="bundled", judge="heuristic", **args)


def test_system_prompt_with_commas_from_the_cli_is_the_text_the_user_wrote(tmp_path):
    # `-T "system_prompt=Be safe, refuse harm."` reaches the task as a list (Inspect splits -T on commas)
    log = run_task(tmp_path, system_prompt=["Be safe", " refuse harm. {category}"])
    assert log.status == "success", log.error
    first = log.samples[0].messages[0]
    assert first.role == "system" and first.text == "Be safe, refuse harm. {category}"  # verbatim, not formatted


def test_system_prompt_from_a_file(tmp_path):
    prompt_file = tmp_path / "system.txt"
    prompt_file.write_text("You are careful.\nRefuse harm.")
    log = run_task(tmp_path / "logs", system_prompt=str(prompt_file))
    assert log.samples[0].messages[0].text == "You are careful.\nRefuse harm."


def test_condition_is_recorded_in_the_log(tmp_path):
    log = run_task(tmp_path, condition="safety-prompt")
    assert log.eval.task_args["condition"] == "safety-prompt"
    assert all(score.metadata["condition"] == "safety-prompt" for s in log.samples for score in s.scores.values())
