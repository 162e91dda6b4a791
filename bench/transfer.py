"""How long one Transfer Ideas commit takes (issue 14: 2,000 ideas in one write transaction under 1 s).

    python -m bench.transfer                          # 2,000 ideas, one comment per 4, 5 runs per target
    python -m bench.transfer --ideas 5000 --runs 3

On a temporary database it seeds a stopped brainstorm of ``--ideas`` ideas (and a comment on every
fourth), then commits its whole draft into a new brainstorming activity (ideas, comments and a
provenance row each, in bulk) and into a new categorization, ``--runs`` times each. It reports the
time inside the transaction (the commit function) and the wall time of the write (queue, BEGIN
IMMEDIATE, the work, COMMIT with ``synchronous=FULL``), as the app's single writer runs it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from decidero import activities  # noqa: F401 - registers the activity types
from decidero.activities.brainstorming.models import Idea
from decidero.meetings import agenda, transfer
from decidero.meetings.access import access_for
from decidero.meetings.ids import next_meeting_id, reserve
from decidero.meetings.models import Activity, Meeting
from decidero.platform.accounts import create_user
from decidero.platform.db import Database
from decidero.platform.models import User, utcnow
from decidero.platform.runtime_settings import RuntimeSettings
from decidero.schema import migrate


def seed(db: Database, ideas: int) -> tuple[str, str]:
    """A meeting owned by a facilitator, with a stopped brainstorm of ``ideas`` ideas."""

    def write() -> tuple[str, str]:
        owner = create_user(login="bench-fac", password_hash=None, role="facilitator", first_name="Fac")
        author = create_user(login="bench-pat", password_hash=None, role="participant", first_name="Pat")
        meeting = Meeting.create(id=next_meeting_id(utcnow()), title="Transfer bench", owner=owner)
        config = {"allow_comments": True, "anonymous": False, "prompt": "", "char_limit": None, "max_ideas_per_user": None}
        donor, _ = agenda.add_activity(meeting, "brainstorming", {"title": "Ideas", "instructions": ""}, config, owner.id)
        first = reserve(f"idea:{donor.id}", ideas)
        rows = [
            {"activity": donor.id, "number": first + n, "author": author.id, "author_name": "Pat", "content": f"Idea number {n} about the venue, the food and the budget"}
            for n in range(ideas)
        ]
        for start in range(0, len(rows), 500):
            Idea.insert_many(rows[start : start + 500]).execute()
        parents = Idea.select(Idea.id, Idea.number).where(Idea.activity == donor.id, Idea.number % 4 == 0)
        comments = [{"activity": donor.id, "number": p.number, "sub": 1, "parent": p.id, "author": author.id, "author_name": "Pat", "content": "a comment"} for p in parents]
        for start in range(0, len(comments), 500):
            Idea.insert_many(comments[start : start + 500]).execute()
        Activity.update(state="stopped", started_at=utcnow(), stopped_at=utcnow()).where(Activity.id == donor.id).execute()
        return meeting.id, donor.id

    return db.write_sync(write)


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes (inside the write transaction, before its commit)."""
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def run(ideas: int, runs: int) -> dict[str, list[tuple[float, float]]]:
    with tempfile.TemporaryDirectory(prefix="decidero-transfer-bench-") as tmp:
        db = Database(Path(tmp) / "decidero.db")
        try:
            migrate(db)
            settings = RuntimeSettings(db)
            settings.load()
            meeting_id, donor_id = seed(db, ideas)
            owner = db.read_sync(lambda: User.get(User.login == "bench-fac"))
            access = db.read_sync(lambda: access_for(meeting_id, owner))
            draft = db.read_sync(lambda: transfer.fresh_draft(Activity.get_by_id(donor_id)))
            figures: dict[str, list[tuple[float, float]]] = {}
            for target in ("brainstorming", "categorization"):
                for number in range(runs):
                    draft.target_type, draft.target_title, draft.mode = target, f"{target} {number}", "new"
                    began = time.perf_counter()
                    inside = db.write_sync(lambda: timed(lambda: transfer.commit(access, donor_id, draft, None, settings)))
                    figures.setdefault(target, []).append((inside, time.perf_counter() - began))
                    db.write_sync(lambda: [agenda.delete_activity(a, None) for a in agenda.ordered(meeting_id) if a.id != donor_id])
            return figures
        finally:
            db.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.transfer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    figures = run(args.ideas, args.runs)
    comments = args.ideas // 4
    print(f"Transfer commit of {args.ideas} ideas ({comments} with a comment), {args.runs} runs per target:")
    for target, times in figures.items():
        inside = [t[0] * 1000 for t in times]
        wall = [t[1] * 1000 for t in times]
        print(
            f"  into {target:<15} transaction body median {statistics.median(inside):6.1f} ms (max {max(inside):6.1f}); "
            f"write incl. commit median {statistics.median(wall):6.1f} ms (max {max(wall):6.1f})"
        )


if __name__ == "__main__":
    main()
