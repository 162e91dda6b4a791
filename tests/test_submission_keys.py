"""One-time submission keys (SPEC §4.8): a UUID per form, never repeated for the same person."""

from __future__ import annotations

import os
import uuid

from decidero.platform.forms import submission_key


def test_a_submission_key_is_a_fresh_uuid_each_time() -> None:
    keys = [submission_key() for _ in range(10_000)]
    assert len(set(keys)) == len(keys)
    assert all(uuid.UUID(key).version == 4 and len(key) == 36 for key in keys[:100])


def test_a_forked_worker_does_not_hand_out_the_parents_next_keys() -> None:
    # Keys come from ``random``, not the system's random source: a worker forked from one parent
    # must not repeat its siblings' keys, or a person's second idea would replay their first.
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write_end, submission_key().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    from_child = os.read(read_end, 64).decode()
    os.close(read_end)
    assert from_child and from_child != submission_key()
