"""How many epochs the running eval was started with, so the sampling grid can reject an ``--epochs`` override.

Inspect runs a shallow copy of the Task with the override applied and tells solvers nothing about it; a
task-start hook records each eval's configured epochs, and solvers look theirs up by the active sample's eval.
"""

from inspect_ai.hooks import Hooks, TaskEnd, TaskStart, hooks
from inspect_ai.log._samples import sample_active  # no public accessor for the running eval's id

_epochs_by_eval: dict[str, int | None] = {}


@hooks(name="refusal_stability_planned_epochs", description="Records each eval's epochs for the sampling grid.")
class PlannedEpochs(Hooks):
    """Remembers ``config.epochs`` of every eval while it runs."""

    async def on_task_start(self, data: TaskStart) -> None:
        _epochs_by_eval[data.eval_id] = data.spec.config.epochs

    async def on_task_end(self, data: TaskEnd) -> None:
        _epochs_by_eval.pop(data.eval_id, None)


def planned_epochs() -> int | None:
    """The configured epochs of the eval the current sample belongs to (None outside a running eval)."""
    active = sample_active()
    return _epochs_by_eval.get(active.eval_id) if active is not None else None
