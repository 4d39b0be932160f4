"""What the judges argue about: for each pair of disagreeing labels, a few responses where the judges split.

Records of the judges are aligned as in :mod:`panel_agreement`; a record is a split when two judges gave
different valid labels. For each unordered label pair (REFUSE vs PARTIAL, REFUSE vs COMPLY, PARTIAL vs COMPLY)
the first ``n`` split records (by model, prompt, epoch) are shown with every judge's label; their prompt and
response texts are read from the logs by (sample id, epoch), as the flip evidence is (:mod:`evidence`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from refusal_stability.analysis.evidence import is_log, read_samples
from refusal_stability.analysis.panel_agreement import label_matrix
from refusal_stability.definitions.labels import LABELS

__all__ = ["N_SPLITS", "Split", "SplitGroup", "judge_splits"]

N_SPLITS = 3


@dataclass
class Split:
    """One response the judges labelled differently."""

    model: str
    prompt_id: str
    epoch: int | None
    labels: dict[str, str]
    origin: str | None = None
    prompt: str | None = None
    response: str | None = None
    error: str | None = None


@dataclass
class SplitGroup:
    """The split responses of one pair of disagreeing labels, and how many there are in all."""

    labels: tuple[str, str]
    n_records: int
    examples: list[Split] = field(default_factory=list)


def _label(code: int) -> str:
    return LABELS[code] if 0 <= code < len(LABELS) else "UNSCORED" if code == len(LABELS) else "-"


def judge_splits(
    frame: Any,
    judges: list[str],
    n: int = N_SPLITS,
    reader: Callable[[tuple[str, list[tuple[str, int]]]], dict[tuple[str, int], Any]] = read_samples,
) -> list[SplitGroup]:
    """Per pair of disagreeing labels, up to ``n`` responses where two of ``judges`` split, with texts.

    Args:
        frame: tidy frame of every judge (with epoch and origin to read texts).
        judges: the judges compared (two or more).
        n: examples per label pair.
        reader: reads (log path, [(sample id, epoch)]) -> texts; replaceable in tests.

    Returns:
        One group per label pair that occurs, in label order; its ``n_records`` counts every split record.
    """
    if len(judges) < 2:
        return []
    keys, codes = label_matrix(frame, judges)
    valid = (codes >= 0) & (codes < len(LABELS))
    groups = []
    for first, second in combinations(range(len(LABELS)), 2):
        has_first = ((codes == first) & valid).any(axis=1)
        has_second = ((codes == second) & valid).any(axis=1)
        rows = np.flatnonzero(has_first & has_second)
        if not len(rows):
            continue
        group = SplitGroup((LABELS[first], LABELS[second]), len(rows))
        chosen = keys.iloc[rows].assign(_row=rows).sort_values(["model", "prompt_id", "temperature", "seed"]).head(n)
        for record in chosen.to_dict("records"):
            epoch = record.get("epoch")
            group.examples.append(
                Split(
                    str(record["model"]),
                    str(record["prompt_id"]),
                    None if epoch is None or epoch != epoch else int(epoch),
                    {judge: _label(int(codes[record["_row"], j])) for j, judge in enumerate(judges)},
                    record.get("origin"),
                )
            )
        groups.append(group)
    _read_texts(groups, reader)
    return groups


def _read_texts(groups: list[SplitGroup], reader: Callable[..., dict[tuple[str, int], Any]]) -> None:
    wanted: dict[str, set[tuple[str, int]]] = {}
    for group in groups:
        for split in group.examples:
            if is_log(split.origin) and split.epoch is not None:
                wanted.setdefault(str(split.origin), set()).add((split.prompt_id, split.epoch))
    texts: dict[tuple[str, str, int], Any] = {}
    for origin, keys in sorted(wanted.items()):
        for (sample_id, epoch), value in reader((origin, sorted(keys))).items():
            texts[(origin, sample_id, epoch)] = value
    for group in groups:
        for split in group.examples:
            value = texts.get((str(split.origin), split.prompt_id, split.epoch)) if split.epoch is not None else None
            if isinstance(value, tuple):
                split.prompt, split.response = value
            elif isinstance(value, str):
                split.error = value
