"""Startup checks an operator sees (SPEC §3.2, §3.3, S21.2)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SECRET, base_env, free_port

from decidero.app import create_app
from decidero.platform.config import DEV_SECRET_WARNING, ConfigError, load_config

MISSING_SECRET = "Missing DECIDERO_JWT_SECRET_KEY while DECIDERO_ENV is set to production"


def _port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_production_without_secret_refuses_to_build_the_app(tmp_path: Path) -> None:
    env = base_env(tmp_path, DECIDERO_ENV="production")
    del env["DECIDERO_JWT_SECRET_KEY"]
    with pytest.raises(ConfigError) as raised:
        create_app(env, cwd=tmp_path)
    assert str(raised.value) == MISSING_SECRET


def test_production_with_an_empty_secret_is_refused_like_a_missing_one(tmp_path: Path) -> None:
    env = base_env(tmp_path, DECIDERO_ENV="production", DECIDERO_JWT_SECRET_KEY="  ")
    with pytest.raises(ConfigError, match=f"^{MISSING_SECRET}$"):
        load_config(env, tmp_path)


def test_uvicorn_exits_before_binding_when_production_has_no_secret(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DECIDERO_", "LOG_", "GRAB_"))}
    env.update(DECIDERO_ENV="production", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "decidero.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    bound = False
    while process.poll() is None and time.monotonic() < deadline:
        bound = bound or _port_is_open(port)
        time.sleep(0.02)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode not in (0, None)
    assert not bound
    assert MISSING_SECRET in stderr.decode().splitlines()
    assert b"Uvicorn running" not in stdout + stderr
    error_log = (tmp_path / "logs" / "error.log").read_text()
    assert error_log.rstrip().endswith(MISSING_SECRET)
    assert len(error_log.splitlines()) == 1


def test_a_short_secret_is_refused_in_every_mode(tmp_path: Path) -> None:
    for mode in ("production", "development"):
        env = base_env(tmp_path, DECIDERO_ENV=mode, DECIDERO_JWT_SECRET_KEY="x" * 20)
        with pytest.raises(ConfigError) as raised:
            load_config(env, tmp_path)
        assert str(raised.value) == "DECIDERO_JWT_SECRET_KEY must be at least 32 characters long"


def test_grab_is_refused_in_production(tmp_path: Path) -> None:
    env = base_env(tmp_path, DECIDERO_ENV="production", GRAB_ENABLED="true")
    with pytest.raises(ConfigError) as raised:
        load_config(env, tmp_path)
    assert str(raised.value) == "GRAB_ENABLED must be false when DECIDERO_ENV is set to production"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_MAX_BYTES", "12"),
        ("LOG_MAX_BYTES", "five"),
        ("LOG_BACKUP_COUNT", "-1"),
        ("DECIDERO_SECURE_COOKIES", "maybe"),
        ("GRAB_ENABLED", "sometimes"),
    ],
)
def test_an_invalid_setting_names_itself_its_value_and_the_allowed_values(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(base_env(tmp_path, **{name: value}), tmp_path)
    message = str(raised.value)
    assert message.startswith(f"Invalid {name} '{value}'; ")
    assert len(message) > len(f"Invalid {name} '{value}'; ") + 3


def test_the_log_level_error_lists_the_allowed_levels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(base_env(tmp_path, LOG_LEVEL="verbose"), tmp_path)
    assert all(level in str(raised.value) for level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))


def test_valid_values_are_accepted_in_any_case(tmp_path: Path) -> None:
    env = base_env(tmp_path, LOG_LEVEL="debug", DECIDERO_SECURE_COOKIES="YES", LOG_MAX_BYTES="1024", LOG_BACKUP_COUNT="0")
    config = load_config(env, tmp_path)
    assert config.secure_cookies is True
    assert config.log_max_bytes == 1024
    assert config.log_backup_count == 0


def test_development_without_a_secret_starts_and_logs_the_warning(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    del env["DECIDERO_JWT_SECRET_KEY"]
    create_app(env, cwd=tmp_path).state.services.db.close()
    app_log = (tmp_path / "logs" / "app.log").read_text()
    assert f"WARNING - {DEV_SECRET_WARNING}" in app_log


@pytest.mark.parametrize("value", ["production", "PRODUCTION", "Prod", "pRoD", " prod "])
def test_production_mode_is_recognised_in_any_case(tmp_path: Path, value: str) -> None:
    env = base_env(tmp_path, DECIDERO_ENV=value)
    del env["DECIDERO_JWT_SECRET_KEY"]
    with pytest.raises(ConfigError, match=f"^{MISSING_SECRET}$"):
        load_config(env, tmp_path)
    config = load_config({**env, "DECIDERO_JWT_SECRET_KEY": SECRET}, tmp_path)
    assert config.production is True
    assert config.secure_cookies is True


@pytest.mark.parametrize("value", ["", "development", "staging", "producti0n"])
def test_anything_else_is_development(tmp_path: Path, value: str) -> None:
    config = load_config(base_env(tmp_path, DECIDERO_ENV=value), tmp_path)
    assert config.production is False
    assert config.secure_cookies is False


def test_a_relative_database_url_resolves_against_the_working_directory(tmp_path: Path) -> None:
    config = load_config({"DECIDERO_JWT_SECRET_KEY": SECRET}, tmp_path)
    assert config.database_path == tmp_path / "decidero.db"
    assert config.log_dir == tmp_path / "logs"


@pytest.mark.parametrize(
    ("name", "value"), [("DECIDERO_DATABASE_URL", "mysql://db/decidero"), ("DECIDERO_REDIS_URL", "memcached://x")]
)
def test_unsupported_scale_out_backends_are_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(base_env(tmp_path, **{name: value}), tmp_path)
    assert str(raised.value) == f"Scale-out mode ({name}) is not supported by this version"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgres_url_is_accepted_and_names_no_file(tmp_path: Path, scheme: str) -> None:
    config = load_config(base_env(tmp_path, DECIDERO_DATABASE_URL=f"{scheme}://app:pw@db.internal:5432/decidero"), tmp_path)
    assert config.database_path is None
    assert config.database_url == f"{scheme}://app:pw@db.internal:5432/decidero"


def test_an_unreachable_postgres_is_reported_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://app:Very-Secret-9@127.0.0.1:{free_port()}/decidero"
    with pytest.raises(ConfigError) as raised:
        create_app(base_env(tmp_path, DECIDERO_DATABASE_URL=url), cwd=tmp_path)
    assert str(raised.value).startswith(f"Cannot open database {url.replace('Very-Secret-9', '***')}: ")
    assert "Very-Secret-9" not in str(raised.value)
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert "Very-Secret-9" not in logs


def test_an_unopenable_database_is_reported_with_its_url(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    url = f"sqlite:///{tmp_path / 'blocker' / 'decidero.db'}"
    with pytest.raises(ConfigError) as raised:
        create_app(base_env(tmp_path, DECIDERO_DATABASE_URL=url), cwd=tmp_path)
    assert str(raised.value).startswith(f"Cannot open database {url}: ")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://:secret@cache.internal:6380/1", "unix:///run/redis/redis.sock"])
def test_a_redis_url_is_accepted_for_several_workers(tmp_path: Path, url: str) -> None:
    assert load_config(base_env(tmp_path, DECIDERO_REDIS_URL=url), tmp_path).redis_url == url


def test_without_redis_everything_stays_in_the_process(tmp_path: Path) -> None:
    config = load_config(base_env(tmp_path), tmp_path)
    assert config.redis_url == "" and config.metrics_token == ""


def test_a_short_metrics_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(base_env(tmp_path, DECIDERO_METRICS_TOKEN="short"), tmp_path)
    assert str(raised.value) == "DECIDERO_METRICS_TOKEN must be at least 32 characters long"
