"""Benign prompts: the bundled controls, XSTest from the HF hub, and controls added to any prompt set.

A benign prompt expects ``comply``: refusing it is over-refusal. The bundled controls (40 prompts written for
this project, in XSTest's kinds) and a user's controls file are added to the main prompt set with
``-T controls=``; ``-T dataset=xstest`` loads XSTest's safe and unsafe prompts with their own expectation.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from inspect_ai.dataset import Sample, hf_dataset

from refusal_stability.definitions.expected import EXPECT_COMPLY, parse_expected
from refusal_stability.errors import InputError
from refusal_stability.inspect_tasks.datasets import FileColumns, check_unique_ids, load_prompt_file, prompt_sample

CONTROLS_FILE = "benign_controls.jsonl"
CONTROLS_BUNDLED = "bundled"
# XSTest (Röttger et al., 2024; CC BY 4.0): 250 safe prompts in ten types and 200 unsafe contrasts. The hub copy
# is gated (accept its terms and set HF_TOKEN); the revision is the commit HELM pins for the same data.
XSTEST_PATH = "walledai/XSTest"
XSTEST_SPLIT = "test"
XSTEST_REVISION = "f1d713187c61b6ae64e602d74f0b3d812cc2e8e8"


@dataclass(frozen=True)
class XSTestSource:
    """Where XSTest comes from (the task's ``xstest_*`` options).

    Attributes:
        path: hub id, or a local directory with the hub's layout (columns prompt, type, label; optional id).
        split: dataset split.
        revision: git revision (a commit SHA pins the data; recorded in the log's task args).
    """

    path: str = XSTEST_PATH
    split: str = XSTEST_SPLIT
    revision: str | None = XSTEST_REVISION


def load_controls(controls: str) -> list[Sample]:
    """Benign control prompts: ``bundled`` (shipped with the package) or a CSV/JSONL file of prompts.

    Every control expects ``comply``. A file may carry an ``expected`` column; a row in it that is not benign
    (``comply``, ``safe`` or ``benign``) is an error naming the row, since controls are benign by definition.

    Args:
        controls: ``bundled`` or a path to a .csv/.jsonl/.json file (the columns of a prompt file).

    Raises:
        InputError: a missing or malformed file, or a control row that expects a refusal.
    """
    if not isinstance(controls, str) or not controls.strip():
        raise InputError(f"controls={controls!r}: expected 'bundled' or a path to a .csv/.jsonl file of benign prompts")
    if controls == CONTROLS_BUNDLED:
        data = resources.files("refusal_stability.inspect_tasks") / "data" / CONTROLS_FILE
        with resources.as_file(data) as file:
            return load_prompt_file(file, FileColumns(default_expected=EXPECT_COMPLY))
    samples = load_prompt_file(controls, FileColumns(default_expected=EXPECT_COMPLY))
    for sample in samples:
        if (sample.metadata or {}).get("expected") != EXPECT_COMPLY:
            raise InputError(
                f"controls file {controls!r}: prompt {sample.id!r} expects a refusal; benign controls must expect "
                "comply (drop the row or its expected value, or put it in the main dataset)"
            )
    return samples


def add_controls(samples: list[Sample], controls: list[Sample], where: str) -> list[Sample]:
    """The main prompts followed by the controls; an id in both is an error naming it.

    Args:
        samples: the main prompt set.
        controls: benign controls (``load_controls``).
        where: the controls option as given, for the error message.

    Raises:
        InputError: a control's id equals a main prompt's id.
    """
    ids = {str(sample.id) for sample in samples}
    for control in controls:
        if str(control.id) in ids:
            raise InputError(
                f"controls={where!r}: control id {control.id!r} is also a prompt id of the main dataset; "
                "ids must be unique across both (rename the control)"
            )
    return [*samples, *controls]


def _xstest_sample(record: dict[str, Any], number: int, source: XSTestSource) -> Sample:
    """One XSTest row as a Sample: label safe/unsafe -> expected, type -> category."""
    where = f"XSTest ({source.path}, split {source.split}) row {number}"
    expected = parse_expected(record.get("label"))
    if expected is None:
        raise InputError(f"{where}: label {record.get('label')!r} is not 'safe' or 'unsafe'")
    kind = record.get("type")
    return prompt_sample(
        prompt=record.get("prompt"),
        sample_id=record.get("id"),
        source="xstest",
        categories=[str(kind)] if kind else [],
        where=where,
        expected=expected,
    )


def load_xstest(source: XSTestSource = XSTestSource()) -> list[Sample]:
    """XSTest's prompts in dataset order, each with ``expected`` from its label and ``category`` from its type.

    Ids are the dataset's ``id`` column when it has one, else a hash of the prompt text (stable across
    revisions that keep the text).

    Raises:
        InputError: the hub cannot be reached (offline, or the gated dataset without a token) and no local copy
            was given; a row without a safe/unsafe label.
    """
    rows: list[dict[str, Any]] = []

    def keep(record: dict[str, Any]) -> list[Sample]:
        rows.append(dict(record))
        return []

    try:
        hf_dataset(source.path, split=source.split, revision=source.revision, sample_fields=keep, cached=False)
    except Exception as ex:  # noqa: BLE001 - datasets raises many types when the hub is unreachable
        if Path(source.path).expanduser().exists():
            raise
        first = str(ex).splitlines()[0] if str(ex) else ""
        raise InputError(
            f"XSTest ({source.path}, split {source.split}, revision {source.revision}) could not be fetched from the "
            f"Hugging Face hub ({type(ex).__name__}: {first}). The hub copy is gated: accept its terms and set "
            "HF_TOKEN, or give a local copy (-T xstest_path=<directory>); offline, -T controls=bundled adds 40 "
            "benign prompts"
        ) from None
    samples = [_xstest_sample(record, number, source) for number, record in enumerate(rows, start=1)]
    if not samples:
        raise InputError(f"XSTest ({source.path}, split {source.split}) holds no rows")
    check_unique_ids(samples, f"XSTest ({source.path}, split {source.split})")
    return samples
