"""The AI provider: any OpenAI-compatible server (a hosted API, Ollama, vLLM, LM Studio), reached with
the official ``openai`` client at ``ai.endpoint_url`` (SPEC §4.16).

Every call builds an ``AsyncOpenAI`` client from the settings of that moment, so a change in
Settings → AI applies to the next request. The client is async: nothing here blocks the event loop.
It never retries by itself (a timeout must not silently triple); the designer's one corrective
retry is a decision of ``routes``. Failures become ``ProviderError`` with the SPEC's wording, and the
key never appears in one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from ..platform.runtime_settings import RuntimeSettings

# SPEC §4.16. Tests shorten it to exercise the timeout message; the product never does.
TIMEOUT = openai.Timeout(connect=10, read=90, write=30, pool=10)
INVALID_KEY = "Invalid API key — authentication failed."
NOT_FOUND = "Model '{model}' not found at this endpoint."
TIMED_OUT = "Connection timed out after {seconds:g} s."
NETWORK = "Network error: {reason}"
PROVIDER_ERROR = "The AI provider returned an error: {reason}"
CONNECTION_OK = "Connection OK (model {model}, {ms} ms)"

Messages = list[dict[str, str]]


class ProviderError(Exception):
    """A call that failed, with what the user is told (``message``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def in_chat(self) -> str:
        """How the chat and the generator report it: "The AI provider returned an error: …"."""
        return PROVIDER_ERROR.format(reason=self.message)


@dataclass(frozen=True)
class Provider:
    endpoint: str
    api_key: str = field(repr=False)  # out of any repr, so of any traceback or log line
    model: str
    max_tokens: int = 2048
    temperature: float = 0.7

    @classmethod
    def from_settings(cls, settings: RuntimeSettings) -> Provider | None:
        """The provider as configured now, or None while the designer is off."""
        if not settings.ai_configured():
            return None
        return cls(
            endpoint=str(settings.get("ai.endpoint_url")),
            api_key=str(settings.get("ai.api_key")),
            model=str(settings.get("ai.model")),
            max_tokens=int(settings.get("ai.max_tokens")),
            temperature=float(settings.get("ai.temperature")),
        )

    def _client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.endpoint, api_key=self.api_key, timeout=TIMEOUT, max_retries=0)

    def _request(self, messages: Messages, max_tokens: int | None = None) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature,
        }

    async def complete(self, messages: Messages) -> str:
        """The whole answer to ``messages``."""
        async with self._client() as client:
            try:
                answer = await client.chat.completions.create(**self._request(messages))
            except (openai.APIError, httpx2.HTTPError) as exc:
                raise self._failure(exc) from None
        choices = getattr(answer, "choices", None) or []
        return str(choices[0].message.content or "") if choices else ""

    async def stream(self, messages: Messages) -> AsyncIterator[str]:
        """The answer to ``messages``, piece by piece as the server sends it."""
        async with self._client() as client:
            try:
                chunks = await client.chat.completions.create(**self._request(messages), stream=True)
                async for chunk in chunks:
                    piece = chunk.choices[0].delta.content if chunk.choices else None
                    if piece:
                        yield piece
            except (openai.APIError, httpx2.HTTPError) as exc:
                raise self._failure(exc) from None

    async def test_connection(self) -> str:
        """"Connection OK (model x, N ms)", or ProviderError: a one-token completion, since that is
        the call the designer makes (a model list would not prove the model answers)."""
        started = time.perf_counter()
        async with self._client() as client:
            try:
                request = self._request([{"role": "user", "content": "Reply with OK."}], max_tokens=5)
                await client.chat.completions.create(**request)
            except (openai.APIError, httpx2.HTTPError) as exc:
                raise self._failure(exc) from None
        elapsed = round((time.perf_counter() - started) * 1000)
        return CONNECTION_OK.format(model=self.model, ms=elapsed)

    def _failure(self, exc: Exception) -> ProviderError:
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return ProviderError(INVALID_KEY)
        if isinstance(exc, openai.NotFoundError):
            return ProviderError(NOT_FOUND.format(model=self.model))
        timeout = exc if isinstance(exc, httpx2.TimeoutException) else exc.__cause__
        if isinstance(exc, openai.APITimeoutError) or isinstance(timeout, httpx2.TimeoutException):
            return ProviderError(TIMED_OUT.format(seconds=_seconds(timeout)))
        if isinstance(exc, openai.APIConnectionError | httpx2.HTTPError):
            reason = str(exc.__cause__ or exc) if isinstance(exc, openai.APIConnectionError) else str(exc)
            return ProviderError(NETWORK.format(reason=_scrub(reason or type(exc).__name__, self.api_key)))
        if isinstance(exc, openai.APIStatusError):
            return ProviderError(_scrub(f"{exc.status_code} {_detail(exc)}", self.api_key))
        return ProviderError(_scrub(str(exc), self.api_key))


def _seconds(timeout: BaseException | None) -> float:
    """The limit that ran out: connect, write or pool when the exception says so, else read."""
    kind = {httpx2.ConnectTimeout: "connect", httpx2.WriteTimeout: "write", httpx2.PoolTimeout: "pool"}
    name = next((v for k, v in kind.items() if isinstance(timeout, k)), "read")
    value = getattr(TIMEOUT, name)
    return float(value) if value is not None else 0.0


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    return str((error or {}).get("message") or exc.message)[:300]


def _scrub(text: str, secret: str) -> str:
    """A provider may echo the key in an error message (some do, in part): never pass it on."""
    return text.replace(secret, "●●●●") if secret else text
