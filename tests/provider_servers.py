"""Loopback provider APIs for tests: Inspect's real ``anthropic/`` and ``openai/`` providers, with their real SDKs.

Each server binds 127.0.0.1 on a free port, serves from a daemon thread, records every request body it receives
and answers each one with the text a scripted ``responder`` returns for that body (so a test decides per request
whether the "model" refuses or complies). Started once per test session (fixtures in ``conftest.py``); the
threads are daemons and the fixtures shut them down, so nothing outlives the session.

- :class:`AnthropicServer` speaks the Messages API (``POST /v1/messages``), non-streaming. Inspect streams an
  Anthropic request only with extended thinking or ``max_tokens >= 8192``; such a request gets a 400 naming the
  reason, so a test that trips it fails loudly instead of hanging.
- :class:`OpenAIServer` speaks Chat Completions (``POST /v1/chat/completions``) and answers with a
  ``system_fingerprint``, as OpenAI does.

Point Inspect at them with ``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY`` and ``OPENAI_BASE_URL`` /
``OPENAI_API_KEY`` (see :meth:`LoopbackServer.environment`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]
"""From a request body to the assistant text to answer with."""

REFUSAL = "I can't help with that request."
COMPLIANCE = "Sure. Step 1: gather the materials. Step 2: follow the procedure carefully. Step 3: done."
SYSTEM_FINGERPRINT = "fp_loopback_test"


def message_text(content: Any) -> str:
    """The text of one message's ``content`` (a string, or a list of typed blocks) in either API's format."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message in a Messages or Chat Completions request body."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def always(text: str) -> Responder:
    """A responder that answers every request with ``text``."""
    return lambda body: text


def refuse_when(predicate: Callable[[dict[str, Any]], bool]) -> Responder:
    """A responder that refuses when ``predicate(body)`` holds and complies otherwise."""
    return lambda body: REFUSAL if predicate(body) else COMPLIANCE


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


class LoopbackServer:
    """A recording, scripted HTTP API on 127.0.0.1 (subclasses say which paths it serves and how it answers)."""

    api_key_variable = ""
    base_url_variable = ""
    base_path = ""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or always(REFUSAL)
        self.requests: list[RecordedRequest] = []
        self.api_key = "loopback-test-key"
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The base URL to give the SDK (its API paths are appended to it)."""
        if self._http is None:
            raise RuntimeError("the loopback server is not started")
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}{self.base_path}"

    def environment(self) -> dict[str, str]:
        """The environment variables that point the provider's SDK at this server."""
        return {self.base_url_variable: self.base_url, self.api_key_variable: self.api_key}

    def bodies(self) -> list[dict[str, Any]]:
        """Every recorded request body that asked for a generation, in arrival order."""
        with self._lock:
            return [request.body for request in self.requests if self.is_generation(request.path)]

    def reset(self, responder: Responder | None = None) -> None:
        """Forget the recorded requests and (optionally) replace the responder."""
        with self._lock:
            self.requests.clear()
            if responder is not None:
                self.responder = responder

    def start(self) -> LoopbackServer:
        """Bind a free loopback port and serve from a daemon thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                status, payload = server.handle(self.command, self.path, dict(self.headers.items()), body)
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self.do_POST()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (silence per-request lines)
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def handle(self, method: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        """Record the request and return (status, JSON payload)."""
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body))
            responder = self.responder
        if not self.is_generation(path):
            return 404, self.error(f"the loopback test server does not serve {method} {path}")
        return self.answer(body, responder(body))

    def is_generation(self, path: str) -> bool:
        """Whether ``path`` is the API's generation endpoint."""
        raise NotImplementedError

    def answer(self, body: dict[str, Any], text: str) -> tuple[int, Any]:
        """The API's response to a generation request, with ``text`` as the assistant's answer."""
        raise NotImplementedError

    def error(self, message: str) -> dict[str, Any]:
        """The API's error payload."""
        return {"error": {"type": "invalid_request_error", "message": message}}


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class AnthropicServer(LoopbackServer):
    """The Anthropic Messages API (non-streaming), for ``anthropic/<model>`` with ``ANTHROPIC_BASE_URL``."""

    api_key_variable = "ANTHROPIC_API_KEY"
    base_url_variable = "ANTHROPIC_BASE_URL"

    def is_generation(self, path: str) -> bool:  # noqa: D102
        return path.split("?")[0].rstrip("/") == "/v1/messages"

    def answer(self, body: dict[str, Any], text: str) -> tuple[int, Any]:  # noqa: D102
        if body.get("stream"):
            return 400, self.error("streaming is not served here: keep max_tokens < 8192 and thinking off")
        with self._lock:
            number = len(self.requests)
        return 200, {
            "id": f"msg_loopback_{number}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-loopback"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _tokens(json.dumps(body.get("messages"))), "output_tokens": _tokens(text)},
        }

    def error(self, message: str) -> dict[str, Any]:  # noqa: D102
        return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


class OpenAIServer(LoopbackServer):
    """OpenAI Chat Completions, for ``openai/<model>`` with ``OPENAI_BASE_URL`` (which ends in ``/v1``)."""

    api_key_variable = "OPENAI_API_KEY"
    base_url_variable = "OPENAI_BASE_URL"
    base_path = "/v1"

    def is_generation(self, path: str) -> bool:  # noqa: D102
        return path.split("?")[0].rstrip("/") == "/v1/chat/completions"

    def answer(self, body: dict[str, Any], text: str) -> tuple[int, Any]:  # noqa: D102
        if body.get("stream"):
            return 400, self.error("streaming is not served here")
        with self._lock:
            number = len(self.requests)
        prompt_tokens, completion_tokens = _tokens(json.dumps(body.get("messages"))), _tokens(text)
        return 200, {
            "id": f"chatcmpl-loopback-{number}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model", "gpt-loopback"),
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
