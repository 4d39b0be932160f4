"""Shared test helpers: the location of ../shared research data, skipped on a user's machine, required in CI.

Helper modules that live beside the tests (``mock_models``, ``synthetic_logs``) are imported by name: pytest
puts this folder on ``sys.path`` (rootdir-based, no ``__init__.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(relative: str) -> Path:
    """Return ``../shared/<relative>``; skip the test when it is absent, fail instead when ``CI`` is set.

    Args:
        relative: path below the shared folder, e.g. ``"paper/prompts.csv"``.

    Returns:
        The existing path.
    """
    path = SHARED / relative
    if not path.exists():
        message = f"shared research data {path} is absent"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run with ../shared beside the checkout")
        pytest.skip(message)
    return path


@pytest.fixture
def shared_data() -> type:
    """The :func:`shared_path` helper as a fixture: ``shared_data("paper/prompts.csv")``."""
    return shared_path  # type: ignore[return-value]
