"""The solvers: each epoch generated with its (temperature, seed), and a verbatim system message.

The grid itself (parsing, epoch order) is defined in :mod:`refusal_stability.definitions.grid`.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from inspect_ai.model import ChatMessageSystem
from inspect_ai.solver import Generate, Solver, TaskState, solver

from refusal_stability.definitions.grid import GridError, build_grid, grid_cell, parse_seeds, parse_temperatures
from refusal_stability.errors import InputError


@contextmanager
def _grid_input() -> Iterator[None]:
    """Report a bad grid value as an :class:`InputError` (one line on the Inspect command line)."""
    try:
        yield
    except GridError as error:
        raise InputError(str(error)) from None


def parse_grid_arguments(temperatures: object, seeds: object) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The task's ``temperatures`` and ``seeds``, validated (see :mod:`refusal_stability.definitions.grid`).

    Raises:
        InputError: a bad temperature or seed; the message names it.
    """
    with _grid_input():
        return parse_temperatures(temperatures), parse_seeds(seeds)


@solver
def sampling_grid(temperatures: Sequence[float], seeds: Sequence[int]) -> Solver:
    """Generate each epoch with its own (temperature, seed) and record them on the sample.

    The config is recorded in the sample metadata and store (visible in `inspect view`), and Inspect
    records the merged generate config on every ModelEvent. A run whose epochs differ from the grid size
    (an ``--epochs`` override) fails on its first sample.
    """
    with _grid_input():
        grid = build_grid(temperatures, seeds)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        with _grid_input():
            cell = grid_cell(grid, state.epoch)
        sampling = {"epoch": state.epoch, "temperature": cell.temperature, "seed": cell.seed}
        state.metadata.update(sampling)
        state.store.set("sampling", sampling)
        return await generate(state, temperature=cell.temperature, seed=cell.seed)

    return solve


@solver
def literal_system_message(text: str) -> Solver:
    """Insert ``text`` as the system message, verbatim.

    Inspect's ``system_message`` formats its text with the sample metadata, so a user's system prompt with
    ``{category}`` or a stray brace would change or fail; this one never interprets the text.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.messages.insert(0, ChatMessageSystem(content=text))
        return state

    return solve
