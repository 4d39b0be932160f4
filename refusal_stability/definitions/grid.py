"""The (temperature, seed) grid and its epoch order: epoch e of a sample is generated with the e-th pair.

``temperatures=default`` sends no temperature (the provider's default) and ``seeds=none`` no seed: their cell
value is None. With both, ``draws=N`` repeats the one (None, None) cell N times: N draws per prompt.

Pure definitions (no Inspect import): the solver generates with :func:`grid_cell`, the task sizes its epochs
with :func:`build_grid`, and the analysis rebuilds a log's planned grid from its task arguments with it.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SEEDS",
    "DEFAULT_TEMPERATURES",
    "SEED_MAX",
    "SEED_MIN",
    "GridError",
    "SamplingConfig",
    "DEFAULT_TEMPERATURE_WORD",
    "NO_SEED_WORD",
    "build_grid",
    "grid_cell",
    "parse_draws",
    "parse_seeds",
    "parse_temperatures",
]

DEFAULT_TEMPERATURES: tuple[float, ...] = (0.0, 0.3, 0.7, 1.0)
DEFAULT_SEEDS: tuple[int, ...] = (42, 43, 44, 45, 46)
DEFAULT_TEMPERATURE_WORD = "default"  # temperatures=default: send no temperature
NO_SEED_WORD = "none"  # seeds=none: send no seed
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1  # what vLLM and the OpenAI API accept: a signed 64-bit integer


class GridError(ValueError):
    """A bad temperature, seed or epoch; the message names the input and what is expected."""


@dataclass(frozen=True)
class SamplingConfig:
    """One cell of the grid: the temperature and seed one epoch is generated with."""

    temperature: float | None  # None: no temperature sent (the provider's default)
    seed: int | None  # None: no seed sent


def _as_sequence(value: object, name: str) -> list:
    """Accept a list/tuple, a single scalar, or a comma-separated string (as `-T` may pass them)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence):
        return list(value)
    if isinstance(value, (int, float)):
        return [value]
    raise GridError(f"{name}={value!r}: expected a list of numbers, e.g. {name}=[0.0,1.0] or {name}=0.0,1.0")


def _is_word(value: object, word: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == word


def parse_temperatures(temperatures: object) -> tuple[float, ...] | tuple[None]:
    """Validate temperatures: at least one, each a finite number >= 0, no duplicates; ``default``: (None,)."""
    if _is_word(temperatures, DEFAULT_TEMPERATURE_WORD):
        return (None,)
    values = _as_sequence(temperatures, "temperatures")
    if not values:
        raise GridError("temperatures is empty: expected at least one temperature, e.g. temperatures=[0.0,1.0]")
    parsed: list[float] = []
    for value in values:
        if isinstance(value, bool):
            raise GridError(f"temperatures: {value!r} is not a number; expected numbers >= 0")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GridError(f"temperatures: {value!r} is not a number; expected numbers >= 0") from None
        if not math.isfinite(number) or number < 0:
            raise GridError(f"temperatures: {value!r} is invalid; expected a finite number >= 0")
        parsed.append(number)
    duplicates = sorted({t for t in parsed if parsed.count(t) > 1})
    if duplicates:
        raise GridError(f"temperatures: duplicate values {duplicates}; each temperature must appear once")
    return tuple(parsed)


def parse_seeds(seeds: object) -> tuple[int, ...] | tuple[None]:
    """Validate seeds: at least one, each an integer, no duplicates; ``none``: (None,)."""
    if _is_word(seeds, NO_SEED_WORD):
        return (None,)
    values = _as_sequence(seeds, "seeds")
    if not values:
        raise GridError("seeds is empty: expected at least one integer seed, e.g. seeds=[42,43]")
    parsed: list[int] = []
    for value in values:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise GridError(f"seeds: {value!r} is not an integer")
        try:
            seed = int(value)
        except (TypeError, ValueError, OverflowError):
            raise GridError(f"seeds: {value!r} is not an integer") from None
        if not SEED_MIN <= seed <= SEED_MAX:
            raise GridError(f"seeds: {value!r} is outside the signed 64-bit range [-2**63, 2**63 - 1]")
        parsed.append(seed)
    duplicates = sorted({s for s in parsed if parsed.count(s) > 1})
    if duplicates:
        raise GridError(f"seeds: duplicate values {duplicates}; each seed must appear once")
    return tuple(parsed)


def parse_draws(draws: object, temperatures: object, seeds: object) -> int:
    """How many times the grid is repeated: ``draws`` with ``temperatures=default`` and ``seeds=none``, else 1.

    Raises:
        GridError: ``draws`` without both, both without ``draws``, or a ``draws`` that is not an integer >= 1.
    """
    both = _is_word(temperatures, DEFAULT_TEMPERATURE_WORD) and _is_word(seeds, NO_SEED_WORD)
    if draws is None:
        if both:
            raise GridError("temperatures=default with seeds=none: say how many draws per prompt, e.g. -T draws=20")
        return 1
    if not both:
        raise GridError(
            f"draws={draws!r}: draws applies only with temperatures=default and seeds=none (no temperature and "
            "no seed sent); otherwise the grid is len(temperatures) x len(seeds)"
        )
    if isinstance(draws, bool) or not isinstance(draws, int | float | str):
        raise GridError(f"draws={draws!r}: expected an integer >= 1")
    try:
        number = float(draws)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer() or number < 1:
        raise GridError(f"draws={draws!r}: expected an integer >= 1")
    return int(number)


def build_grid(temperatures: object, seeds: object, draws: object = None) -> list[SamplingConfig]:
    """The grid in epoch order: all seeds of the first temperature, then the next temperature, and so on.

    With ``temperatures=default``, ``seeds=none`` and ``draws=N``: N cells (None, None).
    """
    cells = [SamplingConfig(t, s) for t in parse_temperatures(temperatures) for s in parse_seeds(seeds)]
    return cells * parse_draws(draws, temperatures, seeds)


def grid_cell(grid: Sequence[SamplingConfig], epoch: int) -> SamplingConfig:
    """The config of a 1-based epoch; an epoch outside the grid means `--epochs` was overridden."""
    if not 1 <= epoch <= len(grid):
        raise GridError(
            f"epoch {epoch} has no (temperature, seed) in a grid of {len(grid)}: the number of epochs must "
            f"equal len(temperatures) x len(seeds) = {len(grid)}; do not override --epochs, change the grid"
        )
    return grid[epoch - 1]
