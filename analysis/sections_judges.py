"""Report sections of the judges: agreement with CIs, panels, what the judges argue about, and judge checks.

- :func:`judge_agreement_section`: every pair's agreement and Cohen's kappa with its 95 % CI, a panel's Fleiss'
  kappa and Krippendorff's alpha, consensus.csv, and per pair of disagreeing labels a few responses where the
  judges split (prompt, folded response, each judge's label; read from the logs like the flip evidence).
- :func:`judge_check_section`: judge_check.csv (the judge, each panel member and each ``label_*`` baseline
  against the reference labels), the same numbers as the judge-check log's header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.evidence import FlipExample, Response, RunEvidence
from refusal_stability.analysis.formatting import Table
from refusal_stability.analysis.judge_disagreements import SplitGroup, judge_splits
from refusal_stability.analysis.report_data import agreement_pairs, table_of
from refusal_stability.analysis.report_model import Block, ReportInput, Section

__all__ = ["judge_agreement_section", "judge_check_section"]

JUDGE_CHECK_SHOWN = ["judge", "kind", "n_scored", "n_unscored", "agreement", "kappa", "weighted_kappa"]


def _kappa_ci(row: Mapping[str, Any], name: str = "kappa") -> str:
    """``0.778 [0.726, 0.828]`` (the CI only where the row has one)."""
    return f"{fmt.ssi(row.get(name))} {fmt.ci(row.get(f'{name}_ci_low'), row.get(f'{name}_ci_high'), 3)}".strip()


def _agreement_ci(pair: Mapping[str, Any]) -> str:
    """``86.4 [82.0, 90.1]``: agreement % with its CI."""
    return f"{fmt.pct(pair.get('agreement_pct'))} {fmt.ci(pair.get('agreement_ci_low'), pair.get('agreement_ci_high'))}"


def _confusion_table(confusion: Mapping[str, Mapping[str, Any]], judges: Sequence[str]) -> Table:
    labels = list(confusion)
    columns = list(next(iter(confusion.values()), {}))
    corner = f"{judges[0]} \u2193 / {judges[1]} \u2192"
    rows = [[label, *(fmt.integer(confusion[label].get(c)) for c in columns)] for label in labels]
    return Table([corner, *columns], rows, [False] + [True] * len(columns))


def _add_pair(section: Section, pair: Mapping[str, Any]) -> None:
    judges = list(pair.get("judges") or ["A", "B"])
    section.para(
        f"{judges[0]} vs {judges[1]}: {fmt.integer(pair.get('n_pairs'))} responses labelled validly by both; "
        f"exact agreement % {_agreement_ci(pair)}, Cohen's \u03ba = "
        f"{_kappa_ci(pair)}. Rows: {judges[0]}; columns: {judges[1]}."
    )
    if isinstance(pair.get("confusion"), Mapping):
        section.add_table(_confusion_table(pair["confusion"], judges))
    per_model = pair.get("per_model")
    if isinstance(per_model, Mapping) and len(per_model) > 1:
        section.add_table(
            fmt.table([{"model": m, **{k: v for k, v in d.items() if k != "confusion"}} for m, d in per_model.items()]),
            caption="Per model",
        )


def _pairwise_table(pairwise: Sequence[Mapping[str, Any]]) -> Table:
    rows = [
        [
            str(pair["judges"][0]),
            str(pair["judges"][1]),
            fmt.integer(pair.get("n_pairs")),
            _agreement_ci(pair),
            _kappa_ci(pair),
        ]
        for pair in pairwise
    ]
    headers = ["Judge A", "Judge B", "Pairs", "Agreement % [95% CI]", "\u03ba [95% CI]"]
    return Table(headers, rows, [False] * 2 + [True] * 3)


def _panel_paragraph(panel: Mapping[str, Any]) -> str:
    return (
        f"Panel {panel.get('judge')} ({len(panel.get('members') or [])} members): Fleiss' \u03ba = "
        f"{_kappa_ci(panel, 'fleiss_kappa')} over {fmt.integer(panel.get('n_complete'))} responses every member "
        f"labelled; Krippendorff's \u03b1 (nominal) = {_kappa_ci(panel, 'krippendorff_alpha')} over "
        f"{fmt.integer(panel.get('n_pairable'))} responses with two or more labels."
    )


def _split_evidence(groups: list[SplitGroup]) -> list[RunEvidence]:
    """The split responses as evidence blocks: one per pair of disagreeing labels."""
    runs = []
    for group in groups:
        examples = [
            FlipExample(
                prompt_id=split.prompt_id,
                ssi=math.nan,
                label_counts=dict(split.labels),
                prompt=split.prompt,
                responses=[
                    Response(
                        "; ".join(f"{judge}: {label}" for judge, label in split.labels.items()),
                        None,
                        None,
                        split.epoch,
                        split.response,
                        split.error,
                    )
                ],
            )
            for split in group.examples
        ]
        title = f"{group.labels[0]} vs {group.labels[1]}: {group.n_records:,} responses"
        runs.append(RunEvidence(title, examples))
    return runs


def _judges_compared(agreement: Mapping[str, Any]) -> list[str]:
    pairs = agreement.get("pairwise") or agreement.get("pairs") or [agreement]
    return list(dict.fromkeys(str(judge) for pair in pairs for judge in pair.get("judges") or []))


def judge_agreement_section(report: ReportInput) -> Section | None:
    """Agreement of the judges (kappa with CIs, panels), consensus, and what the judges argue about."""
    pairs = agreement_pairs(report.result)
    consensus = table_of(report.result, "consensus")
    if not pairs and consensus is None:
        return None
    section = Section("agreement", "Judge agreement")
    section.para("Brackets: 95 % bootstrap CIs, prompts resampled (seeded).")
    for pair in pairs:
        _add_pair(section, pair)
    agreement = report.result.agreement if isinstance(report.result.agreement, Mapping) else {}
    if agreement.get("pairwise"):
        section.add_table(_pairwise_table(agreement["pairwise"]), caption="Every pair of individual judges")
    for panel in agreement.get("panel") or []:
        section.para(_panel_paragraph(panel))
    if consensus is not None:
        section.para(
            "All records vs consensus records (the judges agree: both of two, or a strict majority of a panel's "
            "members; prompts with enough such records): a flip rate that falls on consensus records is partly "
            "judge disagreement."
        )
        section.add_table(fmt.table(consensus))
    tidy = getattr(report.result, "tidy", None)
    judges = _judges_compared(agreement)
    groups = judge_splits(tidy, judges) if tidy is not None and len(judges) >= 2 else []
    if groups:
        section.para("What the judges argue about: per pair of labels, the first responses where the judges split.")
        section.blocks.append(Block("evidence", runs=_split_evidence(groups)))
    return section


def judge_check_section(report: ReportInput) -> Section | None:
    """judge_check.csv: agreement with the reference labels of each judge-check log's judge, members, baselines."""
    table = table_of(report.result, "judge_check")
    if table is None:
        return None
    section = Section("judge-check", "Judge check")
    section.para(
        "Each judge-check log: its judge (a panel's plurality), each panel member and each baseline label column of "
        "the reference set (label_primary: the paper's primary judge) against the reference labels. Agreement is a "
        "share; brackets: 95 % bootstrap CIs; weighted figures use the set's population weights. The same numbers "
        "as the log's header (judge_check.csv holds precision, recall and the confusion cells too)."
    )
    for log, part in table.groupby("log", sort=False):
        rows = [
            {
                **{name: row.get(name) for name in JUDGE_CHECK_SHOWN},
                "kappa": _kappa_ci(row),
                "weighted_kappa": _kappa_ci(row, "weighted_kappa"),
            }
            for row in part.to_dict("records")
        ]
        reference = part["reference"].iloc[0]
        section.add_table(fmt.table(rows, JUDGE_CHECK_SHOWN), caption=f"{log} (reference: {reference})")
    return section
