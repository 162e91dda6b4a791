"""The meeting engine: meetings and their rosters, the agenda, run control and timers, the room's
state, the event log and live updates, and the activity type interface with its registry.

Tables in ``models``; who may do what in ``access``; meetings' lifecycle (create, archive, delete,
ownership) in ``lifecycle``; participants, co-facilitators and joining in ``roster`` (cached by
``roster_cache``); ``agenda``; ``run_control``; the room's regions in ``room``; ``event_log``, then
``live`` and ``broker`` for server-sent events; ``activity_types`` for the types; URLs in ``routes/``.
It builds on the platform and reaches activity types only through ``activity_types.TYPES``.
"""
