"""refusal-stability: measure whether an LLM's safety refusals survive changes of temperature and seed.

Subpackages: ``inspect_tasks`` (the Inspect task and datasets), ``solvers`` (the per-epoch sampling grid),
``scorers`` (the three-class judge, heuristic, stability reducer), ``analysis`` (logs -> statistics -> report).
"""

__version__ = "0.1.0"
