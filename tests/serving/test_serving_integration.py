"""Integration: the server Inspect's ``vllm/`` provider starts with ``vllm_server_args`` listens on loopback only.

This is the demo's path (``refusal-stability demo`` without ``--base-url``): Inspect runs
``vllm serve <model> --host 127.0.0.1 --api-key <random>``. The test checks every listening socket of the real
server's process tree (API server and engine) and that requests without the key, or with Inspect's public
default key, are refused. About 1 minute on 2 cores.

Run: ``pytest -m integration tests/serving/test_serving_integration.py``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

from vllm_server import bundled_model_or_skip, http_status, require_vllm  # noqa: E402

require_vllm()

from inspect_ai.model import GenerateConfig, get_model  # noqa: E402

from refusal_stability.serving import vllm_cpu  # noqa: E402


def test_inspect_started_server_is_loopback_only_and_keyed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    converted = bundled_model_or_skip()
    # Inspect's vllm provider remembers one server per model name for the whole process (an external URL
    # that another test connected to included): a name of its own makes Inspect start this server itself.
    model_dir = tmp_path / "own-name"
    model_dir.symlink_to(converted, target_is_directory=True)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    monkeypatch.delenv("VLLM_BASE_URL", raising=False)
    vllm_cpu.ensure_vllm_cli()
    args = vllm_cpu.vllm_server_args(1024)
    key = args["api_key"]

    async def run() -> tuple[str, str, list[tuple[str, int]], dict[str, int]]:
        async with get_model(f"vllm/{model_dir}", memoize=False, **args) as model:
            output = await model.generate("Say hello.", config=GenerateConfig(max_tokens=8, temperature=0.0, seed=1))
            base_url = str(model.api.base_url)
            sockets = vllm_cpu.listening_sockets(os.getpid())
            statuses = {
                "none": http_status(f"{base_url}/models", None),
                "inspect_default": http_status(f"{base_url}/models", vllm_cpu.INSPECT_DEFAULT_API_KEY),
                "key": http_status(f"{base_url}/models", key),
            }
            return output.completion, base_url, sockets, statuses

    completion, base_url, sockets, statuses = asyncio.run(run())
    assert completion.strip()
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    assert ("127.0.0.1", port) in sockets, sockets
    exposed = [(ip, p) for ip, p in sockets if ip not in ("127.0.0.1", "::1")]
    assert not exposed, f"the server's process tree listens beyond loopback: {exposed}"
    assert statuses == {"none": 401, "inspect_default": 401, "key": 200}
