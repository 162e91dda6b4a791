# Decidero developer commands. `just run` serves the app; `just test` runs every check.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv / "bin/python"

# Create the virtualenv, install, and serve on http://127.0.0.1:8000 (SQLite ./decidero.db)
run: install
    {{py}} -m uvicorn decidero.main:app --host 127.0.0.1 --port 8000

# Runtime dependencies into .venv
install:
    test -x {{py}} || python3 -m venv {{venv}}
    {{py}} -m pip install --disable-pip-version-check -q -r requirements.txt

# Test dependencies, plus Debian's chromium, caddy, sqlite3 and systemd (systemd-analyze) when missing
install-test: install
    {{py}} -m pip install --disable-pip-version-check -q -r requirements-dev.txt
    ./scripts/install-system-packages.sh

# Lint, type-check and run the whole suite (HTTP, browser and operations tests)
test *ARGS: install-test
    {{py}} -m ruff check decidero tests bench
    {{py}} -m mypy decidero
    DECIDERO_TEST_REQUIRE_TOOLS=1 {{py}} -m pytest {{ARGS}}

# Load benchmark against a local server (see README, Performance)
bench *ARGS: install
    {{py}} -m pip install --disable-pip-version-check -q -r bench/requirements.txt
    {{py}} -m bench {{ARGS}}
