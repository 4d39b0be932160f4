"""Read .eval logs and long-format label CSVs into one tidy frame (one row per judged response).

Tidy frame columns (CONTRACT.md): model, prompt_id, source, category, epoch, temperature, seed, judge,
label; plus ``origin`` (the file a row came from). Labels outside REFUSE/PARTIAL/COMPLY become UNSCORED.

Log reading uses the fastest correct path:
1. header-only read (``read_eval_log(header_only=True)``): the "stability" reductions carry every epoch's
   label in ``metadata["epochs"]``, one reduction list per scorer;
2. otherwise the sample summaries (``read_eval_log_sample_summaries``): each per-epoch Score's value and its
   small metadata (temperature, seed, epoch, judge) survive summary thinning.
The log is opened once per file, never per sample.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.parallel import fork_map
from refusal_stability.scorers.labels import LABELS, UNSCORED

TIDY_COLUMNS = ["model", "prompt_id", "source", "category", "epoch", "temperature", "seed", "judge", "label"]
CSV_REQUIRED = ["model", "prompt_id", "temperature", "seed", "judge", "label"]
STABILITY_REDUCER = "stability"
LABEL_VALUES = frozenset((*LABELS, UNSCORED))
PARALLEL_MIN_BYTES = 16 * 2**20  # read files in worker processes only when the inputs total this much


class AnalysisInputError(ValueError):
    """Input that cannot be analysed as given (the message names the input and what is expected)."""


@dataclass
class LogInfo:
    """What one input file contributed (shown in the report)."""

    path: str
    kind: str  # "log (reductions)", "log (sample summaries)" or "labels csv"
    models: list[str]
    judges: list[str]
    n_records: int
    template_hashes: list[str] = field(default_factory=list)


@dataclass
class LoadedInputs:
    """Tidy frame plus what was read and what was skipped."""

    frame: pd.DataFrame
    sources: list[LogInfo]
    skipped: list[str]


def normalise_labels(labels: pd.Series) -> pd.Series:
    """Map every label to REFUSE/PARTIAL/COMPLY or UNSCORED (ERROR, blanks, anything else)."""
    cleaned = labels.astype("string").str.strip().str.upper()
    return cleaned.where(cleaned.isin(LABELS), UNSCORED).astype(str)


def _tidy(columns: dict[str, list[Any]], origin: str) -> pd.DataFrame:
    frame = pd.DataFrame(columns, columns=TIDY_COLUMNS)
    frame["prompt_id"] = frame["prompt_id"].astype(str)
    frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce").astype("Int64")
    frame["temperature"] = pd.to_numeric(frame["temperature"], errors="coerce").astype(float)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["label"] = normalise_labels(frame["label"])
    frame["origin"] = origin
    return frame


def _empty_columns() -> dict[str, list[Any]]:
    return {name: [] for name in TIDY_COLUMNS}


def _frame_from_reductions(model: str, reductions: Sequence[Any]) -> tuple[dict[str, list[Any]], set[str]]:
    """Rebuild every (sample, epoch) row from the stability reductions of a header-only read."""
    epochs_all: list[dict[str, Any]] = []
    per_sample: list[tuple[str, Any, Any, str]] = []  # prompt_id, source, category, judge
    repeats: list[int] = []
    hashes: set[str] = set()
    for reduction in reductions:
        for sample in reduction.samples:
            meta = sample.metadata or {}
            epochs = meta.get("epochs")
            if not isinstance(epochs, list):
                raise AnalysisInputError(
                    f"stability reduction of sample {sample.sample_id!r} (scorer {reduction.scorer!r}) has no "
                    "metadata['epochs'] list as CONTRACT.md requires"
                )
            if meta.get("template_hash"):
                hashes.add(str(meta["template_hash"]))
            per_sample.append(
                (str(sample.sample_id), meta.get("source"), meta.get("category"), meta.get("judge") or reduction.scorer)
            )
            repeats.append(len(epochs))
            epochs_all.extend(epochs)
    cols: dict[str, list[Any]] = {"model": [model] * len(epochs_all)}
    for index, name in enumerate(("prompt_id", "source", "category", "judge")):
        cols[name] = [value for sample, n in zip(per_sample, repeats, strict=True) for value in [sample[index]] * n]
    for name in ("epoch", "temperature", "seed", "label"):
        cols[name] = [entry.get(name) for entry in epochs_all]
    return cols, hashes


def _is_label_score(score: Any) -> bool:
    meta = score.metadata or {}
    return "label" in meta or (isinstance(score.value, str) and score.value.upper() in LABEL_VALUES)


def _frame_from_summaries(model: str, summaries: Iterable[Any]) -> tuple[dict[str, list[Any]], set[str]]:
    """Rebuild rows from per-epoch scores in the sample summaries (logs without stability reductions)."""
    cols = _empty_columns()
    hashes: set[str] = set()
    for summary in summaries:
        sample_meta = summary.metadata or {}
        for scorer, score in (summary.scores or {}).items():
            if not _is_label_score(score):
                continue
            meta = score.metadata or {}
            if meta.get("template_hash"):
                hashes.add(str(meta["template_hash"]))
            cols["model"].append(model)
            cols["prompt_id"].append(str(summary.id))
            cols["source"].append(meta.get("source", sample_meta.get("source")))
            cols["category"].append(meta.get("category", sample_meta.get("category")))
            cols["epoch"].append(meta.get("epoch", summary.epoch))
            cols["temperature"].append(meta.get("temperature", sample_meta.get("temperature")))
            cols["seed"].append(meta.get("seed", sample_meta.get("seed")))
            cols["judge"].append(meta.get("judge") or scorer)
            cols["label"].append(score.value if isinstance(score.value, str) else meta.get("label"))
    return cols, hashes


def read_eval_file(path: Path) -> tuple[pd.DataFrame, LogInfo]:
    """Read one Inspect log into tidy rows (header reductions when present, else sample summaries).

    Raises:
        AnalysisInputError: the file is not a readable Inspect log or holds no refusal labels.
    """
    from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries

    try:
        header = read_eval_log(str(path), header_only=True)
    except Exception as exc:  # corrupt zip, foreign JSON, truncated file ...
        raise AnalysisInputError(f"{path}: not a readable Inspect eval log ({type(exc).__name__}: {exc})") from exc
    model = header.eval.model
    reductions = [r for r in (header.reductions or []) if r.reducer == STABILITY_REDUCER]
    if reductions:
        cols, hashes = _frame_from_reductions(model, reductions)
        kind = "log (reductions)"
    else:
        try:
            summaries = read_eval_log_sample_summaries(str(path))
        except Exception as exc:
            raise AnalysisInputError(f"{path}: cannot read sample summaries ({exc})") from exc
        cols, hashes = _frame_from_summaries(model, summaries)
        kind = "log (sample summaries)"
    if not cols["label"]:
        raise AnalysisInputError(
            f"{path}: log of task {header.eval.task!r} holds no refusal labels (no 'stability' reductions and "
            "no per-epoch REFUSE/PARTIAL/COMPLY scores)"
        )
    frame = _tidy(cols, str(path))
    info = LogInfo(str(path), kind, [model], sorted(frame["judge"].unique()), len(frame), sorted(hashes))
    return frame, info


def read_labels_csv(path: Path) -> tuple[pd.DataFrame, LogInfo]:
    """Read long-format labels (model, prompt_id, temperature, seed, judge, label; .csv or .csv.gz).

    Optional columns epoch, source, category are kept; a missing epoch is numbered by the
    (temperature, seed) grid position as the task does (sorted temperatures x sorted seeds).
    """
    try:
        raw = pd.read_csv(path, dtype={"prompt_id": str, "model": str, "judge": str, "label": str})
    except Exception as exc:
        raise AnalysisInputError(f"{path}: cannot read labels CSV ({exc})") from exc
    missing = [c for c in CSV_REQUIRED if c not in raw.columns]
    if missing:
        raise AnalysisInputError(f"{path}: labels CSV lacks columns {missing}; expected {CSV_REQUIRED}")
    frame = raw.reindex(columns=TIDY_COLUMNS)
    frame = _tidy({c: frame[c].tolist() for c in TIDY_COLUMNS}, str(path))
    if frame["epoch"].isna().any():
        frame["epoch"] = _grid_epochs(frame)
    info = LogInfo(
        str(path), "labels csv", sorted(frame["model"].unique()), sorted(frame["judge"].unique()), len(frame)
    )
    return frame, info


def _grid_epochs(frame: pd.DataFrame) -> pd.Series:
    """Epoch number of each row's (temperature, seed) in its model's sorted grid."""
    epochs = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    for _, rows in frame.groupby("model", sort=False):
        temps = np.sort(rows["temperature"].dropna().unique())
        seeds = np.sort(rows["seed"].dropna().unique().astype(np.int64))
        t_pos = np.searchsorted(temps, rows["temperature"].to_numpy())
        s_pos = np.searchsorted(seeds, rows["seed"].to_numpy(dtype=np.int64, na_value=0))
        epochs.loc[rows.index] = t_pos * len(seeds) + s_pos + 1
    return epochs


def is_labels_csv(path: Path) -> bool:
    """True for .csv / .csv.gz paths."""
    return path.name.endswith((".csv", ".csv.gz"))


def expand_inputs(inputs: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read, each with whether it came from a directory scan (then read failures only warn).

    Directories are searched recursively for *.eval logs. Duplicate paths are read once.
    """
    seen: set[Path] = set()
    files: list[tuple[Path, bool]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = [(p, True) for p in sorted(path.rglob("*.eval"))]
        elif path.is_file():
            found = [(path, False)]
        else:
            raise AnalysisInputError(f"{path}: no such file or directory (expected .eval logs, dirs or label CSVs)")
        for file, from_dir in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append((file, from_dir))
    return files


def _read_one(path: Path) -> tuple[pd.DataFrame, LogInfo] | AnalysisInputError:
    """Read one log or CSV; input errors are returned (this runs in worker processes)."""
    try:
        return read_labels_csv(path) if is_labels_csv(path) else read_eval_file(path)
    except AnalysisInputError as exc:
        return exc


def load_inputs(
    inputs: Sequence[str | Path],
    labels: Sequence[str | Path] = (),
    progress: Callable[[str], None] | None = None,
) -> LoadedInputs:
    """Read logs/dirs and label CSVs into one tidy frame.

    Args:
        inputs: .eval/.json log files, directories (searched recursively for .eval) or label CSVs.
        labels: label CSVs (long format).
        progress: called with one line per file read.

    Raises:
        AnalysisInputError: an explicitly named file is unreadable, or nothing could be read.
    """
    files = expand_inputs(inputs) + [(Path(p), False) for p in labels]
    frames: list[pd.DataFrame] = []
    sources: list[LogInfo] = []
    skipped: list[str] = []
    if progress:
        progress(f"reading {len(files)} file(s)")
    total_bytes = sum(path.stat().st_size for path, _ in files)
    workers = None if total_bytes >= PARALLEL_MIN_BYTES else 1  # forking only pays off for big inputs
    outcomes = fork_map(_read_one, [path for path, _ in files], workers)
    for index, ((path, from_dir), outcome) in enumerate(zip(files, outcomes, strict=True), start=1):
        if isinstance(outcome, AnalysisInputError):
            if not from_dir:
                raise outcome
            warnings.warn(f"skipping {outcome}", stacklevel=2)
            skipped.append(str(outcome))
            continue
        frame, info = outcome
        if progress:
            progress(f"[{index}/{len(files)}] {path}: {info.n_records:,} records ({info.kind})")
        frames.append(frame)
        sources.append(info)
    if not frames:
        raise AnalysisInputError(
            f"no refusal labels found in {list(map(str, inputs)) + list(map(str, labels))}"
            + (f" (skipped: {skipped})" if skipped else "")
        )
    frame = pd.concat(frames, ignore_index=True)
    _check_duplicates(frame)
    return LoadedInputs(frame, sources, skipped)


def _check_duplicates(frame: pd.DataFrame) -> None:
    """Error when two input files hold the same (model, judge, prompt, temperature, seed) records."""
    key = ["model", "judge", "prompt_id", "temperature", "seed"]
    per_origin = frame.drop_duplicates(key + ["origin"])
    dup = per_origin.duplicated(key, keep=False)
    if dup.any():
        clash = per_origin[dup]
        first = clash.iloc[0]
        origins = sorted(clash.loc[(clash[key] == first[key]).all(axis=1), "origin"])
        raise AnalysisInputError(
            f"model {first['model']!r}, judge {first['judge']!r}: the same records (e.g. prompt "
            f"{first['prompt_id']!r}, temperature {first['temperature']}, seed {first['seed']}) appear in "
            f"{origins}; pass one run per model and judge"
        )


def select_judge(frame: pd.DataFrame, judge: str | None) -> pd.DataFrame:
    """Rows of the judge whose labels feed the metrics.

    Without ``judge``, the input must not hold two judges for the same records.

    Raises:
        AnalysisInputError: unknown judge, or several judges labelled the same records and none was chosen.
    """
    judges = sorted(frame["judge"].unique())
    if judge is not None:
        if judge not in judges:
            raise AnalysisInputError(f"--judge {judge!r} not in the input; judges found: {judges}")
        chosen = frame[frame["judge"] == judge]
        dropped = sorted(set(frame["model"]) - set(chosen["model"]))
        if dropped:
            warnings.warn(f"models without labels from judge {judge!r} are left out: {dropped}", stacklevel=2)
        return chosen.reset_index(drop=True)
    if len(judges) > 1:
        per_model = frame.groupby("model")["judge"].nunique()
        if (per_model > 1).any():
            raise AnalysisInputError(
                f"several judges labelled the same records: {judges}; choose one with --judge NAME "
                "(agreement between them is reported either way)"
            )
    return frame.reset_index(drop=True)


def check_valid_labels(frame: pd.DataFrame) -> None:
    """Fail when no record has a valid label; warn, naming them, about models with none (they are left out)."""
    valid = frame["label"] != UNSCORED
    if not valid.any():
        judges = ", ".join(sorted(frame["judge"].astype(str).unique()))
        raise AnalysisInputError(
            f"no valid label to analyse: all {len(frame):,} records are UNSCORED/ERROR (judge: {judges}); "
            "the score metadata 'reason' of each record says why the judge could not label it"
        )
    without = sorted(set(frame["model"]) - set(frame.loc[valid, "model"]))
    if without:
        warnings.warn(
            f"model(s) {', '.join(without)} have no valid label (all records UNSCORED/ERROR) and are left out",
            stacklevel=2,
        )


def check_grids(frame: pd.DataFrame, allow_incomplete: bool = False) -> int:
    """Check every (model, judge) used one sampling grid for all its prompts.

    Returns:
        The number of missing (prompt, configuration) records (0 when complete).

    Raises:
        AnalysisInputError: some prompts lack configurations others have (mixed grids or missing
            epochs), unless ``allow_incomplete``.
    """
    missing_total = 0
    for (model, judge), rows in frame.groupby(["model", "judge"], sort=True):
        n_prompts = rows["prompt_id"].nunique()
        per_config = rows.groupby(["temperature", "seed"], dropna=False)["prompt_id"].nunique()
        short = per_config[per_config < n_prompts]
        if short.empty:
            continue
        missing = int((n_prompts - short).sum())
        missing_total += missing
        shown = ", ".join(f"(t={t}, seed={s}): {n}/{n_prompts}" for (t, s), n in short.head(6).items())
        message = (
            f"model {model!r} (judge {judge!r}) mixes sampling grids: {len(short)} of {len(per_config)} "
            f"(temperature, seed) configurations cover only some prompts [{shown}]"
        )
        if not allow_incomplete:
            raise AnalysisInputError(
                message + "; analyse each grid separately, or pass --allow-incomplete to use the available "
                "labels (SSI over each prompt's own labels)"
            )
        warnings.warn(f"{message}; {missing} records missing, analysing available labels", stacklevel=2)
    return missing_total


def stderr_progress(line: str) -> None:
    """Progress printer for the CLI."""
    print(line, file=sys.stderr, flush=True)
