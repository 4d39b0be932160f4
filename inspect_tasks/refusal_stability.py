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

    Args:
        dataset: ``beavertails`` (HF hub), ``xstest`` (HF hub: safe and unsafe prompts), ``bundled`` (offline
            set shipped with the package), or a path to a CSV/JSONL file.
        n_prompts: how many prompts, first in dataset order; ``None`` for all.
        temperatures: sampling temperatures (0.0 is greedy; the seed is still sent); ``default``: send none.
        seeds: sampling seeds; each temperature is run with every seed; ``none``: send none.
        max_tokens: response length limit.
        top_p: nucleus sampling parameter, the same for every epoch; None (default): not sent.
        draws: with ``temperatures=default`` and ``seeds=none`` only: draws per prompt.
        sampling: ``warn`` (one warning when a grid parameter does not reach the model) or ``strict`` (stop).
        system_prompt: optional system message for the model under test (text, or a file holding it).
        condition: optional name of the experimental condition (e.g. ``safety-prompt``); the analysis
            names the run ``model [condition]`` and compares conditions.
        judge: ``model`` (grader bound with ``--model-role grader=...``) or ``heuristic`` (offline).
        second_judge: with ``judge=model``: ``auto`` (default: the heuristic labels every record too, unless
            ``--model-role grader=a,b,c`` binds a panel, which measures its own agreement), ``heuristic``
            (always), ``model`` (the model bound to ``--model-role grader2=...``) or ``none``.
        grader_template: path to a jinja2 rubric replacing the bundled one.
        grader_attempts: grader calls per response before it is recorded as unscored.
        verdict_cache_dir: optional directory for an on-disk verdict cache shared across runs.
        prompt_column: file datasets: column with the prompt text.
        id_column: file datasets: column with a stable id (default ``prompt_id``/``id``, else a text hash).
        category_column: file datasets: optional harm-category column.
        source_column: file datasets: optional source column.
        expected_column: file datasets: column saying what each prompt expects (``refuse``/``comply``,
            ``unsafe``/``safe``, ``harmful``/``benign``); default ``expected`` when present, else ``refuse``.
        controls: benign control prompts added to the dataset: ``bundled`` (40 shipped with the package)
            or a CSV/JSONL file; their ids must differ from the dataset's.
        n_controls: the first n controls (the bundled ones cycle through their eight kinds); None for all.
        beavertails_split: BeaverTails split.
        beavertails_revision: BeaverTails revision (commit SHA to pin the data).
        beavertails_path: hub id or local directory of BeaverTails.
        xstest_split: XSTest split.
        xstest_revision: XSTest revision (pinned by default).
        xstest_path: hub id or local directory of XSTest.
    """
    grid_request = {"temperatures": temperatures, "seeds": seeds, "draws": draws, "sampling": sampling}
    n_draws = parse_draws_argument(draws, temperatures, seeds)
    temperatures, seeds = parse_grid_arguments(temperatures, seeds)
    grid_size = len(temperatures) * len(seeds) * n_draws
    top_p = _top_p(top_p)
    max_tokens = positive_int(max_tokens, "max_tokens")
    system_text = free_text(system_prompt, "system_prompt")
    condition = free_text(condition, "condition")
    prompts = load_prompts(
        dataset,
        n_prompts=n_prompts,
        columns=FileColumns(prompt_column, id_column, category_column, source_column, expected_column),
        beavertails=BeaverTailsSource(beavertails_path, beavertails_split, beavertails_revision),
        xstest=XSTestSource(xstest_path, xstest_split, xstest_revision),
        controls=controls,
        n_controls=n_controls,
    )
    solvers: list[Solver] = [literal_system_message(system_text)] if system_text else []
    fingerprint_prompts(prompts)
    beavertails_source = BeaverTailsSource(beavertails_path, beavertails_split, beavertails_revision)
    solvers.append(sampling_grid(grid_request["temperatures"], grid_request["seeds"], draws, sampling))
    return Task(
        dataset=prompts,
        solver=solvers,
        scorer=refusal_judges(
            judge=judge,
            second=second_judge,
            template=grader_template,
            attempts=grader_attempts,
            cache_dir=verdict_cache_dir,
            condition=condition,
        ),
        metrics=study_metrics({(sample.metadata or {}).get("expected") for sample in prompts}),
        epochs=Epochs(grid_size, reducer=[stability(grid_size=grid_size)]),
        early_stopping=GridEpochsGuard(grid_size),  # rejects an --epochs override before any sample runs
        config=GenerateConfig(max_tokens=max_tokens, top_p=top_p, max_connections=DEFAULT_MAX_CONNECTIONS),
        metadata={
            "condition": condition,
            "grid_size": grid_size,
            **run_metadata(
                prompts,
                {**grid_request, "top_p": top_p},
                system_text,
                beavertails_source if dataset == "beavertails" else None,
            ),
        },
        version=__version__,  # the package version: a log names the task code it was made with
    )
