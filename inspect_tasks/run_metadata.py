"""The task metadata that makes a run reproducible (the log header's ``eval.metadata``).

Recorded beside the grid as requested: the prompt set's SHA-256, this package's version, the exact system
prompt, for BeaverTails the commit the hub resolved the requested revision to, and the vLLM version installed
here (the server Inspect starts for a ``vllm/`` model runs it; a server reached by URL may run another).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from inspect_ai.dataset import Dataset

from refusal_stability.inspect_tasks.datasets import BeaverTailsSource
from refusal_stability.run_record import (
    installed_version,
    is_commit_sha,
    package_version,
    prompt_set_sha256,
    prompt_text_sha256,
)

logger = logging.getLogger(__name__)


def sample_text(sample: Any) -> str:
    """A sample's input as text (a chat input: its messages' text joined by newlines)."""
    if isinstance(sample.input, str):
        return sample.input
    return "\n".join(str(message.text) for message in sample.input)


def fingerprint_prompts(dataset: Dataset) -> None:
    """Put each prompt's text fingerprint in its metadata as ``prompt_sha256`` (the analysis compares runs by it)."""
    for sample in dataset:
        sample.metadata = {**(sample.metadata or {}), "prompt_sha256": prompt_text_sha256(sample_text(sample))}


def dataset_sha256(dataset: Dataset) -> str:
    """:func:`prompt_set_sha256` of a dataset's (id, text, expected) triples."""
    return prompt_set_sha256(
        (sample.id, sample_text(sample), (sample.metadata or {}).get("expected")) for sample in dataset
    )


def beavertails_resolved_revision(source: BeaverTailsSource) -> str | None:
    """The commit SHA the hub resolves ``source.revision`` to (None for a local copy or when the hub says nothing).

    A requested revision that is not a commit SHA (a branch such as ``main``) logs a warning: the data behind it
    can change between runs.
    """
    if Path(source.path).expanduser().exists():
        return None
    try:
        from huggingface_hub import HfApi

        resolved = HfApi().dataset_info(source.path, revision=source.revision).sha
    except Exception as ex:  # noqa: BLE001 - the data loaded; only the record of its commit is missing
        logger.warning(f"BeaverTails: could not resolve revision {source.revision!r} to a commit ({type(ex).__name__})")
        return None
    if not is_commit_sha(source.revision):
        logger.warning(
            f"beavertails_revision={source.revision!r} is a branch, not a commit: the data can change between runs; "
            f"this run read commit {resolved} (recorded in the log); pin it with -T beavertails_revision={resolved}"
        )
    return str(resolved) if resolved else None


def run_metadata(
    prompts: Dataset,
    grid_request: dict[str, Any],
    system_prompt: str | None,
    beavertails: BeaverTailsSource | None,
) -> dict[str, Any]:
    """The reproducibility fields of the task metadata (see docs/log-schema.md, "Task metadata").

    Args:
        prompts: the dataset as the task will run it.
        grid_request: the grid as the user gave it: ``temperatures`` (list or ``"default"``), ``seeds`` (list or
            ``"none"``), ``draws`` (int or None), ``top_p`` (float or None: not sent), ``sampling``.
        system_prompt: the exact system message text (None: none).
        beavertails: the BeaverTails source when the dataset is BeaverTails, else None.
    """
    return {
        **grid_request,
        "system_prompt": system_prompt,
        "prompt_set_sha256": dataset_sha256(prompts),
        "n_prompts_run": len(prompts),
        "package_version": package_version(),
        "beavertails_resolved_revision": beavertails_resolved_revision(beavertails) if beavertails else None,
        "vllm_installed_version": installed_version("vllm"),
    }
