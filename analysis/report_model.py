"""What the report is made of: sections of blocks (paragraphs, tables, figures, lists, flip evidence).

A section builder turns a :class:`ReportInput` into a :class:`Section` (or None when its data is absent);
the renderer (``report.py``) writes the sections into both report.html and report.md through the templates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from refusal_stability.analysis.evidence import N_EXAMPLES, RunEvidence
from refusal_stability.analysis.formatting import Table
from refusal_stability.analysis.result_tables import AnalysisTables


@dataclass
class Block:
    """One piece of a section: a paragraph, a table (optionally with its figure beside it), figures, ..."""

    kind: str  # "para" | "table" | "figures" | "list" | "code" | "evidence" | "findings"
    text: str = ""
    table: Table | None = None
    figures: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    runs: list[RunEvidence] = field(default_factory=list)
    caption: str = ""


@dataclass
class Section:
    """A titled section of the report."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    def para(self, text: str) -> None:
        """Append a paragraph."""
        self.blocks.append(Block("para", text=text))

    def add_table(self, table: Table, figure: str | None = None, caption: str = "") -> None:
        """Append a table (skipped when empty), with the named figure beside it."""
        if table:
            self.blocks.append(Block("table", table=table, figures=[figure] if figure else [], caption=caption))
        elif figure:
            self.blocks.append(Block("figures", figures=[figure]))


@dataclass
class ReportInput:
    """Everything a section builder may read.

    Attributes:
        result: the analysis tables (or any object with their attributes).
        sources: LogInfo of every input file (or any object with path, kind, models, judges, n_records).
        skipped: inputs that were skipped, with why.
        n_missing: missing records analysed with --allow-incomplete.
        evidence: the flip examples of every run (``evidence.collect`` output).
        n_examples: least stable prompts shown per run.
    """

    result: AnalysisTables
    sources: Sequence[Any] = ()
    skipped: Sequence[str] = ()
    n_missing: int = 0
    evidence: list[RunEvidence] = field(default_factory=list)
    n_examples: int = N_EXAMPLES


SectionBuilder = Callable[[ReportInput], "Section | None"]
