"""What a run used besides its grid, for the log header (task metadata) and the report's Reproducibility section.

- :func:`prompt_set_sha256`: SHA-256 over the sorted (id, text[, expected]) triples of the prompts, so two logs of
  "the same" prompt set can be checked to be the same;
- :func:`prompt_text_sha256`: the per-prompt text fingerprint carried in each sample's metadata, so runs whose
  shared prompt ids hold different texts are never compared silently;
- :func:`package_version`, :func:`installed_version`: this package's and an installed distribution's version;
- :func:`is_commit_sha`: whether a requested dataset revision pins a commit (a branch moves).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from importlib import metadata
from typing import Any

DISTRIBUTION = "refusal-stability"
_COMMIT = re.compile(r"[0-9a-f]{40}")


def prompt_text_sha256(text: str) -> str:
    """The first 16 hex digits of the SHA-256 of a prompt's text (UTF-8, as sent)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def prompt_set_sha256(prompts: Iterable[tuple[Any, str, Any]]) -> str:
    """SHA-256 (hex) of a prompt set: its (id, text, expected) triples sorted by id, as canonical JSON.

    Args:
        prompts: (id, text, expected) per prompt; ``expected`` None for prompts without one (it is then left
            out of the hashed record, so sets without ``expected`` hash as (id, text) pairs).
    """
    records = sorted(
        ([str(prompt_id), text] if expected is None else [str(prompt_id), text, str(expected)])
        for prompt_id, text, expected in prompts
    )
    canonical = json.dumps(records, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_version() -> str:
    """This package's version (``unknown`` when run from a checkout that was never installed)."""
    return installed_version(DISTRIBUTION) or "unknown"


def is_commit_sha(revision: str | None) -> bool:
    """True when ``revision`` is a full 40-hex-digit commit SHA (a branch or tag name can move)."""
    return bool(revision) and _COMMIT.fullmatch(str(revision).lower()) is not None
