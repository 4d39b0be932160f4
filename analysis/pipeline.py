"""The analysis as a library function: inputs -> checks -> every table and statistic -> files.

``analyze(...)`` reads logs and label CSVs, checks them and returns an :class:`AnalysisResult` holding every
table as a DataFrame; ``result.write_tables(out)`` and ``result.write_report(out)`` write the files of the
output contract. ``analyse(frame, ...)`` is the compute step alone, over an already selected tidy frame.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis import agreement, metrics, statistics
from refusal_stability.analysis.read_logs import LogInfo
from refusal_stability.analysis.tidy import AnalysisInputError, plain_text, replicate_group
from refusal_stability.definitions.labels import UNSCORED
from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD

__all__ = ["AnalysisResult", "analyse", "analyze", "safe_csv_frame", "write_tables"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class AnalysisResult:
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
        consensus: consensus.csv (two judges): all vs consensus-record metrics per model.
        provenance: provenance.csv: label flips split by whether the response text changed.
        rerun_text_change: records whose text changed between runs of the same grid (re-runs only).
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
    consensus: pd.DataFrame | None = None
    provenance: pd.DataFrame | None = None
    rerun_text_change: pd.DataFrame | None = None
    _pending_evidence: Callable[[], list[Any]] | None = field(default=None, repr=False, compare=False)

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
        from refusal_stability.analysis.parallel import can_fork, fork_start

        if not can_fork():
            return
        view = copy.copy(self)
        view.per_prompt, view.per_model = plain_text(self.per_prompt), plain_text(self.per_model)
        wait = fork_start(_evidence_of, [view], workers=2)  # one item: one process
        read: list[list[Any]] = []

        def pending() -> list[Any]:  # waits once; later calls give the same evidence
            if not read:
                read.append(wait()[0])
            return read[0]

        self._pending_evidence = pending

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
            "completeness.csv": self.completeness,
        }
        tables.update({name: table for name, table in optional.items() if table is not None and len(table)})
        return tables

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
        from refusal_stability.analysis.report import flip_evidence, write_report

        out = _out_dir(out)
        wait: Callable[[], dict[str, Path]] | None = None
        if figures:
            from refusal_stability.analysis.figures import start_figures

            if progress:
                progress("drawing figures")
            wait = start_figures(self, out / "figures", workers, pdf)
        pending, self._pending_evidence = self._pending_evidence, None
        evidence = pending() if pending is not None else flip_evidence(self)
        figure_paths = wait() if wait is not None else {}
        return write_report(self, out, self.sources, self.skipped, figure_paths, self.n_missing, evidence=evidence)


def _evidence_of(result: AnalysisResult) -> list[Any]:
    """The flip evidence of ``result``, read in this process (the job of ``start_flip_evidence``)."""
    from refusal_stability.analysis.report import flip_evidence

    return flip_evidence(result, workers=1)


def label_rates_by_temperature(frame: pd.DataFrame, wt_counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean per-prompt REFUSE/PARTIAL/COMPLY % per (model, temperature) (temperature-effect figure).

    ``wt_counts``: ``label_counts(frame, ["model", "temperature", "prompt_id"])`` when the caller has it.
    """
    if wt_counts is None:
        wt_counts = metrics.label_counts(frame, ["model", "temperature", "prompt_id"])
    wt = metrics.stability_from_counts(wt_counts)
    rates = wt.groupby(level=["model", "temperature"])[["refusal_rate", "partial_rate", "compliance_rate"]].mean()
    return (rates * 100).rename(columns=lambda c: c.replace("_rate", "_pct")).reset_index()


def analyse(
    frame: pd.DataFrame,
    all_judges: pd.DataFrame | None = None,
    judge: str | None = None,
    threshold: float = UNSTABLE_THRESHOLD,
    n_boot: int = 1000,
    seed: int = 0,
    consensus_min: int = 5,
) -> AnalysisResult:
    """Compute the core outputs and the judge studies from the selected judge's tidy frame.

    Args:
        frame: tidy rows of the judge whose labels feed the metrics.
        all_judges: tidy rows of every judge (for agreement.json and consensus.csv); defaults to ``frame``.
        judge: the ``--judge`` judge (recorded in the settings).
        threshold: SSI below this is "unstable".
        n_boot: bootstrap resamples of prompts.
        seed: bootstrap seed.
        consensus_min: minimum consensus records per prompt for consensus metrics (two judges).
    """
    tidy = all_judges if all_judges is not None else frame
    counts = metrics.label_counts(frame, ["model", "prompt_id"])  # counted once, used by four tables
    wt_counts = metrics.label_counts(frame, ["model", "temperature", "prompt_id"])
    prompts = metrics.per_prompt(frame, threshold, counts)
    wt_prompts = metrics.within_temperature_prompts(frame, threshold)
    blocks = statistics.temperature_blocks(wt_prompts)
    stats = {
        "friedman": statistics.friedman(blocks),
        "wilcoxon": statistics.wilcoxon_posthoc(blocks),
        "spearman": statistics.spearman(prompts),
        "n_unscored": int((frame["label"] == UNSCORED).sum()),
        "n_records": len(frame),
        "threshold": threshold,
        "bootstrap": {"resamples": n_boot, "seed": seed, "method": "percentile, prompts resampled per model"},
    }
    judges = agreement.judge_studies(frame, tidy, consensus_min, threshold)
    if judges.judge_sensitive is not None:
        prompts = prompts.merge(judges.judge_sensitive, on=["model", "prompt_id"], how="left")
    return AnalysisResult(
        per_prompt=prompts,
        per_model=metrics.per_model(prompts, frame, n_boot, seed),
        within_temperature=metrics.within_temperature(wt_prompts),
        within_temperature_prompts=wt_prompts,
        thresholds=metrics.thresholds(prompts),
        binary_ablation=metrics.binary_ablation(frame, threshold, counts),
        sample_size=metrics.sample_size(frame, counts=counts, wt_counts=wt_counts),
        statistics=stats,
        agreement=judges.agreement,
        label_rates_by_temperature=label_rates_by_temperature(frame, wt_counts),
        settings={"threshold": threshold, "bootstrap": n_boot, "seed": seed, "judge": judge},
        frame=frame,
        tidy=tidy,
        consensus=judges.consensus,
    )


def _validate(threshold: float, n_boot: int, consensus_min: int, workers: int | None) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise AnalysisInputError(f"--threshold {threshold}: expected a value in (0, 1]")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise AnalysisInputError(f"--bootstrap {n_boot}: expected a positive number of resamples, e.g. 1000")
    if isinstance(consensus_min, bool) or not isinstance(consensus_min, int) or consensus_min < 1:
        raise AnalysisInputError(f"--consensus-min {consensus_min}: expected a positive integer")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise AnalysisInputError(f"--workers {workers}: expected a positive integer")


def analyze(
    inputs: Sequence[str | Path] = (),
    labels: Sequence[str | Path] = (),
    judge: str | None = None,
    threshold: float = UNSTABLE_THRESHOLD,
    n_boot: int = 1000,
    seed: int = 0,
    allow_incomplete: bool = False,
    group_by: Sequence[str] = (),
    prompts: str | Path | None = None,
    consensus_min: int = 5,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    unknown_labels_as_unscored: bool = False,
    prefetch_evidence: bool = False,
) -> AnalysisResult:
    """Analyse eval logs and/or label CSVs: the library form of ``refusal-stability analyze``.

    Example:
        >>> from refusal_stability.analysis import analyze
        >>> result = analyze(["logs/"])  # doctest: +SKIP
        >>> result.per_model[["model", "mean_ssi", "flip_pct"]]  # doctest: +SKIP
        >>> result.write_tables("reports"); result.write_report("reports")  # doctest: +SKIP

    Args:
        inputs: .eval logs, directories (searched recursively for *.eval) or label CSVs.
        labels: long-format label CSVs (model, prompt_id, temperature, seed, judge, label).
        judge: judge whose labels feed the metrics (default: the task's primary judge, or the only one).
        threshold: SSI below this is unstable.
        n_boot: bootstrap resamples (>= 1).
        seed: bootstrap seed.
        allow_incomplete: analyse errored/cancelled/partial logs and mixed grids instead of failing.
        group_by: extra per-prompt metadata columns for by_group.csv (category and source always).
        prompts: CSV with prompt_id and columns (source, category, ...) joined by prompt_id.
        consensus_min: minimum consensus records per prompt for consensus metrics (two judges).
        workers: worker processes for reading logs and drawing figures (default min(2, CPUs)).
        progress: called with progress lines.
        unknown_labels_as_unscored: label CSVs: count unknown labels as UNSCORED instead of failing.
        prefetch_evidence: start reading the report's flip evidence in a forked process as soon as the
            per-prompt tables exist (``result.start_flip_evidence``); for callers that write the report.

    Returns:
        The AnalysisResult.

    Raises:
        AnalysisInputError: bad arguments or bad input; the message names it and says what to do.
    """
    from refusal_stability.analysis import checks
    from refusal_stability.analysis.inputs import join_prompt_file, load_inputs, read_prompts_csv

    _validate(threshold, n_boot, consensus_min, workers)
    if not inputs and not labels:
        raise AnalysisInputError("give at least one .eval log, directory or --labels CSV")
    prompt_table = read_prompts_csv(prompts) if prompts is not None else None
    loaded = load_inputs(inputs, labels, progress, workers, unknown_labels_as_unscored)
    if prompt_table is not None:
        loaded = join_prompt_file(loaded, prompt_table)
    completeness = checks.check_completeness(loaded.sources, allow_incomplete)
    frame = checks.select_judge(loaded.frame, judge)
    if allow_incomplete:
        incomplete = {info.path for info in loaded.sources if not info.complete}
        n_missing = int(completeness["missing_records"].sum()) if len(completeness) else 0
        n_missing += checks.check_grids(frame[~frame["origin"].isin(incomplete)], allow_incomplete=True)
    else:
        n_missing = checks.check_grids(frame)
    checks.check_valid_labels(frame)
    group_columns = _check_group_by(group_by, loaded.prompts)
    if progress:
        progress(f"read {len(loaded.frame):,} records from {len(loaded.sources)} file(s); computing metrics")
    result = analyse(
        frame, loaded.frame, judge=judge, threshold=threshold, n_boot=n_boot, seed=seed, consensus_min=consensus_min
    )
    result.prompts = loaded.prompts
    result.completeness = completeness
    result.sources = loaded.sources
    result.skipped = loaded.skipped
    result.n_missing = n_missing
    if prefetch_evidence:
        result.start_flip_evidence()  # read while the study tables are computed
    _add_studies(result, group_columns, n_boot, seed)
    for name, value in vars(result).items():  # tables hold plain text (the tidy frames keep their categoricals)
        if isinstance(value, pd.DataFrame) and name not in ("frame", "tidy"):
            setattr(result, name, plain_text(value))
    result.settings.update(
        group_by=list(group_columns),
        consensus_min=consensus_min,
        allow_incomplete=allow_incomplete,
        prompts=str(prompts) if prompts is not None else None,
    )
    return result


def _check_group_by(group_by: Sequence[str], prompts: pd.DataFrame) -> list[str]:
    """The --group-by columns, each checked against the per-prompt info."""
    columns = []
    available = [c for c in prompts.columns if c not in ("model", "prompt_id")]
    for column in group_by:
        if column not in prompts.columns or column in ("model", "prompt_id"):
            raise AnalysisInputError(
                f"--group-by {column!r}: no such prompt metadata; available: {available} "
                "(label CSVs: add columns with --prompts FILE.csv)"
            )
        if column not in columns:
            columns.append(column)
    return columns


def _add_studies(result: AnalysisResult, group_by: Sequence[str], n_boot: int, seed: int) -> None:
    """Breakdowns, comparisons, attack and provenance (pure functions, issues 10 and 12)."""
    from refusal_stability.analysis import attack, comparisons, groups, provenance

    per_prompt, frame = result.per_prompt, result.frame
    assert frame is not None
    info = result.prompts
    groupings = [c for c in ("category", "source") if info is not None and c in info and info[c].notna().any()]
    groupings += [c for c in group_by if c not in groupings]
    result.by_group = groups.by_group(per_prompt, info, groupings) if groupings else None
    if groupings:
        result.statistics["kruskal_wallis"] = groups.kruskal_by_group(per_prompt, info, groupings)
    result.comparisons = comparisons.compare_runs(per_prompt, n_boot=n_boot, seed=seed)
    result.resample_attack = attack.resample_attack(per_prompt)
    result.per_model = result.per_model.merge(attack.attack_summary(per_prompt), on="model", how="left")
    origins = [
        provenance.provenance(rows, str(judge))
        for judge, rows in frame.groupby("judge", sort=True, observed=True)  # one selected judge per model
        if rows["response_hash"].notna().any()
    ]
    if origins:
        result.provenance = pd.concat(origins, ignore_index=True).sort_values(
            ["model", "temperature"], ignore_index=True
        )
        # replicates (``model (run 2)``) of one run are its re-runs: compare their texts under one name
        groups = _replicate_groups(frame["model"])
        rerun = provenance.rerun_text_change(frame.assign(model=groups))
        result.rerun_text_change = rerun if len(rerun) else None


def _replicate_groups(models: pd.Series) -> pd.Series:
    """``replicate_group`` of every row's run name (computed once per distinct name)."""
    if isinstance(models.dtype, pd.CategoricalDtype):
        names = np.array([replicate_group(str(c)) for c in models.cat.categories] + [np.nan], dtype=object)
        codes = models.cat.codes.to_numpy()
        return pd.Series(names[codes], index=models.index, name=models.name, dtype="str")
    return models.astype(str).map(replicate_group)


def safe_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas.

    Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a leading single quote,
    unless the whole cell is a plain number (e.g. a prompt id ``-5``); numeric columns are untouched.
    """
    out = table.copy()
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


def _out_dir(out: str | Path) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise AnalysisInputError(f"--out {path}: is an existing file; expected a directory (new or existing)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_tables(result: AnalysisResult, out_dir: Path) -> list[Path]:
    """Write the CSVs, statistics.json and (with several judges) agreement.json; return the paths."""
    out_dir = _out_dir(out_dir)
    written = []
    for name, table in result.tables().items():
        path = out_dir / name
        safe_csv_frame(table).to_csv(path, index=False)
        written.append(path)
    path = out_dir / "statistics.json"
    path.write_text(json.dumps(result.statistics, indent=2, default=_json_safe))
    written.append(path)
    agreement = out_dir / "agreement.json"
    if result.agreement is not None:
        agreement.write_text(json.dumps(result.agreement, indent=2))
        written.append(agreement)
    elif agreement.exists():
        agreement.unlink()  # stale file from an earlier run with two judges
    return written
