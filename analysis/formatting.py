"""Numbers and tables formatted for reading: percentages to 1 decimal, SSI to 3, CIs as ``[low, high]``.

The number and table functions return plain text; escaping happens where the text is written (the report
templates): HTML by Jinja's autoescape, Markdown by ``md_escape``, ``md_block`` and ``md_table`` here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DASH = "\u2013"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#<>&~])")

HEADERS: dict[str, str] = {
    "model": "Model",
    "base_model": "Base model",
    "condition": "Condition",
    "prompt_id": "Prompt",
    "source": "Source",
    "category": "Category",
    "judge": "Judge",
    "n_prompts": "Prompts",
    "n_valid": "Valid labels",
    "n_refuse": "REFUSE",
    "n_partial": "PARTIAL",
    "n_comply": "COMPLY",
    "ssi": "SSI",
    "mean_ssi": "Mean SSI",
    "flip_pct": "Flipped %",
    "unstable_pct": "Unstable %",
    "refusal_pct": "Refuse %",
    "partial_pct": "Partial %",
    "comply_pct": "Comply %",
    "compliance_pct": "Comply %",
    "n_unscored": "Unscored records",
    "majority_label": "Majority label",
    "judge_sensitive": "Judge-sensitive",
    "flipped": "Flipped",
    "unstable": "Unstable",
    "temperature": "Temperature",
    "threshold": "Threshold",
    "scheme": "Scheme",
    "n": "Draws",
    "agreement_pct": "Agreement %",
    "group_by": "Grouped by",
    "group": "Group",
    "a": "A",
    "b": "B",
    "metric": "Metric",
    "value_a": "A",
    "value_b": "B",
    "diff": "B \u2212 A",
    "test": "Test",
    "statistic": "Statistic",
    "p": "p",
    "p_holm": "p (Holm)",
    "p_bonferroni": "p (Bonferroni)",
    "rho": "Spearman \u03c1",
    "k": "Configurations asked (k)",
    "any_comply_pct": "Any COMPLY %",
    "n_prompts_any_comply": "Prompts with any COMPLY",
    "median_expected_queries": "Median expected queries",
    "pct_within_5_queries": "Within 5 queries %",
    "n_prompts_all": "Prompts (all records)",
    "mean_ssi_all": "Mean SSI (all)",
    "flip_pct_all": "Flipped % (all)",
    "n_prompts_consensus": "Prompts (consensus)",
    "mean_ssi_consensus": "Mean SSI (consensus)",
    "flip_pct_consensus": "Flipped % (consensus)",
    "n_pairs": "Response pairs",
    "kappa": "Cohen's \u03ba",
    "text_identical_pct": "Identical text across seeds %",
    "label_flip_pct": "Label flipped %",
    "flip_same_text_pct": "Flipped, same text %",
    "flip_text_changed_pct": "Flipped, text changed %",
    "log": "Log",
    "status": "Status",
    "planned_records": "Planned records",
    "present_records": "Present records",
    "missing_records": "Missing records",
    "n_groups": "Groups",
    "n_multi_group": "Prompts in several groups",
    "note": "Note",
    "reask_comply_pct": "Re-ask COMPLY %",
    "n_prompts_refused": "Prompts shown refused",
    "n_blocks": "Blocks",
    "chi2": "\u03c7\u00b2",
    "kendalls_w": "Kendall's W",
}

TEST_NAMES: dict[str, str] = {
    "mcnemar_exact": "exact McNemar",
    "mcnemar": "McNemar",
    "wilcoxon": "Wilcoxon signed-rank",
}

METRIC_NAMES: dict[str, str] = {
    "mean_ssi": "mean SSI",
    "flip_pct": "flip rate",
    "unstable_pct": "unstable share",
    "comply_pct": "compliance rate",
    "refusal_pct": "refusal rate",
    "partial_pct": "partial rate",
}


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' NA."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def pct(value: Any) -> str:
    """A percentage to 1 decimal, without the % sign (``26.8``)."""
    return DASH if is_missing(value) else f"{float(value):.1f}"


def ssi(value: Any) -> str:
    """An SSI (or another 0-1 index such as kappa) to 3 decimals."""
    return DASH if is_missing(value) else f"{float(value):.3f}"


def ci(low: Any, high: Any, digits: int = 1) -> str:
    """A confidence interval as ``[low, high]``."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"[{float(low):.{digits}f}, {float(high):.{digits}f}]"


def p_value(value: Any) -> str:
    """A p-value for reading: ``< 0.001``, ``0.004``, ``0.03``, ``0.41``, ``1``."""
    if is_missing(value):
        return DASH
    value = float(value)
    if value < 0.001:
        return "< 0.001"
    if value < 0.01:
        return f"{value:.3f}"
    if value >= 0.995:
        return "1"
    return f"{value:.2f}"


def integer(value: Any) -> str:
    """An integer with thousands separators."""
    return DASH if is_missing(value) else f"{int(value):,}"


def number(value: Any) -> str:
    """A generic number: integers verbatim with separators, floats to 3 significant digits (at least)."""
    if is_missing(value):
        return DASH
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return f"{int(number):,}"
        if abs(number) >= 100:
            return f"{number:,.1f}"
        if abs(number) >= 0.01:
            return f"{number:.3f}".rstrip("0").rstrip(".")
        return f"{number:.2g}"
    return str(value)


def metric_value(metric: str, value: Any) -> str:
    """A value of a named metric: SSI-like to 3 decimals, percentages to 1."""
    return ssi(value) if "ssi" in metric else pct(value)


def header(column: str) -> str:
    """Human header of a column (falls back to the name with spaces and %)."""
    if column in HEADERS:
        return HEADERS[column]
    text = column.replace("_pct", " %").replace("_", " ")
    if any(mark in column for mark in "=<>"):  # "k=5 %", "SSI < 0.8 %": already a header
        return text
    return text[:1].upper() + text[1:]


def cell(column: str, value: Any) -> str:
    """Format one table cell by its column name."""
    if is_missing(value):
        return DASH
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(v) for v in value)
    if not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    name = column.lower()
    if name in {"p", "p_holm", "p_bonferroni"} or name.startswith("p_") or name.endswith("_p"):
        return p_value(value)
    if "pct" in name or name.endswith("%") or name.startswith("ssi<"):
        return pct(value)
    if "ssi" in name or name in {"kappa", "rho", "kendalls_w", "diff_ssi"}:
        return ssi(value)
    if name == "temperature" or name == "threshold":
        return f"{float(value):g}"
    if name.startswith("n_") or name in {"n", "k"} or "records" in name:
        return integer(value)
    return number(value)


@dataclass
class Table:
    """A formatted table: headers and rows of display strings; ``numeric`` marks right-aligned columns."""

    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)

    def __bool__(self) -> bool:
        """A table is truthy when it has rows."""
        return bool(self.rows)


def table(
    frame: pd.DataFrame | Sequence[Mapping[str, Any]] | None,
    columns: Iterable[str] | None = None,
    headers: Mapping[str, str] | None = None,
    ci_columns: bool = True,
) -> Table:
    """Format a DataFrame (or list of dicts) for reading.

    Args:
        frame: the data; None or empty gives an empty table.
        columns: columns to show, in order (missing ones are skipped); default all.
        headers: header overrides for this table.
        ci_columns: merge ``X_ci_low``/``X_ci_high`` into the ``X`` cell as ``value [low, high]``.
    """
    if frame is None:
        return Table([], [])
    data = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(list(frame))
    if data.empty:
        return Table([], [])
    names = [c for c in (columns if columns is not None else data.columns) if c in data.columns]
    merged = {c for c in names if ci_columns and f"{c}_ci_low" in data.columns and f"{c}_ci_high" in data.columns}
    if ci_columns:
        names = [c for c in names if not (c.endswith(("_ci_low", "_ci_high")) and c.rsplit("_ci_", 1)[0] in merged)]
    overrides = dict(headers or {})
    head = [overrides.get(c) or header(c) + (" [95% CI]" if c in merged else "") for c in names]
    rows = []
    for record in data[names + [f"{c}_ci_{s}" for c in merged for s in ("low", "high")]].to_dict("records"):
        row = []
        for c in names:
            text = cell(c, record[c])
            if c in merged:
                digits = 3 if "ssi" in c else 1
                bounds = ci(record[f"{c}_ci_low"], record[f"{c}_ci_high"], digits)
                text = f"{text} {bounds}".strip()
            row.append(text)
        rows.append(row)
    numeric = [pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c]) for c in names]
    return Table(head, rows, numeric)


def pct_ci(row: Mapping[str, Any], column: str) -> str:
    """``26.8 % [24.1, 29.6]`` from a row with column and its _ci_low/_ci_high."""
    bounds = ci(row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high"))
    return f"{pct(row.get(column))} %" + (f" {bounds}" if bounds else "")


def ssi_ci(row: Mapping[str, Any]) -> str:
    """``0.900 [0.880, 0.920]`` from a row with mean_ssi and its _ci_low/_ci_high."""
    bounds = ci(row.get("mean_ssi_ci_low"), row.get("mean_ssi_ci_high"), 3)
    return ssi(row.get("mean_ssi")) + (f" {bounds}" if bounds else "")


def md_escape(text: Any) -> str:
    """Escape text for Markdown so that nothing in it becomes markup (HTML, emphasis, links, table pipes)."""
    text = str(text)
    text = _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(m.group(1), "\\" + m.group(1)), text)
    return text.replace("\r", "").replace("\n", " ")


def md_block(text: Any) -> str:
    """A multi-line text (prompt or response) as an escaped Markdown blockquote."""
    lines = str(text).replace("\r", "").split("\n")
    return "\n".join("> " + md_escape(line) if line.strip() else ">" for line in lines)


def md_table(table: Table) -> str:
    """A Markdown table of escaped cells."""
    if not table:
        return ""
    align = ["---:" if numeric else "---" for numeric in (table.numeric or [False] * len(table.headers))]
    lines = ["| " + " | ".join(md_escape(h) for h in table.headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"
