"""Verdict cache: identical (prompt, response) pairs are judged once, by the same grader only.

At temperature 0 most seeds return the same text, so a 20-epoch run repeats many pairs. The cache lives in
the scorer instance (one per task run) and is keyed by the grader's full identity (``grading.grader_identity``:
model name, base URL, model args, generate config, template hash), the prompt and the response. Inspect
scores samples concurrently: a per-key lock makes concurrent identical pairs wait for the first grading and
reuse its verdict, so each distinct pair costs one grading (or its retries) per run.

What is cached: verdicts with a label, and "unscored" verdicts whose grader output was unparseable after
every attempt (temperature 0 and a fixed seed would repeat it). A grader call that raises caches nothing.
Only labelled verdicts go to the optional on-disk cache (one JSON file per key, written atomically, holding
the grader identity it was made with), which is shared across runs and processes. An entry whose stored
identity differs from the reader's is a miss, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from refusal_stability.definitions.labels import LABELS

__all__ = ["CachedVerdict", "VerdictCache", "cache_key", "check_cache_dir"]

logger = logging.getLogger(__name__)

_DISK_FORMAT = 2  # 2: entries carry the grader identity


@dataclass(frozen=True)
class CachedVerdict:
    """One grading outcome.

    Attributes:
        label: REFUSE / PARTIAL / COMPLY, or None when unscored.
        reasoning: the grader's reasoning (Score explanation).
        grader_raw: the grader's last raw output.
        reason: why the verdict is unscored (None when labelled).
        attempts: grader calls made.
    """

    label: str | None
    reasoning: str
    grader_raw: str
    reason: str | None = None
    attempts: int = 1


def _canonical(identity: Mapping[str, Any]) -> str:
    return json.dumps(identity, sort_keys=True, ensure_ascii=False, default=repr)


def cache_key(identity: Mapping[str, Any], prompt: str, response: str) -> str:
    """SHA-256 hex key of (grader identity, prompt, response).

    Args:
        identity: the grader's identity (JSON-serialisable; other values are keyed by their repr).
        prompt: the request.
        response: the response under judgement.

    Returns:
        64 hex digits.
    """
    payload = json.dumps([_canonical(identity), prompt, response], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def check_cache_dir(path: str | Path) -> Path:
    """Create the on-disk cache directory if needed; a path that is a file is an error.

    Args:
        path: the directory.

    Returns:
        The resolved directory.

    Raises:
        ValueError: the path exists and is not a directory, or cannot be created.
    """
    directory = Path(path).expanduser()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"verdict_cache_dir={str(path)!r} is an existing file: expected a directory (or a new path)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise ValueError(f"verdict_cache_dir={str(path)!r} cannot be created: {ex.strerror or ex}") from None
    return directory


class VerdictCache:
    """In-run verdict cache, safe under concurrent scoring, with an optional on-disk layer.

    Args:
        disk_dir: directory of the on-disk cache; None keeps the cache in memory only.
    """

    def __init__(self, disk_dir: str | Path | None = None) -> None:
        """Create the cache (and the on-disk directory when given)."""
        self._memory: dict[str, CachedVerdict] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self.disk_dir = check_cache_dir(disk_dir) if disk_dir is not None else None
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        """Number of verdicts held in memory."""
        return len(self._memory)

    async def get_or_compute(
        self,
        identity: Mapping[str, Any],
        prompt: str,
        response: str,
        compute: Callable[[], Awaitable[CachedVerdict]],
    ) -> tuple[CachedVerdict, bool]:
        """Return the verdict for the pair by this grader, computing it at most once at a time.

        An exception raised by ``compute`` (a failed grader call) propagates and caches nothing.

        Args:
            identity: the grader's identity.
            prompt: the request.
            response: the response under judgement.
            compute: coroutine factory that grades the pair.

        Returns:
            (verdict, cached) where cached is True when no grader call was made for this request.
        """
        key = cache_key(identity, prompt, response)
        # dict access and insertion happen without an await in between: atomic on one event loop
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        async with lock:
            found = self._memory.get(key)
            if found is None:
                found = self._read_disk(key, identity)
                if found is not None:
                    self._memory[key] = found
            if found is not None:
                self.hits += 1
                return found, True
            self.misses += 1
            verdict = await compute()
            self._memory[key] = verdict
            if verdict.label in LABELS:
                self._write_disk(key, identity, verdict)
            return verdict, False

    def _path(self, key: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / key[:2] / f"{key}.json"

    def _read_disk(self, key: str, identity: Mapping[str, Any]) -> CachedVerdict | None:
        if self.disk_dir is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != _DISK_FORMAT or data.get("label") not in LABELS:
                raise ValueError(f"unexpected content (format {data.get('format')!r}, label {data.get('label')!r})")
            if data.get("identity") != json.loads(_canonical(identity)):
                logger.warning(
                    "verdict cache: %s was written by another grader (%s), not %s; the pair is re-graded",
                    path,
                    data.get("identity"),
                    _canonical(identity),
                )
                return None
            return CachedVerdict(
                label=data["label"],
                reasoning=str(data.get("reasoning", "")),
                grader_raw=str(data.get("grader_raw", "")),
                attempts=int(data.get("attempts", 1)),
            )
        except (OSError, ValueError, KeyError, TypeError) as ex:
            logger.warning("verdict cache: ignoring unreadable entry %s (%s); the pair is re-graded", path, ex)
            return None

    def _write_disk(self, key: str, identity: Mapping[str, Any], verdict: CachedVerdict) -> None:
        if self.disk_dir is None:
            return
        path = self._path(key)
        data = {
            "format": _DISK_FORMAT,
            "identity": json.loads(_canonical(identity)),
            "label": verdict.label,
            "reasoning": verdict.reasoning,
            "grader_raw": verdict.grader_raw,
            "attempts": verdict.attempts,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError as ex:
            logger.warning("verdict cache: could not write %s (%s); continuing without it", path, ex)
