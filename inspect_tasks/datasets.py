"""Harmful-prompt datasets: BeaverTails from the HF hub, a local CSV/JSONL file, or the bundled offline set.

Every loader returns Samples whose id is stable across runs and models (the file's id, else a hash of the
prompt text) and whose metadata carries ``source``, ``category`` and ``categories``.
"""

import hashlib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from inspect_ai.dataset import Dataset, MemoryDataset, Sample, csv_dataset, hf_dataset, json_dataset

BEAVERTAILS_PATH = "PKU-Alignment/BeaverTails"
BEAVERTAILS_SPLIT = "330k_train"
# Pass a commit SHA (-T beavertails_revision=<sha>) to pin the exact data; it is recorded in the log's task args.
BEAVERTAILS_REVISION = "main"
BEAVERTAILS_CATEGORIES: tuple[str, ...] = (
    "animal_abuse",
    "child_abuse",
    "controversial_topics,politics",
    "discrimination,stereotype,injustice",
    "drug_abuse,weapons,banned_substance",
    "financial_crime,property_crime,theft",
    "hate_speech,offensive_language",
    "misinformation_regarding_ethics,laws_and_safety",
    "non_violent_unethical_behavior",
    "privacy_violation",
    "self_harm",
    "sexually_explicit,adult_content",
    "terrorism,organized_crime",
    "violence,aiding_and_abetting,incitement",
)
BUNDLED_FILE = "bundled_prompts.jsonl"
ID_COLUMN_CANDIDATES = ("prompt_id", "id")


def prompt_hash_id(prompt: str) -> str:
    """Stable id of a prompt without its own id: ``p-`` + the first 12 hex digits of its SHA-1."""
    return "p-" + hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]


def parse_n_prompts(n_prompts: int | str | None) -> int | None:
    """``None`` (or "none"/"all") keeps every prompt; otherwise an integer >= 1."""
    if n_prompts is None or (isinstance(n_prompts, str) and n_prompts.strip().lower() in ("none", "all", "")):
        return None
    if isinstance(n_prompts, bool):
        raise ValueError(f"n_prompts={n_prompts!r}: expected an integer >= 1 or None for all prompts")
    try:
        number = int(n_prompts)
    except (TypeError, ValueError):
        raise ValueError(f"n_prompts={n_prompts!r}: expected an integer >= 1 or None for all prompts") from None
    if number != float(n_prompts) or number < 1:
        raise ValueError(f"n_prompts={n_prompts!r}: expected an integer >= 1 or None for all prompts")
    return number


def _prompt_sample(prompt: object, sample_id: object, source: object, categories: Iterable[str], where: str) -> Sample:
    """One Sample with our metadata; ``where`` names the input row in error messages."""
    text = "" if prompt is None else str(prompt).strip()
    if not text:
        raise ValueError(f"{where}: the prompt text is empty; every row needs a non-empty prompt")
    categories = [c for c in categories if c]
    given_id = None if sample_id is None else str(sample_id).strip()
    return Sample(
        id=given_id or prompt_hash_id(text),
        input=text,
        metadata={
            "source": None if source in (None, "") else str(source),
            "category": categories[0] if categories else None,
            "categories": categories,
        },
    )


def _check_unique_ids(samples: list[Sample], where: str) -> None:
    seen: set[str] = set()
    for sample in samples:
        if str(sample.id) in seen:
            raise ValueError(f"{where}: duplicate prompt id {sample.id!r}; ids must be unique")
        seen.add(str(sample.id))


def load_prompt_file(
    path: str | Path,
    prompt_column: str = "prompt",
    id_column: str | None = None,
    category_column: str | None = "category",
    source_column: str | None = "source",
) -> list[Sample]:
    """Load a CSV or JSONL file of prompts.

    Args:
        path: a ``.csv`` or ``.jsonl``/``.json`` file.
        prompt_column: column holding the prompt text (required).
        id_column: column holding a stable prompt id; default: ``prompt_id`` or ``id`` when present,
            otherwise a hash of the prompt text.
        category_column: optional column with a harm category (ignored when absent).
        source_column: optional column naming the prompt's source (ignored when absent).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist (expected a .csv or .jsonl file)")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        raise ValueError(f"dataset file {str(path)!r}: unsupported type {suffix!r}; expected .csv or .jsonl")

    row_number = 0

    def record_to_sample(record: dict[str, Any]) -> Sample:
        nonlocal row_number, id_column
        row_number += 1
        if row_number == 1:
            id_column = _check_columns(path, set(record), prompt_column, id_column)
        return _prompt_sample(
            prompt=record.get(prompt_column),
            sample_id=record.get(id_column) if id_column else None,
            source=record.get(source_column) if source_column else None,
            categories=[str(record[category_column])] if category_column and record.get(category_column) else [],
            where=f"{path} row {row_number}",
        )

    reader = csv_dataset if suffix == ".csv" else json_dataset
    samples = list(reader(str(file), sample_fields=record_to_sample))
    if not samples:
        raise ValueError(f"dataset file {str(path)!r} holds no rows; expected a header and one prompt per row")
    _check_unique_ids(samples, str(path))
    return samples


def _check_columns(path: str | Path, columns: set[str], prompt_column: str, id_column: str | None) -> str | None:
    """Fail on a missing prompt or id column; return the id column to use (None: hash the prompt)."""
    if prompt_column not in columns:
        raise ValueError(
            f"dataset file {str(path)!r} has no prompt column {prompt_column!r} (columns: {sorted(columns)}); "
            f"name it with -T prompt_column=<column>"
        )
    if id_column is None:
        return next((c for c in ID_COLUMN_CANDIDATES if c in columns), None)
    if id_column not in columns:
        raise ValueError(f"dataset file {str(path)!r} has no id column {id_column!r} (columns: {sorted(columns)})")
    return id_column


def load_bundled() -> list[Sample]:
    """The offline prompt set shipped with the package (written for this project, BeaverTails' 14 categories)."""
    data = resources.files("refusal_stability.inspect_tasks") / "data" / BUNDLED_FILE
    with resources.as_file(data) as file:
        return load_prompt_file(file, category_column="category", source_column="source")


def load_beavertails(
    path: str = BEAVERTAILS_PATH, split: str = BEAVERTAILS_SPLIT, revision: str | None = BEAVERTAILS_REVISION
) -> list[Sample]:
    """Unsafe BeaverTails prompts, de-duplicated by text in dataset order.

    Rows with ``is_safe == False`` are kept; a prompt's ``categories`` are the harm categories flagged on any
    of its unsafe rows (in BeaverTails' category order).
    """

    def unsafe_row(record: dict[str, Any]) -> list[Sample]:
        if record.get("is_safe", True):
            return []
        flags = record.get("category") or {}
        return [Sample(input=str(record.get("prompt") or ""), metadata={"flags": flags})]

    rows = hf_dataset(path, split=split, revision=revision, sample_fields=unsafe_row, cached=False)
    first_seen: dict[str, set[str]] = {}
    for row in rows:
        flagged = {name for name, on in (row.metadata or {}).get("flags", {}).items() if on}
        first_seen.setdefault(str(row.input).strip(), set()).update(flagged)
    return [
        _prompt_sample(
            prompt=text,
            sample_id=None,
            source="beavertails",
            categories=[c for c in BEAVERTAILS_CATEGORIES if c in flagged]
            + sorted(flagged - set(BEAVERTAILS_CATEGORIES)),
            where=f"{path} split {split}",
        )
        for text, flagged in first_seen.items()
        if text
    ]


def load_prompts(
    dataset: str,
    n_prompts: int | str | None = 876,
    prompt_column: str = "prompt",
    id_column: str | None = None,
    category_column: str | None = "category",
    source_column: str | None = "source",
    beavertails_split: str = BEAVERTAILS_SPLIT,
    beavertails_revision: str | None = BEAVERTAILS_REVISION,
    beavertails_path: str = BEAVERTAILS_PATH,
) -> Dataset:
    """Resolve the task's ``dataset`` option (``beavertails``, ``bundled`` or a file path) to a Dataset."""
    limit = parse_n_prompts(n_prompts)
    if dataset == "beavertails":
        samples = load_beavertails(beavertails_path, beavertails_split, beavertails_revision)
    elif dataset == "bundled":
        samples = load_bundled()
    elif Path(dataset).suffix.lower() in (".csv", ".jsonl", ".json") or Path(dataset).exists():
        samples = load_prompt_file(dataset, prompt_column, id_column, category_column, source_column)
    else:
        raise ValueError(f"dataset={dataset!r}: expected 'beavertails', 'bundled', or a path to a .csv/.jsonl file")
    return MemoryDataset(samples[:limit] if limit else samples, name=Path(dataset).stem)
