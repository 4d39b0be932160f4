"""The result of an analysis: every table (:class:`AnalysisTables`) plus writing the report of them.

``result.write_tables(out)`` writes the CSV/JSON files, ``result.write_report(out)`` the figures and
report.html/report.md; ``start_flip_evidence`` reads the report's flip examples in a forked process while
the caller goes on. The renderers read the tables alone (``AnalysisTables``), so they never import this module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusal_stability.analysis.evidence import RunEvidence, flip_evidence
from refusal_stability.analysis.figures import start_figures
from refusal_stability.analysis.parallel import can_fork, fork_start
from refusal_stability.analysis.report import write_report
from refusal_stability.analysis.result_tables import AnalysisTables, output_dir
from refusal_stability.analysis.tidy import plain_text

__all__ = ["AnalysisResult"]


@dataclass
class AnalysisResult(AnalysisTables):
    """Every output of an analysis (see :class:`AnalysisTables` for the tables) and the writing of its report."""

    _pending_evidence: Callable[[], list[RunEvidence]] | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        """The attributes for pickling, without a pending evidence read (it belongs to this process)."""
        state = dict(vars(self))
        state["_pending_evidence"] = None  # a waiting function of this process
        return state

    def start_flip_evidence(self) -> None:
        """Start reading the report's flip evidence now, in one forked process, while this one works on.

        ``write_report`` then waits for it instead of reading it. Call it once ``per_prompt``, ``per_model``
        and ``frame`` are final (the study tables do not change them). Where forking is unavailable it
        does nothing (``write_report`` reads the evidence itself).
        """
        if not can_fork():
            return
        view = copy.copy(self)
        view.per_prompt, view.per_model = plain_text(self.per_prompt), plain_text(self.per_model)
        wait = fork_start(_evidence_of, [view], workers=2)  # one item: one process
        read: list[list[RunEvidence]] = []

        def pending() -> list[RunEvidence]:  # waits once; later calls give the same evidence
            if not read:
                read.append(wait()[0])
            return read[0]

        self._pending_evidence = pending

    def write_report(
        self,
        out: str | Path,
        figures: bool = True,
        workers: int | None = None,
        progress: Callable[[str], None] | None = None,
        pdf: bool = False,
    ) -> Path:
        """Write report.html and report.md (and, with ``figures``, the PNG figures; PDFs too with ``pdf``) into ``out``.

        The figures are drawn in forked processes while this process reads the flip evidence from the logs.

        Returns:
            The report.html path.
        """
        out_dir = output_dir(out)
        wait: Callable[[], dict[str, Path]] | None = None
        if figures and not self.settings.get("judge_check_only"):  # judge checks alone: no study to draw
            if progress:
                progress("drawing figures")
            wait = start_figures(self, out_dir / "figures", workers, pdf)
        pending, self._pending_evidence = self._pending_evidence, None
        evidence = pending() if pending is not None else flip_evidence(self)
        figure_paths = wait() if wait is not None else {}
        return write_report(self, out_dir, self.sources, self.skipped, figure_paths, self.n_missing, evidence=evidence)


def _evidence_of(result: AnalysisTables) -> list[RunEvidence]:
    """The flip evidence of ``result``, read in this process (the job of ``start_flip_evidence``)."""
    return flip_evidence(result, workers=1)
