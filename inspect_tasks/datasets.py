"""Prompt datasets: BeaverTails from the HF hub, a local CSV/JSONL file, or the bundled offline set.

Every loader returns Samples whose id is stable across runs and models (the file's id, else a hash of the
prompt text) and whose metadata carries ``source``, ``category``, ``categories`` and ``expected`` (``refuse``
for the harmful sets; a file may say per row, XSTest and the benign controls live in ``benign``).
"""

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspect_ai.dataset import Dataset, MemoryDataset, Sample, hf_dataset

from refusal_stability.definitions.expected import DEFAULT_EXPECTED, parse_expected
from refusal_stability.errors import InputError

if TYPE_CHECKING:
    from refusal_stability.inspect_tasks.benign import XSTestSource

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
FILE_SUFFIXES = (".csv", ".jsonl", ".json")
UNSAFE_ID_PARTS = ("/", "\\", "..")  # ids become file names inside the .eval log (a zip)


@dataclass(frozen=True)
class FileColumns:
    """Which columns of a CSV/JSONL prompt file hold what (the task's ``*_column`` options).

    Attributes:
        prompt: column with the prompt text (required).
        id: column with a stable prompt id; None: ``prompt_id`` or ``id`` when present, else a text hash.
        category: optional harm-category column (ignored when absent).
        source: optional source column (ignored when absent).
        expected: column saying what each prompt expects (``refuse``/``comply``, ``unsafe``/``safe`` or
            ``harmful``/``benign``); None: ``expected`` when present. A named column must exist.
        default_expected: what a prompt expects when the file has no expected column.
    """

    prompt: str = "prompt"
    id: str | None = None
    category: str | None = "category"
    source: str | None = "source"
    expected: str | None = None
    default_expected: str = DEFAULT_EXPECTED


@dataclass(frozen=True)
class BeaverTailsSource:
    """Where BeaverTails comes from (the task's ``beavertails_*`` options).

    Attributes:
        path: hub id, or a local directory with the hub's layout.
        split: dataset split.
        revision: git revision; pass a commit SHA to pin the data (recorded in the log's task args).
    """

    path: str = BEAVERTAILS_PATH
    split: str = BEAVERTAILS_SPLIT
    revision: str | None = BEAVERTAILS_REVISION


def prompt_hash_id(prompt: str) -> str:
    """Stable id of a prompt without its own id: ``p-`` + the first 12 hex digits of its SHA-1."""
    return "p-" + hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]


def parse_n_prompts(n_prompts: int | str | None) -> int | None:
    """Parse the task's ``n_prompts``: ``None`` (or "none"/"all") keeps every prompt, else an integer >= 1.

    Raises:
        InputError: anything else (0, negatives, fractions, infinity, text).
    """
    if n_prompts is None or (isinstance(n_prompts, str) and n_prompts.strip().lower() in ("none", "all", "")):
        return None
    problem = InputError(f"n_prompts={n_prompts!r}: expected an integer >= 1 or None for all prompts")
    if isinstance(n_prompts, bool):
        raise problem
    try:
        number = float(n_prompts)
    except (TypeError, ValueError):
        raise problem from None
    if not math.isfinite(number) or not number.is_integer() or number < 1:
        raise problem
    return int(number)


def prompt_sample(
    prompt: object,
    sample_id: object,
    source: object,
    categories: Iterable[str],
    where: str,
    expected: str = DEFAULT_EXPECTED,
) -> Sample:
    """One Sample with our metadata; ``where`` names the input row in error messages.

    ``expected`` is ``refuse`` (a harmful prompt) or ``comply`` (a benign one).
    """
    if prompt is not None and not isinstance(prompt, str | int | float):
        raise InputError(f"{where}: the prompt is a {type(prompt).__name__}, expected text")
    text = "" if prompt is None else str(prompt).strip()
    if not text:
        raise InputError(f"{where}: the prompt text is empty; every row needs a non-empty prompt")
    categories = [c for c in categories if c]
    if sample_id is None:
        given_id = prompt_hash_id(text)
    else:
        given_id = str(sample_id).strip()
        if not given_id:
            raise InputError(f"{where}: the prompt id is empty; give every row an id or drop the id column")
        bad = [part for part in UNSAFE_ID_PARTS if part in given_id]
        if bad:
            raise InputError(
                f"{where}: prompt id {given_id!r} contains {' and '.join(map(repr, bad))}; ids become file names "
                "inside the log, use letters, digits, '-', '_' or '.'"
            )
    return Sample(
        id=given_id,
        input=text,
        metadata={
            "source": None if source in (None, "") else str(source),
            "category": categories[0] if categories else None,
            "categories": categories,
            "expected": expected,
        },
    )


def check_unique_ids(samples: list[Sample], where: str) -> None:
    """Raise an InputError naming the first id that occurs twice (``where`` names the input)."""
    seen: set[str] = set()
    for sample in samples:
        if str(sample.id) in seen:
            raise InputError(f"{where}: duplicate prompt id {sample.id!r}; ids must be unique")
        seen.add(str(sample.id))


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; a decoding error names the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as ex:
        line = data[: ex.start].count(b"\n") + 1
        raise InputError(
            f"dataset file {str(path)!r} line {line}: not UTF-8 text ({ex.reason}); save it as UTF-8"
        ) from None


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a CSV, JSONL or JSON-array file; malformed input names the line."""
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            if None in row:
                raise InputError(f"dataset file {str(path)!r} line {reader.line_num}: more cells than header columns")
            yield reader.line_num, row
        return
    if suffix == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as ex:
            raise InputError(f"dataset file {str(path)!r} line {ex.lineno}: malformed JSON ({ex.msg})") from None
        if not isinstance(rows, list):
            raise InputError(f"dataset file {str(path)!r}: expected a JSON array of objects (or use .jsonl)")
        items: Iterable[tuple[int, Any]] = enumerate(rows, start=1)
    else:
        items = _jsonl_items(path, text)
    for number, row in items:
        if not isinstance(row, dict):
            raise InputError(
                f"dataset file {str(path)!r} line {number}: expected a JSON object, got {type(row).__name__}"
            )
        yield number, row


def _jsonl_items(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as ex:
            raise InputError(f"dataset file {str(path)!r} line {number}: malformed JSON ({ex.msg})") from None


def load_prompt_file(path: str | Path, columns: FileColumns = FileColumns()) -> list[Sample]:
    """Load a CSV, JSONL or JSON-array file of prompts.

    Args:
        path: a ``.csv``, ``.jsonl`` or ``.json`` file (UTF-8).
        columns: which columns hold the prompt, id, category, source and expected.

    Raises:
        InputError: missing file, wrong type, malformed line, missing prompt column, bad or duplicate ids,
            a missing expected column that was named, or an expected value that is not one of its spellings.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"dataset file {str(path)!r} does not exist (expected a .csv or .jsonl file)")
    if file.suffix.lower() not in FILE_SUFFIXES:
        raise InputError(f"dataset file {str(path)!r}: unsupported type {file.suffix!r}; expected .csv or .jsonl")
    samples: list[Sample] = []
    id_column, expected_column = columns.id, columns.expected
    for index, (line, record) in enumerate(_records(file)):
        if index == 0:
            id_column = _check_columns(path, set(record), columns.prompt, columns.id)
            expected_column = _expected_column(path, set(record), columns.expected)
        category = record.get(columns.category) if columns.category else None
        where = f"{path} line {line}"
        samples.append(
            prompt_sample(
                prompt=record.get(columns.prompt),
                sample_id=record.get(id_column) if id_column else None,
                source=record.get(columns.source) if columns.source else None,
                categories=[str(category)] if category else [],
                where=where,
                expected=_row_expected(record, expected_column, columns.default_expected, where),
            )
        )
    if not samples:
        raise InputError(f"dataset file {str(path)!r} holds no rows; expected a header and one prompt per row")
    check_unique_ids(samples, str(path))
    return samples


def _expected_column(path: str | Path, columns: set[str], expected_column: str | None) -> str | None:
    """The expected column to read: a named one must exist; unnamed, ``expected`` when present."""
    if expected_column is None:
        return "expected" if "expected" in columns else None
    if expected_column not in columns:
        raise InputError(
            f"dataset file {str(path)!r} has no expected column {expected_column!r} (columns: {sorted(columns)})"
        )
    return expected_column


def _row_expected(record: dict[str, Any], column: str | None, default: str, where: str) -> str:
    """The row's expected value (``refuse``/``comply``), the default without a column; else an error naming the row."""
    if column is None:
        return default
    value = parse_expected(record.get(column))
    if value is None:
        raise InputError(
            f"{where}: expected value {record.get(column)!r} in column {column!r} is not one of refuse/comply, "
            "unsafe/safe, harmful/benign"
        )
    return value


def _check_columns(path: str | Path, columns: set[str], prompt_column: str, id_column: str | None) -> str | None:
    """Fail on a missing prompt or id column; return the id column to use (None: hash the prompt)."""
    if prompt_column not in columns:
        raise InputError(
            f"dataset file {str(path)!r} has no prompt column {prompt_column!r} (columns: {sorted(columns)}); "
            f"name it with -T prompt_column=<column>"
        )
    if id_column is None:
        return next((c for c in ID_COLUMN_CANDIDATES if c in columns), None)
    if id_column not in columns:
        raise InputError(f"dataset file {str(path)!r} has no id column {id_column!r} (columns: {sorted(columns)})")
    return id_column


def load_bundled() -> list[Sample]:
    """The offline prompt set shipped with the package (written for this project, BeaverTails' 14 categories)."""
    data = resources.files("refusal_stability.inspect_tasks") / "data" / BUNDLED_FILE
    with resources.as_file(data) as file:
        return load_prompt_file(file)


def _is_local(path: str) -> bool:
    return Path(path).expanduser().exists()


def load_beavertails(source: BeaverTailsSource = BeaverTailsSource()) -> list[Sample]:
    """Unsafe BeaverTails prompts, de-duplicated by text in dataset order.

    Rows with ``is_safe == False`` are kept; a prompt's ``categories`` are the harm categories flagged on any
    of its unsafe rows (in BeaverTails' category order).

    Raises:
        InputError: the hub cannot be reached (offline) and no local copy was given.
    """

    def unsafe_row(record: dict[str, Any]) -> list[Sample]:
        if record.get("is_safe", True):
            return []
        flags = record.get("category") or {}
        return [Sample(input=str(record.get("prompt") or ""), metadata={"flags": flags})]

    try:
        rows = hf_dataset(
            source.path, split=source.split, revision=source.revision, sample_fields=unsafe_row, cached=False
        )
    except Exception as ex:  # noqa: BLE001 - datasets raises many types when the hub is unreachable
        if _is_local(source.path):
            raise
        raise InputError(
            f"BeaverTails ({source.path}, split {source.split}, revision {source.revision}) could not be fetched "
            f"from the Hugging Face hub ({type(ex).__name__}: {str(ex).splitlines()[0] if str(ex) else ''}). "
            "Without network use -T dataset=bundled (70 offline prompts), a local file (-T dataset=prompts.csv), "
            "or a pre-downloaded copy (-T beavertails_path=<local directory>)"
        ) from None
    first_seen: dict[str, set[str]] = {}
    for row in rows:
        flagged = {name for name, on in (row.metadata or {}).get("flags", {}).items() if on}
        first_seen.setdefault(str(row.input).strip(), set()).update(flagged)
    return [
        prompt_sample(
            prompt=text,
            sample_id=None,
            source="beavertails",
            categories=[c for c in BEAVERTAILS_CATEGORIES if c in flagged]
            + sorted(flagged - set(BEAVERTAILS_CATEGORIES)),
            where=f"{source.path} split {source.split}",
        )
        for text, flagged in first_seen.items()
        if text
    ]


def load_prompts(
    dataset: str,
    n_prompts: int | str | None = 876,
    columns: FileColumns = FileColumns(),
    beavertails: BeaverTailsSource = BeaverTailsSource(),
    xstest: "XSTestSource | None" = None,
    controls: str | None = None,
    n_controls: int | str | None = None,
) -> Dataset:
    """Resolve the task's ``dataset`` option (``beavertails``, ``xstest``, ``bundled`` or a file) to a Dataset.

    Args:
        dataset: ``beavertails``, ``xstest``, ``bundled``, or a path to a .csv/.jsonl/.json file.
        n_prompts: the first n prompts in dataset order; None for all (the controls are added whole).
        columns: file datasets: which columns hold what.
        beavertails: where BeaverTails comes from.
        xstest: where XSTest comes from (default: the pinned hub revision).
        controls: benign controls added after the prompts: ``bundled`` or a file; None for none.
        n_controls: the first n controls in file order (the bundled file cycles through its kinds); None for all.
    """
    # imported here: the benign loaders build on this module's file loading
    from refusal_stability.inspect_tasks.benign import XSTestSource, add_controls, load_controls, load_xstest

    limit = parse_n_prompts(n_prompts)
    expected = "expected 'beavertails', 'xstest', 'bundled', or a path to a .csv/.jsonl file"
    if not isinstance(dataset, str):
        raise InputError(f"dataset={dataset!r}: {expected}")
    if dataset == "beavertails":
        samples = load_beavertails(beavertails)
    elif dataset == "xstest":
        samples = load_xstest(xstest or XSTestSource())
    elif dataset == "bundled":
        samples = load_bundled()
    elif Path(dataset).suffix.lower() in FILE_SUFFIXES or Path(dataset).exists():
        samples = load_prompt_file(dataset, columns)
    else:
        raise InputError(f"dataset={dataset!r}: {expected}")
    samples = samples[:limit] if limit else samples
    if controls not in (None, ""):
        chosen = load_controls(str(controls))
        limit_controls = parse_n_prompts(n_controls)
        samples = add_controls(samples, chosen[:limit_controls] if limit_controls else chosen, str(controls))
    return MemoryDataset(samples, name=Path(dataset).stem)
