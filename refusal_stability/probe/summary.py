"""The printed summary of a probe result."""

from __future__ import annotations

from typing import Any

__all__ = ["summary_lines"]


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The printed summary of a probe result; the last line is ``batch_dependent_share=… label_change_share=…``."""
    s = result["summary"]
    n = s["n_compared"]

    def pct(count: int) -> str:
        return f"{count}/{n} prompts ({100 * count / n:.1f} %)" if n else f"{count}/0 prompts"

    lines = [f"greedy text depends on batch composition: {pct(s['n_text_differs'])}"]
    if s["vs_reference"]:
        parts = [f"{name} {c['n_text_differs']}/{n}" for name, c in s["vs_reference"].items()]
        lines.append(f"  differs from {s['reference']} (one request at a time, first condition): " + ", ".join(parts))
    among = f" ({s['n_label_differs']} of the {s['n_text_differs']} whose text changed)" if s["n_text_differs"] else ""
    lines.append(f"heuristic label changes with it: {pct(s['n_label_differs'])}{among}")
    if s["n_errors"]:
        lines.append(f"not compared (a probe request failed): {s['n_errors']} prompts; see 'errors' in probe.json")
    fillers = [c for c in result["conditions"] if c["filler_errors"]]
    for c in fillers:
        lines.append(
            f"warning: {c['filler_errors']} of {c['filler_requests']} filler requests failed under {c['name']}: "
            "its batches were thinner than planned"
        )

    def fmt(value: float | None) -> str:
        return "nan" if value is None else f"{value:.3f}"

    lines.append(
        f"batch_dependent_share={fmt(s['text_differs_share'])} label_change_share={fmt(s['label_differs_share'])}"
    )
    return lines


# ---------------------------------------------------------------------------------------------- CLI
