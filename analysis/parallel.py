"""Run independent jobs (log reads, figure groups) in forked worker processes where the OS allows it."""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Worker processes to use by default: min(2, CPUs) (pass ``workers=`` to choose)."""
    return max(1, min(2, os.cpu_count() or 1))


def fork_map(func: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> Iterator[R]:
    """``func(item)`` for each item, in order, spread over forked processes when there is more than one item.

    Args:
        func: a picklable callable (module-level function or a partial of one).
        items: the inputs.
        workers: processes to use (default :func:`default_workers`); 1 runs in this process.

    Falls back to running in this process where fork is unavailable (Windows, macOS default), where this
    process runs other threads (forking them is unsafe: e.g. the demo, after Inspect ran), or one worker
    is requested. ``func`` should return errors as values: an exception in a worker is re-raised.
    """
    workers = min(workers or default_workers(), len(items))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        yield from map(func, items)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads present
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    with pool:
        yield from pool.map(func, items)
