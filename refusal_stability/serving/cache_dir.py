"""Where the project caches what it builds once: the converted bundled model and the ``vllm`` launcher."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "REFUSAL_STABILITY_CACHE"


def default_cache_root() -> Path:
    """Return the cache root: ``$REFUSAL_STABILITY_CACHE``, else ``$XDG_CACHE_HOME/refusal-stability``.

    Without either variable: ``~/.cache/refusal-stability``.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "refusal-stability"


def cache_root(path: str | Path | None = None) -> Path:
    """Return ``path`` (user-expanded) when given, else :func:`default_cache_root`."""
    return Path(path).expanduser() if path is not None else default_cache_root()
