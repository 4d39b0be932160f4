"""Run independent jobs (log reads, figure groups) in forked worker processes where the OS allows it."""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Worker processes to use by default: min(2, CPUs) (pass ``workers=`` to choose)."""
    return max(1, min(2, os.cpu_count() or 1))


def can_fork() -> bool:
    """True where forking is available and safe: the OS has fork and this process runs no other thread."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


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
    if workers <= 1 or not can_fork():
        yield from map(func, items)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads present
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    with pool:
        yield from pool.map(func, items)


def _run_chunk(func: Callable[[T], R], items: list[T], send: Any) -> None:
    """Child side of :func:`fork_start`: run the chunk, send ("ok", results) or ("error", message)."""
    try:
        message: tuple[str, Any] = ("ok", [func(item) for item in items])
    except BaseException as exc:  # report any failure to the parent, which re-raises it
        message = ("error", f"{type(exc).__name__}: {exc}")
    send.send(message)
    send.close()


def fork_start(func: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> Callable[[], list[R]]:
    """Start ``func(item)`` for every item in forked processes now; return a function that waits for them.

    Unlike :func:`fork_map`, the caller keeps working while the children run (e.g. figures are drawn while
    the flip evidence is read). The children are forked, so ``func`` and the items are inherited, not
    pickled; only the results travel back (pickled through a pipe).

    Args:
        func: the job (results must be picklable).
        items: the inputs; child ``i`` runs items ``i``, ``i + workers``, ...
        workers: child processes (default :func:`default_workers`). With 1 worker requested, or where
            forking is unavailable or unsafe (see :func:`can_fork`), nothing starts now and the returned
            function runs the jobs in this process.

    Returns:
        A function that waits for the children and returns the results in item order; it re-raises a
        child's failure as RuntimeError naming it.
    """
    n = min(workers or default_workers(), len(items))
    if (workers is not None and workers <= 1) or n < 1 or not can_fork():
        return lambda: [func(item) for item in items]
    context = multiprocessing.get_context("fork")
    children = []
    for first in range(n):
        chunk = list(range(first, len(items), n))
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_run_chunk, args=(func, [items[i] for i in chunk], send), daemon=True)
        child.start()
        send.close()
        children.append((chunk, receive, child))

    def wait() -> list[R]:
        results: dict[int, R] = {}
        failures = []
        for chunk, receive, child in children:
            try:
                status, payload = receive.recv()
            except EOFError:
                status, payload = "error", "worker process ended without a result"
            child.join()
            if status == "ok":
                results.update(zip(chunk, payload, strict=True))
            else:
                failures.append(payload)
        if failures:
            raise RuntimeError(f"{len(failures)} worker process(es) failed: {'; '.join(failures)}")
        return [results[i] for i in range(len(items))]

    return wait
