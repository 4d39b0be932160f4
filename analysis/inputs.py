"""Gather the analysis inputs: expand paths, read logs and label CSVs (in parallel for big inputs), pick retries.

Inputs are found by :mod:`log_locations` (local paths or object-store URLs, read in place); reading is
delegated to :mod:`read_logs` (eval logs) and :mod:`read_labels` (CSVs); this module puts their
rows into one tidy frame and one per-prompt info frame, and applies the checks that concern files rather than
records (a log superseded by its retry; warnings a reader collected in a worker process).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path

import pandas as pd

from refusal_stability.analysis.checks import check_duplicates, choose_retries, name_replicates
from refusal_stability.analysis.log_locations import InputFile, Location, expand_inputs, is_url, size_of
from refusal_stability.analysis.parallel import default_workers, fork_map
from refusal_stability.analysis.read_labels import is_labels_csv, read_labels_csv
from refusal_stability.analysis.read_logs import LogInfo, read_eval_files
from refusal_stability.analysis.tidy import TIDY_COLUMNS, AnalysisInputError, as_categorical, concat_tidy, finish_tidy

__all__ = [
    "PROMPT_COLUMNS",
    "LoadedInputs",
    "expand_inputs",
    "join_prompt_file",
    "load_inputs",
    "read_prompts_csv",
]

PARALLEL_MIN_BYTES = 16 * 2**20  # read files in worker processes only when the inputs total this much
CHUNK_FILES = 16  # files per reading job (their headers are read in one event loop)
PROMPT_COLUMNS = ["model", "prompt_id", "source", "category", "categories"]


@dataclass
class LoadedInputs:
    """Tidy frame, per-prompt info, what was read and what was skipped.

    Attributes:
        frame: tidy rows of every judge (docs/log-schema.md "Tidy frame").
        sources: one LogInfo per file used.
        skipped: one message per file not used (unreadable in a directory scan, or superseded by a retry).
        prompts: per (model, prompt_id): source, category, categories (tuple) and other prompt metadata.
    """

    frame: pd.DataFrame
    sources: list[LogInfo]
    skipped: list[str]
    prompts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROMPT_COLUMNS))


_Read = tuple[pd.DataFrame, pd.DataFrame, LogInfo]


def _read_one(path: Location, unknown_labels_as_unscored: bool = False) -> _Read | AnalysisInputError:
    """Read one log or CSV; input errors are returned (this runs in worker processes)."""
    return _read_chunk([path], unknown_labels_as_unscored)[0]


def _read_chunk(paths: list[Location], unknown_labels_as_unscored: bool = False) -> list[_Read | AnalysisInputError]:
    """Read logs and CSVs; input errors are returned per file (this runs in worker processes).

    The logs' headers are read in one event loop (:func:`read_logs.read_eval_files`).
    """
    out: dict[int, _Read | AnalysisInputError] = {}
    logs = []
    for index, path in enumerate(paths):
        if not is_labels_csv(Path(str(path).rsplit("/", 1)[-1])):
            logs.append(index)
            continue
        try:
            if is_url(path):
                raise AnalysisInputError(f"{path}: label CSVs are read from local files only; copy it here first")
            frame, info = read_labels_csv(Path(path), unknown_labels_as_unscored)
            out[index] = (as_categorical(frame), pd.DataFrame(), info)
        except AnalysisInputError as exc:
            out[index] = exc
    for index, outcome in zip(logs, read_eval_files([paths[i] for i in logs]), strict=True):
        # categoricals also travel back from workers cheaply
        out[index] = outcome if isinstance(outcome, AnalysisInputError) else (as_categorical(outcome[0]), *outcome[1:])
    return [out[index] for index in range(len(paths))]


def _chunks(files: list[Location], workers: int) -> list[list[Location]]:
    """Consecutive chunks of files for the reading workers: several per worker, at most CHUNK_FILES each.

    The chunks differ by at most one file (20 logs on 2 workers: 8 chunks of 3 or 2, 10 logs per worker).
    """
    n_chunks = max(min(len(files), max(workers, 1) * 4), -(-len(files) // CHUNK_FILES))
    size, extra = divmod(len(files), n_chunks) if files else (0, 0)
    bounds = [index * size + min(index, extra) for index in range(n_chunks + 1)]
    return [files[start:end] for start, end in pairwise(bounds) if end > start]


def _prompt_info(frame: pd.DataFrame, prompt_frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per (model, prompt_id) info: from the logs' prompt metadata, else from the tidy rows (CSVs)."""
    found = [p for p in prompt_frames if not p.empty]
    from_rows = frame.drop_duplicates(["model", "prompt_id"])[["model", "prompt_id", "source", "category"]]
    if found:
        logged = pd.concat(found, ignore_index=True).drop_duplicates(["model", "prompt_id"])
        from_rows = from_rows.merge(logged[["model", "prompt_id"]], how="left", indicator=True)
        from_rows = from_rows[from_rows.pop("_merge") == "left_only"]
        info = pd.concat([logged, from_rows], ignore_index=True)
    else:
        info = from_rows.reset_index(drop=True)
    if "categories" not in info:
        info["categories"] = None
    info["categories"] = [
        c if isinstance(c, tuple) else ((cat,) if isinstance(cat, str) and cat else ())
        for c, cat in zip(info["categories"], info["category"], strict=True)
    ]
    info["prompt_id"] = info["prompt_id"].astype(str)
    return info[PROMPT_COLUMNS + [c for c in info.columns if c not in PROMPT_COLUMNS]].reset_index(drop=True)


def load_inputs(
    inputs: Sequence[str | Path],
    labels: Sequence[str | Path] = (),
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
    unknown_labels_as_unscored: bool = False,
) -> LoadedInputs:
    """Read logs/dirs and label CSVs into one tidy frame.

    Args:
        inputs: .eval/.json log files, directories (searched recursively for Inspect logs, both formats) or
            label CSVs; each may be a local path or a URL such as ``s3://bucket/prefix`` (read in place through
            Inspect's log APIs; :mod:`log_locations`).
        labels: label CSVs (long format).
        progress: called with one line per file read.
        workers: worker processes for reading big inputs (default: min(2, CPUs)); 1 reads in this process.
        unknown_labels_as_unscored: label CSVs: count unknown labels as UNSCORED instead of failing.

    Raises:
        AnalysisInputError: an explicitly named file is unreadable or missing, an object store is unreachable,
            its bucket missing or the credentials denied, the same records appear in two files,
            or nothing could be read.
    """
    files = expand_inputs(inputs) + [InputFile(p if is_url(p) else Path(p), False, size_of(p)) for p in labels]
    skipped: list[str] = []
    if progress:
        progress(f"reading {len(files)} file(s)")
    total_bytes = sum(file.size for file in files)
    pool = workers if total_bytes >= PARALLEL_MIN_BYTES else 1  # forking only pays off for big inputs
    reader = partial(_read_chunk, unknown_labels_as_unscored=unknown_labels_as_unscored)
    chunks = _chunks([file.location for file in files], pool or default_workers())
    if pool != 1:
        import inspect_ai.log  # noqa: F401  (once here: forked readers inherit it instead of importing it each)
    outcomes = (outcome for chunk in fork_map(reader, chunks, pool) for outcome in chunk)
    reads: list[tuple[_Read, LogInfo]] = []
    for index, (file, outcome) in enumerate(zip(files, outcomes, strict=True), start=1):
        path = file.location
        if isinstance(outcome, AnalysisInputError):
            if not file.from_dir:
                raise outcome
            warnings.warn(f"skipping {outcome}", stacklevel=2)
            skipped.append(str(outcome))
            continue
        info = outcome[2]
        for note in info.notes:
            warnings.warn(note, stacklevel=2)
        if progress:
            progress(f"[{index}/{len(files)}] {path}: {info.n_records:,} records ({info.kind})")
        reads.append((outcome, info))
    reads, superseded = choose_retries(reads)
    for message in superseded:
        warnings.warn(f"skipping {message}", stacklevel=2)
    skipped += superseded
    if not reads:
        raise AnalysisInputError(
            f"no refusal labels found in {list(map(str, inputs)) + list(map(str, labels))}"
            + (f" (skipped: {skipped})" if skipped else "")
        )
    frames = [read[0] for read, _ in reads if len(read[0])]
    frame = concat_tidy(frames if frames else [finish_tidy(pd.DataFrame(columns=TIDY_COLUMNS))])
    frame, renamed = name_replicates(frame, [info for _, info in reads])
    check_duplicates(frame)
    prompt_frames = [
        read[1].assign(model=renamed[info.path]) if info.path in renamed and not read[1].empty else read[1]
        for read, info in reads
    ]
    prompts = _prompt_info(frame, prompt_frames)
    return LoadedInputs(frame, [info for _, info in reads], skipped, prompts)


def read_prompts_csv(path: str | Path) -> pd.DataFrame:
    """Read a prompt-info CSV (``prompt_id`` plus any columns, e.g. source, category) for ``--prompts``.

    Raises:
        AnalysisInputError: unreadable file, no prompt_id column, empty or duplicate ids.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except Exception as exc:
        raise AnalysisInputError(f"--prompts {path}: cannot read CSV ({type(exc).__name__}: {exc})") from exc
    if "prompt_id" not in table.columns:
        raise AnalysisInputError(f"--prompts {path}: no 'prompt_id' column (columns: {list(table.columns)})")
    empty = table.index[table["prompt_id"].str.strip() == ""]
    if len(empty):
        raise AnalysisInputError(f"--prompts {path}: empty prompt_id on line(s) {[i + 2 for i in empty[:5]]}")
    duplicated = table["prompt_id"].duplicated(keep=False)
    if duplicated.any():
        ids = sorted(set(table.loc[duplicated, "prompt_id"]))[:5]
        raise AnalysisInputError(f"--prompts {path}: prompt ids appear more than once: {ids}")
    return table.replace("", None)


def join_prompt_file(loaded: LoadedInputs, table: pd.DataFrame) -> LoadedInputs:
    """Join a ``--prompts`` table by prompt_id.

    It fills source/category where the inputs have none and adds its other columns to the per-prompt info
    (the text of a ``prompt`` column is not copied).

    Args:
        loaded: the inputs read.
        table: the ``--prompts`` table (:func:`read_prompts_csv`).

    Returns:
        The same LoadedInputs with ``frame`` and ``prompts`` updated.
    """
    extra = table.drop(columns=[c for c in ("prompt", "model") if c in table.columns])
    by_id = extra.set_index("prompt_id")
    frame = loaded.frame
    for column in ("source", "category"):
        if column in by_id:
            looked_up = frame["prompt_id"].map(by_id[column])
            frame[column] = frame[column].where(frame[column].notna(), looked_up)
    prompts = loaded.prompts.drop(columns=["source", "category"]).merge(
        frame.drop_duplicates(["model", "prompt_id"])[["model", "prompt_id", "source", "category"]],
        on=["model", "prompt_id"],
        how="left",
    )
    others = [c for c in by_id.columns if c not in ("source", "category") and c not in prompts.columns]
    if others:
        prompts = prompts.merge(by_id[others], left_on="prompt_id", right_index=True, how="left")
    prompts["categories"] = [
        c if c else ((cat,) if isinstance(cat, str) and cat else ())
        for c, cat in zip(prompts["categories"], prompts["category"], strict=True)
    ]
    loaded.frame = frame
    loaded.prompts = prompts[PROMPT_COLUMNS + [c for c in prompts.columns if c not in PROMPT_COLUMNS]]
    return loaded
