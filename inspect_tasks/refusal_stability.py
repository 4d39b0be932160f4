"""The refusal-stability task: every prompt answered once per (temperature, seed), each answer judged.

Run from a checkout: ``inspect eval inspect_tasks/refusal_stability.py --model vllm/<model>``, or after
``pip install``: ``inspect eval refusal_stability/refusal_stability --model vllm/<model>``.
"""

import math
from collections.abc import Sequence

from inspect_ai import Epochs, Task, task
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import Solver

from refusal_stability import __version__
from refusal_stability.definitions.grid import DEFAULT_SEEDS, DEFAULT_TEMPERATURES
from refusal_stability.errors import InputError, positive_int
from refusal_stability.inspect_tasks.benign import XSTestSource
from refusal_stability.inspect_tasks.datasets import BeaverTailsSource, FileColumns, load_prompts
from refusal_stability.inspect_tasks.run_metadata import fingerprint_prompts, run_metadata
from refusal_stability.inspect_tasks.text_arguments import text_or_file
from refusal_stability.scorers import GridEpochsGuard, refusal_judges, stability
from refusal_stability.scorers.over_refusal_metrics import study_metrics
from refusal_stability.solvers.sampling_grid import (
    literal_system_message,
    parse_draws_argument,
    parse_grid_arguments,
    sampling_grid,
)

DEFAULT_N_PROMPTS = 876  # the published study's prompt count
DEFAULT_MAX_TOKENS = 512
# Concurrent requests to the model under test: at or above vLLM's --max-num-seqs (128 on CPU) keeps the
# server's batch full; Inspect's default of 10 halves throughput (bench/throughput.py). --max-connections overrides.
DEFAULT_MAX_CONNECTIONS = 128


def free_text(value: str | Sequence[str] | None, name: str) -> str | None:
    """A free-text task argument as the user wrote it.

    ``inspect eval -T "system_prompt=Be safe, refuse harm."`` arrives as ``["Be safe", " refuse harm."]``
    (Inspect splits ``-T`` values on commas); the pieces are joined back with the commas. A value naming an
    existing file is replaced by the file's text; one that looks like a path to a missing text file is an error
    (``text_or_file``).
    """
    if value is None:
        return None
    if isinstance(value, list | tuple) and all(isinstance(part, str) for part in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise InputError(
            f"{name}={value!r}: expected text; Inspect reads -T values as YAML ('a: b' becomes a mapping, yes/no "
            f"booleans, ' #' starts a comment), so put such text in a file and pass -T {name}=prompt.txt"
        )
    text = text_or_file(value, name)  # a path to a missing text file is an error, never the text sent
    return text if text.strip() else None


def _top_p(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0 < number <= 1:
        raise InputError(f"top_p={value!r}: expected a number in (0, 1]")
    return number


@task
def refusal_stability(
    dataset: str = "beavertails",
    n_prompts: int | str | None = DEFAULT_N_PROMPTS,
    temperatures: Sequence[float] | str = DEFAULT_TEMPERATURES,
    seeds: Sequence[int] | str = DEFAULT_SEEDS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    top_p: float | None = None,
    draws: int | None = None,
    sampling: str = "warn",
    system_prompt: str | None = None,
    condition: str | None = None,
    judge: str = "model",
    second_judge: str = "auto",
    grader_template: str | None = None,
    grader_attempts: int = 3,
    verdict_cache_dir: str | None = None,
    prompt_column: str = FileColumns.prompt,
    id_column: str | None = FileColumns.id,
    category_column: str | None = FileColumns.category,
    source_column: str | None = FileColumns.source,
    expected_column: str | None = FileColumns.expected,
    controls: str | None = None,
    n_controls: int | str | None = None,
    beavertails_split: str = BeaverTailsSource.split,
    beavertails_revision: str | None = BeaverTailsSource.revision,
    beavertails_path: str = BeaverTailsSource.path,
    xstest_split: str = XSTestSource.split,
    xstest_revision: str | None = XSTestSource.revision,
    xstest_path: str = XSTestSource.path,
) -> Task:
    """Measure refusal stability over a (temperature, seed) grid; epochs = len(temperatures) x len(seeds).

    Every argument is a ``-T name=value`` task parameter; README.md "Task parameters" documents each one with its
    default (datasets: ``beavertails``, ``xstest``, ``bundled`` or a CSV/JSONL path; the grid: ``temperatures``,
    ``seeds``, ``draws``, ``sampling``, ``top_p``; the model under test: ``max_tokens``, ``system_prompt``,
    ``condition``; the judges: ``judge``, ``second_judge``, ``grader_*``, ``verdict_cache_dir``; file columns,
    benign ``controls`` and the hub sources' split/revision/path).
    """
    grid_request = {"temperatures": temperatures, "seeds": seeds, "draws": draws, "sampling": sampling}
    n_draws = parse_draws_argument(draws, temperatures, seeds)
    temperatures, seeds = parse_grid_arguments(temperatures, seeds)
    grid_size = len(temperatures) * len(seeds) * n_draws
    top_p = _top_p(top_p)
    max_tokens = positive_int(max_tokens, "max_tokens")
    system_text = free_text(system_prompt, "system_prompt")
    condition = free_text(condition, "condition")
    beavertails = BeaverTailsSource(beavertails_path, beavertails_split, beavertails_revision)
    prompts = load_prompts(
        dataset,
        n_prompts=n_prompts,
        columns=FileColumns(prompt_column, id_column, category_column, source_column, expected_column),
        beavertails=beavertails,
        xstest=XSTestSource(xstest_path, xstest_split, xstest_revision),
        controls=controls,
        n_controls=n_controls,
    )
    fingerprint_prompts(prompts)
    solvers: list[Solver] = [literal_system_message(system_text)] if system_text else []
    solvers.append(sampling_grid(grid_request["temperatures"], grid_request["seeds"], draws, sampling))
    scorer = refusal_judges(judge, second_judge, grader_template, grader_attempts, verdict_cache_dir, condition)
    reproducibility = run_metadata(
        prompts, {**grid_request, "top_p": top_p}, system_text, beavertails if dataset == "beavertails" else None
    )
    return Task(
        dataset=prompts,
        solver=solvers,
        scorer=scorer,
        metrics=study_metrics({(sample.metadata or {}).get("expected") for sample in prompts}),
        epochs=Epochs(grid_size, reducer=[stability(grid_size=grid_size)]),
        early_stopping=GridEpochsGuard(grid_size),  # rejects an --epochs override before any sample runs
        config=GenerateConfig(max_tokens=max_tokens, top_p=top_p, max_connections=DEFAULT_MAX_CONNECTIONS),
        metadata={"condition": condition, "grid_size": grid_size, **reproducibility},
        version=__version__,  # the package version: a log names the task code it was made with
    )
