"""/designer (SPEC §4.16) and Settings → AI's Test connection.

The chat: a message is stored, then its reply streams from the provider to the browser over SSE
(``/designer/stream``), token by token, and is stored once complete. Without JavaScript the POST
waits for the whole reply instead. Generate asks for the agenda as JSON, checks it against the
catalog, retries once with the problems, and keeps every answer for the audit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..meetings import drafts
from ..meetings.lifecycle import PlannedActivity
from ..platform.errors import Conflict, Forbidden, FormErrors
from ..platform.models import User
from ..platform.routes import settings as settings_page
from ..platform.web import current_user, form_data, redirect, render, see_other, services, wants_fragment
from . import catalog, conversations
from .catalog import DesignedAgenda, Unusable
from .provider import Provider, ProviderError

NOT_CONFIGURED = "The AI meeting designer is not configured. Ask an administrator to set it up in Settings → AI."
DESIGNERS_ONLY = "Only facilitators and administrators can use the AI designer."
ADMINS_ONLY = "Only administrators can configure or test the AI provider."
ATTEMPTS = 2  # the answer, then one corrective retry (SPEC §4.16)
SSE_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}


def _designer(request: Request) -> User:
    user = current_user(request)
    if not user.is_facilitator:
        raise Forbidden(DESIGNERS_ONLY)
    return user


def _provider(request: Request) -> Provider:
    provider = Provider.from_settings(services(request).settings)
    if provider is None:
        raise Conflict(NOT_CONFIGURED)
    return provider


async def _page(
    request: Request,
    user: User,
    conversation_id: str | None,
    *,
    generation_id: str = "",
    content: str = "",
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    everyone = request.query_params.get("scope") == "all" and user.is_admin

    def load() -> dict[str, Any]:
        chosen = conversations.readable(user, conversation_id) if conversation_id else None
        chat = conversations.chat(chosen) if chosen is not None else None
        generation, agenda = conversations.generation(user, generation_id) if generation_id else (None, None)
        return {"chat": chat, "generation": generation, "agenda": agenda, "listed": conversations.listed(user, everyone)}

    values = await services(request).db.read(load)
    chat = values["chat"]
    values.update(
        configured=services(request).settings.ai_configured(),
        not_configured=NOT_CONFIGURED,
        me=user,
        everyone=everyone,
        mine=chat is None or chat.owner.id == user.id,
        content=content,
        errors=errors or {},
        error=error,
        max_characters=conversations.MAX_CHARACTERS,
        max_turns=conversations.MAX_TURNS,
    )
    return render(request, "designer.html", values, status=status, block="chat" if values["chat"] or errors else None)


async def designer_get(request: Request) -> Response:
    """The chat: ``?c=`` a conversation (the user's own, or anyone's for an admin), ``?new=1`` a fresh
    one, else the user's latest; ``?g=`` a generated agenda's preview."""
    user = _designer(request)
    params = request.query_params
    conversation_id = params.get("c") or None
    if conversation_id is None and params.get("new") != "1":
        latest = await services(request).db.read(lambda: conversations.latest(user))
        conversation_id = latest.id if latest is not None else None
    return await _page(request, user, conversation_id, generation_id=params.get("g", ""))


async def messages_post(request: Request) -> Response:
    user = _designer(request)
    provider = _provider(request)
    form = await form_data(request)
    conversation_id = form.get("conversation") or None
    try:
        text = conversations.validate_message(form.get("content"))
        conversation = await services(request).db.write(lambda: conversations.add_user_message(user, conversation_id, text))
    except FormErrors as exc:
        return await _page(request, user, conversation_id, content=form.get("content", ""), errors=exc.errors, status=422)
    if wants_fragment(request):  # the page streams the reply from /designer/stream
        return await _page(request, user, conversation.id)
    await _reply_whole(request, provider, user, conversation.id)
    return see_other(f"/designer?c={conversation.id}")


async def _pending_prompt(request: Request, user: User, conversation_id: str) -> list[dict[str, str]] | None:
    """The prompt for the reply the user's conversation is owed, or None when nothing is owed."""

    def load() -> list[dict[str, str]] | None:
        chat = conversations.chat(conversations.owned(user, conversation_id))
        return conversations.prompt(chat) if chat.pending else None

    return await services(request).db.read(load)


async def _reply_whole(request: Request, provider: Provider, user: User, conversation_id: str) -> None:
    """Without JavaScript: wait for the whole reply, then store it (or the failure)."""
    messages = await _pending_prompt(request, user, conversation_id)
    if messages is None:
        return
    try:
        role, text = "assistant", "".join([piece async for piece in provider.stream(messages)])
    except ProviderError as exc:
        role, text = "error", exc.in_chat
    await services(request).db.write(lambda: conversations.add_reply(conversation_id, role, text))


async def stream_get(request: Request) -> Response:
    """The owed reply as server-sent events: ``token`` (JSON text) per piece, then ``done``, or a
    ``failure`` with the message. The reply is stored once whole; a dropped stream stores nothing,
    and the page's reconnect asks again."""
    user = _designer(request)
    conversation_id = request.query_params.get("c", "")
    messages = await _pending_prompt(request, user, conversation_id)
    provider = Provider.from_settings(services(request).settings)
    db = services(request).db

    async def events() -> AsyncIterator[dict[str, str]]:
        if messages is None:
            yield {"event": "done", "data": ""}
            return
        if provider is None:
            yield {"event": "failure", "data": json.dumps(NOT_CONFIGURED)}
            return
        pieces: list[str] = []
        try:
            async for piece in provider.stream(messages):
                pieces.append(piece)
                yield {"event": "token", "data": json.dumps(piece)}
        except ProviderError as exc:
            failure = exc.in_chat
            await db.write(lambda: conversations.add_reply(conversation_id, "error", failure))
            yield {"event": "failure", "data": json.dumps(failure)}
            return
        await db.write(lambda: conversations.add_reply(conversation_id, "assistant", "".join(pieces)))
        yield {"event": "done", "data": ""}

    return EventSourceResponse(events(), headers=SSE_HEADERS)


async def generate_post(request: Request) -> Response:
    user = _designer(request)
    provider = _provider(request)
    conversation_id = (await form_data(request)).get("conversation", "")

    def load() -> list[dict[str, str]]:
        chat = conversations.chat(conversations.owned(user, conversation_id))
        conversations.check_designable(chat)
        return conversations.prompt(chat)

    messages = [*await services(request).db.read(load), {"role": "user", "content": catalog.generation_request()}]
    answers: list[str] = []
    problems: list[list[str]] = []
    agenda: DesignedAgenda | None = None
    try:
        while agenda is None and len(answers) < ATTEMPTS:
            answer = await provider.complete(messages)
            answers.append(answer)
            try:
                agenda = catalog.parse_agenda(answer, services(request).settings)
            except Unusable as exc:
                problems.append(exc.problems)
                messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": catalog.correction_request(exc.problems)}]
    except ProviderError as exc:
        return await _page(request, user, conversation_id, error=exc.in_chat, status=502)
    generation_id = await services(request).db.write(
        lambda: conversations.record_generation(conversation_id, answers, problems, agenda)
    )
    if agenda is None:
        return await _page(request, user, conversation_id, error=catalog.UNUSABLE, status=422)
    return redirect(request, f"/designer?c={conversation_id}&g={generation_id}#agenda-preview")


async def use_post(request: Request) -> Response:
    """Edit in Meeting Creator: the agenda becomes a server-side draft the create form opens with."""
    user = _designer(request)
    generation_id = (await form_data(request)).get("generation", "")

    def load() -> DesignedAgenda | None:
        row, agenda = conversations.generation(user, generation_id)
        conversations.owned(user, row.conversation_id)
        return agenda

    agenda = await services(request).db.read(load)
    if agenda is None:
        raise Conflict(catalog.UNUSABLE)
    plan = [PlannedActivity(s.tool_type, s.title, s.instructions, s.config, s.duration_minutes) for s in agenda.activities]
    duration = min(1440, max(5, agenda.total_minutes))
    draft_id = await services(request).db.write(
        lambda: drafts.save_draft(user, agenda.title, agenda.description, duration, plan)
    )
    return redirect(request, f"/meeting/create?draft={draft_id}")


async def ai_test_post(request: Request) -> Response:
    """Settings → AI → Test connection, with the saved endpoint, key and model."""
    user = current_user(request)
    if not user.is_admin:
        raise Forbidden(ADMINS_ONLY)
    provider = Provider.from_settings(services(request).settings)
    if provider is None:
        return settings_page.page(request, user, "ai", notice=NOT_CONFIGURED, notice_kind="warning")
    try:
        notice, kind = await provider.test_connection(), "success"
    except ProviderError as exc:
        notice, kind = exc.message, "warning"
    return settings_page.page(request, user, "ai", notice=notice, notice_kind=kind)


routes = [
    Route("/designer", designer_get, methods=["GET"]),
    Route("/designer/messages", messages_post, methods=["POST"]),
    Route("/designer/stream", stream_get, methods=["GET"]),
    Route("/designer/generate", generate_post, methods=["POST"]),
    Route("/designer/use", use_post, methods=["POST"]),
    Route("/settings/ai/test", ai_test_post, methods=["POST"]),
]
