"""Shared test helpers: the location of ../shared research data, skipped on a user's machine, required in CI.

Helper modules that live beside the tests (``mock_models``, ``synthetic_logs``) are imported by name: pytest
puts this folder on ``sys.path`` (rootdir-based, no ``__init__.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vllm_server import in_ci

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
        if in_ci():
            pytest.fail(f"{message}; CI must run with ../shared beside the checkout")
        pytest.skip(message)
    return path


@pytest.fixture
def shared_data() -> type:
    """The :func:`shared_path` helper as a fixture: ``shared_data("paper/prompts.csv")``."""
    return shared_path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def bundled_model_dir() -> Path:
    """The bundled model converted for vLLM; skipped without it on a user's machine, an error under CI."""
    from vllm_server import bundled_model_or_skip

    return bundled_model_or_skip()


@pytest.fixture(scope="session")
def vllm_server(bundled_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One real vLLM server of the bundled model for the session (see ``tests/vllm_server.py``)."""
    from vllm_server import Server

    server = Server(bundled_model_dir, tmp_path_factory.mktemp("vllm") / "server.log")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VLLM_API_KEY", server.api_key)  # Inspect's vllm provider sends it (also on eval_retry)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def anthropic_server():  # noqa: ANN201
    """A loopback Anthropic Messages API for the session (see ``tests/provider_servers.py``)."""
    from provider_servers import AnthropicServer

    server = AnthropicServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def openai_server():  # noqa: ANN201
    """A loopback OpenAI Chat Completions API for the session (see ``tests/provider_servers.py``)."""
    from provider_servers import OpenAIServer

    server = OpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture
def anthropic_api(anthropic_server, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """The session's Anthropic loopback, emptied, with ``ANTHROPIC_BASE_URL``/``_API_KEY`` set for the test."""
    anthropic_server.reset()
    for name, value in anthropic_server.environment().items():
        monkeypatch.setenv(name, value)
    return anthropic_server


@pytest.fixture
def openai_api(openai_server, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """The session's OpenAI loopback, emptied, with ``OPENAI_BASE_URL``/``_API_KEY`` set for the test."""
    openai_server.reset()
    for name, value in openai_server.environment().items():
        monkeypatch.setenv(name, value)
    return openai_server
