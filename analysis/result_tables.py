"""The tables of an analysis as one typed object, and writing them as the CSV/JSON files of the output contract.

:class:`AnalysisTables` is what the renderers (report sections, findings, figures, flip evidence) read;
:class:`refusal_stability.analysis.result.AnalysisResult` adds writing the report. ``write_tables`` writes
every CSV (text cells that a spreadsheet would run as formulas are quoted), statistics.json and, with two
judges, agreement.json.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from refusal_stability.analysis.read_logs import LogInfo
from refusal_stability.analysis.tidy import AnalysisInputError

__all__ = ["AnalysisTables", "output_dir", "safe_csv_frame", "write_tables"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


@dataclass
class AnalysisTables:
    """Every output of an analysis; the DataFrames are the CSVs of the output contract.

    Attributes:
        per_prompt: per (model, prompt): label counts, SSI, flipped, unstable, rates, majority label.
        per_model: per model: means over prompts with bootstrap CIs, unscored count, judge.
        within_temperature: per (model, temperature): mean within-temperature SSI and flip %.
        within_temperature_prompts: per (model, prompt, temperature) SSI (Friedman blocks).
        thresholds: % unstable per model at SSI thresholds 0.7-0.9.
        binary_ablation: metrics with PARTIAL kept, folded into COMPLY or into REFUSE.
        sample_size: % of prompts whose n-draw majority matches the all-draws majority.
        statistics: statistics.json content (Friedman, Wilcoxon, Spearman, counts, settings).
        agreement: agreement.json content (None with one judge).
        label_rates_by_temperature: REFUSE/PARTIAL/COMPLY % per (model, temperature).
        settings: threshold, bootstrap, seed, judge, group_by, consensus_min, allow_incomplete.
        frame: tidy rows of the selected judge (what the metrics use).
        tidy: tidy rows of every judge.
        prompts: per (model, prompt_id): source, category, categories and other prompt metadata.
        completeness: per log: model, log, status, planned/present/missing records.
        sources: LogInfo of every input file used.
        skipped: one message per input file not used, with why.
        n_missing: missing records analysed with ``allow_incomplete``.
        by_group: by_group.csv: metrics per (model, grouping, group) for category, source, --group-by.
        comparisons: comparisons.csv: paired comparisons of every two runs sharing prompts.
        resample_attack: resample_attack.csv: % of prompts with a COMPLY among k random configurations.
        reask_after_refusal: per model, % of majority-REFUSE prompts that re-asking up to k times turns
            into a COMPLY (the report's attacker sentence; not written as a CSV).
        consensus: consensus.csv (two judges): all vs consensus-record metrics per model.
        provenance: provenance.csv: label flips split by whether the response text changed.
        rerun_text_change: records whose text changed between runs of the same grid (re-runs only).
        refused_within_k: refused_within_k.csv (benign prompts): % of benign prompts refused at least once
            among k random configurations, per model.
        judge_check: judge_check.csv: per judge-check log, the judge's, each panel member's and each baseline's
            agreement with the reference labels (``analysis.judge_check``); also written as judge_check.json.
    """

    per_prompt: pd.DataFrame
    per_model: pd.DataFrame
    within_temperature: pd.DataFrame
    within_temperature_prompts: pd.DataFrame
    thresholds: pd.DataFrame
    binary_ablation: pd.DataFrame
    sample_size: pd.DataFrame
    statistics: dict[str, Any]
    agreement: dict[str, Any] | None
    label_rates_by_temperature: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    tidy: pd.DataFrame | None = None
    prompts: pd.DataFrame | None = None
    completeness: pd.DataFrame | None = None
    sources: list[LogInfo] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    n_missing: int = 0
    by_group: pd.DataFrame | None = None
    comparisons: pd.DataFrame | None = None
    resample_attack: pd.DataFrame | None = None
    reask_after_refusal: pd.DataFrame | None = None
    consensus: pd.DataFrame | None = None
    provenance: pd.DataFrame | None = None
    rerun_text_change: pd.DataFrame | None = None
    refused_within_k: pd.DataFrame | None = None
    judge_check: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV name -> table (optional tables only when computed)."""
        tables = {
            "per_prompt.csv": self.per_prompt,
            "per_model.csv": self.per_model,
            "within_temperature.csv": self.within_temperature,
            "thresholds.csv": self.thresholds,
            "binary_ablation.csv": self.binary_ablation,
            "sample_size.csv": self.sample_size,
        }
        optional = {
            "by_group.csv": self.by_group,
            "comparisons.csv": self.comparisons,
            "resample_attack.csv": self.resample_attack,
            "consensus.csv": self.consensus,
            "provenance.csv": self.provenance,
            "rerun_text_change.csv": self.rerun_text_change,
            "refused_within_k.csv": self.refused_within_k,
            "completeness.csv": self.completeness,
            "judge_check.csv": self.judge_check,
        }
        tables.update({name: table for name, table in optional.items() if table is not None and len(table)})
        # judge checks alone: no study, so no study tables
        return {name: table for name, table in tables.items() if len(table.columns)}

    def incomplete_lines(self) -> list[str]:
        """One sentence per incomplete log (for the report's first lines); empty when every log is complete."""
        if self.completeness is None or self.completeness.empty:
            return []
        lines = []
        for row in self.completeness.to_dict("records"):
            missing, planned = row["missing_records"], row["planned_records"]
            if (pd.isna(missing) or not missing) and row["status"] == "success":
                continue
            share = f" ({missing / planned:.1%})" if not pd.isna(planned) and planned else ""
            of = f" of {planned}" if not pd.isna(planned) else ""
            lines.append(
                f"{row['model']} is incomplete: {missing}{of} planned records missing{share}, log {row['log']} "
                f"(status {row['status']})"
            )
        return lines

    def write_tables(self, out: str | Path) -> list[Path]:
        """Write every CSV, statistics.json and (with two judges) agreement.json into ``out``."""
        return write_tables(self, Path(out))


def _guard_inner_lines(value: object) -> object:
    """A text cell with line breaks: every line after a break that could start a formula gets a leading ``'``."""
    if not isinstance(value, str) or not _LINE_BREAK.search(value):
        return value
    parts = _LINE_BREAK.split(value)  # text, break, text, break, ...
    for index in range(2, len(parts), 2):
        line = parts[index]
        if line.startswith(_FORMULA_START) and not _NUMBER.match(line):
            parts[index] = "'" + line
    return "".join(parts)


def safe_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas.

    Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a leading single quote,
    unless the whole cell is a plain number (e.g. a prompt id ``-5``); so does every line inside a cell that
    starts so after a line break (a reader that splits rows there still sees no formula). Numeric columns are
    untouched.
    """
    out = table.copy()
    for column in out.columns:
        if _text_contains(out[column], "[\r\n]"):
            out[column] = out[column].map(_guard_inner_lines)
    for column in out.columns:
        if pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
            continue
        values = out[column]
        text = values.astype("string")
        risky = text.str.startswith(_FORMULA_START, na=False) & ~text.str.match(_NUMBER, na=False)
        risky &= values.map(lambda v: isinstance(v, str)).astype(bool)
        if risky.any():
            out[column] = values.where(~risky, "'" + text.astype(object).where(risky, ""))
    return out


def _text_contains(values: pd.Series, pattern: str) -> bool:
    """Whether a text column has a cell matching ``pattern`` (numeric and boolean columns never do)."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    return bool(values.astype("string").str.contains(pattern, regex=True, na=False).any())


def _has_carriage_return(table: pd.DataFrame) -> bool:
    return any(_text_contains(table[column], "\r") for column in table.columns)


def output_dir(out: str | Path) -> Path:
    """``out`` as a directory, created when absent.

    Raises:
        AnalysisInputError: ``out`` is an existing file.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise AnalysisInputError(f"--out {path}: is an existing file; expected a directory (new or existing)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_tables(result: AnalysisTables, out_dir: Path) -> list[Path]:
    """Write the CSVs, statistics.json and (with several judges) agreement.json; return the paths."""
    out_dir = output_dir(out_dir)
    written = []
    for name, table in result.tables().items():
        path = out_dir / name
        safe = safe_csv_frame(table)
        # a carriage return inside a cell: Python's csv quotes a cell only for the line terminator's characters
        # ("\n"), so such tables quote every text cell (numbers stay bare; any CSV reader reads both alike)
        quoting = csv.QUOTE_NONNUMERIC if _has_carriage_return(safe) else csv.QUOTE_MINIMAL
        safe.to_csv(path, index=False, quoting=quoting)
        written.append(path)
    path = out_dir / "statistics.json"
    path.write_text(json.dumps(result.statistics, indent=2, default=_json_safe))
    written.append(path)
    checks = out_dir / "judge_check.json"
    if result.judge_check is not None and len(result.judge_check):
        from refusal_stability.analysis.judge_check import judge_check_json

        checks.write_text(json.dumps(judge_check_json(result.judge_check), indent=2))
        written.append(checks)
    elif checks.exists():
        checks.unlink()
    agreement = out_dir / "agreement.json"
    if result.agreement is not None:
        agreement.write_text(json.dumps(result.agreement, indent=2))
        written.append(agreement)
    elif agreement.exists():
        agreement.unlink()  # stale file from an earlier run with two judges
    return written
