#!/usr/bin/env bash
# Installs the Debian packages the tests drive (browser, reverse proxy, sqlite3 CLI) when missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
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
