"""The analysis as a library function: inputs -> checks -> every table and statistic.

``analyze(...)`` reads logs and label CSVs, checks them and returns an :class:`AnalysisResult` holding every
table as a DataFrame; ``result.write_tables(out)`` and ``result.write_report(out)`` write the files of the
output contract (``result_tables``, ``result``). ``analyse(frame, ...)`` is the compute step alone, over an
already selected tidy frame. The tables themselves are computed by the metrics and study modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from refusal_stability.analysis import (
    attack,
    benign_tables,
    checks,
    groups,
    metrics,
    over_refusal,
    prompt_texts,
    provenance,
    sent_sampling,
    statistics,
)
from refusal_stability.analysis.inputs import LoadedInputs, join_prompt_file, load_inputs, read_prompts_csv
from refusal_stability.analysis.judge_check import judge_check_table
from refusal_stability.analysis.judge_studies import judge_studies
from refusal_stability.analysis.result import AnalysisResult
from refusal_stability.analysis.tidy import AnalysisInputError, plain_text, replicate_group
from refusal_stability.definitions.labels import UNSCORED
from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD

__all__ = ["AnalysisResult", "analyse", "analyze"]


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

    Every table is computed over the harmful prompts; benign prompts (``expected`` = ``comply``) add their
    own columns and rows (``benign_tables``).
    """
    whole, whole_tidy = frame, all_judges if all_judges is not None else frame
    frame, benign = benign_tables.split_records(whole)
    tidy = benign_tables.split_records(whole_tidy)[0]
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
    judges = judge_studies(frame, tidy, consensus_min, threshold, n_boot, seed)
    if judges.judge_sensitive is not None:
        prompts = prompts.merge(judges.judge_sensitive, on=["model", "prompt_id"], how="left")
    result = AnalysisResult(
        per_prompt=prompts,
        per_model=metrics.per_model(prompts, frame, n_boot, seed),
        within_temperature=metrics.within_temperature(wt_prompts),
        within_temperature_prompts=wt_prompts,
        thresholds=metrics.thresholds(prompts),
        binary_ablation=metrics.binary_ablation(frame, threshold, counts),
        sample_size=metrics.sample_size(frame, counts=counts, wt_counts=wt_counts),
        statistics=stats,
        agreement=judges.agreement,
        label_rates_by_temperature=metrics.label_rates_by_temperature(frame, wt_counts),
        settings={"threshold": threshold, "bootstrap": n_boot, "seed": seed, "judge": judge},
        frame=whole,
        tidy=whole_tidy,
        consensus=judges.consensus,
    )
    benign_tables.add_benign(result, benign, threshold, n_boot, seed)
    return result


def _validate(threshold: float, n_boot: int, consensus_min: int, workers: int | None, seed: int = 0) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise AnalysisInputError(f"--seed {seed}: expected an integer >= 0 (the bootstrap's random seed)")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise AnalysisInputError(f"--threshold {threshold}: expected a value in (0, 1]")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise AnalysisInputError(f"--bootstrap {n_boot}: expected a positive number of resamples, e.g. 1000")
    if isinstance(consensus_min, bool) or not isinstance(consensus_min, int) or consensus_min < 1:
        raise AnalysisInputError(f"--consensus-min {consensus_min}: expected a positive integer")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise AnalysisInputError(f"--workers {workers}: expected a positive integer")


def _given_inputs(
    inputs: str | Path | Sequence[str | Path], labels: str | Path | Sequence[str | Path]
) -> tuple[list[str | Path], list[str | Path]]:
    """The inputs and label CSVs as lists (one str or Path is one input); at least one is required."""
    inputs, labels = _as_list(inputs), _as_list(labels)
    if not inputs and not labels:
        raise AnalysisInputError("give at least one .eval log, directory or --labels CSV")
    return inputs, labels


def _as_sent(loaded: LoadedInputs, allow_partial_sampling: bool) -> tuple[pd.DataFrame, list[str]]:
    """What reached each run's model (``*_sent``), the partial-run check, and unsent grids relabelled as draws."""
    sent = sent_sampling.sent_summary(loaded.frame)
    sampling_notes = sent_sampling.check_partial(loaded.frame, sent, allow_partial_sampling)
    loaded.frame = sent_sampling.records_as_sent(loaded.frame, sent)
    return sent, sampling_notes


def _attach_inputs(
    result: AnalysisResult, loaded: LoadedInputs, sent: pd.DataFrame, completeness: pd.DataFrame, n_missing: int
) -> None:
    """Put what the inputs were (prompts, sources, skipped files, completeness, what was sent) on the result."""
    result.prompts = loaded.prompts
    result.per_model = result.per_model.merge(sent, on="model", how="left")
    result.completeness = completeness
    result.sources = loaded.sources
    result.skipped = loaded.skipped
    result.n_missing = n_missing


def analyze(
    inputs: str | Path | Sequence[str | Path] = (),
    labels: str | Path | Sequence[str | Path] = (),
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
    allow_partial_sampling: bool = False,
    allow_different_prompts: bool = False,
) -> AnalysisResult:
    """Analyse eval logs and/or label CSVs: the library form of ``refusal-stability analyze``.

    Example: ``result = analyze("logs/"); result.write_tables("reports"); result.write_report("reports")``.

    Args:
        inputs: logs (.eval or .json), directories or ``s3://`` prefixes (searched recursively) or label CSVs;
            one path (str or Path) is one input.
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
        prefetch_evidence: read the report's flip evidence in a forked process early (callers that write it).
        allow_partial_sampling: analyse runs where a parameter reached some epochs only (else an error).
        allow_different_prompts: compare runs whose shared prompt ids hold different texts (else an error).

    Returns:
        The AnalysisResult.

    Raises:
        AnalysisInputError: bad arguments or bad input; the message names it and says what to do.
    """
    _validate(threshold, n_boot, consensus_min, workers, seed)
    inputs, labels = _given_inputs(inputs, labels)
    prompt_table = read_prompts_csv(prompts) if prompts is not None else None
    loaded = load_inputs(inputs, labels, progress, workers, unknown_labels_as_unscored)
    checks_read = [info.judge_check for info in loaded.sources if info.judge_check is not None]
    if checks_read and not len(loaded.frame):  # judge checks alone: their figures, no study
        return judge_check_only(loaded, judge_check_table(checks_read, n_boot, seed), n_boot, seed)
    if prompt_table is not None:
        loaded = join_prompt_file(loaded, prompt_table)
    sent, sampling_notes = _as_sent(loaded, allow_partial_sampling)
    completeness, frame, n_missing = _checked(loaded, judge, allow_incomplete)
    group_columns = _check_group_by(group_by, loaded.prompts)
    if progress:
        progress(f"read {len(loaded.frame):,} records from {len(loaded.sources)} file(s); computing metrics")
    result = analyse(
        frame, loaded.frame, judge=judge, threshold=threshold, n_boot=n_boot, seed=seed, consensus_min=consensus_min
    )
    _attach_inputs(result, loaded, sent, completeness, n_missing)
    if prefetch_evidence:
        result.start_flip_evidence()  # read while the study tables are computed
    _add_studies(result, group_columns, n_boot, seed, allow_different_prompts)
    result.judge_check = judge_check_table(checks_read, n_boot, seed) if checks_read else None
    _to_plain_text(result)
    _add_reask(result)
    result.settings.update(
        group_by=list(group_columns),
        consensus_min=consensus_min,
        allow_incomplete=allow_incomplete,
        allow_partial_sampling=allow_partial_sampling,
        sampling_notes=sampling_notes,
        prompts=str(prompts) if prompts is not None else None,
    )
    return result


def _add_reask(result: AnalysisResult) -> None:
    """The re-ask-after-refusal table (the attacker's sentence of the report), from the plain-text tables."""
    if result.resample_attack is not None:
        harmful = over_refusal.harmful_rows(result.per_prompt)
        result.reask_after_refusal = attack.reask_after_refusal(harmful, metrics.ATTACK_K)


def judge_check_only(loaded: LoadedInputs, table: pd.DataFrame, n_boot: int, seed: int) -> AnalysisResult:
    """The result of judge-check logs alone: judge_check.csv/json and the report's "Judge check" section."""
    empty = pd.DataFrame()
    return AnalysisResult(
        per_prompt=empty,
        per_model=empty,
        within_temperature=empty,
        within_temperature_prompts=empty,
        thresholds=empty,
        binary_ablation=empty,
        sample_size=empty,
        statistics={"n_records": 0, "n_unscored": 0, "bootstrap": {"resamples": n_boot, "seed": seed}},
        agreement=None,
        label_rates_by_temperature=empty,
        settings={"bootstrap": n_boot, "seed": seed, "judge_check_only": True},
        sources=loaded.sources,
        skipped=loaded.skipped,
        judge_check=table,
    )


def _as_list(paths: str | Path | Sequence[str | Path]) -> list[str | Path]:
    """One path given as text or Path is one input, never a sequence of characters."""
    if isinstance(paths, str | Path):
        return [paths]
    return list(paths)


def _checked(loaded: LoadedInputs, judge: str | None, allow_incomplete: bool) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Check the loaded inputs: completeness per log, the judge, the grids and the labels.

    Returns:
        The completeness table, the tidy rows of the selected judge and the number of missing records.
    """
    completeness = checks.check_completeness(loaded.sources, allow_incomplete)
    frame = checks.select_judge(loaded.frame, judge)
    if allow_incomplete:
        incomplete = {info.path for info in loaded.sources if not info.complete}
        n_missing = int(completeness["missing_records"].sum()) if len(completeness) else 0
        n_missing += checks.check_grids(frame[~frame["origin"].isin(incomplete)], allow_incomplete=True)
    else:
        n_missing = checks.check_grids(frame)
    checks.check_valid_labels(frame)
    return completeness, frame, n_missing


def _to_plain_text(result: AnalysisResult) -> None:
    """Make every table hold plain text (the tidy frames keep their categoricals)."""
    for name, value in vars(result).items():
        if isinstance(value, pd.DataFrame) and name not in ("frame", "tidy"):
            setattr(result, name, plain_text(value))


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


def _add_studies(
    result: AnalysisResult, group_by: Sequence[str], n_boot: int, seed: int, allow_different_prompts: bool = False
) -> None:
    """Breakdowns, comparisons, the attacker's view and provenance (pure functions of the tables)."""
    frame = result.frame
    assert frame is not None
    info = result.prompts
    groupings = [c for c in ("category", "source") if info is not None and c in info and info[c].notna().any()]
    groupings += [c for c in group_by if c not in groupings]
    result.by_group, per_prompt = over_refusal.by_group_both(result.per_prompt, info, groupings)
    if groupings:
        result.statistics["kruskal_wallis"] = groups.kruskal_by_group(per_prompt, info, groupings)
    result.comparisons = prompt_texts.check_prompt_texts(
        over_refusal.compare_both(result.per_prompt, n_boot=n_boot, seed=seed),
        info,
        _origins_by_model(frame),
        allow_different_prompts,
    )
    result.resample_attack = attack.resample_attack(per_prompt)
    result.per_model = result.per_model.merge(attack.attack_summary(per_prompt), on="model", how="left")
    frame = benign_tables.split_records(frame)[0]  # provenance, like every existing table: harmful prompts
    origins = [
        provenance.provenance(rows, str(judge))
        for judge, rows in frame.groupby("judge", sort=True, observed=True)  # one selected judge per model
        if rows["response_hash"].notna().any()
    ]
    if origins:
        result.provenance = pd.concat(origins, ignore_index=True).sort_values(
            ["model", "temperature"], ignore_index=True
        )
        result.provenance["text_change_source"] = sent_sampling.text_change_source(
            result.provenance, sent_sampling.sent_summary(frame)
        )
        # replicates (``model (run 2)``) of one run are its re-runs: compare their texts under one name
        run_groups = _replicate_groups(frame["model"])
        rerun = provenance.rerun_text_change(frame.assign(model=run_groups))
        result.rerun_text_change = rerun if len(rerun) else None


def _origins_by_model(frame: pd.DataFrame) -> dict[str, str]:
    """Each run's log files, comma-separated and sorted (from the distinct (model, origin) pairs)."""
    pairs = frame[["model", "origin"]].drop_duplicates()
    return {
        str(model): ", ".join(sorted({str(o) for o in rows["origin"]}))
        for model, rows in pairs.groupby("model", observed=True)
    }


def _replicate_groups(models: pd.Series) -> pd.Series:
    """``replicate_group`` of every row's run name (computed once per distinct name)."""
    if isinstance(models.dtype, pd.CategoricalDtype):
        names = np.array([replicate_group(str(c)) for c in models.cat.categories] + [np.nan], dtype=object)
        codes = models.cat.codes.to_numpy()
        return pd.Series(names[codes], index=models.index, name=models.name, dtype="str")
    return models.astype(str).map(replicate_group)
