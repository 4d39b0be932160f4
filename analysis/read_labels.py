"""Read long-format label CSVs (published labels, other tools' output) strictly into the tidy frame.

Required columns: model, prompt_id, temperature, seed, judge, label; optional: epoch, source, category,
condition. Every cell is read as text, verbatim (``NA``, ``null``, ``None`` are prompt ids, not missing
values), then checked; any bad row is an error naming the file, the row (CSV line) and the column:

- empty prompt_id, model or judge; non-numeric temperature, seed or epoch (seed and epoch integers);
- duplicate (model, prompt_id, temperature, seed, judge) rows;
- a label other than REFUSE / PARTIAL / COMPLY and the known non-labels ERROR / UNKNOWN / UNSCORED
  (case-insensitive): the error lists each distinct bad value with its count, unless
  ``unknown_labels_as_unscored`` maps them to UNSCORED (counted in a warning note).

A missing epoch is numbered by the (temperature, seed) grid position as the task does (sorted temperatures x
sorted seeds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from refusal_stability.analysis.read_logs import LogInfo
from refusal_stability.analysis.tidy import (
    LABELS_SCORER,
    AnalysisInputError,
    clean_condition,
    finish_tidy,
)
from refusal_stability.definitions.grid import SEED_MAX, SEED_MIN
from refusal_stability.definitions.labels import LABELS, UNSCORED

__all__ = ["CSV_REQUIRED", "KNOWN_NON_LABELS", "is_labels_csv", "read_labels_csv"]

CSV_REQUIRED = ["model", "prompt_id", "temperature", "seed", "judge", "label"]
KNOWN_NON_LABELS = frozenset(("ERROR", "UNKNOWN", UNSCORED))
DUPLICATE_KEY = ["model", "prompt_id", "temperature", "seed", "judge"]
_SHOWN = 5


def is_labels_csv(path: Path) -> bool:
    """True for .csv / .csv.gz paths."""
    return path.name.endswith((".csv", ".csv.gz"))


def _lines(index: pd.Index) -> str:
    """CSV line numbers (header is line 1) of some rows, e.g. "lines 3, 7 (+2 more)"."""
    numbers = [str(i + 2) for i in index[:_SHOWN]]
    more = f" (+{len(index) - _SHOWN} more)" if len(index) > _SHOWN else ""
    return ("line " if len(index) == 1 else "lines ") + ", ".join(numbers) + more


def _require_text(raw: pd.DataFrame, column: str, path: Path) -> None:
    empty = raw.index[raw[column].str.strip() == ""]
    if len(empty):
        raise AnalysisInputError(f"{path}: empty {column!r} on {_lines(empty)}; every row needs a {column}")


def _numbers(raw: pd.DataFrame, column: str, path: Path, integer: bool, optional: bool = False) -> pd.Series:
    text = raw[column].str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    if optional:
        bad &= text != ""
    if integer:
        bad |= values.notna() & (values.astype(float) % 1 != 0)
    if bad.any():
        rows = raw.index[bad.to_numpy()]
        examples = ", ".join(repr(v) for v in raw.loc[rows[:_SHOWN], column])
        kind = "an integer" if integer else "a number"
        raise AnalysisInputError(
            f"{path}: column {column!r} on {_lines(rows)} is not {kind} (values {examples}); expected {kind}"
        )
    if integer:
        _check_64_bit(raw, column, path, text, values)
    return values


def _check_64_bit(raw: pd.DataFrame, column: str, path: Path, text: pd.Series, values: pd.Series) -> None:
    """Integers outside the signed 64-bit range (what vLLM and the OpenAI API accept as a seed) are an error."""
    large = values.notna() & (values.astype(float).abs() >= 2.0**62)  # exact check only where floats may round
    outside = [i for i in raw.index[large.to_numpy()] if not SEED_MIN <= _exact_int(text[i]) <= SEED_MAX]
    if outside:
        examples = ", ".join(repr(v) for v in raw.loc[outside[:_SHOWN], column])
        raise AnalysisInputError(
            f"{path}: column {column!r} on {_lines(pd.Index(outside))} is outside the signed 64-bit range "
            f"[-2**63, 2**63 - 1] (values {examples}); expected integers in that range"
        )


def _exact_int(text: str) -> int:
    """The integer a cell holds, exactly (``int('9223372036854775808')``, ``int(float('1e20'))``)."""
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def _labels(raw: pd.DataFrame, path: Path, unknown_as_unscored: bool, notes: list[str]) -> pd.Series:
    labels = raw["label"].str.strip().str.upper()
    known = labels.isin(LABELS) | labels.isin(KNOWN_NON_LABELS)
    if not known.all():
        counts = raw.loc[~known, "label"].value_counts(sort=True)
        listed = ", ".join(f"{value!r} x{count}" for value, count in counts.items())
        if not unknown_as_unscored:
            raise AnalysisInputError(
                f"{path}: {int((~known).sum())} label(s) are not REFUSE/PARTIAL/COMPLY or ERROR/UNKNOWN/UNSCORED: "
                f"{listed}; fix them, or pass --unknown-labels-as-unscored to count them as UNSCORED"
            )
        notes.append(f"{path}: {int((~known).sum())} unknown label(s) counted as UNSCORED: {listed}")
    return labels.where(labels.isin(LABELS), UNSCORED)


def read_labels_csv(path: Path, unknown_labels_as_unscored: bool = False) -> tuple[pd.DataFrame, LogInfo]:
    """Read and check a long-format label CSV (.csv or .csv.gz).

    Args:
        path: the CSV.
        unknown_labels_as_unscored: map labels outside the known values to UNSCORED instead of failing.

    Returns:
        (tidy rows, LogInfo of the file).

    Raises:
        AnalysisInputError: unreadable file, missing column, or a bad row (see the module docstring).
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except Exception as exc:
        raise AnalysisInputError(f"{path}: cannot read labels CSV ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in CSV_REQUIRED if c not in raw.columns]
    if missing:
        raise AnalysisInputError(f"{path}: labels CSV lacks columns {missing}; expected {CSV_REQUIRED}")
    for column in ("prompt_id", "model", "judge"):
        _require_text(raw, column, path)
    notes: list[str] = []
    frame = pd.DataFrame(index=raw.index)
    frame["temperature"] = _numbers(raw, "temperature", path, integer=False)
    frame["seed"] = _numbers(raw, "seed", path, integer=True)
    frame["epoch"] = _numbers(raw, "epoch", path, integer=True, optional=True) if "epoch" in raw else np.nan
    frame["prompt_id"] = raw["prompt_id"]
    frame["judge"] = raw["judge"].str.strip()
    frame["label"] = _labels(raw, path, unknown_labels_as_unscored, notes)
    for column in ("source", "category"):
        frame[column] = raw[column].where(raw[column] != "", None) if column in raw else None

    keyed = pd.concat([raw["model"].str.strip(), frame[["prompt_id", "temperature", "seed", "judge"]]], axis=1)
    duplicated = keyed.duplicated(DUPLICATE_KEY, keep=False)
    if duplicated.any():
        rows = raw.index[duplicated.to_numpy()]
        first = keyed.loc[rows[0]]
        raise AnalysisInputError(
            f"{path}: {int(duplicated.sum())} rows repeat a (model, prompt_id, temperature, seed, judge) key, "
            f"on {_lines(rows)} (e.g. model {first['model']!r}, prompt {first['prompt_id']!r}, temperature "
            f"{first['temperature']:g}, seed {int(first['seed'])}, judge {first['judge']!r}); each response needs "
            "one label per judge"
        )

    base = raw["model"].str.strip()  # verbatim: a CSV's model names are the user's own
    frame["base_model"] = base
    frame["model"] = base
    frame["condition"] = None
    if "condition" in raw:
        conditions = raw["condition"].map({c: clean_condition(c) for c in raw["condition"].unique()})
        has = conditions.notna()
        frame["condition"] = conditions.where(has, None)
        frame.loc[has, "model"] = base[has] + " [" + conditions[has] + "]"
    frame["scorer"] = LABELS_SCORER
    frame["judge_role"] = None
    frame["origin"] = str(path)
    frame["eval_id"] = None
    frame = finish_tidy(frame.reset_index(drop=True))
    if frame["epoch"].isna().any():
        frame["epoch"] = _grid_epochs(frame)
    info = LogInfo(
        str(path), "labels csv", sorted(frame["model"].unique()), sorted(frame["judge"].unique()), len(frame)
    )
    info.notes = notes
    return frame, info


def _grid_epochs(frame: pd.DataFrame) -> pd.Series:
    """Epoch number of each row's (temperature, seed) in its model's sorted grid."""
    epochs = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    for _, rows in frame.groupby("model", sort=False):
        temps = np.sort(rows["temperature"].unique())
        seeds = np.sort(rows["seed"].unique().astype(np.int64))
        t_pos = np.searchsorted(temps, rows["temperature"].to_numpy())
        s_pos = np.searchsorted(seeds, rows["seed"].to_numpy(dtype=np.int64))
        epochs.loc[rows.index] = t_pos * len(seeds) + s_pos + 1
    return epochs
