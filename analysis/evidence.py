"""What a flip looks like: the least stable prompts of each run, with one response per distinct label.

Only the chosen samples are opened, with Inspect's public ``read_eval_log_sample`` (at most
runs x ``n`` prompts x 3 labels reads); the rest of the analysis never opens samples. Label CSV inputs hold
no texts: their examples carry labels and configurations only, with a note saying so.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from refusal_stability.analysis.log_locations import log_dir_of
from refusal_stability.analysis.parallel import fork_map
from refusal_stability.analysis.report_data import model_order, table_of
from refusal_stability.analysis.result_tables import AnalysisTables
from refusal_stability.analysis.tidy import plain_text
from refusal_stability.definitions.expected import EXPECT_COMPLY
from refusal_stability.definitions.labels import LABELS

N_EXAMPLES = 10
LOG_SUFFIXES = (".eval", ".json")
CSV_NOTE = "Label CSV inputs carry no prompt or response texts: only the labels and their configurations are shown."


@dataclass
class Response:
    """One judged response of a flipping prompt."""

    label: str
    temperature: float | None
    seed: int | None
    epoch: int | None
    text: str | None = None
    error: str | None = None
    draw: bool = False  # ``seed`` is a draw number: the seed (or temperature) did not reach the model


@dataclass
class FlipExample:
    """A least-stable prompt of one run and one response per distinct label."""

    prompt_id: str
    ssi: float
    label_counts: dict[str, int]
    source: str | None = None
    category: str | None = None
    prompt: str | None = None
    responses: list[Response] = field(default_factory=list)
    benign: bool = False  # a benign control (expected comply): here a refusal is the wrong decision


@dataclass
class RunEvidence:
    """The flip examples of one run (model, plus condition when the run has one)."""

    model: str
    examples: list[FlipExample]
    view_commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_log(origin: Any) -> bool:
    """True when a tidy row's origin is an Inspect log (not a label CSV)."""
    return isinstance(origin, str) and origin.lower().endswith(LOG_SUFFIXES)


def view_command(log_path: str) -> str:
    """The shell command (quoted) that opens the directory holding ``log_path`` in Inspect's viewer."""
    return f"inspect view --log-dir {shlex.quote(log_dir_of(log_path))}"


def least_stable(per_prompt: pd.DataFrame, n: int = N_EXAMPLES) -> pd.DataFrame:
    """Per model, the ``n`` flipped prompts with the lowest SSI (ties broken by prompt_id).

    With benign controls (``expected`` = ``comply``), the ``n`` least stable harmful prompts and then the ``n``
    least stable benign ones, so benign flips are shown too.
    """
    if "flipped" in per_prompt:
        flipped = per_prompt[per_prompt["flipped"].astype(bool)]
    else:
        flipped = per_prompt[per_prompt["ssi"] < 1 - 1e-12]
    benign = (flipped["expected"] == EXPECT_COMPLY) if "expected" in flipped else pd.Series(False, index=flipped.index)
    ordered = flipped.assign(_pid=flipped["prompt_id"].astype(str), _benign=benign.to_numpy())
    ordered = ordered.sort_values(["model", "_benign", "ssi", "_pid"])
    return ordered.groupby(["model", "_benign"], sort=True).head(n).drop(columns=["_pid", "_benign"])


def _one_per_label(records: pd.DataFrame) -> pd.DataFrame:
    """The first record (by temperature, seed, epoch) of each distinct valid label of each (model, prompt)."""
    valid = records[records["label"].isin(LABELS)]
    order = [c for c in ("temperature", "seed", "epoch") if c in valid.columns]
    return valid.sort_values(["model", "prompt_id", "label", *order]).drop_duplicates(["model", "prompt_id", "label"])


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(getattr(part, "text", "") for part in content or [] if getattr(part, "text", None))


def prompt_text(sample: Any) -> str:
    """The user prompt of a sample (its input string, or the text of its user messages)."""
    if isinstance(sample.input, str):
        return sample.input
    return "\n\n".join(_message_text(m.content) for m in sample.input if getattr(m, "role", None) == "user")


def response_text(sample: Any) -> str:
    """The model's response of one epoch (the output completion; else the first score's answer)."""
    if sample.output is not None and sample.output.completion:
        return sample.output.completion
    for score in (sample.scores or {}).values():
        if score.answer:
            return str(score.answer)
    return ""


def read_samples(job: tuple[str, list[tuple[str, int]]]) -> dict[tuple[str, int], tuple[str, str] | str]:
    """Read the given (sample id, epoch) of one log; value (prompt, response) or an error message.

    One ``read_eval_log_samples_by_id`` call per log (the zip directory is parsed once; a loop over
    ``read_eval_log_sample`` parses it per sample: ~0.1 s each on a 17,520-sample log); when a sample is
    absent, each one is read on its own with ``read_eval_log_sample`` so that only the absent ones fail.
    """
    from inspect_ai.log import read_eval_log_sample, read_eval_log_samples_by_id

    path, keys = job
    options: dict[str, Any] = {"resolve_attachments": True, "exclude_fields": {"events", "store"}}
    out: dict[tuple[str, int], tuple[str, str] | str] = {}
    try:
        samples = read_eval_log_samples_by_id(path, [(sid, int(epoch)) for sid, epoch in keys], **options)
        for key, sample in zip(keys, samples, strict=True):
            out[key] = (prompt_text(sample), response_text(sample))
        return out
    except Exception:  # one sample absent or the log unreadable: find out which, one by one
        pass
    for sample_id, epoch in keys:
        try:
            sample = read_eval_log_sample(path, id=sample_id, epoch=int(epoch), **options)
            out[(sample_id, epoch)] = (prompt_text(sample), response_text(sample))
        except Exception as exc:  # moved/truncated log, sample absent: show why, keep the report
            out[(sample_id, epoch)] = f"could not read sample {sample_id!r} epoch {epoch} of {path}: {exc}"
    return out


def _int(value: Any) -> int | None:
    return None if pd.isna(value) else int(value)


def _float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def collect(
    per_prompt: pd.DataFrame,
    frame: pd.DataFrame | None,
    n: int = N_EXAMPLES,
    reader: Callable[[tuple[str, list[tuple[str, int]]]], dict[tuple[str, int], Any]] = read_samples,
    models: Sequence[str] | None = None,
    workers: int | None = None,
) -> list[RunEvidence]:
    """Flip examples of every run: prompts, labels, configurations and (from logs) texts.

    Args:
        per_prompt: per_prompt table (model, prompt_id, ssi, n_refuse/n_partial/n_comply, ...).
        frame: the tidy frame of the selected judge (model, prompt_id, epoch, temperature, seed, label,
            origin); None shows labels from ``per_prompt`` only.
        n: prompts per run.
        reader: reads (log path, [(sample id, epoch)]) -> texts; replaceable in tests.
        models: runs in display order (default: sorted).
        workers: processes reading the logs (default min(2, CPUs); 1 reads in this process).
    """
    chosen = least_stable(per_prompt, n)
    runs = list(models) if models is not None else sorted(per_prompt["model"].unique())
    records = pd.DataFrame()
    if frame is not None and not chosen.empty:
        keys = chosen[["model", "prompt_id"]].astype({"model": str, "prompt_id": str})
        ids = frame["prompt_id"].astype(str) if not isinstance(frame["prompt_id"].dtype, pd.CategoricalDtype) else None
        candidates = frame[(ids if ids is not None else frame["prompt_id"]).isin(set(keys["prompt_id"]))]
        sub = plain_text(candidates).astype({"model": str, "prompt_id": str}).merge(keys, on=["model", "prompt_id"])
        records = _one_per_label(sub)
    texts: dict[tuple[Any, str, int | None], Any] = {}
    if not records.empty and "origin" in records:
        log_rows = records[records["origin"].map(is_log) & records["epoch"].notna()]
        jobs = [
            (origin, sorted({(str(p), int(e)) for p, e in zip(part["prompt_id"], part["epoch"], strict=True)}))
            for origin, part in log_rows.groupby("origin", sort=True)
        ]
        for (origin, _), result in zip(jobs, fork_map(reader, jobs, workers), strict=True):
            for (sample_id, epoch), value in result.items():
                texts[(origin, sample_id, epoch)] = value
    out = []
    for model in runs:
        rows = chosen[chosen["model"] == model]
        run_records = records[records["model"] == model] if not records.empty else records
        origins = sorted(set(run_records["origin"])) if "origin" in run_records else []
        evidence = RunEvidence(model, [], [view_command(o) for o in origins if is_log(o)])
        if any(not is_log(o) for o in origins):
            evidence.notes.append(CSV_NOTE)
        for row in rows.to_dict("records"):
            counts = {label: int(row.get(f"n_{label.lower()}", 0) or 0) for label in LABELS}
            example = FlipExample(
                prompt_id=str(row["prompt_id"]),
                ssi=float(row["ssi"]),
                label_counts=counts,
                source=_text(row.get("source")),
                category=_text(row.get("category")),
                benign=row.get("expected") == EXPECT_COMPLY,
            )
            mine = run_records[run_records["prompt_id"] == example.prompt_id] if len(run_records) else run_records
            for record in mine.sort_values("label", key=lambda s: s.map(LABELS.index)).to_dict("records"):
                response = Response(
                    record["label"], _float(record.get("temperature")), _int(record.get("seed")), _int(record["epoch"])
                )
                response.draw = bool(record.get("sent_verified")) and (
                    pd.isna(record.get("sent_seed")) or pd.isna(record.get("sent_temperature"))
                )
                value = texts.get((record.get("origin"), example.prompt_id, response.epoch))
                if isinstance(value, tuple):
                    example.prompt = example.prompt or value[0]
                    response.text = value[1]
                elif isinstance(value, str):
                    response.error = value
                example.responses.append(response)
            evidence.examples.append(example)
        out.append(evidence)
    return out


def flip_evidence(
    result: AnalysisTables,
    frame: pd.DataFrame | None = None,
    n_examples: int = N_EXAMPLES,
    workers: int | None = None,
) -> list[RunEvidence]:
    """The "What a flip looks like" examples of every run (reads only the chosen samples from the logs).

    Args:
        result: the analysis tables (or any object with per_prompt and, optionally, per_model/frame/tidy).
        frame: the tidy frame of the selected judge (default: ``result.frame``, else ``result.tidy``).
        n_examples: least stable prompts shown per run.
        workers: processes reading the logs (default min(2, CPUs)).

    Returns:
        ``collect`` output (empty without a per_prompt table).
    """
    if frame is None:
        frame = next((f for n in ("frame", "tidy") if isinstance(f := getattr(result, n, None), pd.DataFrame)), None)
    per_prompt = table_of(result, "per_prompt")
    if per_prompt is None:
        return []
    return collect(per_prompt, frame, n_examples, models=model_order(result), workers=workers)
