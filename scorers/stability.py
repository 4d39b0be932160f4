"""Deprecated location: the reducer is in ``reducer.py``, the metrics in ``metrics.py``, SSI in ``ssi.py``.

Kept only until ``analysis/metrics.py`` and ``tests/synthetic_logs.py`` import from the new modules.
"""

from refusal_stability.scorers.reducer import stability
from refusal_stability.scorers.ssi import TIE_ORDER, UNSTABLE_THRESHOLD

__all__ = ["TIE_ORDER", "UNSTABLE_THRESHOLD", "stability"]
