"""Solvers: the per-epoch (temperature, seed) sampling grid."""

from refusal_stability.solvers.sampling_grid import (
    DEFAULT_SEEDS,
    DEFAULT_TEMPERATURES,
    SamplingConfig,
    build_grid,
    sampling_grid,
)

__all__ = ["DEFAULT_SEEDS", "DEFAULT_TEMPERATURES", "SamplingConfig", "build_grid", "sampling_grid"]
