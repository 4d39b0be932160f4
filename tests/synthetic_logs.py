"""Build real .eval logs of a scored study without running Inspect (for benchmarks and tests).

Per-epoch Scores follow docs/log-schema.md and the "stability" reduction is produced by the project's own
reducer (the "stability" reducer of ``refusal_stability.scorers``), so the analysis reads these logs the way it
reads logs of the task. The header records the task args (temperatures, seeds, condition) and the dataset's
sample ids, so completeness checks see the planned grid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from refusal_stability.definitions.epoch_fields import EPOCH_FIELDS
from refusal_stability.definitions.labels import LABELS, UNSCORED

SCORER = "refusal_judge"


@dataclass(frozen=True)
class PromptInfo:
    """A prompt of the synthetic study."""

    prompt_id: str
    source: str | None = None
    category: str | None = None


def grid(temperatures: Sequence[float], seeds: Sequence[int]) -> list[tuple[float, int]]:
    """(temperature, seed) per epoch: epoch e uses grid[e-1]."""
    return [(float(t), int(s)) for t in temperatures for s in seeds]


def response_text(prompt_id: str, epoch: int, label: str) -> str:
    """The synthetic response of one epoch (its fingerprint goes into the score metadata)."""
    return f"response of {prompt_id} at epoch {epoch}: {label.lower()}"


def epoch_score_metadata(
    label: str,
    epoch: int,
    temperature: float,
    seed: int,
    judge: str,
    prompt: PromptInfo,
    template_hash: str | None = None,
    judge_role: str | None = None,
    condition: str | None = None,
    response: str | None = None,
    fingerprints: bool = True,
) -> dict[str, Any]:
    """Per-epoch Score.metadata as docs/log-schema.md specifies.

    ``fingerprints=False`` leaves out response_hash/response_chars, as in logs of scorers that do not record them.
    """
    text = (response if response is not None else response_text(prompt.prompt_id, epoch, label)).strip()
    meta: dict[str, Any] = {
        "label": label,
        "judge": judge,
        "template_hash": template_hash,
        "epoch": epoch,
        "temperature": temperature,
        "seed": seed,
        "cached": False,
        "source": prompt.source,
        "category": prompt.category,
        "categories": [prompt.category] if prompt.category else [],
        "condition": condition,
        "response_hash": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] if fingerprints else None,
        "response_chars": len(text) if fingerprints else None,
        "prompt_metadata": {"source": prompt.source, "category": prompt.category},
    }
    if judge_role is not None:
        meta["judge_role"] = judge_role
    if label == UNSCORED:
        meta.update(reason="unparseable grader output", grader_raw="???")
    return meta


def build_eval_log(
    model: str,
    prompts: Sequence[PromptInfo],
    labels: Mapping[str, Sequence[str]],
    temperatures: Sequence[float],
    seeds: Sequence[int],
    judge: str = "heuristic",
    with_reductions: bool = True,
    template_hash: str | None = None,
    second_judges: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    with_roles: bool = False,
    condition: str | None = None,
    status: str = "success",
    fingerprints: bool = True,
    old_layout: bool = False,
) -> Any:
    """An EvalLog of the refusal_stability task: one EvalSample per (prompt, epoch), scores, reductions.

    Args:
        model: the model name recorded in the header.
        prompts: the prompts (samples).
        labels: prompt_id -> one label per epoch (len(temperatures) * len(seeds)); None: the epoch errored.
        temperatures: grid temperatures (task arg).
        seeds: grid seeds (task arg).
        judge: judge identity of the main scorer.
        template_hash: grader template hash recorded in the scores.
        with_reductions: False writes a log without the stability reduction (sample-summary path).
        second_judges: judge name -> labels like ``labels``, scored by extra scorers named
            ``refusal_judge_<n>`` (as after `inspect score --action append` with another judge).
        with_roles: record judge_role ("primary" for ``judge``, "second" for the others) as the task does.
        condition: the run's condition (task arg and score metadata).
        status: the log status (a label list may hold None for an epoch that errored: no score, no record).
        fingerprints: record response_hash/response_chars in the score metadata (False: none, as in logs
            written before fingerprints existed).
        old_layout: write the reductions as the reducer did before the columns layout (``epochs`` a list of
            per-epoch dicts with every field, every judge's grid and fingerprints, ``per_temperature`` counts).
    """
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalResults,
        EvalSample,
        EvalSampleReductions,
        EvalSampleScore,
        EvalScore,
        EvalSpec,
    )
    from inspect_ai.scorer import Score

    from refusal_stability.scorers import stability

    reduce = stability()
    configs = grid(temperatures, seeds)
    scorers = {SCORER: (judge, labels, "primary" if with_roles else None)}
    for index, (other, other_labels) in enumerate((second_judges or {}).items(), start=1):
        scorers[f"{SCORER}_{index}"] = (other, other_labels, "second" if with_roles else None)
    samples = []
    reduced: dict[str, list[Any]] = {name: [] for name in scorers}
    for prompt in prompts:
        sample_meta = {"source": prompt.source, "category": prompt.category, "categories": []}
        epoch_scores: list[dict[str, Any]] = [{} for _ in configs]
        for name, (judge_name, judge_labels, role) in scorers.items():
            prompt_labels = list(judge_labels[prompt.prompt_id])
            if len(prompt_labels) != len(configs):
                raise ValueError(f"prompt {prompt.prompt_id}: {len(prompt_labels)} labels for {len(configs)} epochs")
            # every judge labels the same responses: the texts follow the first judge's labels
            texts = [
                response_text(prompt.prompt_id, epoch, first or label or "")
                for epoch, (first, label) in enumerate(
                    zip(labels[prompt.prompt_id], prompt_labels, strict=True), start=1
                )
            ]
            scores = {
                epoch: Score(
                    value=label,
                    answer=response_text(prompt.prompt_id, epoch, label),
                    explanation="synthetic",
                    metadata=epoch_score_metadata(
                        label, epoch, t, s, judge_name, prompt, template_hash, role, condition, text, fingerprints
                    ),
                )
                for epoch, (label, (t, s), text) in enumerate(zip(prompt_labels, configs, texts, strict=True), start=1)
                if label is not None
            }
            for epoch, score in scores.items():
                epoch_scores[epoch - 1][name] = score
            if scores:
                score = reduce(list(scores.values()))
                if old_layout:
                    score = old_layout_score(score, list(scores.values()))
                reduced[name].append(
                    EvalSampleScore(**score.model_dump(exclude={"history"}), sample_id=prompt.prompt_id)
                )
        samples += [
            EvalSample(
                id=prompt.prompt_id,
                epoch=epoch,
                input=f"prompt {prompt.prompt_id}",
                target="",
                metadata=sample_meta,
                scores=epoch_scores[epoch - 1],
            )
            for epoch in range(1, len(configs) + 1)
            if epoch_scores[epoch - 1]
        ]
    task_args: dict[str, Any] = {"temperatures": list(temperatures), "seeds": list(seeds)}
    if condition is not None:
        task_args["condition"] = condition
    spec = EvalSpec(
        created=datetime.now(UTC).isoformat(),
        task="refusal_stability",
        model=model,
        task_args=task_args,
        dataset=EvalDataset(
            name="synthetic", samples=len(prompts), sample_ids=[prompt.prompt_id for prompt in prompts]
        ),
        config=EvalConfig(epochs=len(configs)),
    )
    results = EvalResults(
        total_samples=len(samples),
        completed_samples=len(samples),
        scores=[EvalScore(name=name, scorer=name, reducer="stability") for name in scorers],
    )
    log = EvalLog(eval=spec, status=status, results=results, samples=samples)
    if with_reductions:  # set after construction: EvalLog's validator expects dict input for reductions
        log.reductions = [
            EvalSampleReductions(scorer=name, reducer="stability", samples=reduced[name]) for name in scorers
        ]
    return log


OLD_EPOCH_KEYS = EPOCH_FIELDS  # the old layout: one dict per epoch with these keys


def old_layout_score(score: Any, epoch_scores: Sequence[Any]) -> Any:
    """A stability Score as the reducer wrote it before the columns layout (for reading old logs in tests).

    ``epochs`` a list of per-epoch dicts with every field (null when absent; the second judge's too) and
    ``per_temperature`` label counts per temperature.
    """
    ordered = sorted(epoch_scores, key=lambda s: s.metadata["epoch"])
    epochs = []
    for epoch_score in ordered:
        meta = epoch_score.metadata
        entry = {key: meta.get(key) for key in OLD_EPOCH_KEYS}
        entry["label"] = meta.get("label", epoch_score.value)
        entry["sent_verified"] = meta.get("sent_verified") is True
        if isinstance(meta.get("panel"), dict):
            entry["panel"] = meta["panel"]["votes"]
        epochs.append(entry)
    per_temperature: dict[str, dict[str, int]] = {}
    for entry in epochs:
        key = str(entry["temperature"]) if entry["temperature"] is not None else "unknown"
        cell = per_temperature.setdefault(key, dict.fromkeys((*LABELS, UNSCORED), 0))
        cell[entry["label"]] += 1
    metadata = {**score.metadata, "epochs": epochs, "per_temperature": per_temperature}
    return score.model_copy(update={"metadata": metadata})


def random_labels(
    prompt_ids: Sequence[str], n_epochs: int, rng: np.random.Generator, unscored_rate: float = 0.002
) -> dict[str, list[str]]:
    """Plausible labels: each prompt has its own label mix, mostly stable, a few UNSCORED."""
    choices = np.array([*LABELS, UNSCORED])
    out = {}
    for prompt_id in prompt_ids:
        mix = rng.dirichlet([0.15, 0.05, 0.08]) * (1 - unscored_rate)
        out[prompt_id] = [str(label) for label in rng.choice(choices, size=n_epochs, p=[*mix, unscored_rate])]
    return out


def _write_one(job: tuple[Path, str, list[PromptInfo], dict[str, list[str]], tuple, tuple, str, bool, dict]) -> Path:
    from inspect_ai.log import write_eval_log

    path, model, prompts, labels, temperatures, seeds, judge, with_reductions, options = job
    log = build_eval_log(model, prompts, labels, temperatures, seeds, judge, with_reductions, **options)
    write_eval_log(log, str(path))
    return path


def second_judge_labels(
    labels: Mapping[str, Sequence[str]], rng: np.random.Generator, disagree_rate: float = 0.10
) -> dict[str, list[str]]:
    """A second judge's labels of the same responses: equal to ``labels`` except on a random ``disagree_rate``."""
    out = {}
    for prompt_id, prompt_labels in labels.items():
        changed = rng.random(len(prompt_labels)) < disagree_rate
        others = rng.choice(np.array(LABELS), len(prompt_labels))
        out[prompt_id] = [str(o) if c else str(lab) for lab, c, o in zip(prompt_labels, changed, others, strict=True)]
    return out


def write_study(
    out_dir: Path,
    models: Sequence[str],
    n_prompts: int,
    temperatures: Sequence[float] = (0.0, 0.3, 0.7, 1.0),
    seeds: Sequence[int] = (42, 43, 44, 45, 46),
    judge: str = "heuristic",
    seed: int = 0,
    with_reductions: bool = True,
    second_judge: str | None = None,
    fingerprints: bool = True,
    old_layout: bool = False,
) -> list[Path]:
    """Write one .eval log per model with random labels (models written in parallel); return the paths.

    With ``second_judge``, a second scorer (role "second"; ``judge`` gets role "primary") labels the same
    responses, agreeing with ``judge`` except on a seeded 10 %. The first judge's labels depend on ``seed``
    only, so studies written with and without a second judge or fingerprints hold the same primary labels.
    """
    from refusal_stability.analysis.parallel import fork_map

    rng = np.random.default_rng(seed)
    second_rng = np.random.default_rng([seed, 1])
    prompts = [PromptInfo(f"p-{i:05d}", source=("advbench", "harmbench")[i % 2]) for i in range(n_prompts)]
    n_epochs = len(temperatures) * len(seeds)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for index, model in enumerate(models):
        labels = random_labels([p.prompt_id for p in prompts], n_epochs, rng)
        options: dict[str, Any] = {"fingerprints": fingerprints, "old_layout": old_layout}
        if second_judge is not None:
            options.update(second_judges={second_judge: second_judge_labels(labels, second_rng)}, with_roles=True)
        jobs.append(
            (
                out_dir / f"study-{index:02d}.eval",
                model,
                prompts,
                labels,
                tuple(temperatures),
                tuple(seeds),
                judge,
                with_reductions,
                options,
            )
        )
    return list(fork_map(_write_one, jobs))
