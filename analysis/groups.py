"""Breakdowns of per-prompt stability by category, source or any prompt-metadata column (docs/statistics.md).

A grouping column splits each model's prompts into groups by the column's value. ``category`` is
multi-valued: a prompt counts in each of its ``categories`` (BeaverTails prompts carry several), and
falls back to its single ``category`` when ``categories`` is missing or empty. Prompts with no value for a
grouping (None, NaN, empty string, empty list) are left out of that grouping; they still count in others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_GROUPS = ("category", "source")
BY_GROUP_COLUMNS = [
    "model",
    "group_by",
    "group",
    "n_prompts",
    "mean_ssi",
    "flip_pct",
    "unstable_pct",
    "refusal_pct",
    "partial_pct",
    "comply_pct",
]
_METRICS = {  # output column -> (per_prompt column, scale)
    "mean_ssi": ("ssi", 1.0),
    "flip_pct": ("flipped", 100.0),
    "unstable_pct": ("unstable", 100.0),
    "refusal_pct": ("refusal_rate", 100.0),
    "partial_pct": ("partial_rate", 100.0),
    "comply_pct": ("compliance_rate", 100.0),
}


def _is_missing(value: Any) -> bool:
    """True for None, NaN/NA and empty strings."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-like values are not missing scalars
        return False


def _as_text(value: Any) -> str:
    """Group value as text; integral floats (an int column with gaps reads as float) lose the ".0"."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _values_as_text(values: pd.Series) -> pd.Series:
    """Each value as text, None where missing; the Python work runs once per distinct value."""
    codes, uniques = pd.factorize(values)  # missing -> -1
    texts = np.array([None if _is_missing(u) else _as_text(u) for u in uniques] + [None], dtype=object)
    return pd.Series(texts[codes], index=values.index)


def _group_values(info: pd.DataFrame, column: str) -> pd.Series:
    """Group text per membership, indexed by info's row position (repeated for multi-valued prompts).

    List-like values (``categories``, or any metadata list) give one membership per element. For
    ``category`` a prompt's ``categories`` are used when any is present, else its single ``category``.
    """
    if column != "category" or "categories" not in info.columns:
        values = _values_as_text(info[column].explode())
        return values[values.notna()]
    many = _values_as_text(info["categories"].explode())
    many = many[many.notna()]
    single = _values_as_text(info["category"]) if "category" in info.columns else pd.Series(dtype=object)
    single = single[single.notna() & ~single.index.isin(many.index)]
    return pd.concat([many, single]).sort_index(kind="stable")


def _resolve(info: pd.DataFrame, group_by: Sequence[str] | str | None) -> list[str]:
    """Grouping columns to use: defaults that exist, or every named column (which must exist)."""
    if group_by is None:
        present = set(info.columns)
        return [g for g in DEFAULT_GROUPS if g in present or (g == "category" and "categories" in present)]
    columns = [group_by] if isinstance(group_by, str) else list(group_by)
    for column in columns:
        if column not in info.columns and not (column == "category" and "categories" in info.columns):
            available = sorted(c for c in info.columns if c not in ("model", "prompt_id"))
            raise ValueError(f"group_by column {column!r} is not in the prompt info; available columns: {available}")
    return columns


def _memberships(
    per_prompt: pd.DataFrame, prompts_info: pd.DataFrame | None, group_by: Sequence[str] | str | None
) -> pd.DataFrame:
    """Long table: model, prompt_id, group_by, group (str) and the per-prompt metric columns."""
    info = per_prompt if prompts_info is None else prompts_info
    keys = ["model", "prompt_id"] if "model" in info.columns else ["prompt_id"]
    for column in keys:
        if column not in info.columns:
            raise ValueError(f"prompt info needs a {column!r} column")
    if info.duplicated(keys).any():
        example = info.loc[info.duplicated(keys), keys].iloc[0].tolist()
        raise ValueError(f"prompt info must have one row per {tuple(keys)}, {example} occurs more than once")
    columns = _resolve(info, group_by)
    values = per_prompt[["model", "prompt_id", *(c for c, _ in _METRICS.values())]]
    parts = []
    info = info.reset_index(drop=True)
    for column in columns:
        groups = _group_values(info, column)
        long = info.loc[groups.index, keys].reset_index(drop=True)
        long["group"] = groups.to_numpy()
        long = long.drop_duplicates([*keys, "group"])
        long.insert(len(keys), "group_by", column)
        parts.append(long)
    if not parts:
        return pd.DataFrame(columns=["model", "prompt_id", "group_by", "group", *values.columns[2:]])
    long = pd.concat(parts, ignore_index=True)
    prompt_ids = long["prompt_id"].astype(str)
    long = long.assign(prompt_id=prompt_ids)
    return values.assign(prompt_id=values["prompt_id"].astype(str)).merge(long, on=keys, how="inner")


def by_group(
    per_prompt: pd.DataFrame,
    prompts_info: pd.DataFrame | None = None,
    group_by: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """by_group.csv: stability metrics per (model, grouping column, group value).

    Args:
        per_prompt: per_prompt table (``metrics.per_prompt``): model, prompt_id, ssi, flipped, unstable,
            refusal_rate, partial_rate, compliance_rate.
        prompts_info: one row per (model, prompt_id) — or per prompt_id, then it applies to every model —
            with the grouping columns (``categories`` tuple and/or ``category``, ``source``, any
            prompt-metadata column). Default: the per_prompt table's own columns.
        group_by: grouping columns in output order. Default: those of ``category`` and ``source`` that
            the info has; a named column must exist.

    Returns:
        Columns model, group_by, group (the value as text), n_prompts, mean_ssi (0-1), flip_pct,
        unstable_pct, refusal_pct, partial_pct, comply_pct (0-100; means over the group's prompts). A
        prompt with several categories counts once in each; prompts with no value for a grouping are
        skipped for it, so a grouping's n_prompts need not add up to the model's. Rows sort by model,
        grouping (in ``group_by`` order), group.

    Raises:
        ValueError: a named grouping column is missing, or the info has duplicate rows.
    """
    long = _memberships(per_prompt, prompts_info, group_by)
    if long.empty:
        return pd.DataFrame(columns=BY_GROUP_COLUMNS)
    order = {name: i for i, name in enumerate(pd.unique(long["group_by"]))}
    grouped = long.groupby(["model", "group_by", "group"], sort=False)
    out = grouped.size().rename("n_prompts").to_frame()
    for name, (column, scale) in _METRICS.items():
        out[name] = grouped[column].mean().astype(float) * scale
    out = out.reset_index()
    out["_order"] = out["group_by"].map(order)
    out = out.sort_values(["model", "_order", "group"], kind="stable", ignore_index=True)
    return out[BY_GROUP_COLUMNS]


def kruskal_by_group(
    per_prompt: pd.DataFrame,
    prompts_info: pd.DataFrame | None = None,
    group_by: Sequence[str] | str | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Kruskal-Wallis test of per-prompt SSI across the groups of each grouping, per model.

    Groups are formed exactly as in ``by_group`` (a multi-category prompt is a member of each of its
    groups, so its SSI enters several samples: the test's independence assumption then holds only
    approximately, and the result says how many prompts are affected).

    Args:
        per_prompt: per_prompt table with model, prompt_id, ssi.
        prompts_info: as for ``by_group``.
        group_by: as for ``by_group``.

    Returns:
        ``{model: {grouping: {"H", "p", "n_groups", "n_prompts", "n_multi_group", "note"?}}}``:
        n_prompts counts distinct prompts with a group, n_multi_group those in more than one group. H and
        p are None with a ``note`` when there are fewer than 2 groups or every SSI value is identical
        (the statistic is undefined).
    """
    long = _memberships(per_prompt, prompts_info, group_by)
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for (model, grouping), part in long.groupby(["model", "group_by"], sort=True):
        samples = [g["ssi"].to_numpy(dtype=float) for _, g in part.groupby("group", sort=True)]
        memberships = part.groupby("prompt_id").size()
        entry: dict[str, Any] = {
            "H": None,
            "p": None,
            "n_groups": len(samples),
            "n_prompts": int(len(memberships)),
            "n_multi_group": int((memberships > 1).sum()),
        }
        values = part["ssi"].to_numpy(dtype=float)
        if len(samples) < 2:
            entry["note"] = "fewer than 2 groups: no test"
        elif np.ptp(values) == 0:
            entry["note"] = "every prompt has the same SSI: the test is undefined"
        else:
            from scipy import stats  # imported where used (scipy.stats is slow to import)

            h, p = stats.kruskal(*samples)
            entry.update(H=float(h), p=float(p))
            if entry["n_multi_group"]:
                entry["note"] = (
                    f"{entry['n_multi_group']} prompts belong to several groups and count in each; "
                    "independence holds only approximately"
                )
        result.setdefault(str(model), {})[str(grouping)] = entry
    return result
