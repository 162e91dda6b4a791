"""Whether the tests that need a real redis-server (``bench.redis_server``) can run.

Like Caddy (caddy_helpers.py): run by hand without ``redis-server`` they skip; ``just test``
installs it (scripts/install-system-packages.sh) and then requires it.
"""

from caddy_helpers import needs_tool

needs_redis = needs_tool("redis-server", "redis-server")
