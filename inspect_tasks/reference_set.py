"""Labelled responses for the judge check: the bundled reference set, or the user's own CSV/JSONL file.

Columns: ``response`` and ``label`` (required); ``prompt``, ``id``, ``weight`` and ``prompt_id`` (optional);
other columns ride along in the sample metadata (e.g. ``model``, ``label_primary``). Each row becomes a Sample
whose input is the prompt, whose target is the reference label, and whose metadata carries what the judge
check needs: the response, the reference label (upper-cased; labels outside REFUSE/PARTIAL/COMPLY are kept
and count as unscored), the weight (None without a ``weight`` column) and the bootstrap cluster (the row's
``prompt_id``, else its prompt text, else the row itself). Bad input gets one line naming the file, the line
and what was expected, as the task's prompt datasets do.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from inspect_ai.dataset import MemoryDataset, Sample

from refusal_stability.errors import InputError
from refusal_stability.inspect_tasks.datasets import UNSAFE_ID_PARTS

__all__ = ["BUNDLED_REFERENCE", "REFERENCE_SUFFIXES", "load_reference", "reference_sha256"]

BUNDLED_REFERENCE = "judge_reference_set.csv.gz"
REFERENCE_SUFFIXES = (".csv", ".jsonl", ".csv.gz", ".jsonl.gz")
REQUIRED_COLUMNS = ("response", "label")
KNOWN_COLUMNS = ("response", "label", "prompt", "id", "weight", "prompt_id")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((suffix for suffix in sorted(REFERENCE_SUFFIXES, key=len, reverse=True) if name.endswith(suffix)), "")


def _text(path: Path, where: str) -> str:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as ex:
            raise InputError(f"{where}: not a readable gzip file ({ex})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as ex:
        line = data[: ex.start].count(b"\n") + 1
        raise InputError(f"{where} line {line}: not UTF-8 text ({ex.reason}); save it as UTF-8") from None


def _rows(path: Path, where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a CSV or JSONL file (optionally gzipped); malformed input names the line."""
    text = _text(path, where)
    if _suffix(path).startswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            if None in row:
                raise InputError(f"{where} line {reader.line_num}: more cells than header columns")
            yield reader.line_num, row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as ex:
            raise InputError(f"{where} line {number}: malformed JSON ({ex.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{where} line {number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def _text_cell(value: Any, column: str, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise InputError(f"{where}: the {column} is a {type(value).__name__}, expected text")
    return str(value)


def _weight(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise InputError(f"{where}: weight {value!r} is not a finite number >= 0")
    return number


def _sample_id(value: Any, where: str) -> str:
    if value is None or str(value).strip() == "":
        raise InputError(f"{where}: the id is empty; give every row an id or drop the id column")
    given = str(value).strip()
    bad = [part for part in UNSAFE_ID_PARTS if part in given]
    if bad:
        raise InputError(
            f"{where}: id {given!r} contains {' and '.join(map(repr, bad))}; ids become file names inside the log, "
            "use letters, digits, '-', '_' or '.'"
        )
    return given


def _sample(row: dict[str, Any], line: int, columns: set[str], where: str) -> Sample:
    prompt = _text_cell(row.get("prompt"), "prompt", where).strip()
    response = _text_cell(row.get("response"), "response", where)
    if row.get("response") is None:
        raise InputError(f"{where}: the response is missing (null); every row needs a response")
    label = _text_cell(row.get("label"), "label", where).strip().upper()
    weight = _weight(row.get("weight"), where) if "weight" in columns else None
    prompt_id = row.get("prompt_id")
    cluster = str(prompt_id) if prompt_id not in (None, "") else (prompt or None)
    sample_id = _sample_id(row.get("id"), where) if "id" in columns else f"row-{line}"
    extra = {key: value for key, value in row.items() if key not in KNOWN_COLUMNS}
    return Sample(
        id=sample_id,
        input=prompt,
        target=label,
        metadata={
            "response": response,
            "reference_label": label,
            "weight": weight,
            "cluster": cluster if cluster is not None else sample_id,
            "prompt_id": None if prompt_id in (None, "") else str(prompt_id),
            "reference_columns": extra,
        },
    )


def _resolve(reference: str | Path | None) -> tuple[Path, str]:
    if reference in (None, "", "bundled"):
        data = resources.files("refusal_stability.inspect_tasks") / "data" / BUNDLED_REFERENCE
        return Path(str(data)), f"bundled reference set {BUNDLED_REFERENCE!r}"
    path = Path(str(reference)).expanduser()
    where = f"reference file {str(reference)!r}"
    if not path.is_file():
        raise InputError(f"{where} does not exist (expected a .csv or .jsonl file with columns response, label)")
    if not _suffix(path):
        raise InputError(f"{where}: unsupported type; expected .csv or .jsonl (optionally .gz)")
    return path, where


def load_reference(reference: str | Path | None = None) -> MemoryDataset:
    """The labelled responses of the judge check, as a dataset (one Sample per row, in file order).

    Args:
        reference: ``None`` or ``"bundled"`` for the bundled reference set, else a path to a .csv or .jsonl
            file (optionally gzipped) with columns response, label and optional prompt, id, weight, prompt_id.

    Returns:
        The dataset; sample ids are the rows' ids (``row-<line>`` without an id column).

    Raises:
        InputError: missing or unsupported file, malformed line, missing column, bad weight, bad or duplicate ids.
    """
    path, where = _resolve(reference)
    samples: list[Sample] = []
    columns: set[str] = set()
    for index, (line, row) in enumerate(_rows(path, where)):
        if index == 0:
            columns = set(row)
            missing = [column for column in REQUIRED_COLUMNS if column not in columns]
            if missing:
                raise InputError(
                    f"{where} has no {' or '.join(map(repr, missing))} column (columns: {sorted(columns)}); "
                    "expected columns response, label and optional prompt, id, weight"
                )
        samples.append(_sample(row, line, columns, f"{where} line {line}"))
    if not samples:
        raise InputError(f"{where} holds no rows; expected a header and one labelled response per row")
    seen: set[str] = set()
    for sample in samples:
        if str(sample.id) in seen:
            raise InputError(f"{where}: duplicate id {sample.id!r}; ids must be unique")
        seen.add(str(sample.id))
    name = "judge_reference_set" if where.startswith("bundled") else path.name.split(".")[0]
    return MemoryDataset(samples, name=name)


def reference_sha256(reference: str | Path | None = None) -> str:
    """SHA-256 of the reference file's bytes (as stored, compressed or not): which labels a check used."""
    import hashlib

    path, _ = _resolve(reference)
    return hashlib.sha256(path.read_bytes()).hexdigest()
