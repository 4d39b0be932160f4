"""The solvers: each epoch generated with its (temperature, seed), and a verbatim system message.

The grid itself (parsing, epoch order) is defined in :mod:`refusal_stability.definitions.grid`.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from inspect_ai.model import ChatMessageSystem
from inspect_ai.solver import Generate, Solver, TaskState, solver

from refusal_stability.definitions.grid import (
    GridError,
    build_grid,
    grid_cell,
    parse_draws,
    parse_seeds,
    parse_temperatures,
)
from refusal_stability.errors import InputError
from refusal_stability.solvers.sent_request import (
    SAMPLING_MODES,
    DroppedParameterAlarm,
    event_count,
    generation_event,
    sent_by,
)


@contextmanager
def _grid_input() -> Iterator[None]:
    """Report a bad grid value as an :class:`InputError` (one line on the Inspect command line)."""
    try:
        yield
    except GridError as error:
        raise InputError(str(error)) from None


def parse_grid_arguments(
    temperatures: object, seeds: object
) -> tuple[tuple[float, ...] | tuple[None], tuple[int, ...] | tuple[None]]:
    """The task's ``temperatures`` and ``seeds``, validated (see :mod:`refusal_stability.definitions.grid`).

    Raises:
        InputError: a bad temperature or seed; the message names it.
    """
    with _grid_input():
        return parse_temperatures(temperatures), parse_seeds(seeds)


def parse_draws_argument(draws: object, temperatures: object, seeds: object) -> int:
    """The task's ``draws`` (1 unless ``temperatures=default`` and ``seeds=none``).

    Raises:
        InputError: ``draws`` without both, both without ``draws``, or not an integer >= 1.
    """
    with _grid_input():
        return parse_draws(draws, temperatures, seeds)


def parse_sampling_mode(sampling: object) -> str:
    """The task's ``sampling``: ``warn`` (default) or ``strict``.

    Raises:
        InputError: any other value.
    """
    if sampling not in SAMPLING_MODES:
        raise InputError(f"sampling={sampling!r}: expected 'warn' (log one warning) or 'strict' (stop the run)")
    return str(sampling)


@solver
def sampling_grid(
    temperatures: Sequence[float | None] | str,
    seeds: Sequence[int | None] | str,
    draws: int | None = None,
    sampling: str = "warn",
) -> Solver:
    """Generate each epoch with its own (temperature, seed) and record what was asked and what was sent.

    The asked config is recorded in the sample metadata and store (visible in `inspect view`); a None
    temperature or seed is not passed to ``generate`` (the provider's default). Right after ``generate`` the
    request body of the model under test gives ``sent_temperature``, ``sent_seed``, ``sent_top_p``,
    ``sent_verified`` and the response's ``system_fingerprint`` (sample metadata). A grid parameter that did not
    reach the model logs one warning per run, or raises with ``sampling="strict"``. A run whose epochs differ
    from the grid size (an ``--epochs`` override) fails on its first sample.
    """
    with _grid_input():
        grid = build_grid(temperatures, seeds, draws)
    alarm = DroppedParameterAlarm(parse_sampling_mode(sampling), len(grid))

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        with _grid_input():
            cell = grid_cell(grid, state.epoch)
        asked = {"epoch": state.epoch, "temperature": cell.temperature, "seed": cell.seed}
        state.metadata.update(asked)
        state.store.set("sampling", asked)
        mark = event_count()
        state = await generate(state, temperature=cell.temperature, seed=cell.seed)  # None: not sent
        event = generation_event(mark, str(state.model))
        sent, fingerprint = sent_by(event)
        state.metadata.update({**sent.as_metadata(), "system_fingerprint": fingerprint})
        if event is not None:
            asked_top_p = event.config.top_p
            alarm.check(
                str(state.model), {"temperature": cell.temperature, "seed": cell.seed, "top_p": asked_top_p}, sent
            )
        return state

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
