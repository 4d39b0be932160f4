"""What reached the model, per run: the ``*_sent`` summaries, the partial-run check, and records as draws.

Each epoch of a log carries ``sent_temperature``, ``sent_seed``, ``sent_top_p`` and ``sent_verified`` (the
request body the provider client sent; docs/log-schema.md). Per run (the tidy frame's ``model``) each parameter
is summarised as ``all``, ``none``, ``partial`` or ``unverified`` (``definitions.sent_sampling.summarise_sent``).
The analysis then reports what happened, not what was asked:

- temperature not sent (``none``): the run is n draws at the provider's default temperature. Its
  ``temperature`` becomes empty, so it gets no within-temperature rows, tests, figures or
  sample-size-by-temperature rows (those group by temperature and drop missing keys);
- temperature or seed not sent: its records are numbered draws, and ``seed`` holds the draw number (1..n within
  the prompt and temperature) so that records stay distinct; the report says "draw", never "seed", for them;
- ``partial``: an error naming the log and the epochs, unless the user accepts it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from refusal_stability.analysis.tidy import AnalysisInputError

SENT_COLUMNS = ["sent_temperature", "sent_seed", "sent_top_p", "sent_verified"]
SUMMARY_COLUMNS = ["temperature_sent", "seed_sent", "top_p_sent"]
_PARAMETERS = {"temperature": "sent_temperature", "seed": "sent_seed", "top_p": "sent_top_p"}
PARTIAL_FLAG = "--allow-partial-sampling"


def _epoch_view(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, log, prompt, epoch): the sent fields are per generation, not per judge."""
    present = [c for c in SENT_COLUMNS if c in frame.columns]
    columns = ["model", "origin", "prompt_id", "epoch", *present]
    view = frame[columns].drop_duplicates(["model", "origin", "prompt_id", "epoch"])
    for column in SENT_COLUMNS:
        if column not in view.columns:
            view[column] = None
    return view


def sent_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run: ``temperature_sent``, ``seed_sent``, ``top_p_sent`` (``all``/``none``/``partial``/``unverified``).

    Args:
        frame: tidy frame (rows without the ``sent_*`` columns, e.g. old logs or label CSVs, are unverified).

    Returns:
        Columns model, temperature_sent, seed_sent, top_p_sent; one row per run, sorted by run.
    """
    view = _epoch_view(frame)
    rows = []
    for model, part in view.groupby("model", sort=True, observed=True):
        verified = part["sent_verified"].isin([True, 1]).to_numpy()  # None/NaN/NA: not verified
        row: dict[str, Any] = {"model": str(model)}
        for parameter, column in _PARAMETERS.items():
            row[f"{parameter}_sent"] = _summarise_columns(part[column].notna().to_numpy(), verified)
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", *SUMMARY_COLUMNS])


def _summarise_columns(carried: np.ndarray, verified: np.ndarray) -> str:
    """``definitions.sent_sampling.summarise_sent`` over whole columns (no per-epoch Python at 1.4M records).

    Args:
        carried: per epoch, the value reached the model (not None/NaN/NA).
        verified: per epoch, ``sent_verified`` is true.
    """
    checked = carried[verified]
    if checked.any() and not checked.all():
        return "partial"
    if not verified.all() or not checked.size:
        return "unverified"
    return "all" if checked.all() else "none"


def _epochs_text(epochs: pd.Series) -> str:
    values = sorted({int(e) for e in epochs.dropna()})
    shown = ", ".join(str(e) for e in values[:10]) + (f" (+{len(values) - 10} more)" if len(values) > 10 else "")
    return shown or "unknown"


def check_partial(frame: pd.DataFrame, summary: pd.DataFrame, allow_partial: bool = False) -> list[str]:
    """Refuse a run whose epochs disagree on whether a parameter reached the model.

    Args:
        frame: tidy frame with the ``sent_*`` columns.
        summary: :func:`sent_summary` of ``frame``.
        allow_partial: accept such runs (the returned notes then say so, for the report).

    Returns:
        One note per accepted partial (run, parameter); empty when there is none.

    Raises:
        AnalysisInputError: a partial run without ``allow_partial``; names the logs, parameter and epochs.
    """
    notes: list[str] = []
    view = _epoch_view(frame)
    for _, row in summary.iterrows():
        for parameter, column in _PARAMETERS.items():
            if row[f"{parameter}_sent"] != "partial":
                continue
            part = view[(view["model"] == row["model"]) & view["sent_verified"].fillna(False).astype(bool)]
            missing = part[part[column].isna()]
            sent = part[part[column].notna()]
            logs = ", ".join(sorted({str(o) for o in part["origin"]}))
            message = (
                f"{row['model']}: {parameter} reached the model in some epochs and not in others "
                f"(log {logs}; sent in epochs {_epochs_text(sent['epoch'])}; not sent in epochs "
                f"{_epochs_text(missing['epoch'])})"
            )
            if not allow_partial:
                raise AnalysisInputError(
                    f"{message}: its records do not share one sampling setup; analyse the logs separately, "
                    f"or pass {PARTIAL_FLAG} to analyse them as given"
                )
            notes.append(f"{message}; analysed as given ({PARTIAL_FLAG})")
    return notes


def records_as_sent(frame: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame with temperature and seed as they reached the model.

    A run whose temperature was not sent gets an empty ``temperature``; a run whose temperature or seed was not
    sent gets the draw number (1..n within its prompt and temperature, in epoch order) as ``seed``.
    """
    no_temperature = set(summary.loc[summary["temperature_sent"] == "none", "model"])
    draws = no_temperature | set(summary.loc[summary["seed_sent"] == "none", "model"])
    if not draws:
        return frame
    frame = frame.copy()
    models = frame["model"].astype(str)
    if no_temperature:
        frame.loc[models.isin(no_temperature).to_numpy(), "temperature"] = np.nan
    as_draws = models.isin(draws).to_numpy()
    keys = ["model", "origin", "judge", "scorer", "prompt_id", "temperature"]
    part = frame.loc[as_draws, [*keys, "epoch"]]
    ranks = part.groupby(keys, dropna=False, observed=True)["epoch"].rank(method="dense")
    frame.loc[as_draws, "seed"] = ranks.astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def draw_runs(summary: pd.DataFrame) -> set[str]:
    """Runs whose ``seed`` column holds draw numbers (temperature or seed not sent)."""
    mask = (summary["temperature_sent"] == "none") | (summary["seed_sent"] == "none")
    return set(summary.loc[mask, "model"])


def _state(status: str, sent: str, dropped: str) -> str:
    return {"all": sent, "none": dropped, "partial": f"{sent} in some epochs only", "unverified": "not verified"}[
        status
    ]


def describe_run(row: pd.Series, n_draws: int | None = None) -> str:
    """One plain sentence of what reached a run's model, e.g. for the report's first key finding."""
    temperature = _state(row["temperature_sent"], "temperature sent", "no temperature sent (provider default)")
    seed = _state(row["seed_sent"], "seed sent", "no seed sent")
    top_p = _state(row["top_p_sent"], "top_p sent", "no top_p sent")
    sentence = f"{row['model']}: {temperature}; {seed}; {top_p}"
    if row["temperature_sent"] == "none":
        count = f"{n_draws} " if n_draws else ""
        sentence += f" — the study is {count}draws per prompt at the provider's default temperature"
    elif row["seed_sent"] == "none":
        sentence += " — the seeds are replicate draws; engine and sampling cannot be told apart by seed"
    elif "unverified" in (row["temperature_sent"], row["seed_sent"]):
        sentence += " — the log holds no request bodies, so the grid is as asked, not as verified"
    return sentence + "."


def text_change_source(provenance: pd.DataFrame, summary: pd.DataFrame) -> pd.Series:
    """provenance.csv's ``text_change_source``: what a changed text between records of a row can come from.

    ``provider or sampling`` for runs whose seed or temperature did not reach the model (independent draws);
    ``engine`` at temperature 0 with seeds sent (or not verified: as asked); ``sampling`` above 0.
    """
    draws = draw_runs(summary)
    temperature = pd.to_numeric(provenance["temperature"], errors="coerce")
    source = np.where(temperature == 0, "engine", "sampling")
    return pd.Series(
        np.where(provenance["model"].astype(str).isin(draws), "provider or sampling", source), index=provenance.index
    )


def draw_provenance_sentences(rows: pd.DataFrame) -> list[str]:
    """The "Is the flip real?" sentences for a run whose seed or temperature did not reach the model."""
    sentences = [
        "No seed (or no temperature) reached this model, so its records are independent draws: a changed text is "
        "provider or sampling variation, and engine and sampling cannot be told apart."
    ]
    printed = rows[rows["fingerprints"].astype(bool)] if "fingerprints" in rows else rows.iloc[0:0]
    if len(printed):
        weights = printed["n_fingerprinted"].astype(float)
        same = float((printed["flip_same_text_pct"] * weights).sum() / weights.sum())
        changed = float((printed["flip_text_changed_pct"] * weights).sum() / weights.sum())
        sentences.append(
            f"{same:.1f} % of prompts flipped label although the text was identical (judge inconsistency) and "
            f"{changed:.1f} % flipped with a changed text."
        )
    return sentences
