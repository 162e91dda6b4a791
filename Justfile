# Decidero developer commands. `just run` serves the app; `just test` runs every check.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv / "bin/python"

# Create the virtualenv, install, and serve on http://127.0.0.1:8000 (SQLite ./decidero.db).
# In development without DECIDERO_JWT_SECRET_KEY, a secret generated once into .dev-secret (git-ignored,
# mode 600) signs the sessions, so restarting during a trial signs nobody out. Decidero itself never
# reads the file; production still requires the variable.
run: install
    #!/usr/bin/env bash
    set -euo pipefail
    env_mode="$(printf '%s' "${DECIDERO_ENV:-development}" | tr '[:upper:]' '[:lower:]')"
    if [ -z "${DECIDERO_JWT_SECRET_KEY:-}" ] && [ "$env_mode" != "production" ] && [ "$env_mode" != "prod" ]; then
        if [ ! -s .dev-secret ]; then
            echo "Generating a development signing secret in .dev-secret (kept across restarts)"
            (umask 077 && {{py}} -c 'import secrets; print(secrets.token_hex(48))' > .dev-secret)
        fi
        chmod 600 .dev-secret
        export DECIDERO_JWT_SECRET_KEY="$(cat .dev-secret)"
    fi
    echo "Serving Decidero on http://127.0.0.1:8000 (Ctrl+C stops it)"
    exec {{py}} -m uvicorn decidero.main:app --host 127.0.0.1 --port 8000

# Runtime dependencies into .venv
install:
    @test -x {{py}} || { echo "Creating the virtualenv in {{venv}}"; python3 -m venv {{venv}}; }
    @echo "Installing Decidero's dependencies into {{venv}} (a minute the first time)"
    @{{py}} -m pip install --disable-pip-version-check -q -r requirements.txt

# Test dependencies, plus Debian's chromium, caddy, sqlite3, systemd (systemd-analyze) and postgresql when missing
install-test: install
    {{py}} -m pip install --disable-pip-version-check -q -r requirements-dev.txt
    ./scripts/install-system-packages.sh

# Lint, type-check and run the whole suite (HTTP, browser and operations tests)
test *ARGS: install-test
    {{py}} -m ruff check decidero tests bench
    {{py}} -m mypy decidero bench
    DECIDERO_TEST_REQUIRE_TOOLS=1 {{py}} -m pytest {{ARGS}}

# Load benchmark against a local server (see README, Performance)
bench *ARGS: install
    {{py}} -m pip install --disable-pip-version-check -q -r bench/requirements.txt
    {{py}} -m bench {{ARGS}}
