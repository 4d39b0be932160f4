"""The one private Inspect name the project uses still exists and still gives one-line CLI errors."""

import subprocess
import sys

import pytest

from refusal_stability.errors import InputError


def test_input_error_is_a_value_error_with_its_message():
    error = InputError("n_prompts=0: expected an integer >= 1")
    assert isinstance(error, ValueError)
    assert str(error) == "n_prompts=0: expected an integer >= 1"
    with pytest.raises(ValueError, match="n_prompts=0"):
        raise error


def test_inspect_still_has_prerequisite_error():
    # If this fails, Inspect moved PrerequisiteError: update refusal_stability/errors.py.
    from inspect_ai._util.error import PrerequisiteError

    assert issubclass(InputError, PrerequisiteError)


def test_inspect_eval_prints_bad_task_input_without_a_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspect_ai",
            "eval",
            "refusal_stability/refusal_stability",
            "--model",
            "mockllm/model",
            "-T",
            "dataset=bundled",
            "-T",
            "n_prompts=0",
            "-T",
            "judge=heuristic",
            "--log-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "n_prompts=0: expected an integer >= 1" in output
    assert "Traceback" not in output
