"""The per-epoch sampling grid: epoch e of a sample is generated with the e-th (temperature, seed) pair."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from inspect_ai.solver import Generate, Solver, TaskState, solver

DEFAULT_TEMPERATURES: tuple[float, ...] = (0.0, 0.3, 0.7, 1.0)
DEFAULT_SEEDS: tuple[int, ...] = (42, 43, 44, 45, 46)


@dataclass(frozen=True)
class SamplingConfig:
    """One cell of the grid: the temperature and seed one epoch is generated with."""

    temperature: float
    seed: int


def _as_sequence(value: object, name: str) -> list:
    """Accept a list/tuple, a single scalar, or a comma-separated string (as `-T` may pass them)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence):
        return list(value)
    if isinstance(value, (int, float)):
        return [value]
    raise ValueError(f"{name}={value!r}: expected a list of numbers, e.g. {name}=[0.0,1.0] or {name}=0.0,1.0")


def parse_temperatures(temperatures: object) -> tuple[float, ...]:
    """Validate temperatures: at least one, each a finite number >= 0, no duplicates."""
    values = _as_sequence(temperatures, "temperatures")
    if not values:
        raise ValueError("temperatures is empty: expected at least one temperature, e.g. temperatures=[0.0,1.0]")
    parsed: list[float] = []
    for value in values:
        if isinstance(value, bool):
            raise ValueError(f"temperatures: {value!r} is not a number; expected numbers >= 0")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"temperatures: {value!r} is not a number; expected numbers >= 0") from None
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"temperatures: {value!r} is invalid; expected a finite number >= 0")
        parsed.append(number)
    duplicates = sorted({t for t in parsed if parsed.count(t) > 1})
    if duplicates:
        raise ValueError(f"temperatures: duplicate values {duplicates}; each temperature must appear once")
    return tuple(parsed)


def parse_seeds(seeds: object) -> tuple[int, ...]:
    """Validate seeds: at least one, each an integer, no duplicates."""
    values = _as_sequence(seeds, "seeds")
    if not values:
        raise ValueError("seeds is empty: expected at least one integer seed, e.g. seeds=[42,43]")
    parsed: list[int] = []
    for value in values:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"seeds: {value!r} is not an integer")
        try:
            parsed.append(int(value))
        except (TypeError, ValueError):
            raise ValueError(f"seeds: {value!r} is not an integer") from None
    duplicates = sorted({s for s in parsed if parsed.count(s) > 1})
    if duplicates:
        raise ValueError(f"seeds: duplicate values {duplicates}; each seed must appear once")
    return tuple(parsed)


def build_grid(temperatures: object, seeds: object) -> list[SamplingConfig]:
    """The grid in epoch order: all seeds of the first temperature, then the next temperature, and so on."""
    return [SamplingConfig(t, s) for t in parse_temperatures(temperatures) for s in parse_seeds(seeds)]


def grid_cell(grid: Sequence[SamplingConfig], epoch: int) -> SamplingConfig:
    """The config of a 1-based epoch; an epoch outside the grid means `--epochs` was overridden."""
    if not 1 <= epoch <= len(grid):
        raise ValueError(
            f"epoch {epoch} has no (temperature, seed) in a grid of {len(grid)}: the number of epochs must "
            f"equal len(temperatures) x len(seeds) = {len(grid)}; do not override --epochs, change the grid"
        )
    return grid[epoch - 1]


@solver
def sampling_grid(temperatures: Sequence[float], seeds: Sequence[int]) -> Solver:
    """Generate each epoch with its own (temperature, seed) and record them on the sample.

    The config is recorded in the sample metadata and store (visible in `inspect view`), and Inspect
    records the merged generate config on every ModelEvent. A run whose epochs differ from the grid size
    (an ``--epochs`` override) fails on its first sample.
    """
    grid = build_grid(temperatures, seeds)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        cell = grid_cell(grid, state.epoch)
        sampling = {"epoch": state.epoch, "temperature": cell.temperature, "seed": cell.seed}
        state.metadata.update(sampling)
        state.store.set("sampling", sampling)
        return await generate(state, temperature=cell.temperature, seed=cell.seed)

    return solve
