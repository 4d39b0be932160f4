"""The comparison of the conditions: per prompt, do the text and the label differ from the reference?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from refusal_stability.probe.records import ConditionRun, Outcome, ProbePrompt

__all__ = ["compare"]


def compare(prompts: Sequence[ProbePrompt], runs: Sequence[ConditionRun]) -> dict[str, Any]:
    """Per-prompt comparison of the conditions and the summary (the content of ``probe.json``).

    A prompt is compared when it has an answer under every condition; a prompt with a failed request is
    listed with its errors and left out of every share (never counted as stable). The reference is the
    first condition.

    Returns:
        ``{"summary": ..., "conditions": [...], "prompts": [...]}``.
    """
    reference = runs[0].name
    rows: list[dict[str, Any]] = []
    n_compared = n_text = n_label = 0
    per_condition = {run.name: {"n_text_differs": 0, "n_label_differs": 0} for run in runs[1:]}
    for item in prompts:
        outcomes = {run.name: run.outcomes.get(item.prompt_id, Outcome(error="no answer recorded")) for run in runs}
        errors = {name: o.error for name, o in outcomes.items() if o.error is not None}
        row: dict[str, Any] = {
            "prompt_id": item.prompt_id,
            "category": item.category,
            "source": item.source,
            "conditions": {name: asdict(o) for name, o in outcomes.items()},
        }
        if errors:
            row |= {"compared": False, "errors": errors, "text_differs": None, "label_differs": None}
            rows.append(row)
            continue
        hashes = {o.response_hash for o in outcomes.values()}
        labels = {o.label for o in outcomes.values()}
        text_differs, label_differs = len(hashes) > 1, len(labels) > 1
        n_compared += 1
        n_text += text_differs
        n_label += label_differs
        base = outcomes[reference]
        for run in runs[1:]:
            other = outcomes[run.name]
            per_condition[run.name]["n_text_differs"] += other.response_hash != base.response_hash
            per_condition[run.name]["n_label_differs"] += other.label != base.label
        row |= {
            "compared": True,
            "text_differs": text_differs,
            "n_distinct_texts": len(hashes),
            "label_differs": label_differs,
            "labels": sorted(str(label) for label in labels),
        }
        rows.append(row)

    def share(count: int) -> float | None:
        return count / n_compared if n_compared else None

    summary = {
        "n_prompts": len(prompts),
        "n_compared": n_compared,
        "n_errors": len(prompts) - n_compared,
        "reference": reference,
        "n_text_differs": n_text,
        "text_differs_share": share(n_text),
        "n_label_differs": n_label,
        "label_differs_share": share(n_label),
        "vs_reference": {
            name: counts | {"text_differs_share": share(counts["n_text_differs"])}
            for name, counts in per_condition.items()
        },
    }
    conditions = [
        {key: value for key, value in asdict(run).items() if key != "outcomes"}
        | {"n_probe_errors": sum(o.error is not None for o in run.outcomes.values())}
        for run in runs
    ]
    return {"summary": summary, "conditions": conditions, "prompts": rows}
