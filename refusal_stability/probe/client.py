"""The probe's HTTP side: one chat completion per call from an OpenAI-compatible server (vLLM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ChatClient", "Completion", "OpenAIChatClient"]


@dataclass(frozen=True)
class Completion:
    """One chat completion: the text and how it ended."""

    text: str
    finish_reason: str | None = None
    completion_tokens: int | None = None


class ChatClient(Protocol):
    """What the probe needs from a server: one chat completion per call (the OpenAI-compatible API)."""

    async def complete(
        self, prompt: str, *, temperature: float, seed: int, max_tokens: int, top_p: float = 1.0
    ) -> Completion:
        """Answer ``prompt`` (one user message) with the given sampling parameters."""
        ...


class OpenAIChatClient:
    """A :class:`ChatClient` for an OpenAI-compatible server (vLLM's ``/v1/chat/completions``)."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 600.0, max_retries: int = 2) -> None:
        """Create the client.

        Args:
            base_url: The server's ``/v1`` URL.
            api_key: Sent as ``Authorization: Bearer <key>``.
            model: The served model name.
            timeout: Seconds per request.
            max_retries: The OpenAI client's retries on connection errors and 5xx.
        """
        from openai import AsyncOpenAI

        self.model = model
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)

    async def complete(
        self, prompt: str, *, temperature: float, seed: int, max_tokens: int, top_p: float = 1.0
    ) -> Completion:
        """Answer ``prompt`` as one user message; see :class:`ChatClient`."""
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": prompt}],
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
            top_p=top_p,
        )
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            completion_tokens=usage.completion_tokens if usage is not None else None,
        )

    async def served_models(self) -> list[str]:
        """Names the server serves (``GET /v1/models``)."""
        page = await self._client.models.list()
        return [model.id for model in page.data]

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()
