"""Seed a brainstorming board directly on the database: thousands of ideas in seconds, not minutes.

The rows are written by Decidero's own ``add_idea`` (so numbering continues where the board is),
from another process while the server runs (SQLite WAL: the server's writer simply waits its turn).
With ``events`` each idea also gets its ``idea_created`` log record, as a submit writes it, which is
what a reconnecting page would have missed; those records are never announced (nobody published
them), so only a replay or a resync can carry them.
"""

from __future__ import annotations

import random
from pathlib import Path

from .driver import idea_text, new_token
from .setup import open_database

CHUNK = 500  # ideas per write transaction
COMMENT_SHARE = 0.1  # one idea in ten gets a comment


def seed_board(database_path: Path | str, meeting_id: str, activity_id: str, author_ids: list[str], ideas: int, events: bool = False) -> int:
    """Add ``ideas`` ideas (and about a tenth as many comments) by ``author_ids`` in turn; returns
    the newest event id afterwards."""
    from decidero.activities.brainstorming.ideas import add_idea
    from decidero.meetings import event_log
    from decidero.meetings.models import Activity
    from decidero.platform.models import User

    database = open_database(database_path)
    try:

        def chunk(count: int) -> None:
            activity = Activity.get_by_id(activity_id)
            users = {u.id: u for u in User.select().where(User.id.in_(author_ids))}
            for _ in range(count):
                author = users[random.choice(author_ids)]
                idea = add_idea(activity, idea_text(new_token()), author, author.display_name)
                made = [idea]
                if random.random() < COMMENT_SHARE:
                    made.append(add_idea(activity, idea_text(new_token()), author, author.display_name, idea))
                for row in made if events else ():
                    event_log.record(
                        meeting_id, "idea_created", "An idea was submitted.", activity_id=activity_id,
                        payload={"idea": row.id, "label": row.label, "parent": row.parent_id, "action": "create"},
                    )

        for start in range(0, ideas, CHUNK):
            size = min(CHUNK, ideas - start)
            database.write_sync(lambda n=size: chunk(n))  # type: ignore[misc]
        return int(database.read_sync(lambda: event_log.latest_id(meeting_id)))
    finally:
        database.close()
