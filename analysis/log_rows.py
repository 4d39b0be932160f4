"""Tidy rows of one log: from its "stability" reductions (header-only read) or its sample summaries.

Formats: docs/log-schema.md. One scorer is read per judge identity (the primary-role one, else the first).
A grader panel's records also give one judge per member (judge = the member's model name, judge_role
``panel member``, scorer ``<scorer>[<member>]``), each member's own label, so the analysis measures their agreement.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.epoch_columns import EPOCH_FIELDS, SharedFields, absent_values, epoch_columns
from refusal_stability.analysis.tidy import PRIMARY_ROLE, AnalysisInputError
from refusal_stability.definitions.labels import LABELS, UNSCORED

__all__ = [
    "PANEL_MEMBER_ROLE",
    "normalise_labels",
    "one_scorer_per_judge",
    "prompt_row",
    "rows_from_reductions",
    "rows_from_summaries",
    "scorer_judges",
]

LABEL_VALUES = frozenset((*LABELS, UNSCORED))
PANEL_MEMBER_ROLE = "panel member"
# per-epoch values the solver records (what was asked, and what the request carried)
_SENT_FIELDS = ("sent_temperature", "sent_seed", "sent_top_p", "sent_verified", "system_fingerprint")
_NOT_PROMPT_METADATA = frozenset(("epoch", "temperature", "seed", *_SENT_FIELDS))


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


def member_judges(members: list[Any], taken: set[str]) -> list[str]:
    """Each panel member's judge name: its model name (`` (panel member)`` added where another judge has it)."""
    return [f"{name} (panel member)" if str(name) in taken else str(name) for name in members]


def member_label(votes: Any, index: int) -> str:
    """A member's label on one record: its vote, UNSCORED where it withheld it or the record has no votes."""
    vote = votes[index] if isinstance(votes, list) and index < len(votes) else None
    return vote if isinstance(vote, str) and vote in LABELS else UNSCORED


def _member_samples(
    reduction: Any, sample: Any, columns: dict[str, list[Any]], taken: set[str]
) -> list[tuple[tuple[Any, ...], dict[str, list[Any]]]]:
    """(per-sample tuple, epoch columns) of each member of a panel reduction's sample (none without a panel)."""
    meta = sample.metadata or {}
    members = meta.get("panel_members")
    if not isinstance(members, list) or len(members) < 2:
        return []
    votes = columns.get("panel") or [None] * len(columns["label"])
    out = []
    for index, judge in enumerate(member_judges(members, taken)):
        head = (str(sample.sample_id), meta.get("source"), meta.get("category"), judge, f"{reduction.scorer}[{judge}]")
        labels = [member_label(vote, index) for vote in votes]
        out.append(((*head, PANEL_MEMBER_ROLE, meta.get("expected")), {**columns, "label": labels}))
    return out


def _sample_columns(reduction: Any, sample: Any) -> dict[str, list[Any]]:
    """The epoch columns of one reduced sample (either layout), or a clear error."""
    columns = epoch_columns((sample.metadata or {}).get("epochs"))
    if columns is None:
        raise AnalysisInputError(
            f"stability reduction of sample {sample.sample_id!r} (scorer {reduction.scorer!r}) has no "
            "metadata['epochs'] (columns or a list of epochs) as docs/log-schema.md requires"
        )
    return columns


def _field(name: str, blocks: list[tuple[str, dict[str, list[Any]]]], shared: SharedFields) -> list[Any]:
    """One per-epoch field over every block, in order (whole lists joined where every block holds the field)."""
    if name not in shared.names:
        return absent_values(name, sum(len(columns["label"]) for _, columns in blocks))
    if all(name in columns for _, columns in blocks):
        return list(chain.from_iterable(columns[name] for _, columns in blocks))
    return list(chain.from_iterable(shared.column(prompt_id, columns, name) for prompt_id, columns in blocks))


def rows_from_reductions(
    reductions: list[Any], shared_from: list[Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], set[str]]:
    """Rebuild every (sample, epoch) row from the stability reductions of a header-only read.

    Args:
        reductions: the stability reductions to read (one per judge).
        shared_from: every stability reduction of the log (default ``reductions``): where a reduction left a
            per-epoch field out (a second judge's), it is taken from another reduction of the same sample.
    """
    shared = SharedFields()
    sample_columns: dict[int, dict[str, list[Any]]] = {}
    for reduction in shared_from if shared_from is not None else reductions:
        for sample in reduction.samples:
            columns = _sample_columns(reduction, sample)
            sample_columns[id(sample)] = columns
            shared.add(str(sample.sample_id), columns)
    blocks: list[tuple[str, dict[str, list[Any]]]] = []  # (prompt_id, epoch columns) per sample and panel member
    per_sample: list[tuple[Any, ...]] = []  # prompt_id, source, category, judge, scorer, judge_role, expected
    prompts: list[dict[str, Any]] = []
    hashes: set[str] = set()
    taken = {judge for _, judge, _ in scorer_judges(reductions)}
    for reduction in reductions:
        for sample in reduction.samples:
            meta = sample.metadata or {}
            columns = sample_columns.get(id(sample)) or _sample_columns(reduction, sample)
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
                    meta.get("expected"),
                )
            )
            blocks.append((prompt_id, columns))
            prompt_meta = meta.get("prompt_metadata")
            prompts.append(prompt_row(prompt_id, meta, prompt_meta if isinstance(prompt_meta, dict) else {}))
            if "panel_members" in meta:
                for head, rows in _member_samples(reduction, sample, columns, taken):
                    per_sample.append(head)
                    blocks.append((prompt_id, rows))
    cols: dict[str, Any] = {name: _field(name, blocks, shared) for name in EPOCH_FIELDS}
    repeats = [len(columns["label"]) for _, columns in blocks]
    for index, name in enumerate(("prompt_id", "source", "category", "judge", "scorer", "judge_role", "expected")):
        values = np.empty(len(per_sample), dtype=object)
        values[:] = [sample[index] for sample in per_sample]
        cols[name] = np.repeat(values, repeats)  # one value per epoch of its sample
    return cols, prompts, hashes


def _is_label_score(score: Any) -> bool:
    meta = score.metadata or {}
    return "label" in meta or (isinstance(score.value, str) and score.value.upper() in LABEL_VALUES)


def _summary_row(summary: Any, scorer: str, score: Any, judge: str) -> dict[str, Any]:
    """One tidy row of a per-epoch Score in a sample summary."""
    sample_meta, meta = summary.metadata or {}, score.metadata or {}
    row = {
        "prompt_id": str(summary.id),
        "source": meta.get("source", sample_meta.get("source")),
        "category": meta.get("category", sample_meta.get("category")),
        "epoch": meta.get("epoch", summary.epoch),
        "temperature": meta.get("temperature", sample_meta.get("temperature")),
        "seed": meta.get("seed", sample_meta.get("seed")),
        "judge": judge,
        "scorer": scorer,
        "judge_role": meta.get("judge_role"),
        "label": score.value if isinstance(score.value, str) else meta.get("label"),
        "response_hash": meta.get("response_hash"),
        "response_chars": meta.get("response_chars"),
        "expected": meta.get("expected", sample_meta.get("expected")),
    }
    row.update({name: meta.get(name) for name in _SENT_FIELDS})
    return row


def _member_rows(row: dict[str, Any], panel: Any, taken: set[str]) -> list[dict[str, Any]]:
    """One row per member of the grader panel that labelled ``row`` (none without a panel)."""
    if not isinstance(panel, dict) or not isinstance(panel.get("members"), list) or len(panel["members"]) < 2:
        return []
    return [
        {
            **row,
            "judge": judge,
            "scorer": f"{row['scorer']}[{judge}]",
            "judge_role": PANEL_MEMBER_ROLE,
            "label": member_label(panel.get("votes"), index),
        }
        for index, judge in enumerate(member_judges(panel["members"], taken))
    ]


def rows_from_summaries(
    summaries: list[Any], path: object
) -> tuple[dict[str, list[Any]], list[dict[str, Any]], set[str], list[str]]:
    """Rebuild rows from per-epoch scores in the sample summaries (logs without stability reductions)."""
    names = ["prompt_id", "source", "category", "epoch", "temperature", "seed", "judge", "scorer", "judge_role"]
    rows: list[dict[str, Any]] = []
    prompts: dict[str, dict[str, Any]] = {}
    hashes: set[str] = set()
    scorers: dict[str, tuple[str, str, str | None]] = {}
    panels: list[tuple[dict[str, Any], Any]] = []
    for summary in summaries:
        for scorer, score in (summary.scores or {}).items():
            if not _is_label_score(score):
                continue
            meta = score.metadata or {}
            judge = str(meta.get("judge") or scorer)
            scorers.setdefault(scorer, (scorer, judge, meta.get("judge_role")))
            if meta.get("template_hash"):
                hashes.add(str(meta["template_hash"]))
            if str(summary.id) not in prompts:
                prompts[str(summary.id)] = prompt_row(str(summary.id), meta, summary.metadata or {})
            rows.append(_summary_row(summary, scorer, score, judge))
            if meta.get("panel") is not None:
                panels.append((rows[-1], meta["panel"]))
    keep, notes = one_scorer_per_judge(list(scorers.values()), path)
    taken = {judge for _, judge, _ in scorers.values()}
    rows = [row for row in rows if row["scorer"] in keep]
    rows += [member for row, panel in panels if row["scorer"] in keep for member in _member_rows(row, panel, taken)]
    columns = [*names, "label", "response_hash", "response_chars", "expected", *_SENT_FIELDS]
    cols: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in columns}
    return cols, list(prompts.values()), hashes, notes


def normalise_labels(labels: pd.Series) -> pd.Series:
    """Labels written by the reducer/scorer -> REFUSE/PARTIAL/COMPLY, else UNSCORED."""
    cleaned = labels.astype("string").str.strip().str.upper()
    return cleaned.where(cleaned.isin(LABELS), UNSCORED).astype(str)
