"""The designer's per-user record (SPEC §4.16): conversations, messages and generations.

Write functions run on the write path, read functions on a reader. A conversation is readable by its
owner and by admins, and written to by its owner only; anyone else gets "Not found", so ids reveal
nothing. A conversation is *pending* while its last message is the user's: its reply is owed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from ..platform.accounts import clean_text
from ..platform.errors import Conflict, FormErrors, NotFound
from ..platform.models import User, utcnow
from .catalog import DesignedAgenda, system_prompt
from .models import DesignerConversation, DesignerGeneration, DesignerMessage
from .provider import Messages

MAX_CHARACTERS = 4000
MAX_TURNS = 40
EMPTY = "Write a message first."
TOO_LONG = f"Messages are limited to {MAX_CHARACTERS} characters."
TOO_MANY_TURNS = f"This conversation has reached {MAX_TURNS} turns. Start a new conversation."
NOTHING_TO_DESIGN = "Describe your meeting in the chat first."
LISTED = 20  # conversations listed beside the chat


def validate_message(raw: str | None) -> str:
    text = clean_text(raw)
    if not text:
        raise FormErrors({"content": EMPTY})
    if len(text) > MAX_CHARACTERS:
        raise FormErrors({"content": TOO_LONG})
    return text


def add_user_message(user: User, conversation_id: str | None, text: str) -> DesignerConversation:
    """Append the user's turn (write path), starting a conversation when there is none; the turn
    limit is checked in the same transaction."""
    if conversation_id:
        conversation = _own(user, conversation_id)
        turns = DesignerMessage.select().where(DesignerMessage.conversation == conversation.id, DesignerMessage.role == "user").count()
        if turns >= MAX_TURNS:
            raise FormErrors({"content": TOO_MANY_TURNS})
        conversation.updated_at = utcnow()
        conversation.save()
    else:
        conversation = DesignerConversation.create(id=uuid.uuid4().hex, user=user.id, title=text[:80])
    DesignerMessage.create(conversation=conversation.id, role="user", content=text)
    return conversation


def add_reply(conversation_id: str, role: str, content: str) -> bool:
    """Store the reply owed to a pending conversation (write path); False when it was already given
    (another tab streamed it first), so a reply is never stored twice."""
    last = _last(conversation_id)
    if last is None or last.role != "user":
        return False
    DesignerMessage.create(conversation=conversation_id, role=role, content=content)
    return True


def _last(conversation_id: str) -> DesignerMessage | None:
    return (
        DesignerMessage.select()
        .where(DesignerMessage.conversation == conversation_id)
        .order_by(DesignerMessage.id.desc())
        .first()
    )


def _own(user: User, conversation_id: str) -> DesignerConversation:
    conversation = DesignerConversation.get_or_none(DesignerConversation.id == conversation_id)
    if conversation is None or conversation.user_id != user.id:
        raise NotFound()
    return conversation


def readable(user: User, conversation_id: str) -> DesignerConversation:
    """The conversation for its owner or an admin (read path); Not found for anyone else."""
    conversation = DesignerConversation.get_or_none(DesignerConversation.id == conversation_id)
    if conversation is None or (conversation.user_id != user.id and not user.is_admin):
        raise NotFound()
    return conversation


def owned(user: User, conversation_id: str) -> DesignerConversation:
    """The conversation for its owner only (read or write path): only they may continue it."""
    return _own(user, conversation_id)


@dataclass(frozen=True)
class Chat:
    """One conversation as the page shows it."""

    conversation: DesignerConversation
    owner: User
    messages: list[DesignerMessage]

    @property
    def pending(self) -> bool:
        return bool(self.messages) and self.messages[-1].role == "user"

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m.role == "user")


def chat(conversation: DesignerConversation) -> Chat:
    messages = list(DesignerMessage.select().where(DesignerMessage.conversation == conversation.id).order_by(DesignerMessage.id))
    return Chat(conversation, User.get_by_id(conversation.user_id), messages)


def latest(user: User) -> DesignerConversation | None:
    return (
        DesignerConversation.select()
        .where(DesignerConversation.user == user.id)
        .order_by(DesignerConversation.updated_at.desc())
        .first()
    )


def listed(user: User, everyone: bool = False) -> list[DesignerConversation]:
    """The user's recent conversations, or (``everyone``, admins) all users' (read path)."""
    query = DesignerConversation.select(DesignerConversation, User).join(User)
    if not (everyone and user.is_admin):
        query = query.where(DesignerConversation.user == user.id)
    return list(query.order_by(DesignerConversation.updated_at.desc()).limit(LISTED))


def prompt(chat_: Chat) -> Messages:
    """The conversation as the model reads it: the system prompt, then every turn (failures left out)."""
    turns = [{"role": m.role, "content": m.content} for m in chat_.messages if m.role in ("user", "assistant")]
    return [{"role": "system", "content": system_prompt()}, *turns]


def check_designable(chat_: Chat) -> None:
    if chat_.turns == 0:
        raise Conflict(NOTHING_TO_DESIGN)


def record_generation(conversation_id: str, answers: list[str], problems: list[list[str]], agenda: DesignedAgenda | None) -> str:
    """Keep a generation for the audit (write path); returns its id."""
    generation_id = uuid.uuid4().hex
    DesignerGeneration.create(
        id=generation_id,
        conversation=conversation_id,
        answers_json=json.dumps(answers),
        problems_json=json.dumps(problems),
        agenda_json=agenda.to_json() if agenda is not None else None,
        usable=agenda is not None,
    )
    return generation_id


def generation(user: User, generation_id: str) -> tuple[DesignerGeneration, DesignedAgenda | None]:
    """A generation of a conversation the user may read (read path)."""
    row = DesignerGeneration.get_or_none(DesignerGeneration.id == generation_id)
    if row is None:
        raise NotFound()
    readable(user, row.conversation_id)
    return row, DesignedAgenda.from_json(row.agenda_json) if row.agenda_json else None
