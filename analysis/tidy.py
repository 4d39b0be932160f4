"""The tidy frame contract (one row per judged response), the input error type and run names.

Tidy frame columns (docs/log-schema.md "Tidy frame"): model (the RUN name: display model name, plus
`` [condition]`` when the run has a condition), base_model, condition, prompt_id (str, verbatim), source,
category, epoch, temperature, seed, judge, scorer, judge_role, label (REFUSE/PARTIAL/COMPLY/UNSCORED),
response_hash, response_chars, origin (the file a row came from), eval_id, sent_temperature, sent_seed, sent_top_p,
sent_verified (what the request of that epoch carried; analysis.sent_sampling), expected (``refuse`` for a
harmful prompt, ``comply`` for a benign control; ``refuse`` in logs written before the field existed).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from refusal_stability.definitions.expected import DEFAULT_EXPECTED, EXPECTED_VALUES

TIDY_COLUMNS = [
    "model",
    "base_model",
    "condition",
    "prompt_id",
    "source",
    "category",
    "epoch",
    "temperature",
    "seed",
    "judge",
    "scorer",
    "judge_role",
    "label",
    "response_hash",
    "response_chars",
    "origin",
    "eval_id",
    "sent_temperature",
    "sent_seed",
    "sent_top_p",
    "sent_verified",
    "expected",
]
# Text columns stored as pandas categoricals (sorted categories): grouping and filtering them costs integer
# work instead of string hashing and copying (docs/performance.md, P2). Output tables hold plain text.
CATEGORICAL_COLUMNS = ["model", "base_model", "prompt_id", "judge", "scorer", "label", "origin", "eval_id"]
PRIMARY_ROLE = "primary"
LABELS_SCORER = "labels"  # the ``scorer`` of rows read from label CSVs


class AnalysisInputError(ValueError):
    """Input that cannot be analysed as given (the message names the input and what is expected)."""


def display_model_name(model: str) -> str:
    """The model name as users know it: the served name, never a local path.

    ``vllm//root/.cache/x/smollm2-135m-instruct`` -> ``vllm/smollm2-135m-instruct``; hub ids such as
    ``vllm/meta-llama/Llama-3.1-8B-Instruct`` are kept.

    Args:
        model: the model string of a log (``provider/name``) or of a label CSV.

    Returns:
        The display name.
    """
    provider, sep, name = str(model).partition("/")
    if not sep:
        return str(model)
    stripped = name.rstrip("/\\")
    path_like = stripped.startswith(("/", "~", "./", "../", ".\\", "..\\")) or (
        len(stripped) > 2 and stripped[1] == ":" and stripped[2] in "/\\"
    )
    if not path_like:
        return str(model)
    base = stripped.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{provider}/{base}" if base else str(model)


def clean_condition(value: Any) -> str | None:
    """A run condition as text, or None when absent or empty (lists from ``-T a,b`` are comma-joined)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = ",".join(str(part) for part in value)
    text = str(value).strip()
    return text or None


def run_name(model: str, condition: str | None) -> str:
    """The run name used as ``model`` in every table: ``display_model [condition]``."""
    return f"{model} [{condition}]" if condition else model


REPLICATE_SUFFIX = re.compile(r" \(run \d+\)$")


def replicate_name(run: str, index: int) -> str:
    """The name of the ``index``-th (1-based) independent run of the same model, condition and grid."""
    return f"{run} (run {index})"


def replicate_group(run: str) -> str:
    """The run name without its replicate suffix: ``m [c] (run 2)`` -> ``m [c]``."""
    return REPLICATE_SUFFIX.sub("", run)


def finish_tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Give a frame the contract's columns (missing ones as None) in order, with the contract's dtypes."""
    for column in TIDY_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[TIDY_COLUMNS + [c for c in frame.columns if c not in TIDY_COLUMNS]]
    frame["prompt_id"] = frame["prompt_id"].astype(str)
    frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce").astype("Int64")
    frame["temperature"] = pd.to_numeric(frame["temperature"], errors="coerce").astype(float)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["response_chars"] = pd.to_numeric(frame["response_chars"], errors="coerce").astype("Int64")
    for column in ("sent_temperature", "sent_top_p"):  # what the request carried; NaN: not sent (or unverified)
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["sent_seed"] = pd.to_numeric(frame["sent_seed"], errors="coerce").astype("Int64")
    frame["sent_verified"] = frame["sent_verified"].map(lambda v: v is True or v == 1).astype(bool)
    frame["expected"] = frame["expected"].where(frame["expected"].isin(EXPECTED_VALUES), DEFAULT_EXPECTED)
    return frame


def as_categorical(frame: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame with its ``CATEGORICAL_COLUMNS`` as categoricals (sorted categories; values unchanged)."""
    for column in CATEGORICAL_COLUMNS:
        if column in frame.columns and not isinstance(frame[column].dtype, pd.CategoricalDtype):
            values = frame[column].astype("str")  # text, missing values stay missing
            codes, uniques = pd.factorize(values, sort=True)  # codes -1 for missing values
            frame[column] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype="str"))
    return frame


def _union_sorted(columns: list[pd.Series]) -> pd.Categorical:
    """The categorical columns of several frames as one, its categories the sorted union of theirs.

    The same result as ``union_categoricals(columns, sort_categories=True)`` for text categories, with one
    sort of the (few) categories and one integer recode per frame.
    """
    parts = [np.asarray(column.cat.categories, dtype=object) for column in columns]
    united = pd.Index(np.unique(np.concatenate(parts)) if parts else [], dtype="str")
    codes = []
    for column in columns:
        lookup = np.append(united.get_indexer(column.cat.categories), -1)  # code -1 (missing) stays -1
        codes.append(lookup[column.cat.codes.to_numpy()])
    return pd.Categorical.from_codes(np.concatenate(codes), categories=united)


def _union_categorical(columns: list[pd.Series]) -> pd.Categorical:
    """One categorical of ``columns`` (sorted union of their categories)."""
    if all(pd.api.types.is_string_dtype(column.cat.categories.dtype) for column in columns):
        return _union_sorted(columns)
    return union_categoricals(columns, sort_categories=True)


def concat_tidy(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate tidy frames (one per file), keeping the categorical columns categorical.

    The categories of each column are united across files (``union_categoricals``, sorted), which
    ``pd.concat`` alone would turn into plain text whenever two files hold different values.
    """
    frames = [as_categorical(frame) for frame in frames]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    united = {
        column: _union_categorical([frame[column] for frame in frames])
        for column in CATEGORICAL_COLUMNS
        if column in frames[0].columns
    }
    order = list(dict.fromkeys(column for frame in frames for column in frame.columns))
    rest = pd.concat([frame.drop(columns=list(united)) for frame in frames], ignore_index=True)
    for column, values in united.items():
        rest[column] = values
    return rest[order]


def plain_text(table: pd.DataFrame) -> pd.DataFrame:
    """A table whose categorical columns hold plain values again (output tables never expose categoricals)."""
    columns = [c for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)]
    if not columns:
        return table
    return table.astype({c: table[c].cat.categories.dtype for c in columns})
