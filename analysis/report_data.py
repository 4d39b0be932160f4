"""Reading a result for the report: its optional tables as non-empty frames, its statistics, nested records.

The report reads an :class:`~refusal_stability.analysis.result_tables.AnalysisTables` (or any object with
its attributes): an optional table that is absent, None or empty gives None, so each section and sentence
appears only when its data is present.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from refusal_stability.analysis.result_tables import AnalysisTables
from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD


def table_of(result: AnalysisTables, name: str) -> pd.DataFrame | None:
    """``result.<name>`` when it is a non-empty DataFrame (or list of records), else None."""
    value = getattr(result, name, None)
    if value is None:
        return None
    if not isinstance(value, pd.DataFrame):
        try:
            value = pd.DataFrame(value)
        except (TypeError, ValueError):
            return None
    return None if value.empty else value


def statistics_of(result: AnalysisTables) -> dict[str, Any]:
    """``result.statistics`` (empty when absent)."""
    return getattr(result, "statistics", None) or {}


def settings_of(result: AnalysisTables) -> dict[str, Any]:
    """``result.settings`` (empty when absent)."""
    return getattr(result, "settings", None) or {}


def threshold_of(result: AnalysisTables) -> Any:
    """The SSI threshold the result was computed with (statistics, else settings, else the default)."""
    return statistics_of(result).get("threshold", settings_of(result).get("threshold", UNSTABLE_THRESHOLD))


def records(value: Any, keys: Sequence[str] = ("model", "group_by")) -> list[dict[str, Any]]:
    """Flatten a list of dicts, or dicts nested by ``keys`` (``{model: {group_by: {...}}}``), into records."""
    if value is None:
        return []
    if isinstance(value, list):
        return [dict(v) for v in value if isinstance(v, Mapping)]
    if not isinstance(value, Mapping):
        return []
    if not value or all(not isinstance(v, Mapping) for v in value.values()):
        return [dict(value)] if value else []
    out = []
    for name, inner in value.items():
        if not isinstance(inner, Mapping | list):
            continue
        for record in records(inner, keys[1:]) if keys[1:] else records(inner, ()):
            out.append({keys[0] if keys else "key": name, **record})
    return out


def agreement_pairs(result: AnalysisTables) -> list[dict[str, Any]]:
    """The judge pairs of ``result.agreement`` (empty with one judge)."""
    agreement = getattr(result, "agreement", None)
    if not agreement:
        return []
    if isinstance(agreement, Mapping) and "pairs" in agreement:
        return [dict(p) for p in agreement["pairs"]]
    return [dict(agreement)] if isinstance(agreement, Mapping) else []


def model_order(result: AnalysisTables) -> list[str]:
    """The runs in the order of per_model (else sorted from per_prompt)."""
    per_model = table_of(result, "per_model")
    if per_model is not None and "model" in per_model:
        return [str(m) for m in per_model["model"]]
    per_prompt = table_of(result, "per_prompt")
    return sorted(per_prompt["model"].astype(str).unique()) if per_prompt is not None else []


def incomplete_rows(result: AnalysisTables) -> list[dict[str, Any]]:
    """The completeness rows of the logs that miss records."""
    completeness = table_of(result, "completeness")
    if completeness is None or "missing_records" not in completeness:
        return []
    missing = completeness[pd.to_numeric(completeness["missing_records"], errors="coerce").fillna(0) > 0]
    return missing.to_dict("records")
