"""Forked jobs: fork_map and fork_start run in other processes, keep item order and report failures."""

from __future__ import annotations

import os

import pytest

from refusal_stability.analysis.parallel import can_fork, fork_map, fork_start


def square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_fork_start_runs_in_children_while_the_caller_works() -> None:
    wait = fork_start(square_and_pid, [1, 2, 3, 4, 5], workers=2)
    results = wait()
    assert [value for value, _ in results] == [1, 4, 9, 16, 25]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and len(pids) == 2  # items 1,3,5 in one child, 2,4 in the other


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_fork_start_reraises_a_child_failure() -> None:
    wait = fork_start(fail_on_three, [1, 2, 3], workers=2)
    with pytest.raises(RuntimeError, match="ValueError: three is bad"):
        wait()


def test_fork_start_with_one_worker_runs_here_when_asked() -> None:
    wait = fork_start(square_and_pid, [2, 3], workers=1)
    assert wait() == [(4, os.getpid()), (9, os.getpid())]


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_fork_map_keeps_order_across_workers() -> None:
    results = list(fork_map(square_and_pid, [3, 1, 2], workers=2))
    assert [value for value, _ in results] == [9, 1, 4]
    assert os.getpid() not in {pid for _, pid in results}


@pytest.mark.parametrize("n_files", [0, 1, 3, 7, 20, 480])
def test_reading_chunks_are_balanced_and_ordered(n_files: int) -> None:
    from refusal_stability.analysis.inputs import CHUNK_FILES, _chunks

    chunks = _chunks(list(range(n_files)), 2)
    assert [f for chunk in chunks for f in chunk] == list(range(n_files))
    sizes = [len(chunk) for chunk in chunks]
    assert all(0 < size <= CHUNK_FILES for size in sizes) and (not sizes or max(sizes) - min(sizes) <= 1)
    assert len(chunks) >= min(n_files, 8)  # several per worker
