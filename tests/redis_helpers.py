"""A throwaway redis-server on a free loopback port, its data in a temporary directory.

Like Caddy (caddy_helpers.py): run by hand without ``redis-server`` the tests that need it skip;
``just test`` installs it (scripts/install-system-packages.sh) and then requires it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from caddy_helpers import free_port, needs_tool, wait_for_port

needs_redis = needs_tool("redis-server", "redis-server")


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Without persistence: a restart comes back empty, the harder case for the app."""
        log = self.directory / f"redis-{self.port}.log"
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process, log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
