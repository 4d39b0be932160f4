"""Input checks between reading and computing: retries, completeness, duplicates, judge choice, grids, labels.

Each check either passes, warns (naming what it left out), or raises :class:`AnalysisInputError` with a
one-line message that names the input and says what to do. Nothing is dropped or counted twice silently.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TypeVar

import pandas as pd

from refusal_stability.analysis.read_logs import LogInfo
from refusal_stability.analysis.run_identity import separate_runs
from refusal_stability.analysis.tidy import PRIMARY_ROLE, AnalysisInputError, replicate_name
from refusal_stability.definitions.labels import UNSCORED

__all__ = [
    "COMPLETENESS_COLUMNS",
    "check_completeness",
    "check_duplicates",
    "check_grids",
    "check_valid_labels",
    "choose_retries",
    "select_judge",
]

COMPLETENESS_COLUMNS = ["model", "log", "status", "planned_records", "present_records", "missing_records"]
T = TypeVar("T")


def choose_retries(reads: Sequence[tuple[T, LogInfo]]) -> tuple[list[tuple[T, LogInfo]], list[str]]:
    """Keep the most complete log of each run; a run's logs share a task id (``inspect eval-retry`` keeps it).

    Inspect gives a retry a new eval id but the same task id (and model), so logs are grouped by
    (task id, model); within a group the log with the most records wins (then a successful status, then the
    newest). Label CSVs are always kept.

    Args:
        reads: (payload, LogInfo) per file, in input order.

    Returns:
        The kept reads (input order) and one message per skipped log, naming the log that replaced it.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for index, (_, info) in enumerate(reads):
        run = info.task_id or info.eval_id
        if info.is_log and run:
            groups.setdefault((run, info.models[0] if info.models else ""), []).append(index)
    skipped_index: set[int] = set()
    messages = []
    for (run, _), members in groups.items():
        if len(members) < 2:
            continue
        best = max(
            members,
            key=lambda i: (
                reads[i][1].present_records or 0,
                reads[i][1].status == "success",
                reads[i][1].created or "",
            ),
        )
        kept = reads[best][1]
        for index in members:
            if index != best:
                info = reads[index][1]
                skipped_index.add(index)
                messages.append(
                    f"{info.path} ({info.status}, {info.present_records} records) is superseded by {kept.path} "
                    f"({kept.status}, {kept.present_records} records) of the same run (task id {run}); "
                    "using the latter only"
                )
    return [read for index, read in enumerate(reads) if index not in skipped_index], messages


def completeness_table(sources: Sequence[LogInfo]) -> pd.DataFrame:
    """One row per log: model, log, status, planned/present/missing records (planned None when unknown)."""
    rows = [
        {
            "model": ", ".join(info.models),
            "log": info.path,
            "status": info.status,
            "planned_records": info.planned_records,
            "present_records": info.present_records,
            "missing_records": info.missing_records,
        }
        for info in sources
        if info.is_log
    ]
    table = pd.DataFrame(rows, columns=COMPLETENESS_COLUMNS)
    return table.astype({"planned_records": "Int64", "present_records": "Int64", "missing_records": "Int64"})


def _incomplete_message(info: LogInfo) -> str:
    planned = f" of {info.planned_records}" if info.planned_records is not None else ""
    detail = f" ({info.missing_detail})" if info.missing_detail else ""
    return (
        f"{info.path}: {info.status} log of {', '.join(info.models) or 'an unnamed model'}, "
        f"{info.missing_records}{planned} planned records missing{detail}; complete it with: {info.retry_command()}"
    )


def check_completeness(sources: Sequence[LogInfo], allow_incomplete: bool = False) -> pd.DataFrame:
    """Refuse incomplete logs (errored, cancelled, still running, or with missing records).

    Args:
        sources: the logs and CSVs read (after :func:`choose_retries`).
        allow_incomplete: warn instead of failing.

    Returns:
        The completeness table (:func:`completeness_table`).

    Raises:
        AnalysisInputError: a log is incomplete and ``allow_incomplete`` is False; the message names the
            file, what is missing and the ``inspect eval-retry`` command that completes it.
    """
    incomplete = [info for info in sources if not info.complete]
    if incomplete and not allow_incomplete:
        more = f" (and {len(incomplete) - 1} more incomplete log(s))" if len(incomplete) > 1 else ""
        raise AnalysisInputError(
            _incomplete_message(incomplete[0]) + more + "; or pass --allow-incomplete to analyse the records present"
        )
    for info in incomplete:
        warnings.warn(f"incomplete: {_incomplete_message(info)}", stacklevel=2)
    return completeness_table(sources)


_SENT = ["sent_verified", "sent_temperature", "sent_seed"]


def _records_as_sent(records: pd.DataFrame) -> pd.DataFrame:
    """(judge, prompt, temperature, seed) with the temperature and seed that reached the model where that is known.

    Two logs of a provider that dropped both (asked for different grids, sent none) hold the same kind of draw:
    they overlap, so they are replicates, never one run pooled over two "grids" that never reached the model.
    """
    if not set(_SENT) <= set(records.columns):
        return records
    records = records.copy()
    verified = records.pop("sent_verified").astype(bool).to_numpy()
    sent_temperature, sent_seed = records.pop("sent_temperature"), records.pop("sent_seed")
    if verified.any():
        records["temperature"] = records["temperature"].astype(float).where(~verified, sent_temperature.astype(float))
        records["seed"] = records["seed"].astype("Int64").where(~verified, sent_seed.astype("Int64"))
    return records


def name_replicates(frame: pd.DataFrame, sources: Sequence[LogInfo]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Name runs apart: different identities by what differs, re-runs of one identity ``model (run 1)``, ...

    Logs of one run name whose identities differ (``run_identity``: model path, grid as sent, system prompt,
    task settings ...) are different runs first (``separate_runs``); only logs of one identity can be replicates.

    Two logs of one run name (model and condition) whose records overlap (same judge, prompt, temperature and
    seed) are replicates, not retries (``choose_retries`` already kept one log per task id). Each log joins the
    first replicate, in order of creation, that it does not overlap, so a run split over several logs of
    disjoint prompts stays one run. Every replicate is then analysed and compared as a run of its own, and
    ``rerun_text_change`` compares their texts. Label CSVs never form replicates (``check_duplicates``).

    Args:
        frame: the tidy frame of every input.
        sources: what each input file contributed (for the logs' creation times).

    Returns:
        The frame, with replicate suffixes on the ``model`` of runs that have more than one replicate, and
        the new run name of each renamed log (by path).
    """
    frame, distinct = separate_runs(frame, sources)  # different identities: different runs, never replicates
    key = ["model", "judge", "prompt_id", "temperature", "seed"]
    logs = {info.path for info in sources if info.is_log}
    rows = frame[frame["origin"].isin(logs)]
    as_sent = _records_as_sent(rows[[*key, *(c for c in _SENT if c in rows)]])
    repeated = rows[as_sent.duplicated(key, keep=False).to_numpy()]
    if repeated.empty:
        return frame, distinct
    created = {info.path: info.created or "" for info in sources}
    renamed: dict[str, str] = {}  # origin -> replicate name (a log holds one run)
    for run, part in rows[rows["model"].isin(repeated["model"].unique())].groupby("model", observed=True):
        origins = sorted(part["origin"].unique(), key=lambda origin: (created.get(origin, ""), origin))
        codes = pd.util.hash_pandas_object(as_sent.loc[part.index, key[1:]], index=False).to_numpy()
        origin_of = part["origin"].to_numpy()
        replicates: list[set[int]] = []
        names: dict[str, str] = {}
        for origin in origins:
            records = set(codes[origin_of == origin].tolist())
            index = next((i for i, seen in enumerate(replicates) if not seen & records), len(replicates))
            if index == len(replicates):
                replicates.append(set())
            replicates[index] |= records
            names[str(origin)] = replicate_name(str(run), index + 1)
        if len(replicates) > 1:
            renamed.update(names)
    if not renamed:
        return frame, distinct
    run_names = frame["origin"].astype(str).map(renamed).fillna(frame["model"].astype(str))
    frame = frame.copy()
    frame["model"] = pd.Categorical(run_names, categories=sorted(run_names.unique()))
    runs = sorted(set(renamed.values()))
    warnings.warn(
        f"independent runs of the same model and grid are analysed as replicates: {', '.join(runs)} "
        "(compared in comparisons.csv; text changes between them in rerun_text_change.csv)",
        stacklevel=2,
    )
    return frame, {**distinct, **renamed}


def check_duplicates(frame: pd.DataFrame) -> None:
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

    Without ``judge``: where logs record judge roles, the task's main scorer (role "primary") is used and
    second judges only feed agreement; rows without a role (label CSVs, older logs) must not hold two judges
    for one model.

    Raises:
        AnalysisInputError: unknown judge, or several judges labelled the same records and none was chosen.
    """
    judges = sorted(frame["judge"].unique())
    if judge is not None:
        if judge not in judges:
            raise AnalysisInputError(f"--judge {judge!r} not in the input; judges found: {judges}")
        chosen = frame[frame["judge"] == judge]
        dropped = sorted(set(frame["model"].unique()) - set(chosen["model"].unique()))
        if dropped:
            warnings.warn(f"models without labels from judge {judge!r} are left out: {dropped}", stacklevel=2)
        return chosen.reset_index(drop=True)
    roles = frame["judge_role"]
    if roles.notna().any():
        frame = frame[roles.isna() | (roles == PRIMARY_ROLE)]
        judges = sorted(frame["judge"].unique())
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
    without = sorted(set(frame["model"].unique()) - set(frame.loc[valid, "model"].unique()))
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
        shown = ", ".join(f"(t={key[0]}, seed={key[1]}): {n}/{n_prompts}" for key, n in short.head(6).items())
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
