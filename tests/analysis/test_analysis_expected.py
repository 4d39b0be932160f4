"""The analysis reproduces every published value in ../shared/paper/expected_*.json within its tolerance.

Generic over label sets: every ``labels_<name>.csv.gz`` with a matching ``expected_<name>.json`` next to it
(dev now; held-out published labels of other models the same way) is checked key by key.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED, shared_path

from refusal_stability.analysis.checks import select_judge
from refusal_stability.analysis.inputs import load_inputs
from refusal_stability.analysis.pipeline import AnalysisResult, analyse

PAPER = SHARED / "paper"
CASES = (
    sorted(
        (p.name[len("expected_") : -len(".json")], p)
        for p in PAPER.glob("expected_*.json")
        if (PAPER / f"labels_{p.name[len('expected_') : -len('.json')]}.csv.gz").exists()
    )
    if PAPER.is_dir()
    else []
)


@cache
def _result(name: str) -> AnalysisResult:
    loaded = load_inputs([], labels=[PAPER / f"labels_{name}.csv.gz"])
    judges = sorted(loaded.frame["judge"].unique())
    frame = select_judge(loaded.frame, judges[0] if len(judges) > 1 else None)
    return analyse(frame, loaded.frame, n_boot=1000, seed=0)


def actual_value(result: AnalysisResult, key: str) -> Any:
    """The analysis value for an expected_*.json key (t3., wt., spearman., thr., friedman.)."""
    family, rest = key.split(".", 1)
    models = sorted(result.per_model["model"], key=len, reverse=True)
    if family == "friedman":
        stat = rest.rsplit(".", 1)[1]
        return result.statistics["friedman"][stat]
    model = next(m for m in models if rest.startswith(m + "."))
    field = rest[len(model) + 1 :]
    if family == "t3":
        row = result.per_model.set_index("model").loc[model]
        if field.endswith("_ci"):
            column = {"ssi_ci": "mean_ssi", "flip_ci": "flip_pct", "unstable_ci": "unstable_pct"}[field]
            return [row[f"{column}_ci_low"], row[f"{column}_ci_high"]]
        return row[field]
    if family == "wt":
        temperature_text, stat = field[1:].rsplit(".", 1)  # "t0.7.flip_pct"
        temperature = float(temperature_text)
        row = result.within_temperature.set_index(["model", "temperature"]).loc[(model, temperature)]
        return row["mean_ssi" if stat == "ssi" else stat]
    if family == "spearman":
        return result.statistics["spearman"][model][field]
    if family == "thr":
        table = result.thresholds
        return table[(table["model"] == model) & (table["threshold"].sub(float(field)).abs() < 1e-9)][
            "unstable_pct"
        ].item()
    raise KeyError(f"unknown expected key family {family!r} in {key!r}")


def within(actual: Any, expected: Any, tolerance: Any) -> bool:
    """Absolute tolerance, or "rel X" relative tolerance; lists compare element-wise."""
    if isinstance(expected, list):
        pairs = zip(actual, expected, strict=True)
        return len(actual) == len(expected) and all(within(a, e, tolerance) for a, e in pairs)
    if isinstance(tolerance, str) and tolerance.startswith("rel"):
        return math.isclose(float(actual), expected, rel_tol=float(tolerance.split()[1]))
    return abs(float(actual) - expected) <= float(tolerance)


def test_paper_label_sets_are_present() -> None:
    """Skips on a user's machine without ../shared; fails in CI when the published labels are missing."""
    shared_path("paper/labels_dev.csv.gz")
    shared_path("paper/expected_dev.json")
    assert CASES, f"no labels_<name>.csv.gz with expected_<name>.json in {PAPER}"


@pytest.mark.parametrize("name,expected_path", CASES, ids=[c[0] for c in CASES])
def test_reproduces_every_expected_value(name: str, expected_path: Path) -> None:
    expected = json.loads(expected_path.read_text())
    result = _result(name)
    failures = []
    for key, spec in expected.items():
        actual = actual_value(result, key)
        if not within(actual, spec["value"], spec["tolerance"]):
            failures.append(f"{key}: got {actual}, expected {spec['value']} ± {spec['tolerance']}")
    assert not failures, "\n".join(failures)
    assert len(expected) > 0
