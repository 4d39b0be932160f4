"""The report's over-refusal section: how a run treats benign controls, and what a user re-asking meets."""

from __future__ import annotations

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.findings_benign import reask_user_sentence
from refusal_stability.analysis.report_data import table_of
from refusal_stability.analysis.report_model import ReportInput, Section

__all__ = ["over_refusal_section"]

BENIGN_MODEL_COLUMNS = [
    "model",
    "n_benign_prompts",
    "over_refusal_pct",
    "over_refusal_any_pct",
    "over_refusal_flip_pct",
    "benign_mean_ssi",
]
BENIGN_HEADERS = {
    "n_benign_prompts": "Benign prompts",
    "over_refusal_pct": "Refused answers %",
    "over_refusal_any_pct": "Refused at least once %",
    "over_refusal_flip_pct": "Flipped %",
    "benign_mean_ssi": "Mean SSI",
}


def over_refusal_section(report: ReportInput) -> Section | None:
    """Over-refusal of benign controls per run, and the re-asking user's view (None without benign prompts)."""
    per_model = table_of(report.result, "per_model")
    if per_model is None or "n_benign_prompts" not in per_model or not (per_model["n_benign_prompts"] > 0).any():
        return None
    section = Section("over-refusal", "Over-refusal of benign controls")
    section.para(
        "Benign controls look dangerous but are safe: refusing one is the wrong decision. Over-refusal is the mean "
        "share of REFUSE answers per control; a control flipped when it received more than one label. Every other "
        "table of this report covers the harmful prompts only. Brackets are 95 % bootstrap CIs over prompts."
    )
    rows = per_model[per_model["n_benign_prompts"] > 0]
    section.add_table(fmt.table(rows, BENIGN_MODEL_COLUMNS, headers=BENIGN_HEADERS))
    within_k = table_of(report.result, "refused_within_k")
    if within_k is not None and {"model", "k", "any_refuse_pct"} <= set(within_k.columns):
        sentence = reask_user_sentence(report.result)
        if sentence:
            section.para(sentence)
        wide = within_k.pivot_table(index="model", columns="k", values="any_refuse_pct", sort=False)
        wide.columns = [f"k={int(k)} %" for k in wide.columns]
        section.add_table(fmt.table(wide.reset_index()), caption="Benign prompts refused at least once in k asks")
    return section
