"""Flip provenance: is a label flip a text change, and is a text change sampling or the engine? (docs/statistics.md).

A flip has three possible sources. (1) The response text changed because sampling differed (temperature
above 0). (2) The text changed although sampling was greedy (temperature 0): inference-engine
nondeterminism (batch composition, kernels). (3) The text did not change but the judge's label did:
judge inconsistency. Response fingerprints (``response_hash``, first 16 hex of the sha256 of the
stripped text) tell these apart without reading samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from refusal_stability.analysis.agreement import key_codes
from refusal_stability.analysis.metrics import label_codes
from refusal_stability.definitions.labels import LABELS

PROVENANCE_COLUMNS = [
    "model",
    "temperature",
    "n_prompts",
    "n_fingerprinted",
    "text_identical_pct",
    "label_flip_pct",
    "flip_same_text_pct",
    "flip_text_changed_pct",
    "fingerprints",
]
RERUN_COLUMNS = ["model", "temperature", "n_runs", "n_records", "text_changed_pct"]
RECORD_KEYS = ["model", "prompt_id", "temperature", "seed"]


def _has_hash(frame: pd.DataFrame) -> pd.Series:
    """True where a record carries a response fingerprint."""
    if "response_hash" not in frame.columns:
        return pd.Series(False, index=frame.index)
    hashes = frame["response_hash"]
    return hashes.notna() & (hashes.astype("string").str.len() > 0).fillna(False).astype(bool)


def _differs_from_previous(values: pd.Series, order: np.ndarray) -> np.ndarray:
    """Per position of ``order``: does the value differ from the previous one (first: False)?

    Consecutive comparison after a sort costs far less than factorizing 16-hex fingerprints, which are
    nearly all distinct. Missing values compare as different (callers track them separately).
    """
    if len(order) < 2:
        return np.zeros(len(order), dtype=bool)
    ordered = values.iloc[order].array
    unequal = ordered[1:] != ordered[:-1]
    return np.r_[False, np.asarray(pd.array(unequal, dtype="boolean").fillna(True), dtype=bool)]


def _group_starts(sorted_codes: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal values in a sorted code array."""
    return np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(sorted_codes) else sorted_codes


def _single_judge(frame: pd.DataFrame, judge: str | None) -> pd.DataFrame:
    """The records of one judge (``judge``, or the only judge present)."""
    if judge is not None:
        if judge not in set(frame["judge"].unique()):
            raise ValueError(f"judge {judge!r} has no records; judges present: {sorted(frame['judge'].unique())}")
        return frame[frame["judge"] == judge]
    judges = frame["judge"].unique()
    if len(judges) > 1:
        raise ValueError(
            f"provenance needs the labels of one judge, the frame has {sorted(map(str, judges))}: pass judge=..."
        )
    return frame


def provenance(frame: pd.DataFrame, judge: str | None = None) -> pd.DataFrame:
    """provenance.csv: one row per (model, temperature) splitting label flips by whether the text changed.

    For each (model, prompt, temperature), over every record of that temperature (all its seeds, and all
    runs when the frame holds re-runs): the text is *identical* when every record has the same
    ``response_hash`` (UNSCORED records count: their text exists), and the label *flips* when the valid
    labels take more than one value.

    Args:
        frame: tidy frame with model, prompt_id, temperature, judge, label, and response_hash when the
            logs have fingerprints (label CSVs and older logs have none).
        judge: the judge whose labels decide flips; may be omitted when the frame has one judge.

    Returns:
        Columns model, temperature, n_prompts (prompts with a valid label at that temperature),
        n_fingerprinted (those whose every record there carries a fingerprint), text_identical_pct,
        label_flip_pct, flip_same_text_pct (flips although the text was identical: judge inconsistency),
        flip_text_changed_pct, fingerprints (n_fingerprinted > 0). label_flip_pct is over n_prompts; the
        three text percentages are over n_fingerprinted and NaN when it is 0. With full fingerprint
        coverage flip_same_text_pct + flip_text_changed_pct = label_flip_pct. A temperature with a
        single seed makes the text trivially identical; read text_identical_pct with the grid in mind.

    Raises:
        ValueError: several judges and no ``judge`` chosen, or ``judge`` absent.
    """
    rows = _single_judge(frame, judge)
    has_hash = _has_hash(rows).to_numpy()
    labels = label_codes(rows["label"]).astype(float)
    labels[labels >= len(LABELS)] = np.nan  # UNSCORED does not count as a label
    groups = key_codes(rows, ["model", "temperature", "prompt_id"])
    order = np.argsort(groups, kind="stable")
    starts = _group_starts(groups[order])
    if len(order) == 0:
        return pd.DataFrame(columns=PROVENANCE_COLUMNS)
    label_min = np.fmin.reduceat(labels[order], starts)  # NaN-skipping: NaN only when no valid label
    label_max = np.fmax.reduceat(labels[order], starts)
    all_hashed = np.logical_and.reduceat(has_hash[order], starts)
    if "response_hash" in rows.columns:
        changes = _differs_from_previous(rows["response_hash"], order)
        changes[starts] = False  # a group's first record has nothing to differ from
        text_changed = np.logical_or.reduceat(changes, starts)
    else:
        text_changed = np.zeros(len(starts), dtype=bool)
    first = order[starts]
    models, names = pd.factorize(rows["model"])
    index = pd.MultiIndex.from_arrays(
        [names.take(models[first]), rows["temperature"].to_numpy(dtype=float)[first]], names=["model", "temperature"]
    )
    valid = ~np.isnan(label_max)
    index = index[valid]
    flip = pd.Series((label_min != label_max)[valid], index=index)
    hashed = pd.Series(all_hashed[valid], index=index)
    identical = hashed & ~text_changed[valid]
    parts = pd.DataFrame(
        {
            "n_prompts": 1,
            "n_fingerprinted": hashed.astype(np.int64),
            "identical": identical.astype(np.int64),
            "flip": flip.astype(np.int64),
            "flip_same": (flip & identical).astype(np.int64),
            "flip_changed": (flip & hashed & ~identical).astype(np.int64),
        }
    )
    sums = parts.groupby(level=["model", "temperature"], sort=True).sum()
    denominator = sums["n_fingerprinted"].where(sums["n_fingerprinted"] > 0).astype(float)
    out = pd.DataFrame(
        {
            "n_prompts": sums["n_prompts"],
            "n_fingerprinted": sums["n_fingerprinted"],
            "text_identical_pct": sums["identical"] / denominator * 100,
            "label_flip_pct": sums["flip"] / sums["n_prompts"] * 100,
            "flip_same_text_pct": sums["flip_same"] / denominator * 100,
            "flip_text_changed_pct": sums["flip_changed"] / denominator * 100,
            "fingerprints": sums["n_fingerprinted"] > 0,
        }
    ).reset_index()
    return out[PROVENANCE_COLUMNS]


def rerun_text_change(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of records whose response text changed between runs of the same model and grid.

    A record is one (model, prompt_id, temperature, seed) configuration, plus its epoch when the frame has
    one; runs are distinct ``eval_id`` values. The judge does not matter (one text per response): records
    are deduplicated per run first. A record counts when at least two runs fingerprinted it; it *changed*
    when those runs' fingerprints are not all equal (with three or more runs: any difference).

    Args:
        frame: tidy frame with model, prompt_id, temperature, seed, eval_id, response_hash (epoch optional).

    Returns:
        Columns model, temperature, n_runs (runs compared), n_records (records seen in >= 2 runs),
        text_changed_pct; one row per (model, temperature) and one with temperature "all" per model.
        Models with fewer than two fingerprinted runs are omitted (an empty table when there are none).
    """
    if "eval_id" not in frame.columns or "response_hash" not in frame.columns:
        return pd.DataFrame(columns=RERUN_COLUMNS)
    keys = RECORD_KEYS + (["epoch"] if "epoch" in frame.columns else [])
    rows = frame[_has_hash(frame) & frame["eval_id"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=RERUN_COLUMNS)
    runs, _ = pd.factorize(rows["eval_id"])
    n_runs = int(runs.max()) + 1
    entry = key_codes(rows, keys) * n_runs + runs  # one (record, run); the judges of one response share its text
    order = np.argsort(entry, kind="stable")
    unique_entries = _group_starts(entry[order])
    order = order[unique_entries]  # first row of each (record, run), sorted by record then run
    record = entry[order] // n_runs
    starts = _group_starts(record)
    seen = np.diff(np.r_[starts, len(record)])  # runs per record
    changes = _differs_from_previous(rows["response_hash"], order)
    changes[starts] = False
    changed = np.logical_or.reduceat(changes, starts)
    compared = seen >= 2
    if not compared.any():
        return pd.DataFrame(columns=RERUN_COLUMNS)
    where = order[starts][compared]  # a row of each compared record
    models, names = pd.factorize(rows["model"])
    records = pd.DataFrame(
        {
            "model": names.take(models[where]),
            "temperature": rows["temperature"].to_numpy(dtype=float)[where],
            "changed": changed[compared],
        }
    )
    model_runs = np.unique(models * n_runs + runs) // n_runs
    run_count = pd.Series(np.bincount(model_runs, minlength=len(names)), index=names)
    by_temperature = records.groupby(["model", "temperature"], sort=True)["changed"].agg(["size", "mean"]).reset_index()
    overall = records.groupby("model", sort=True)["changed"].agg(["size", "mean"]).reset_index()
    overall["temperature"] = "all"
    out = pd.concat([by_temperature, overall], ignore_index=True)
    out = out.rename(columns={"size": "n_records"})
    out["text_changed_pct"] = out.pop("mean") * 100
    out["n_runs"] = out["model"].map(run_count).astype(np.int64)
    rank = out["temperature"].map(lambda t: (1, 0.0) if t == "all" else (0, float(t)))
    out = out.assign(_order=rank).sort_values(["model", "_order"], kind="stable").drop(columns="_order")
    return out[RERUN_COLUMNS].reset_index(drop=True)


def _pct(value: float) -> str:
    return f"{value:.1f} %"


def _temperature(value: float) -> str:
    return f"{float(value):g}"


def provenance_sentences(
    table: pd.DataFrame, rerun: pd.DataFrame | None = None, models: Sequence[str] | None = None
) -> list[str]:
    """Plain-English sentences for the report's "Is the flip real?" section (2-4 of them).

    Figures are pooled over the chosen models (counts weighted by each row's prompts, i.e. over
    (model, prompt) pairs); pass one model to describe that model alone.

    Args:
        table: output of ``provenance``.
        rerun: output of ``rerun_text_change`` (optional; adds a sentence when it has rows).
        models: models to describe (default: every model in ``table``).

    Returns:
        Sentences: the text identity at the lowest temperature (engine nondeterminism when it is 0); how
        many flips kept the text (judge inconsistency) vs changed it, over all temperatures; the re-run
        text change; or, without fingerprints, why text and judge cannot be told apart. Empty when the
        table has no rows for the models.
    """
    rows = table if models is None else table[table["model"].isin(list(models))]
    if rows.empty:
        return []
    sentences: list[str] = []
    printed = rows[rows["fingerprints"].astype(bool)]
    if printed.empty:
        flips = (rows["label_flip_pct"] * rows["n_prompts"]).sum() / rows["n_prompts"].sum()
        sentences.append(
            f"Labels flipped within a temperature for {_pct(flips)} of (prompt, temperature) pairs, but these "
            "records carry no response fingerprints (label CSVs or logs written before fingerprints), so a "
            "changed text cannot be told apart from an inconsistent judge."
        )
    else:

        def pooled(column: str, part: pd.DataFrame = printed) -> float:
            w = part["n_fingerprinted"].astype(float)
            return float((part[column] * w).sum() / w.sum())

        lowest = printed["temperature"].min()
        low = printed[printed["temperature"] == lowest]
        identical = pooled("text_identical_pct", low)
        if float(lowest) == 0.0:
            sentences.append(
                f"At temperature 0, {_pct(identical)} of prompts gave byte-identical text on every seed; "
                f"there, any text change is inference-engine nondeterminism, not sampling."
            )
        else:
            sentences.append(
                f"At the lowest temperature run ({_temperature(lowest)}), {_pct(identical)} of prompts gave "
                "byte-identical text on every seed."
            )
        same, changed = pooled("flip_same_text_pct"), pooled("flip_text_changed_pct")
        flips = float((rows["label_flip_pct"] * rows["n_prompts"]).sum() / rows["n_prompts"].sum())
        sentences.append(
            f"Across temperatures, {_pct(flips)} of (prompt, temperature) pairs flipped label; "
            f"{_pct(same)} flipped although the text was identical — judge inconsistency — and "
            f"{_pct(changed)} flipped with a changed text."
        )
        if float(lowest) == 0.0:
            low_same = pooled("flip_same_text_pct", low)
            low_changed = pooled("flip_text_changed_pct", low)
            sentences.append(
                f"At temperature 0 alone, {_pct(low_changed)} of prompts flipped with a changed text (engine "
                f"nondeterminism) and {_pct(low_same)} with an identical text (judge)."
            )
    if rerun is not None and not rerun.empty:
        chosen = rerun if models is None else rerun[rerun["model"].isin(list(models))]
        overall = chosen[chosen["temperature"].astype(str) == "all"]
        if not overall.empty:
            n = overall["n_records"].sum()
            share = float((overall["text_changed_pct"] * overall["n_records"]).sum() / n)
            sentences.append(
                f"Re-running the same grid changed the text of {_pct(share)} of {int(n):,} (prompt, epoch) records."
            )
    return sentences
