#!/usr/bin/env bash
# Installs the Debian packages the tests drive (browser, reverse proxy, sqlite3 CLI, redis-server for the
# two-worker tests, systemd-analyze for the unit check, a Postgres server the tests start in a temp dir)
# when missing. `just test` runs it; under `just test` a missing tool fails its
# tests instead of skipping them (DECIDERO_TEST_REQUIRE_TOOLS=1, see tests/caddy_helpers.py).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Debian keeps initdb and pg_ctl off PATH, under /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The caddy, redis-server and postgresql packages start system services (ports 80, 6379 and 5432);
# the tests start their own on free ports instead.
for service in caddy redis-server postgresql; do
    if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
done
