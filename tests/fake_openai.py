"""A small OpenAI-compatible server for the AI designer's tests (SPEC §4.16, S22): a real HTTP server
on a loopback port, so Decidero's real ``openai`` client talks to it exactly as to a hosted API. No
test reaches the internet.

It serves ``POST /v1/chat/completions`` (with ``stream`` as real chunked SSE: one ``data: {chunk}``
frame per token, then ``data: [DONE]``) and ``GET /v1/models``. It checks the Bearer key and the
model like a provider does (401, 404), records every request, and is told how to behave:

- ``reply_tokens``: the chat reply, token by token; ``hold_after`` pauses the stream after that many
  tokens until ``release()`` (so a test sees the reply arrive progressively, without sleeping);
- ``answers``: what successive non-streamed completions return (the agenda generations): see the
  builders below for a valid agenda, fences, prose, bad JSON, unknown types and 25 activities;
- ``hang``: answer nothing until released (a timeout, with a short client timeout in the test);
- ``fail_status``: answer every completion with that HTTP error.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from conftest import free_port
from helpers_live import serve_in_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

API_KEY = "sk-fake-provider-key-7Q2x"
MODEL = "fake-model"
CHAT_TOKENS = ["Let's ", "plan ", "your ", "retro. ", "Who ", "will ", "attend?"]


def activity(tool_type: str, title: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "tool_type": tool_type,
        "title": title,
        "instructions": f"{title}: take part.",
        "duration_minutes": 10,
        "config": config or {},
        "rationale": f"Why {title}: it fits the goal.",
        **extra,
    }


def agenda(*activities: dict[str, Any]) -> dict[str, Any]:
    return {"title": "Team Retro", "description": "A retrospective designed with AI.", "activities": list(activities)}


VALID_AGENDA = agenda(
    activity("brainstorming", "Collect ideas", {"prompt": "What went well?", "allow_comments": True, "colour": "red"}),
    activity("voting", "Pick favourites", {"options": ["Speed", "Quality", "Fun"], "max_votes": 3, "max_per_option": 2}),
    activity("rank_order_voting", "Rank the themes", {"ideas": ["Process", "Tools"]}),
)


def as_json(value: dict[str, Any]) -> str:
    return json.dumps(value)


def fenced(value: dict[str, Any]) -> str:
    return "```json\n" + json.dumps(value, indent=2) + "\n```"


PROSE = "Here is a great agenda: first brainstorm, then vote. Good luck with your meeting!"
BAD_JSON = '{"title": "Team Retro", "activities": [{"tool_type": "brainstorming",'
UNKNOWN_TYPES = as_json(agenda(activity("poll", "Quick poll"), activity("brainstorming", "Ideas")))
TOO_MANY = as_json(agenda(*(activity("brainstorming", f"Round {n}") for n in range(1, 26))))


@dataclass
class FakeProvider:
    port: int = field(default_factory=free_port)
    reply_tokens: list[str] = field(default_factory=lambda: list(CHAT_TOKENS))
    answers: list[str] = field(default_factory=list)
    hold_after: int | None = None
    hang: bool = False
    fail_status: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokens_sent: int = 0
    _released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def release(self) -> None:
        self._released.set()

    def chat_requests(self, stream: bool) -> list[dict[str, Any]]:
        return [r for r in self.requests if bool(r.get("stream")) == stream]

    # -- the HTTP side ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    async def _models(self, request: Request) -> Response:
        refusal = self._check_key(request)
        return refusal or JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fake"}]})

    def _check_key(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            error = {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}
            return JSONResponse({"error": error}, status_code=401)
        return None

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        refusal = self._check_key(request)
        if refusal is not None:
            return refusal
        if body.get("model") != MODEL:
            error = {"message": f"The model `{body.get('model')}` does not exist.", "type": "invalid_request_error", "code": "model_not_found"}
            return JSONResponse({"error": error}, status_code=404)
        if self.fail_status:
            return JSONResponse({"error": {"message": "The server had an error.", "type": "server_error"}}, status_code=self.fail_status)
        if self.hang:
            await self._wait_released()
        if body.get("stream"):
            return StreamingResponse(self._chunks(), media_type="text/event-stream")
        content = self.answers.pop(0) if self.answers else "".join(self.reply_tokens)
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def _wait_released(self) -> None:
        while not self._released.is_set():
            await asyncio.sleep(0.02)

    async def _chunks(self) -> AsyncIterator[bytes]:
        for number, token in enumerate(self.reply_tokens):
            if self.hold_after is not None and number == self.hold_after:
                await self._wait_released()
            yield self._frame({"role": "assistant", "content": token} if number == 0 else {"content": token}, None)
            self.tokens_sent += 1
        yield self._frame({}, "stop")
        yield b"data: [DONE]\n\n"

    @staticmethod
    def _frame(delta: dict[str, Any], finish: str | None) -> bytes:
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()


@contextmanager
def running_fake_provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    server, thread = serve_in_thread(fake.app(), fake.port)
    try:
        yield fake
    finally:
        fake.release()
        server.should_exit = True
        thread.join(timeout=15)
