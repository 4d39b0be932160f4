"""The (temperature, seed) grid: order, parsing of -T values, and one clear error per bad input."""

import pytest

from refusal_stability.definitions.grid import (
    SamplingConfig,
    build_grid,
    grid_cell,
    parse_seeds,
    parse_temperatures,
)


def test_grid_order_is_temperature_major():
    grid = build_grid([0.0, 1.0], [42, 43, 44])
    assert grid == [
        SamplingConfig(0.0, 42),
        SamplingConfig(0.0, 43),
        SamplingConfig(0.0, 44),
        SamplingConfig(1.0, 42),
        SamplingConfig(1.0, 43),
        SamplingConfig(1.0, 44),
    ]
    assert grid_cell(grid, 1) == SamplingConfig(0.0, 42)
    assert grid_cell(grid, 6) == SamplingConfig(1.0, 44)


def test_command_line_strings_and_scalars_are_accepted():
    assert parse_temperatures("0.0, 0.7") == (0.0, 0.7)
    assert parse_temperatures(0.5) == (0.5,)
    assert parse_seeds("1,2,3") == (1, 2, 3)
    assert parse_seeds([7.0]) == (7,)


@pytest.mark.parametrize(
    ("temperatures", "seeds", "message"),
    [
        ([], [1], "temperatures is empty"),
        ([0.0], [], "seeds is empty"),
        ([-0.1], [1], "finite number >= 0"),
        (["hot"], [1], "'hot' is not a number"),
        ([float("nan")], [1], "finite number >= 0"),
        ([True], [1], "not a number"),
        ([0.0, 0.0], [1], "duplicate values [0.0]"),
        ([0.0], [1, 1], "duplicate values [1]"),
        ([0.0], [1.5], "1.5 is not an integer"),
        ([0.0], ["x"], "'x' is not an integer"),
        ({"a": 1}, [1], "expected a list of numbers"),
    ],
)
def test_bad_grids_raise_naming_the_input(temperatures, seeds, message):
    with pytest.raises(ValueError) as error:
        build_grid(temperatures, seeds)
    assert message in str(error.value)


def test_epoch_outside_the_grid_explains_the_epochs_override():
    grid = build_grid([0.0], [1, 2])
    with pytest.raises(ValueError, match="must equal len\\(temperatures\\) x len\\(seeds\\) = 2"):
        grid_cell(grid, 3)
