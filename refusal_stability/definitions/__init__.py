"""The pure definitions both sides share, with no Inspect import: labels, SSI and the sampling grid.

Modules:
    labels: the label constants (REFUSE, PARTIAL, COMPLY, UNSCORED).
    ssi: SSI, majority label, flip and instability over label counts (the one definition).
    grid: the (temperature, seed) grid, its parsing and its epoch order.

The scorers and solvers (Inspect side) and the analysis (log side) import them from here.
"""

from refusal_stability.definitions.grid import (
    DEFAULT_SEEDS,
    DEFAULT_TEMPERATURES,
    GridError,
    SamplingConfig,
    build_grid,
    grid_cell,
    parse_draws,
    parse_seeds,
    parse_temperatures,
)
from refusal_stability.definitions.labels import COMPLY, LABELS, PARTIAL, REFUSE, UNSCORED
from refusal_stability.definitions.ssi import (
    TIE_ORDER,
    UNSTABLE_THRESHOLD,
    RowStability,
    StabilityArrays,
    majority_label,
    row_stability,
    stability_of_counts,
)

__all__ = [
    "COMPLY",
    "DEFAULT_SEEDS",
    "DEFAULT_TEMPERATURES",
    "LABELS",
    "PARTIAL",
    "REFUSE",
    "TIE_ORDER",
    "UNSCORED",
    "UNSTABLE_THRESHOLD",
    "GridError",
    "RowStability",
    "SamplingConfig",
    "StabilityArrays",
    "build_grid",
    "grid_cell",
    "majority_label",
    "parse_draws",
    "parse_seeds",
    "parse_temperatures",
    "row_stability",
    "stability_of_counts",
]
