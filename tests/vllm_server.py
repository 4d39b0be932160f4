"""A real ``vllm serve`` of the bundled model for the integration tests, shared by every test file.

Started once per test session (``vllm_server`` fixture in ``conftest.py``) on 127.0.0.1 with a random API key
that Inspect reads from ``VLLM_API_KEY`` (set for the session, so ``eval_retry`` finds it too: Inspect keeps
``api_key`` out of the log). The fault test kills it and starts it again on the same port.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

from refusal_stability import vllm_cpu

MAX_MODEL_LEN = 1024


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

    def start(self) -> None:
        """Start the server (the project's serving flags) and wait until it is healthy."""
        started = time.monotonic()
        self.process, self.base_url, _ = vllm_cpu.launch_vllm_server(
            self.model_dir,
            port=self.port,
            log_path=self.log_path,
            api_key=self.api_key,
            extra_args=vllm_cpu.vllm_serve_flags(MAX_MODEL_LEN),
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
