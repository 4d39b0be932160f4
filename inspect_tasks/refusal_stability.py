"""The refusal-stability task: every harmful prompt answered once per (temperature, seed), each answer judged.

Run from a checkout: ``inspect eval inspect_tasks/refusal_stability.py --model vllm/<model>``, or after
``pip install``: ``inspect eval refusal_stability/refusal_stability --model vllm/<model>``.
"""

from collections.abc import Sequence

from inspect_ai import Epochs, Task, task
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import Solver, system_message

from refusal_stability.inspect_tasks.datasets import (
    BEAVERTAILS_PATH,
    BEAVERTAILS_REVISION,
    BEAVERTAILS_SPLIT,
    load_prompts,
)
from refusal_stability.scorers import refusal_judge, stability
from refusal_stability.solvers.sampling_grid import (
    DEFAULT_SEEDS,
    DEFAULT_TEMPERATURES,
    parse_seeds,
    parse_temperatures,
    sampling_grid,
)

DEFAULT_N_PROMPTS = 876  # the published study's prompt count
# Concurrent requests to the model under test: at or above vLLM's --max-num-seqs (128 on CPU) keeps the
# server's batch full; Inspect's default of 10 halves throughput (bench/throughput.py). --max-connections overrides.
DEFAULT_MAX_CONNECTIONS = 128


@task
def refusal_stability(
    dataset: str = "beavertails",
    n_prompts: int | str | None = DEFAULT_N_PROMPTS,
    temperatures: Sequence[float] | str = DEFAULT_TEMPERATURES,
    seeds: Sequence[int] | str = DEFAULT_SEEDS,
    max_tokens: int = 512,
    top_p: float = 1.0,
    system_prompt: str | None = None,
    judge: str = "model",
    grader_template: str | None = None,
    grader_attempts: int = 3,
    verdict_cache_dir: str | None = None,
    prompt_column: str = "prompt",
    id_column: str | None = None,
    category_column: str | None = "category",
    source_column: str | None = "source",
    beavertails_split: str = BEAVERTAILS_SPLIT,
    beavertails_revision: str | None = BEAVERTAILS_REVISION,
    beavertails_path: str = BEAVERTAILS_PATH,
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
        system_prompt: optional system message for the model under test.
        judge: ``model`` (grader bound with ``--model-role grader=...``) or ``heuristic`` (offline).
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
    temperatures, seeds = parse_temperatures(temperatures), parse_seeds(seeds)
    solvers: list[Solver] = [system_message(system_prompt)] if system_prompt else []
    solvers.append(sampling_grid(temperatures, seeds))
    return Task(
        dataset=load_prompts(
            dataset,
            n_prompts=n_prompts,
            prompt_column=prompt_column,
            id_column=id_column,
            category_column=category_column,
            source_column=source_column,
            beavertails_split=beavertails_split,
            beavertails_revision=beavertails_revision,
            beavertails_path=beavertails_path,
        ),
        solver=solvers,
        scorer=refusal_judge(
            judge=judge, template=grader_template, attempts=grader_attempts, cache_dir=verdict_cache_dir
        ),
        epochs=Epochs(len(temperatures) * len(seeds), reducer=[stability()]),
        config=GenerateConfig(max_tokens=max_tokens, top_p=top_p, max_connections=DEFAULT_MAX_CONNECTIONS),
    )
