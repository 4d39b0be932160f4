"""Breakdowns by group and the Kruskal-Wallis test on hand-computed per-prompt tables."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from refusal_stability.analysis import groups


def prompt_row(model: str, prompt: str, ssi: float, refuse: float, partial: float, comply: float) -> dict:
    """One per_prompt row; flipped when more than one rate is positive, unstable when ssi < 0.8."""
    return {
        "model": model,
        "prompt_id": prompt,
        "ssi": ssi,
        "flipped": sum(r > 0 for r in (refuse, partial, comply)) > 1,
        "unstable": ssi < 0.8,
        "refusal_rate": refuse,
        "partial_rate": partial,
        "compliance_rate": comply,
    }


PER_PROMPT = pd.DataFrame(
    [
        prompt_row("m", "p1", 1.0, 1.0, 0.0, 0.0),
        prompt_row("m", "p2", 0.5, 0.5, 0.0, 0.5),
        prompt_row("m", "p3", 0.75, 0.25, 0.75, 0.0),
        prompt_row("m", "p4", 1.0, 0.0, 0.0, 1.0),
    ]
)
INFO = pd.DataFrame(
    {
        "model": ["m"] * 4,
        "prompt_id": ["p1", "p2", "p3", "p4"],
        "categories": [("a", "b"), ("a",), (), None],
        "category": ["a", "a", "c", None],
        "source": ["s1", "s1", "s2", ""],
        "difficulty": [1, 2, 2, None],
    }
)


def test_by_group_hand_computed() -> None:
    table = groups.by_group(PER_PROMPT, INFO)
    assert list(table.columns) == groups.BY_GROUP_COLUMNS
    rows = table.set_index(["group_by", "group"])
    assert list(rows.index) == [
        ("category", "a"),
        ("category", "b"),
        ("category", "c"),
        ("source", "s1"),
        ("source", "s2"),
    ]
    # category a: p1 (via categories) and p2: SSI (1 + 0.5)/2; flips p2 only; refusal (1 + 0.5)/2; comply 0.5/2
    a = rows.loc[("category", "a")]
    assert a["n_prompts"] == 2 and a["mean_ssi"] == pytest.approx(0.75)
    assert (a["flip_pct"], a["unstable_pct"]) == (pytest.approx(50.0), pytest.approx(50.0))
    assert (a["refusal_pct"], a["partial_pct"], a["comply_pct"]) == (75.0, 0.0, 25.0)
    assert rows.loc[("category", "b"), "n_prompts"] == 1 and rows.loc[("category", "b"), "mean_ssi"] == 1.0
    # p3's categories are empty: it falls back to its category "c"; p4 has none and is skipped
    c = rows.loc[("category", "c")]
    assert (c["n_prompts"], c["mean_ssi"], c["flip_pct"], c["partial_pct"]) == (1, 0.75, 100.0, 75.0)
    assert rows.loc[("source", "s1"), "n_prompts"] == 2  # p4's empty source is skipped
    assert rows.loc[("source", "s2"), "refusal_pct"] == pytest.approx(25.0)


def test_by_group_named_column_order_and_numbers_as_text() -> None:
    table = groups.by_group(PER_PROMPT, INFO, group_by=["difficulty", "source"])
    assert list(dict.fromkeys(table["group_by"])) == ["difficulty", "source"]
    difficulty = table[table["group_by"] == "difficulty"].set_index("group")
    # p4's difficulty is missing (NaN): skipped; the float column's 1.0 and 2.0 read "1" and "2"
    assert difficulty["n_prompts"].to_dict() == {"1": 1, "2": 2}
    assert difficulty.loc["2", "mean_ssi"] == pytest.approx(0.625)  # (0.5 + 0.75)/2


def test_by_group_category_without_categories_and_info_for_every_model() -> None:
    two_models = pd.concat([PER_PROMPT, PER_PROMPT.assign(model="n", ssi=0.5)])
    info = INFO.drop(columns=["model", "categories"])  # one row per prompt, applied to every model
    table = groups.by_group(two_models, info, group_by="category")
    rows = table.set_index(["model", "group"])
    assert rows.loc[("m", "a"), "n_prompts"] == 2  # p1, p2 (p1 no longer counts in "b")
    assert ("m", "b") not in rows.index
    assert rows.loc[("n", "a"), "mean_ssi"] == 0.5


def test_by_group_defaults_to_per_prompt_columns_and_skips_absent_groupings() -> None:
    with_source = PER_PROMPT.assign(source=["s1", "s2", "s2", None])
    table = groups.by_group(with_source)  # no category column at all: only source
    assert set(table["group_by"]) == {"source"}
    assert table.set_index("group").loc["s2", "mean_ssi"] == pytest.approx(0.625)
    assert groups.by_group(PER_PROMPT).empty  # neither column: no rows, the contract's columns
    assert list(groups.by_group(PER_PROMPT).columns) == groups.BY_GROUP_COLUMNS


def test_by_group_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="'harm' is not in the prompt info"):
        groups.by_group(PER_PROMPT, INFO, group_by=["harm"])
    with pytest.raises(ValueError, match="one row per"):
        groups.by_group(PER_PROMPT, pd.concat([INFO, INFO.head(1)]))


def kruskal_frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group A SSI 1.0, 0.5; group B SSI 0.75, 0.25, 0.6 (no ties)."""
    ssi = {"a1": 1.0, "a2": 0.5, "b1": 0.75, "b2": 0.25, "b3": 0.6}
    per_prompt = pd.DataFrame([prompt_row("m", p, s, s, 0.0, 1 - s) for p, s in ssi.items()])
    info = pd.DataFrame({"model": "m", "prompt_id": list(ssi), "source": [p[0].upper() for p in ssi]})
    return per_prompt, info


def test_kruskal_hand_computed() -> None:
    per_prompt, info = kruskal_frame()
    result = groups.kruskal_by_group(per_prompt, info, "source")["m"]["source"]
    # ranks: 0.25->1 (B), 0.5->2 (A), 0.6->3 (B), 0.75->4 (B), 1.0->5 (A); R_A = 7, R_B = 8, N = 5
    # H = 12/(5*6) * (7^2/2 + 8^2/3) - 3*6 = 0.4 * 45.8333 - 18 = 1/3; df = 1
    assert result["H"] == pytest.approx(1 / 3)
    assert result["p"] == pytest.approx(stats.chi2.sf(1 / 3, 1))
    assert (result["n_groups"], result["n_prompts"], result["n_multi_group"]) == (2, 5, 0)
    assert "note" not in result


def test_kruskal_degenerate_cases_are_none_with_a_note() -> None:
    per_prompt, info = kruskal_frame()
    one_group = groups.kruskal_by_group(per_prompt, info.assign(source="X"), "source")["m"]["source"]
    assert (one_group["H"], one_group["p"], one_group["n_groups"]) == (None, None, 1)
    assert "fewer than 2 groups" in one_group["note"]
    same = groups.kruskal_by_group(per_prompt.assign(ssi=1.0), info, "source")["m"]["source"]
    assert same["H"] is None and "same SSI" in same["note"]


def test_kruskal_counts_multi_category_prompts_in_each_group() -> None:
    result = groups.kruskal_by_group(PER_PROMPT, INFO, "category")["m"]["category"]
    # a: p1 1.0, p2 0.5; b: p1 1.0; c: p3 0.75 -> three samples, p1 in two of them
    expected = stats.kruskal([1.0, 0.5], [1.0], [0.75])
    assert result["H"] == pytest.approx(expected.statistic) and result["p"] == pytest.approx(expected.pvalue)
    assert (result["n_groups"], result["n_prompts"], result["n_multi_group"]) == (3, 3, 1)
    assert "1 prompts belong to several groups" in result["note"]


def test_list_valued_metadata_counts_each_element() -> None:
    info = INFO.assign(tags=[("x", "y"), "x", None, []])
    table = groups.by_group(PER_PROMPT, info, group_by="tags").set_index("group")
    # x: p1 (1.0) and p2 (0.5); y: p1; p3 and p4 have no tag
    assert table["n_prompts"].to_dict() == {"x": 2, "y": 1}
    assert table.loc["x", "mean_ssi"] == pytest.approx(0.75)
