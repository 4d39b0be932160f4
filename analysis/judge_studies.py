"""The judge studies of an analysis: agreement.json, consensus.csv and judge sensitivity, for any judges.

Each selected judge (the one whose labels feed the metrics) is compared with every other judge that labelled
its models:

- ``pairs``: the selected judge against each other judge: agreement %, Cohen's kappa with 95 % bootstrap CIs
  (prompts resampled, seeded), the confusion matrix and per-model figures (:func:`agreement.judge_agreement`).
- ``pairwise``: with three or more individual judges, every pair of them with CIs
  (:func:`panel_agreement.pairwise_agreement`); a grader panel's members are individual judges, its plurality
  label is not.
- ``panel``: per grader panel, Fleiss' kappa and Krippendorff's alpha of its members with CIs
  (:func:`panel_agreement.panel_statistics`).

consensus.csv: where the selected judge is a panel, consensus is over its members (a strict majority agrees,
:func:`panel_agreement.panel_consensus`); otherwise both of two judges agree, with the first other judge.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd

from refusal_stability.analysis.agreement import agreement_of_pairing, consensus_of_pairing, pair_judges
from refusal_stability.analysis.log_rows import PANEL_MEMBER_ROLE
from refusal_stability.analysis.panel_agreement import pairwise_agreement, panel_consensus, panel_statistics
from refusal_stability.definitions.agreement import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD

__all__ = ["PANEL_PREFIX", "JudgeStudies", "judge_studies", "panel_members_of"]

PANEL_PREFIX = "panel("  # a grader panel's judge identity: panel(a,b,c)


class JudgeStudies(NamedTuple):
    """Everything the analysis derives from a second judge or a panel (all None with one judge).

    Attributes:
        agreement: agreement.json content: one ``judge_agreement`` object when two judges are compared, else
            ``{"pairs": [...], "pairwise": [...], "panel": [...]}`` (the last two only where they apply).
        consensus: consensus.csv (one row per model of each selected judge).
        judge_sensitive: model, prompt_id, judge_sensitive (bool) per prompt of the selected judges.
    """

    agreement: dict[str, Any] | None
    consensus: pd.DataFrame | None
    judge_sensitive: pd.DataFrame | None


def panel_members_of(rows: pd.DataFrame) -> list[str]:
    """The panel members' judge names among ``rows`` (role ``panel member``), in order of first appearance."""
    if "judge_role" not in rows.columns:
        return []
    members = rows.loc[rows["judge_role"].astype(object) == PANEL_MEMBER_ROLE, "judge"].astype(str)
    return list(dict.fromkeys(members))


def _studies_of(
    judge: str, theirs: pd.DataFrame, min_records: int, threshold: float, n_boot: int, seed: int
) -> tuple[dict[str, Any], pd.DataFrame | None, pd.DataFrame | None]:
    """The agreement blocks, consensus table and sensitivity flags of one selected judge (its models' rows)."""
    members = [member for member in panel_members_of(theirs) if member != judge]
    is_panel = judge.startswith(PANEL_PREFIX) and len(members) >= 2  # the selected judge is the panel itself
    others = sorted(set(theirs["judge"].astype(str).unique()) - {judge})
    blocks: dict[str, Any] = {"pairs": [], "pairwise": [], "panel": []}
    table = sensitive = None
    for index, other in enumerate(others):
        pairing = pair_judges(theirs, judge, other)  # one pairing serves agreement and consensus
        blocks["pairs"].append(agreement_of_pairing(pairing, judge, other, n_boot, seed))
        if index == 0 and not is_panel:
            table, sensitive = consensus_of_pairing(pairing, judge, min_records, threshold)
    individuals = list(dict.fromkeys([*members, *([] if is_panel else [judge]), *others]))
    individuals = [name for name in individuals if not (name.startswith(PANEL_PREFIX) and len(members) >= 2)]
    if len(individuals) >= 3:
        blocks["pairwise"] = pairwise_agreement(theirs, individuals, n_boot, seed)
    if is_panel:
        blocks["panel"] = [{"judge": judge, **panel_statistics(theirs, members, n_boot, seed)}]
        table, sensitive = panel_consensus(theirs, judge, members, min_records, threshold)
    return blocks, table, sensitive


def judge_studies(
    selected: pd.DataFrame,
    tidy: pd.DataFrame,
    min_records: int = 5,
    threshold: float = UNSTABLE_THRESHOLD,
    n_boot: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> JudgeStudies:
    """Agreement, consensus and judge sensitivity of the selected judges against every other judge.

    Args:
        selected: tidy rows of the selected judge(s) (what the metrics use).
        tidy: tidy rows of every judge (panel members included).
        min_records: minimum consensus records per prompt (``--consensus-min``).
        threshold: SSI threshold for "unstable".
        n_boot: bootstrap resamples of prompts for the CIs.
        seed: bootstrap seed.

    Returns:
        The JudgeStudies; every field None when no selected judge shares a model with another judge.

    Raises:
        ValueError: ``min_records`` < 1.
    """
    if min_records < 1:
        raise ValueError(f"min_records must be at least 1, got {min_records}")
    blocks: dict[str, list[Any]] = {"pairs": [], "pairwise": [], "panel": []}
    tables, flags = [], []
    for judge, rows in selected.groupby("judge", sort=True, observed=True):
        theirs = tidy[tidy["model"].isin(rows["model"].unique())]
        found, table, sensitive = _studies_of(str(judge), theirs, min_records, threshold, n_boot, seed)
        for name, values in found.items():
            blocks[name].extend(values)
        if table is not None and sensitive is not None:
            tables.append(table)
            flags.append(sensitive[["model", "prompt_id", "judge_sensitive"]])
    if not blocks["pairs"]:
        return JudgeStudies(None, None, None)
    if len(blocks["pairs"]) == 1 and not blocks["pairwise"] and not blocks["panel"]:
        agreement: dict[str, Any] = blocks["pairs"][0]
    else:
        agreement = {name: values for name, values in blocks.items() if values}
    return JudgeStudies(
        agreement,
        pd.concat(tables, ignore_index=True) if tables else None,
        pd.concat(flags, ignore_index=True) if flags else None,
    )
