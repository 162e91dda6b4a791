"""Caddy as a plain process running the shipped deploy/Caddyfile in front of a local upstream.

Shared by the Caddyfile tests against a stand-in (test_deploy_units.py) and the end-to-end proxy
test against the real app (test_proxy.py). Tests install nothing: run by hand without ``caddy`` they
skip; ``just test`` installs it through scripts/install-system-packages.sh and then requires it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.server import free_port, wait_for_port

CADDYFILE = Path(__file__).resolve().parent.parent / "deploy" / "Caddyfile"
SITE_ADDRESS = "decidero.example.com {"
UPSTREAM = "127.0.0.1:8000"

# `just test` installs every tool first and sets this: there a missing tool is a failure, not a skip.
TOOLS_REQUIRED = os.environ.get("DECIDERO_TEST_REQUIRE_TOOLS") == "1"


def needs_tool(command: str, package: str) -> pytest.MarkDecorator:
    """Skip a test without ``command`` when run by hand; under ``just test`` the test runs and fails."""
    missing = shutil.which(command) is None and not TOOLS_REQUIRED
    return pytest.mark.skipif(missing, reason=f"{command} not installed (apt install {package}; `just test` does)")


needs_caddy = needs_tool("caddy", "caddy")


def caddy_env(tmp_path: Path) -> dict[str, str]:
    """Caddy keeps its state under HOME/XDG dirs: point them into the test's temp directory."""
    home = tmp_path / "caddy-home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)}


def local_caddyfile(tmp_path: Path, caddy_port: int, upstream_port: int, text: str | None = None) -> Path:
    """The shipped Caddyfile with only its site address and upstream changed: plain HTTP on a local port."""
    text = CADDYFILE.read_text() if text is None else text
    assert text.count(SITE_ADDRESS) == 1 and text.count(UPSTREAM) == 1
    text = text.replace(SITE_ADDRESS, f"http://127.0.0.1:{caddy_port} {{")
    text = text.replace(UPSTREAM, f"127.0.0.1:{upstream_port}")
    path = tmp_path / f"Caddyfile.{caddy_port}"
    # Global options only: no admin endpoint and no certificate management for a test instance.
    path.write_text("{\n\tadmin off\n\tauto_https off\n}\n\n" + text)
    return path


@contextmanager
def running_caddy(tmp_path: Path, upstream_port: int, text: str | None = None) -> Iterator[str]:
    """``caddy run`` with the derived config until the block ends; yields its base URL."""
    port = free_port()
    config = local_caddyfile(tmp_path, port, upstream_port, text)
    log = tmp_path / f"caddy-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["caddy", "run", "--adapter", "caddyfile", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=caddy_env(tmp_path),
        )
    try:
        wait_for_port(port, process, log, deadline=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
