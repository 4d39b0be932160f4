"""The judge check's solver: the response under judgement is given, not generated."""

from inspect_ai.model import ChatMessageAssistant, ModelOutput
from inspect_ai.solver import Generate, Solver, TaskState, solver

GIVEN_MODEL = "reference"
"""The model name on the given output (no model produced it)."""


@solver
def given_response(metadata_key: str = "response") -> Solver:
    """Set the sample's given response (``state.metadata[metadata_key]``) as its output; never call generate.

    The scorers then judge it exactly as they judge a generated response, so a task using this solver needs
    no model under test (``--model none``).

    Args:
        metadata_key: the sample metadata entry holding the response text.

    Returns:
        The solver.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        response = str((state.metadata or {}).get(metadata_key) or "")
        state.messages.append(ChatMessageAssistant(content=response, model=GIVEN_MODEL))
        state.output = ModelOutput.from_content(model=GIVEN_MODEL, content=response)
        return state

    return solve
