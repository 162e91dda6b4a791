#!/usr/bin/env bash
# Installs the Debian packages the tests drive (browser, reverse proxy, sqlite3 CLI, systemd-analyze
# for the unit check, a Postgres server the tests start in a temp dir) when missing. `just test` runs it; under `just test` a missing tool fails its
# tests instead of skipping them (DECIDERO_TEST_REQUIRE_TOOLS=1, see tests/caddy_helpers.py).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# Debian keeps initdb and pg_ctl off PATH, under /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The caddy package starts a system service on port 80; the tests run their own caddy instead.
if [[ " ${missing[*]} " == *" caddy "* ]] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now caddy >/dev/null 2>&1 || true
fi
# Likewise the postgresql package's own cluster on port 5432: the tests start a throwaway one.
if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
