"""Verdict cache: identical (prompt, response) pairs are judged once.

At temperature 0 most seeds return the same text, so a 20-epoch run repeats many pairs. The cache lives in
the scorer instance (one per task run) and is keyed by (grader model, template hash, prompt, response).
Inspect scores samples concurrently: a per-key lock makes concurrent identical pairs wait for the first
grader call and reuse its verdict, so each distinct pair costs one grading (or its retries) per run.

What is cached: verdicts with a label, and "unscored" verdicts whose grader output was unparseable after
every attempt (temperature 0 and a fixed seed would repeat it). Grader call errors (network, server) are
not cached, so an identical pair later gets a fresh try. Only labelled verdicts go to the optional on-disk
cache (one JSON file per key, written atomically), which is shared across runs and processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio

from refusal_stability.scorers.labels import LABELS

__all__ = ["CachedVerdict", "VerdictCache", "cache_key"]

logger = logging.getLogger(__name__)

_DISK_FORMAT = 1


@dataclass(frozen=True)
class CachedVerdict:
    """One grading outcome.

    Attributes:
        label: REFUSE / PARTIAL / COMPLY, or None when unscored.
        reasoning: the grader's reasoning (Score explanation).
        grader_raw: the grader's last raw output.
        reason: why the verdict is unscored (None when labelled).
        attempts: grader calls made.
        cacheable: False for outcomes that must not be reused (grader call errors).
    """

    label: str | None
    reasoning: str
    grader_raw: str
    reason: str | None = None
    attempts: int = 1
    cacheable: bool = True


def cache_key(grader: str, template_hash: str | None, prompt: str, response: str) -> str:
    """SHA-256 hex key of (grader model, template hash, prompt, response)."""
    payload = json.dumps([grader, template_hash, prompt, response], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class VerdictCache:
    """In-run verdict cache, safe under concurrent scoring, with an optional on-disk layer.

    Args:
        disk_dir: directory of the on-disk cache; None keeps the cache in memory only.
    """

    def __init__(self, disk_dir: str | Path | None = None) -> None:
        self._memory: dict[str, CachedVerdict] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self.disk_dir = Path(disk_dir).expanduser() if disk_dir is not None else None
        if self.disk_dir is not None:
            self.disk_dir.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._memory)

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[CachedVerdict]]
    ) -> tuple[CachedVerdict, bool]:
        """Return the verdict for ``key``, computing it at most once at a time.

        Args:
            key: from ``cache_key``.
            compute: coroutine factory that grades the pair.

        Returns:
            (verdict, cached) where cached is True when no grader call was made for this request.
        """
        # dict access and insertion happen without an await in between: atomic on one event loop
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        async with lock:
            found = self._memory.get(key)
            if found is None:
                found = self._read_disk(key)
                if found is not None:
                    self._memory[key] = found
            if found is not None:
                self.hits += 1
                return found, True
            self.misses += 1
            verdict = await compute()
            if verdict.cacheable:
                self._memory[key] = verdict
                if verdict.label in LABELS:
                    self._write_disk(key, verdict)
            return verdict, False

    def _path(self, key: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / key[:2] / f"{key}.json"

    def _read_disk(self, key: str) -> CachedVerdict | None:
        if self.disk_dir is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != _DISK_FORMAT or data.get("label") not in LABELS:
                raise ValueError(f"unexpected content (format {data.get('format')!r}, label {data.get('label')!r})")
            return CachedVerdict(
                label=data["label"],
                reasoning=str(data.get("reasoning", "")),
                grader_raw=str(data.get("grader_raw", "")),
                attempts=int(data.get("attempts", 1)),
            )
        except (OSError, ValueError, KeyError, TypeError) as ex:
            logger.warning("verdict cache: ignoring unreadable entry %s (%s); the pair is re-graded", path, ex)
            return None

    def _write_disk(self, key: str, verdict: CachedVerdict) -> None:
        if self.disk_dir is None:
            return
        path = self._path(key)
        data = {"format": _DISK_FORMAT, **asdict(verdict)}
        data.pop("cacheable", None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError as ex:
            logger.warning("verdict cache: could not write %s (%s); continuing without it", path, ex)
