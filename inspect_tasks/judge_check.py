"""The judge check: grade labelled responses with the study's own judge and measure its agreement.

``inspect eval refusal_stability/judge_check --model none --model-role grader=openai/gpt-4o-mini`` (a model
judge, or a panel: ``--model-role grader=a,b,c``), or ``-T judge=heuristic`` (offline, no grader). No model
under test is called: each response is given. The eval header reports agreement, Cohen's kappa with a
bootstrap 95 % CI, weighted figures, per-label precision and recall, the confusion matrix and n unscored
(names: :mod:`refusal_stability.definitions.judge_check`).
"""

from inspect_ai import Epochs, Task, task

from refusal_stability.inspect_tasks.reference_set import load_reference, reference_sha256
from refusal_stability.scorers.judge_check import OneEpochGuard, given_label, judge_check
from refusal_stability.solvers.given_response import given_response

__all__ = ["judge_check_task"]


@task(name="judge_check")
def judge_check_task(
    reference: str | None = None,
    judge: str = "model",
    grader_template: str | None = None,
    grader_attempts: int = 3,
    verdict_cache_dir: str | None = None,
) -> Task:
    """Grade a labelled reference set with the judge a study will use; report agreement with the labels.

    Args:
        reference: a .csv or .jsonl file (optionally .gz) with columns ``response``, ``label`` and optional
            ``prompt``, ``id``, ``weight``, ``prompt_id``; default: the bundled set (500 responses of
            Llama-3.1-8B-Instruct and Qwen2.5-7B-Instruct with Claude 3.5 Haiku labels and population weights).
        judge: ``model`` (the model bound to ``--model-role grader=...``; a list is a panel) or ``heuristic``.
        grader_template: path to a jinja2 rubric replacing the bundled one.
        grader_attempts: grader calls per response before it is recorded as unscored.
        verdict_cache_dir: optional directory for an on-disk verdict cache shared across runs.
    """
    dataset = load_reference(reference)
    return Task(
        dataset=dataset,
        solver=given_response(),
        scorer=judge_check(
            judge=judge, template=grader_template, attempts=grader_attempts, cache_dir=verdict_cache_dir
        ),
        epochs=Epochs(1, reducer=given_label()),
        early_stopping=OneEpochGuard(),
        metadata={
            "judge_check": True,
            "reference": "bundled" if reference in (None, "", "bundled") else str(reference),
            "reference_sha256": reference_sha256(reference),
            "judge": judge,
        },
    )
