"""The refusal-stability task: every harmful prompt answered once per (temperature, seed), each answer judged.

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
from refusal_stability.inspect_tasks.datasets import BeaverTailsSource, FileColumns, load_prompts
from refusal_stability.inspect_tasks.text_arguments import text_or_file
from refusal_stability.scorers import GridEpochsGuard, refusal_judges, stability
from refusal_stability.solvers.sampling_grid import literal_system_message, parse_grid_arguments, sampling_grid

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
        raise InputError(f"{name}={value!r}: expected text (or a path to a file holding it)")
    value = text_or_file(value, name)  # a path to a missing text file is an error, never the text sent
    return value if value.strip() else None


def _top_p(value: object) -> float:
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
    top_p: float = 1.0,
    system_prompt: str | None = None,
    condition: str | None = None,
    judge: str = "model",
    second_judge: str = "heuristic",
    grader_template: str | None = None,
    grader_attempts: int = 3,
    verdict_cache_dir: str | None = None,
    prompt_column: str = FileColumns.prompt,
    id_column: str | None = FileColumns.id,
    category_column: str | None = FileColumns.category,
    source_column: str | None = FileColumns.source,
    beavertails_split: str = BeaverTailsSource.split,
    beavertails_revision: str | None = BeaverTailsSource.revision,
    beavertails_path: str = BeaverTailsSource.path,
) -> Task:
    """Measure refusal stability over a (temperature, seed) grid; epochs = len(temperatures) x len(seeds).

    Args:
        dataset: ``beavertails`` (HF hub), ``bundled`` (offline set shipped with the package), or a path
            to a CSV/JSONL file.
        n_prompts: how many prompts, first in dataset order; ``None`` for all.
        temperatures: sampling temperatures (0.0 is greedy; the seed is still sent).
        seeds: sampling seeds; each temperature is run with every seed.
        max_tokens: response length limit.
        top_p: nucleus sampling parameter, the same for every epoch.
        system_prompt: optional system message for the model under test (text, or a file holding it).
        condition: optional name of the experimental condition (e.g. ``safety-prompt``); the analysis
            names the run ``model [condition]`` and compares conditions.
        judge: ``model`` (grader bound with ``--model-role grader=...``) or ``heuristic`` (offline).
        second_judge: with ``judge=model``: ``heuristic`` (default, labels every record too),
            ``model`` (the model bound to ``--model-role grader2=...``) or ``none``.
        grader_template: path to a jinja2 rubric replacing the bundled one.
        grader_attempts: grader calls per response before it is recorded as unscored.
        verdict_cache_dir: optional directory for an on-disk verdict cache shared across runs.
        prompt_column: file datasets: column with the prompt text.
        id_column: file datasets: column with a stable id (default ``prompt_id``/``id``, else a text hash).
        category_column: file datasets: optional harm-category column.
        source_column: file datasets: optional source column.
        beavertails_split: BeaverTails split.
        beavertails_revision: BeaverTails revision (commit SHA to pin the data).
        beavertails_path: hub id or local directory of BeaverTails.
    """
    temperatures, seeds = parse_grid_arguments(temperatures, seeds)
    grid_size = len(temperatures) * len(seeds)
    max_tokens = positive_int(max_tokens, "max_tokens")
    system_text = free_text(system_prompt, "system_prompt")
    condition = free_text(condition, "condition")
    prompts = load_prompts(
        dataset,
        n_prompts=n_prompts,
        columns=FileColumns(prompt_column, id_column, category_column, source_column),
        beavertails=BeaverTailsSource(beavertails_path, beavertails_split, beavertails_revision),
    )
    solvers: list[Solver] = [literal_system_message(system_text)] if system_text else []
    solvers.append(sampling_grid(temperatures, seeds))
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
        epochs=Epochs(grid_size, reducer=[stability(grid_size=grid_size)]),
        early_stopping=GridEpochsGuard(grid_size),  # rejects an --epochs override before any sample runs
        config=GenerateConfig(max_tokens=max_tokens, top_p=_top_p(top_p), max_connections=DEFAULT_MAX_CONNECTIONS),
        metadata={"condition": condition, "system_prompt": system_text, "grid_size": grid_size},
        version=__version__,  # the package version: a log names the task code it was made with
    )
