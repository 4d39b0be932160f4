"""Read .eval logs into the tidy frame (one row per judged response) plus what each log planned and holds.

Log reading uses the fastest correct path:
1. header-only read (``read_eval_log(header_only=True)``): the "stability" reductions carry every epoch's
   label (and response fingerprint) in ``metadata["epochs"]`` (columns, or a list of epochs in older logs),
   one reduction list per scorer;
2. otherwise (no reductions: an errored or cancelled run, or a scorer without the reducer) the sample
   summaries (``read_eval_log_sample_summaries``): each per-epoch Score's value and its small metadata
   (temperature, seed, epoch, judge) survive summary thinning.
The log is opened once per file, never per sample, through Inspect's log APIs, so a URL of an object store
(``s3://bucket/key``) is read in place like a local path. Formats: docs/log-schema.md.

Besides the rows, each log reports its status, eval/task ids and its planned grid (task args temperatures x
seeds, the dataset's samples), so the analysis can tell an incomplete study from a complete one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from refusal_stability.analysis.judge_check import is_judge_check, judge_check_read
from refusal_stability.analysis.log_info import LogInfo, retry_command
from refusal_stability.analysis.log_locations import Location
from refusal_stability.analysis.log_reproducibility import reproducibility_record
from refusal_stability.analysis.log_rows import (
    normalise_labels,
    one_scorer_per_judge,
    rows_from_reductions,
    rows_from_summaries,
    scorer_judges,
)
from refusal_stability.analysis.run_identity import run_identity
from refusal_stability.analysis.tidy import (
    TIDY_COLUMNS,
    AnalysisInputError,
    clean_condition,
    display_model_name,
    finish_tidy,
    run_name,
)
from refusal_stability.definitions.grid import GridError, build_grid

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


@dataclass(frozen=True)
class PlannedGrid:
    """What a run planned: its prompts and its (temperature, seed) configuration per epoch."""

    prompt_ids: tuple[str, ...] | None
    n_prompts: int | None
    configs: tuple[tuple[float | None, int | None], ...] | None  # epoch e uses configs[e - 1]; None: not asked
    n_epochs: int | None

    @property
    def n_records(self) -> int | None:
        """Planned (prompt, epoch) records, or None when unknown."""
        if self.n_prompts is None or self.n_epochs is None:
            return None
        return self.n_prompts * self.n_epochs


def planned_grid(header: Any) -> PlannedGrid:
    """The planned prompts and grid of a log header.

    The grid comes from the task args ``temperatures`` x ``seeds``, in the solver's epoch order (``build_grid``);
    the prompts from the dataset's recorded sample ids (after ``--limit``), else its sample count.
    """
    spec = header.eval
    args = spec.task_args or {}
    configs: tuple[tuple[float | None, int | None], ...] | None = None
    if "temperatures" in args and "seeds" in args:
        try:
            grid = build_grid(args["temperatures"], args["seeds"], args.get("draws"))
            configs = tuple((c.temperature, c.seed) for c in grid)
        except GridError:
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
                if t is None and s is None:
                    return f"draw {epoch}"
                return f"(t={'default' if t is None else format(t, 'g')}, seed={'none' if s is None else s})"
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


def read_eval_file(path: Location) -> tuple[pd.DataFrame, pd.DataFrame, LogInfo]:
    """Read one Inspect log into tidy rows, its per-prompt info and what it planned.

    Args:
        path: an .eval (or .json) log: a local path or a URL (``s3://bucket/key``; Inspect reads it in place).

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


def _unreadable(path: Location, exc: Exception) -> AnalysisInputError:
    return AnalysisInputError(f"{path}: not a readable Inspect eval log ({type(exc).__name__}: {exc})")


def read_eval_files(paths: Sequence[Location]) -> list[tuple[pd.DataFrame, pd.DataFrame, LogInfo] | AnalysisInputError]:
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


def _from_header(path: Location, header: Any) -> tuple[pd.DataFrame, pd.DataFrame, LogInfo]:
    """The tidy rows, per-prompt info and LogInfo of one log from its header (sample summaries if needed)."""
    from inspect_ai.log import read_eval_log_sample_summaries

    if is_judge_check(header):
        return judge_check_read(path, header)
    spec = header.eval
    reductions = [r for r in (header.reductions or []) if r.reducer == STABILITY_REDUCER]
    notes: list[str] = []
    summaries = None
    if reductions:
        keep, notes = one_scorer_per_judge(scorer_judges(reductions), path)
        cols, prompts, hashes = rows_from_reductions([r for r in reductions if r.scorer in keep], reductions)
        reductions = [r for r in reductions if r.scorer in keep]
        kind = "log (reductions)"
    else:
        try:
            summaries = list(read_eval_log_sample_summaries(str(path)))
        except Exception as exc:
            raise AnalysisInputError(f"{path}: cannot read sample summaries ({exc})") from exc
        cols, prompts, hashes, notes = rows_from_summaries(summaries, path)
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
    frame["label"] = normalise_labels(frame["label"])
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
        identity=run_identity(header, frame),
        reproducibility=reproducibility_record(header, frame),
    )
    frame = frame.drop(columns=["system_fingerprint"], errors="ignore")  # kept per log, in info.reproducibility
    if info.missing_records or header.status != "success":
        present = set(zip(frame["prompt_id"].tolist(), frame["epoch"].tolist(), strict=True))
        info.missing_detail = _describe_missing(grid, present)

    prompt_frame = pd.DataFrame(prompts).drop_duplicates("prompt_id") if prompts else pd.DataFrame()
    if not prompt_frame.empty:
        prompt_frame.insert(0, "model", model)
    return frame, prompt_frame, info
