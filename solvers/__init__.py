"""Solvers: the per-epoch (temperature, seed) sampling grid and a verbatim system message."""

from refusal_stability.solvers.sampling_grid import literal_system_message, parse_grid_arguments, sampling_grid

__all__ = ["literal_system_message", "parse_grid_arguments", "sampling_grid"]
