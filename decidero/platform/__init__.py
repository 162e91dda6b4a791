"""The platform: what any web app of this kind needs, knowing nothing of meetings or activities.

Configuration (``config``), the database and its single write path (``db``, ``prepared``,
``migrations``), accounts, passwords, sessions and the login rate limit, runtime settings, user
administration and profiles, request plumbing (``middleware``, ``web``, ``forms``, ``errors``,
``idempotency``), logs, the GRAB developer aid, and the routes for all of these (``routes/``).
The layers above reach it by import; it reaches them only through hooks they subscribe to
(``web.Services.on_sessions_revoked``, ``user_admin.DELETION_HOOKS``).
"""
