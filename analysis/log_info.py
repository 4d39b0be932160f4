"""What one input file contributed to the analysis: its runs, records, status and completeness."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refusal_stability.analysis.run_identity import RunIdentity

__all__ = ["LogInfo", "retry_command"]


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
        judge_check: a judge-check log's records (``judge_check.JudgeCheckRun``); such a log has no tidy rows.
        identity: what makes the log's run what it is (logs only; ``run_identity``): logs pool or become
            replicates only when it matches.
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
    identity: RunIdentity | None = None
    reproducibility: dict[str, Any] = field(default_factory=dict)
    judge_check: Any = None  # a judge-check log's records (analysis.judge_check.JudgeCheckRun); no tidy rows

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
