"""Judge-check logs in the analysis: the same figures as the eval header, per judge, panel member and baseline.

A judge-check log (task ``judge_check``) holds one ``given_label`` reduction per response with the judge's
label and the reference label (header-only read). For each log the analysis reports, with the names of
:mod:`refusal_stability.definitions.judge_check`:

- the judge (a single grader, the heuristic, or a panel's plurality): the numbers in the log's header;
- each panel member on its own (its vote; a withheld vote is unscored);
- each other label column of the reference file named ``label_*`` (e.g. ``label_primary``, the paper's
  primary judge on the bundled set): a baseline measured on the same responses.

Written as ``judge_check.csv`` (one row per log x judge) and ``judge_check.json``. ``refusal-stability
analyze`` routes such a log here (:func:`judge_check_read`) instead of reading study records from it, so a
check and a study can be analysed, and reported, together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from refusal_stability.definitions.judge_check import CONTRACT_NAMES, JUDGE_CHECK_SCORER, judge_check_figures

__all__ = [
    "JUDGE_CHECK_COLUMNS",
    "JudgeCheckRun",
    "is_judge_check",
    "judge_check_json",
    "judge_check_read",
    "judge_check_table",
    "read_judge_check",
]

JUDGE_CHECK_COLUMNS = ["log", "reference", "judge", "kind", *CONTRACT_NAMES]
JUDGE, MEMBER, BASELINE = "judge", "panel member", "baseline"


@dataclass
class JudgeCheckRun:
    """The records of one judge-check log.

    Attributes:
        log: the log's path.
        reference: the reference the check used (``bundled`` or the file given).
        judge: the judge's identity (model name, ``heuristic``, or ``panel(a,b,c)``).
        records: one row per response: sample_id, reference_label, label, weight, cluster, then one column
            per panel member (``member:<name>``) and per baseline label column (``baseline:<column>``).
    """

    log: str
    reference: str
    judge: str
    records: pd.DataFrame


def is_judge_check(header: Any) -> bool:
    """Whether an eval log header is a judge check's (its task, or the task metadata's flag)."""
    metadata = getattr(header.eval, "metadata", None) or {}
    return str(header.eval.task).split("/")[-1] == JUDGE_CHECK_SCORER or bool(metadata.get("judge_check"))


def _record(sample_id: Any, value: Any, meta: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sample_id": str(sample_id),
        "reference_label": meta.get("reference_label"),
        "label": meta.get("label", value),
        "weight": meta.get("weight"),
        "cluster": str(meta.get("cluster", sample_id)),
    }
    panel = meta.get("panel")
    if isinstance(panel, dict):
        for name, vote in zip(panel.get("members") or [], panel.get("votes") or [], strict=False):
            row[f"member:{name}"] = vote
    carried = meta.get("prompt_metadata")
    columns = carried.get("reference_columns") if isinstance(carried, dict) else None
    for column, label in (columns or {}).items():
        if str(column).startswith("label_"):
            row[f"baseline:{column}"] = label
    return row


def read_judge_check(path: str | Path, header: Any | None = None) -> JudgeCheckRun:
    """Read a judge-check log's records from its header (no sample is opened).

    Args:
        path: the log.
        header: its header when already read.

    Returns:
        The run.

    Raises:
        ValueError: the log holds no judge_check reduction (not a finished judge check).
    """
    from inspect_ai.log import read_eval_log

    header = header if header is not None else read_eval_log(str(path), header_only=True)
    reductions = [r for r in header.reductions or [] if r.scorer == JUDGE_CHECK_SCORER]
    if not reductions or not reductions[0].samples:
        raise ValueError(f"{path}: a judge-check log without judge_check scores (did the run finish?)")
    rows = [_record(s.sample_id, s.value, s.metadata or {}) for s in reductions[0].samples]
    metadata = header.eval.metadata or {}
    judges = {str((s.metadata or {}).get("judge")) for s in reductions[0].samples}
    judge = judges.pop() if len(judges) == 1 else ",".join(sorted(judges))
    return JudgeCheckRun(str(path), str(metadata.get("reference", "")), judge, pd.DataFrame(rows))


def judge_check_read(path: Any, header: Any) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """What the analysis reads of a judge-check log: no tidy rows, and a LogInfo carrying its records.

    Raises:
        AnalysisInputError: the log holds no judge_check scores (an unfinished check).
    """
    from refusal_stability.analysis.log_info import LogInfo
    from refusal_stability.analysis.tidy import TIDY_COLUMNS, AnalysisInputError, finish_tidy

    try:
        run = read_judge_check(path, header)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from exc
    info = LogInfo(
        path=str(path),
        kind="judge check",
        models=[],
        judges=[run.judge],
        n_records=len(run.records),
        status=header.status,
        eval_id=header.eval.eval_id,
        task_id=header.eval.task_id,
        created=header.eval.created,
        judge_check=run,
    )
    return finish_tidy(pd.DataFrame(columns=TIDY_COLUMNS)), pd.DataFrame(), info


def judge_check_json(table: pd.DataFrame) -> list[dict[str, Any]]:
    """judge_check.json: the rows of ``judge_check.csv`` as objects (NaN as null)."""
    return [
        {key: (None if isinstance(value, float) and value != value else value) for key, value in row.items()}
        for row in table.astype(object).to_dict("records")
    ]


def _figures(records: pd.DataFrame, labels: str, n_boot: int, seed: int) -> dict[str, Any]:
    weights = records["weight"].tolist() if records["weight"].notna().all() else None
    return judge_check_figures(
        records["reference_label"].tolist(),
        [None if pd.isna(label) else label for label in records[labels]],
        clusters=records["cluster"].tolist(),
        weights=weights,
        n_boot=n_boot,
        seed=seed,
    )


def judge_check_table(runs: list[JudgeCheckRun], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """judge_check.csv: per log, the judge's figures, then each panel member's, then each baseline's.

    Args:
        runs: the judge-check runs.
        n_boot: bootstrap resamples (1000 and seed 0 reproduce the header's CIs).
        seed: bootstrap seed.

    Returns:
        One row per (log, judge) with ``JUDGE_CHECK_COLUMNS``.
    """
    rows = []
    for run in runs:
        records = run.records
        rows.append({"log": run.log, "reference": run.reference, "judge": run.judge, "kind": JUDGE})
        rows[-1].update(_figures(records, "label", n_boot, seed))
        for column in records.columns:
            kind = MEMBER if column.startswith("member:") else BASELINE if column.startswith("baseline:") else None
            if kind is None:
                continue
            name = column.split(":", 1)[1]
            rows.append({"log": run.log, "reference": run.reference, "judge": name, "kind": kind})
            rows[-1].update(_figures(records, column, n_boot, seed))
    return pd.DataFrame(rows, columns=JUDGE_CHECK_COLUMNS)
