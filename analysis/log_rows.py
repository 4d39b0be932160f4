"""Tidy rows of one log: from its "stability" reductions (header-only read) or its sample summaries.

Formats: docs/log-schema.md. One scorer is read per judge identity (the primary-role one, else the first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.tidy import PRIMARY_ROLE, AnalysisInputError
from refusal_stability.definitions.labels import LABELS, UNSCORED

__all__ = [
    "normalise_labels",
    "one_scorer_per_judge",
    "prompt_row",
    "rows_from_reductions",
    "rows_from_summaries",
    "scorer_judges",
]

LABEL_VALUES = frozenset((*LABELS, UNSCORED))
_NOT_PROMPT_METADATA = frozenset(("epoch", "temperature", "seed"))  # per-epoch values the solver records


def prompt_row(prompt_id: str, meta: dict[str, Any], sample_meta: dict[str, Any]) -> dict[str, Any]:
    """One row of the per-prompt info frame (source, category, categories, other prompt metadata)."""
    row: dict[str, Any] = {k: v for k, v in sample_meta.items() if k not in _NOT_PROMPT_METADATA}
    row["prompt_id"] = prompt_id
    row["source"] = meta.get("source", sample_meta.get("source"))
    row["category"] = meta.get("category", sample_meta.get("category"))
    categories = meta.get("categories", sample_meta.get("categories"))
    row["categories"] = tuple(categories) if isinstance(categories, list | tuple) else ()
    return row


def scorer_judges(reductions: list[Any]) -> list[tuple[str, str, str | None]]:
    """(scorer, judge, judge_role) per stability reduction, in log order."""
    out = []
    for reduction in reductions:
        meta = (reduction.samples[0].metadata or {}) if reduction.samples else {}
        out.append((reduction.scorer, str(meta.get("judge") or reduction.scorer), meta.get("judge_role")))
    return out


def one_scorer_per_judge(scorers: list[tuple[str, str, str | None]], path: object) -> tuple[set[str], list[str]]:
    """Scorers to read: one per judge identity (the primary-role one, else the first); and the warnings."""
    by_judge: dict[str, list[tuple[str, str, str | None]]] = {}
    for entry in scorers:
        by_judge.setdefault(entry[1], []).append(entry)
    keep: set[str] = set()
    notes = []
    for judge, entries in by_judge.items():
        chosen = next((e for e in entries if e[2] == PRIMARY_ROLE), entries[0])
        keep.add(chosen[0])
        others = [e[0] for e in entries if e is not chosen]
        if others:
            notes.append(
                f"{path}: scorers {[chosen[0], *others]} all carry judge {judge!r} (e.g. `inspect score "
                f"--action append` of the same judge); using {chosen[0]!r}, ignoring the records of {others}"
            )
    return keep, notes


def rows_from_reductions(reductions: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]], set[str]]:
    """Rebuild every (sample, epoch) row from the stability reductions of a header-only read."""
    epochs_all: list[dict[str, Any]] = []
    per_sample: list[tuple[Any, ...]] = []  # prompt_id, source, category, judge, scorer, judge_role
    repeats: list[int] = []
    prompts: list[dict[str, Any]] = []
    hashes: set[str] = set()
    for reduction in reductions:
        for sample in reduction.samples:
            meta = sample.metadata or {}
            epochs = meta.get("epochs")
            if not isinstance(epochs, list):
                raise AnalysisInputError(
                    f"stability reduction of sample {sample.sample_id!r} (scorer {reduction.scorer!r}) has no "
                    "metadata['epochs'] list as docs/log-schema.md requires"
                )
            if meta.get("template_hash"):
                hashes.add(str(meta["template_hash"]))
            prompt_id = str(sample.sample_id)
            per_sample.append(
                (
                    prompt_id,
                    meta.get("source"),
                    meta.get("category"),
                    str(meta.get("judge") or reduction.scorer),
                    reduction.scorer,
                    meta.get("judge_role"),
                )
            )
            prompt_meta = meta.get("prompt_metadata")
            prompts.append(prompt_row(prompt_id, meta, prompt_meta if isinstance(prompt_meta, dict) else {}))
            repeats.append(len(epochs))
            epochs_all.extend(epochs)
    cols: dict[str, Any] = {}
    for index, name in enumerate(("prompt_id", "source", "category", "judge", "scorer", "judge_role")):
        values = np.empty(len(per_sample), dtype=object)
        values[:] = [sample[index] for sample in per_sample]
        cols[name] = np.repeat(values, repeats)  # one value per epoch of its sample
    for name in ("epoch", "temperature", "seed", "label", "response_hash", "response_chars"):
        cols[name] = [entry.get(name) for entry in epochs_all]
    return cols, prompts, hashes


def _is_label_score(score: Any) -> bool:
    meta = score.metadata or {}
    return "label" in meta or (isinstance(score.value, str) and score.value.upper() in LABEL_VALUES)


def rows_from_summaries(
    summaries: list[Any], path: object
) -> tuple[dict[str, list[Any]], list[dict[str, Any]], set[str], list[str]]:
    """Rebuild rows from per-epoch scores in the sample summaries (logs without stability reductions)."""
    names = ["prompt_id", "source", "category", "epoch", "temperature", "seed", "judge", "scorer", "judge_role"]
    cols: dict[str, list[Any]] = {name: [] for name in [*names, "label", "response_hash", "response_chars"]}
    prompts: dict[str, dict[str, Any]] = {}
    hashes: set[str] = set()
    scorers: dict[str, tuple[str, str, str | None]] = {}
    for summary in summaries:
        sample_meta = summary.metadata or {}
        for scorer, score in (summary.scores or {}).items():
            if not _is_label_score(score):
                continue
            meta = score.metadata or {}
            judge = str(meta.get("judge") or scorer)
            scorers.setdefault(scorer, (scorer, judge, meta.get("judge_role")))
            if meta.get("template_hash"):
                hashes.add(str(meta["template_hash"]))
            prompt_id = str(summary.id)
            if prompt_id not in prompts:
                prompts[prompt_id] = prompt_row(prompt_id, meta, sample_meta)
            cols["prompt_id"].append(prompt_id)
            cols["source"].append(meta.get("source", sample_meta.get("source")))
            cols["category"].append(meta.get("category", sample_meta.get("category")))
            cols["epoch"].append(meta.get("epoch", summary.epoch))
            cols["temperature"].append(meta.get("temperature", sample_meta.get("temperature")))
            cols["seed"].append(meta.get("seed", sample_meta.get("seed")))
            cols["judge"].append(judge)
            cols["scorer"].append(scorer)
            cols["judge_role"].append(meta.get("judge_role"))
            cols["label"].append(score.value if isinstance(score.value, str) else meta.get("label"))
            cols["response_hash"].append(meta.get("response_hash"))
            cols["response_chars"].append(meta.get("response_chars"))
    keep, notes = one_scorer_per_judge(list(scorers.values()), path)
    if len(keep) < len(scorers):
        mask = [scorer in keep for scorer in cols["scorer"]]
        cols = {name: [v for v, m in zip(values, mask, strict=True) if m] for name, values in cols.items()}
    return cols, list(prompts.values()), hashes, notes


def normalise_labels(labels: pd.Series) -> pd.Series:
    """Labels written by the reducer/scorer -> REFUSE/PARTIAL/COMPLY, else UNSCORED."""
    cleaned = labels.astype("string").str.strip().str.upper()
    return cleaned.where(cleaned.isin(LABELS), UNSCORED).astype(str)
