"""Read .eval logs into the tidy frame (one row per judged response) plus what each log planned and holds.

Log reading uses the fastest correct path:
1. header-only read (``read_eval_log(header_only=True)``): the "stability" reductions carry every epoch's
   label (and response fingerprint) in ``metadata["epochs"]``, one reduction list per scorer;
2. otherwise (no reductions: an errored or cancelled run, or a scorer without the reducer) the sample
   summaries (``read_eval_log_sample_summaries``): each per-epoch Score's value and its small metadata
   (temperature, seed, epoch, judge) survive summary thinning.
The log is opened once per file, never per sample. Formats: docs/log-schema.md.

Besides the rows, each log reports its status, eval/task ids and its planned grid (task args temperatures x
seeds, the dataset's samples), so the analysis can tell an incomplete study from a complete one.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.tidy import (
    PRIMARY_ROLE,
    TIDY_COLUMNS,
    AnalysisInputError,
    clean_condition,
    display_model_name,
    finish_tidy,
    run_name,
)
from refusal_stability.scorers.labels import LABELS, UNSCORED

__all__ = [
    "STABILITY_REDUCER",
    "TIDY_COLUMNS",
    "AnalysisInputError",
    "LogInfo",
    "PlannedGrid",
    "planned_grid",
    "read_eval_file",
    "read_eval_files",
    "retry_command",
]

STABILITY_REDUCER = "stability"
LABEL_VALUES = frozenset((*LABELS, UNSCORED))
_NOT_PROMPT_METADATA = frozenset(("epoch", "temperature", "seed"))  # per-epoch values the solver records


def retry_command(path: str) -> str:
    """The shell command that completes an incomplete log (path shell-quoted)."""
    return f"inspect eval-retry {shlex.quote(str(path))}"


@dataclass
class LogInfo:
    """What one input file contributed (shown in the report; completeness fields for logs only).

    Attributes:
        path: the file.
        kind: "log (reductions)", "log (sample summaries)" or "labels csv".
        models: run names (``model [condition]``) read from the file.
        judges: judge identities of the rows kept.
        n_records: rows kept.
        template_hashes: grader template hashes seen.
        status: the log's status (success, error, cancelled, started); None for label CSVs.
        eval_id: the log's eval id.
        task_id: the log's task id (shared by a log and its ``inspect eval-retry``).
        created: when the eval was created (ISO text).
        planned_records: (prompt, epoch) records the run planned; None when the log does not say.
        present_records: (prompt, epoch) records with a label (any scorer).
        missing_detail: which prompts / configurations are missing (text; empty when complete).
        notes: warnings about this file (raised by the caller: reads may run in worker processes).
    """

    path: str
    kind: str
    models: list[str]
    judges: list[str]
    n_records: int
    template_hashes: list[str] = field(default_factory=list)
    status: str | None = None
    eval_id: str | None = None
    task_id: str | None = None
    created: str | None = None
    planned_records: int | None = None
    present_records: int | None = None
    missing_detail: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def is_log(self) -> bool:
        """True for eval logs (False for label CSVs)."""
        return self.status is not None

    @property
    def missing_records(self) -> int:
        """Planned records without any label (0 when the plan is unknown)."""
        if self.planned_records is None or self.present_records is None:
            return 0
        return max(0, self.planned_records - self.present_records)

    @property
    def complete(self) -> bool:
        """A log that finished successfully with every planned record; label CSVs count as complete."""
        return not self.is_log or (self.status == "success" and self.missing_records == 0)

    def retry_command(self) -> str:
        """``inspect eval-retry <quoted path>``."""
        return retry_command(self.path)


@dataclass(frozen=True)
class PlannedGrid:
    """What a run planned: its prompts and its (temperature, seed) configuration per epoch."""

    prompt_ids: tuple[str, ...] | None
    n_prompts: int | None
    configs: tuple[tuple[float, int], ...] | None  # epoch e uses configs[e - 1]
    n_epochs: int | None

    @property
    def n_records(self) -> int | None:
        """Planned (prompt, epoch) records, or None when unknown."""
        if self.n_prompts is None or self.n_epochs is None:
            return None
        return self.n_prompts * self.n_epochs


def planned_grid(header: Any) -> PlannedGrid:
    """The planned prompts and grid of a log header.

    The grid comes from the task args ``temperatures`` x ``seeds``, parsed the way the solver parses them;
    the prompts from the dataset's recorded sample ids (after ``--limit``), else its sample count.
    """
    from refusal_stability.solvers.sampling_grid import parse_seeds, parse_temperatures

    spec = header.eval
    args = spec.task_args or {}
    configs: tuple[tuple[float, int], ...] | None = None
    if "temperatures" in args and "seeds" in args:
        try:
            temps, seeds = parse_temperatures(args["temperatures"]), parse_seeds(args["seeds"])
            configs = tuple((t, s) for t in temps for s in seeds)
        except ValueError:
            configs = None
    n_epochs = spec.config.epochs if spec.config and spec.config.epochs else (len(configs) if configs else None)
    dataset = spec.dataset
    prompt_ids = tuple(str(i) for i in dataset.sample_ids) if dataset and dataset.sample_ids else None
    n_prompts: int | None = len(prompt_ids) if prompt_ids is not None else (dataset.samples if dataset else None)
    limit = spec.config.limit if spec.config else None
    if prompt_ids is None and n_prompts is not None and limit is not None:
        n_prompts = min(n_prompts, limit) if isinstance(limit, int) else min(n_prompts, limit[1] - limit[0])
    return PlannedGrid(prompt_ids, n_prompts, configs, n_epochs)


def _describe_missing(grid: PlannedGrid, present: set[tuple[str, int]]) -> str:
    """Which prompts and configurations lack records (for the error message)."""
    if grid.prompt_ids is None or grid.n_epochs is None:
        return ""
    epochs = range(1, grid.n_epochs + 1)
    present_prompts = {prompt for prompt, _ in present}
    absent = [p for p in grid.prompt_ids if p not in present_prompts]
    parts = []
    if absent:
        shown = ", ".join(repr(p) for p in absent[:5]) + (f" (+{len(absent) - 5} more)" if len(absent) > 5 else "")
        parts.append(f"{len(absent)} prompt(s) without any record: {shown}")
    gaps = [
        (prompt, epoch)
        for prompt in grid.prompt_ids
        if prompt in present_prompts
        for epoch in epochs
        if (prompt, epoch) not in present
    ]
    if gaps:

        def config(epoch: int) -> str:
            if grid.configs and epoch <= len(grid.configs):
                t, s = grid.configs[epoch - 1]
                return f"(t={t:g}, seed={s})"
            return f"epoch {epoch}"

        shown = ", ".join(f"{p!r} {config(e)}" for p, e in gaps[:5]) + (
            f" (+{len(gaps) - 5} more)" if len(gaps) > 5 else ""
        )
        parts.append(f"{len(gaps)} missing configuration record(s): {shown}")
    return "; ".join(parts)


def _log_condition(spec: Any, reductions: list[Any], summaries: list[Any] | None) -> str | None:
    """The run's condition: task arg ``condition``, else the first non-empty one in score metadata."""
    condition = clean_condition((spec.task_args or {}).get("condition"))
    if condition:
        return condition
    for reduction in reductions:
        for sample in reduction.samples[:1]:
            condition = clean_condition((sample.metadata or {}).get("condition"))
            if condition:
                return condition
    for summary in summaries or []:
        for score in (summary.scores or {}).values():
            condition = clean_condition((score.metadata or {}).get("condition"))
            if condition:
                return condition
    return None


def _prompt_row(prompt_id: str, meta: dict[str, Any], sample_meta: dict[str, Any]) -> dict[str, Any]:
    """One row of the per-prompt info frame (source, category, categories, other prompt metadata)."""
    row: dict[str, Any] = {k: v for k, v in sample_meta.items() if k not in _NOT_PROMPT_METADATA}
    row["prompt_id"] = prompt_id
    row["source"] = meta.get("source", sample_meta.get("source"))
    row["category"] = meta.get("category", sample_meta.get("category"))
    categories = meta.get("categories", sample_meta.get("categories"))
    row["categories"] = tuple(categories) if isinstance(categories, list | tuple) else ()
    return row


def _scorer_judges(reductions: list[Any]) -> list[tuple[str, str, str | None]]:
    """(scorer, judge, judge_role) per stability reduction, in log order."""
    out = []
    for reduction in reductions:
        meta = (reduction.samples[0].metadata or {}) if reduction.samples else {}
        out.append((reduction.scorer, str(meta.get("judge") or reduction.scorer), meta.get("judge_role")))
    return out


def _one_scorer_per_judge(scorers: list[tuple[str, str, str | None]], path: Path) -> tuple[set[str], list[str]]:
    """Scorers to read: one per judge identity (the primary-role one, else the first); and the warnings."""
    by_judge: dict[str, list[tuple[str, str, str | None]]] = {}
    for entry in scorers:
        by_judge.setdefault(entry[1], []).append(entry)
    keep: set[str] = set()
    notes = []
    for judge, entries in by_judge.items():
        chosen = next((e for e in entries if e[2] == PRIMARY_ROLE), entries[0])
        keep.add(chosen[0])
        others = [e[0] for e in entries if e is not chosen]
        if others:
            notes.append(
                f"{path}: scorers {[chosen[0], *others]} all carry judge {judge!r} (e.g. `inspect score "
                f"--action append` of the same judge); using {chosen[0]!r}, ignoring the records of {others}"
            )
    return keep, notes


def _rows_from_reductions(reductions: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]], set[str]]:
    """Rebuild every (sample, epoch) row from the stability reductions of a header-only read."""
    epochs_all: list[dict[str, Any]] = []
    per_sample: list[tuple[Any, ...]] = []  # prompt_id, source, category, judge, scorer, judge_role
    repeats: list[int] = []
    prompts: list[dict[str, Any]] = []
    hashes: set[str] = set()
    for reduction in reductions:
        for sample in reduction.samples:
            meta = sample.metadata or {}
            epochs = meta.get("epochs")
            if not isinstance(epochs, list):
                raise AnalysisInputError(
                    f"stability reduction of sample {sample.sample_id!r} (scorer {reduction.scorer!r}) has no "
                    "metadata['epochs'] list as docs/log-schema.md requires"
                )
            if meta.get("template_hash"):
                hashes.add(str(meta["template_hash"]))
            prompt_id = str(sample.sample_id)
            per_sample.append(
                (
                    prompt_id,
                    meta.get("source"),
                    meta.get("category"),
                    str(meta.get("judge") or reduction.scorer),
                    reduction.scorer,
                    meta.get("judge_role"),
                )
            )
            prompt_meta = meta.get("prompt_metadata")
            prompts.append(_prompt_row(prompt_id, meta, prompt_meta if isinstance(prompt_meta, dict) else {}))
            repeats.append(len(epochs))
            epochs_all.extend(epochs)
    cols: dict[str, Any] = {}
    for index, name in enumerate(("prompt_id", "source", "category", "judge", "scorer", "judge_role")):
        values = np.empty(len(per_sample), dtype=object)
        values[:] = [sample[index] for sample in per_sample]
        cols[name] = np.repeat(values, repeats)  # one value per epoch of its sample
    for name in ("epoch", "temperature", "seed", "label", "response_hash", "response_chars"):
        cols[name] = [entry.get(name) for entry in epochs_all]
    return cols, prompts, hashes


def _is_label_score(score: Any) -> bool:
    meta = score.metadata or {}
    return "label" in meta or (isinstance(score.value, str) and score.value.upper() in LABEL_VALUES)


def _rows_from_summaries(
    summaries: list[Any], path: Path
) -> tuple[dict[str, list[Any]], list[dict[str, Any]], set[str], list[str]]:
    """Rebuild rows from per-epoch scores in the sample summaries (logs without stability reductions)."""
    names = ["prompt_id", "source", "category", "epoch", "temperature", "seed", "judge", "scorer", "judge_role"]
    cols: dict[str, list[Any]] = {name: [] for name in [*names, "label", "response_hash", "response_chars"]}
    prompts: dict[str, dict[str, Any]] = {}
    hashes: set[str] = set()
    scorers: dict[str, tuple[str, str, str | None]] = {}
    for summary in summaries:
        sample_meta = summary.metadata or {}
        for scorer, score in (summary.scores or {}).items():
            if not _is_label_score(score):
                continue
            meta = score.metadata or {}
            judge = str(meta.get("judge") or scorer)
            scorers.setdefault(scorer, (scorer, judge, meta.get("judge_role")))
            if meta.get("template_hash"):
                hashes.add(str(meta["template_hash"]))
            prompt_id = str(summary.id)
            if prompt_id not in prompts:
                prompts[prompt_id] = _prompt_row(prompt_id, meta, sample_meta)
            cols["prompt_id"].append(prompt_id)
            cols["source"].append(meta.get("source", sample_meta.get("source")))
            cols["category"].append(meta.get("category", sample_meta.get("category")))
            cols["epoch"].append(meta.get("epoch", summary.epoch))
            cols["temperature"].append(meta.get("temperature", sample_meta.get("temperature")))
            cols["seed"].append(meta.get("seed", sample_meta.get("seed")))
            cols["judge"].append(judge)
            cols["scorer"].append(scorer)
            cols["judge_role"].append(meta.get("judge_role"))
            cols["label"].append(score.value if isinstance(score.value, str) else meta.get("label"))
            cols["response_hash"].append(meta.get("response_hash"))
            cols["response_chars"].append(meta.get("response_chars"))
    keep, notes = _one_scorer_per_judge(list(scorers.values()), path)
    if len(keep) < len(scorers):
        mask = [scorer in keep for scorer in cols["scorer"]]
        cols = {name: [v for v, m in zip(values, mask, strict=True) if m] for name, values in cols.items()}
    return cols, list(prompts.values()), hashes, notes


def _normalise_labels(labels: pd.Series) -> pd.Series:
    """Labels written by the reducer/scorer -> REFUSE/PARTIAL/COMPLY, else UNSCORED."""
    cleaned = labels.astype("string").str.strip().str.upper()
    return cleaned.where(cleaned.isin(LABELS), UNSCORED).astype(str)


def read_eval_file(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, LogInfo]:
    """Read one Inspect log into tidy rows, its per-prompt info and what it planned.

    Args:
        path: an .eval (or .json) log.

    Returns:
        (tidy rows, per-prompt info rows, LogInfo).

    Raises:
        AnalysisInputError: the file is not a readable Inspect log or holds no refusal labels.
    """
    from inspect_ai.log import read_eval_log

    try:
        header = read_eval_log(str(path), header_only=True)
    except Exception as exc:  # corrupt zip, foreign JSON, truncated file ...
        raise _unreadable(path, exc) from exc
    return _from_header(path, header)


def _unreadable(path: Path, exc: Exception) -> AnalysisInputError:
    return AnalysisInputError(f"{path}: not a readable Inspect eval log ({type(exc).__name__}: {exc})")


def read_eval_files(paths: Sequence[Path]) -> list[tuple[pd.DataFrame, pd.DataFrame, LogInfo] | AnalysisInputError]:
    """:func:`read_eval_file` of several logs, their headers read in one event loop; errors returned per file.

    ``read_eval_log`` starts an event loop (and a thread) per call, about a quarter of a header read; here
    one loop reads every header with ``read_eval_log_async`` (still header-only). Where this thread already
    runs an event loop (a notebook), each log is read with :func:`read_eval_file`.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        headers = asyncio.run(_read_headers([str(path) for path in paths]))
    else:
        headers = [None] * len(paths)
    out: list[tuple[pd.DataFrame, pd.DataFrame, LogInfo] | AnalysisInputError] = []
    for path, header in zip(paths, headers, strict=True):
        try:
            if header is None:
                out.append(read_eval_file(path))
            elif isinstance(header, Exception):
                raise _unreadable(path, header) from header
            else:
                out.append(_from_header(path, header))
        except AnalysisInputError as exc:
            out.append(exc)
    return out


async def _read_headers(paths: list[str]) -> list[Any]:
    """Header-only reads, one after the other in this loop; a failed read gives its exception."""
    from inspect_ai.log import read_eval_log_async

    headers: list[Any] = []
    for path in paths:
        try:
            headers.append(await read_eval_log_async(path, header_only=True))
        except Exception as exc:  # corrupt zip, foreign JSON, truncated file ...
            headers.append(exc)
    return headers


def _from_header(path: Path, header: Any) -> tuple[pd.DataFrame, pd.DataFrame, LogInfo]:
    """The tidy rows, per-prompt info and LogInfo of one log from its header (sample summaries if needed)."""
    from inspect_ai.log import read_eval_log_sample_summaries

    spec = header.eval
    reductions = [r for r in (header.reductions or []) if r.reducer == STABILITY_REDUCER]
    notes: list[str] = []
    summaries = None
    if reductions:
        keep, notes = _one_scorer_per_judge(_scorer_judges(reductions), path)
        reductions = [r for r in reductions if r.scorer in keep]
        cols, prompts, hashes = _rows_from_reductions(reductions)
        kind = "log (reductions)"
    else:
        try:
            summaries = list(read_eval_log_sample_summaries(str(path)))
        except Exception as exc:
            raise AnalysisInputError(f"{path}: cannot read sample summaries ({exc})") from exc
        cols, prompts, hashes, notes = _rows_from_summaries(summaries, path)
        kind = "log (sample summaries)"
    ours = str(spec.task).rsplit("/", 1)[-1] == "refusal_stability"
    if not cols["label"] and not (ours and header.status != "success"):
        raise AnalysisInputError(
            f"{path}: log of task {spec.task!r} holds no refusal labels (no 'stability' reductions and "
            "no per-epoch REFUSE/PARTIAL/COMPLY scores)"
        )
    base = display_model_name(spec.model)
    condition = _log_condition(spec, reductions, summaries)
    model = run_name(base, condition)
    frame = pd.DataFrame(cols)
    frame["label"] = _normalise_labels(frame["label"])
    for name, value in (
        ("model", model),
        ("base_model", base),
        ("condition", condition),
        ("origin", str(path)),
        ("eval_id", spec.eval_id),
    ):
        frame[name] = value
    frame = finish_tidy(frame)

    grid = planned_grid(header)
    n_present = int(frame.groupby("scorer").size().max()) if len(frame) else 0  # (prompt, epoch) per scorer
    info = LogInfo(
        path=str(path),
        kind=kind,
        models=[model],
        judges=sorted(frame["judge"].unique()),
        n_records=len(frame),
        template_hashes=sorted(hashes),
        status=header.status,
        eval_id=spec.eval_id,
        task_id=spec.task_id,
        created=spec.created,
        planned_records=grid.n_records,
        present_records=n_present,
        notes=notes,
    )
    if info.missing_records or header.status != "success":
        present = set(zip(frame["prompt_id"].tolist(), frame["epoch"].tolist(), strict=True))
        info.missing_detail = _describe_missing(grid, present)

    prompt_frame = pd.DataFrame(prompts).drop_duplicates("prompt_id") if prompts else pd.DataFrame()
    if not prompt_frame.empty:
        prompt_frame.insert(0, "model", model)
    return frame, prompt_frame, info
