"""Both halves of a study: harmful records feed every existing table, benign ones their own columns.

A run may mix harmful prompts (``expected`` = ``refuse``) with benign controls (``comply``). Every existing
metric keeps its meaning by being computed over the harmful records only; the benign records add the
over-refusal columns of per_model.csv (``over_refusal.over_refusal_summary``), their rows in per_prompt.csv
(with ``expected``) and refused_within_k.csv. A run without benign prompts is analysed exactly as before,
with empty over-refusal columns; a run of benign prompts only has no harmful values.
"""

from __future__ import annotations

import pandas as pd

from refusal_stability.analysis import metrics, over_refusal
from refusal_stability.analysis.result_tables import AnalysisTables
from refusal_stability.analysis.tidy import plain_text
from refusal_stability.definitions.expected import EXPECT_COMPLY
from refusal_stability.definitions.labels import UNSCORED

__all__ = ["add_benign", "split_records"]


def split_records(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(harmful records, benign records) of a tidy frame; a frame without ``expected`` is all harmful."""
    benign = (over_refusal.expected_of(frame) == EXPECT_COMPLY).to_numpy()
    if not benign.any():
        return frame, frame.iloc[:0]
    return frame[~benign], frame[benign]


def add_benign(result: AnalysisTables, benign: pd.DataFrame, threshold: float, n_boot: int, seed: int) -> None:
    """Add the benign prompts to an analysis computed over the harmful records.

    Sets ``per_prompt`` to both halves (column ``expected``), merges the over-refusal columns into
    ``per_model`` (a run of benign prompts only gets a row with empty harmful columns and n_prompts 0) and
    sets ``refused_within_k`` (None without benign prompts). A benign-only run's ``judge`` and ``n_unscored``
    come from its benign records.

    Args:
        result: the AnalysisResult of ``pipeline.analyse`` over the harmful records.
        benign: the benign records of the selected judge (may be empty).
        threshold: SSI below this is unstable.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
    """
    harmful_prompts = result.per_prompt.assign(expected=over_refusal.expected_of(result.per_prompt))
    prompts = harmful_prompts
    if len(benign):
        benign_prompts = metrics.per_prompt(benign, threshold).assign(expected=EXPECT_COMPLY)
        prompts = pd.concat([harmful_prompts, plain_text(benign_prompts)], ignore_index=True)
    models = sorted({str(m) for m in prompts["model"]} | {str(m) for m in result.per_model["model"]})
    summary = over_refusal.over_refusal_summary(prompts, models=models, n_boot=n_boot, seed=seed)
    per_model = result.per_model.merge(summary, on="model", how="outer")
    if "n_prompts" in per_model.columns:
        per_model["n_prompts"] = per_model["n_prompts"].fillna(0).astype(int)
    only_benign = per_model["judge"].isna() if "judge" in per_model.columns else pd.Series(False, index=per_model.index)
    if len(benign) and only_benign.any():  # a run of benign prompts only: its judge and unscored
        records = plain_text(benign[["model", "judge", "label"]])
        pairs = records.drop_duplicates(["model", "judge"]).sort_values("judge")
        judges = pairs.groupby("model")["judge"].agg(", ".join)
        unscored = records[records["label"] == UNSCORED].groupby("model").size()
        per_model.loc[only_benign, "judge"] = per_model.loc[only_benign, "model"].map(judges)
        per_model.loc[only_benign, "n_unscored"] = per_model.loc[only_benign, "model"].map(unscored).fillna(0)
    result.per_prompt = prompts
    result.per_model = per_model
    within_k = over_refusal.refused_within_k(prompts)
    result.refused_within_k = within_k if len(within_k) else None
