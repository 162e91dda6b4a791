#!/usr/bin/env bash
# Online backup of the Decidero database, safe while Decidero runs under load.
#
#   deploy/backup.sh                      # run it as the decidero user (see decidero.cron)
#
# Settings (environment):
#   DECIDERO_DATABASE_URL  a postgresql:// URL backs up that Postgres database with pg_dump
#                          (default: the line in DECIDERO_ENV_FILE, else SQLite)
#   DECIDERO_ENV_FILE      the service's settings (default /etc/decidero/decidero.env)
#   DECIDERO_DB_PATH       SQLite database to copy (default /opt/decidero/app/decidero.db)
#   DECIDERO_BACKUP_DIR    where copies go       (default /opt/decidero/app/backups)
#   DECIDERO_BACKUP_KEEP   newest copies to keep (default 14)
#
# SQLite: writes DECIDERO_BACKUP_DIR/decidero-<UTC timestamp>.db and checks it with
# PRAGMA integrity_check. Postgres: writes decidero-<UTC timestamp>.dump (pg_dump's custom
# format, one consistent snapshot) and checks that pg_restore can read it. Then deletes all but
# the newest DECIDERO_BACKUP_KEEP copies of that kind. A copy that fails the check is renamed to
# *.corrupt, nothing is pruned, and the script exits non-zero, so cron mails the failure.
set -euo pipefail

env_file=${DECIDERO_ENV_FILE:-/etc/decidero/decidero.env}
db=${DECIDERO_DB_PATH:-/opt/decidero/app/decidero.db}
backup_dir=${DECIDERO_BACKUP_DIR:-/opt/decidero/app/backups}
keep=${DECIDERO_BACKUP_KEEP:-14}

fail() {
    echo "backup.sh: $*" >&2
    exit 1
}

# The service's own setting decides the backend; the file is read, never sourced.
url=${DECIDERO_DATABASE_URL:-}
if [[ -z $url && -r $env_file ]]; then
    url=$(sed -n 's/^DECIDERO_DATABASE_URL=//p' "$env_file" | tail -n 1)
fi

[[ $keep =~ ^[1-9][0-9]*$ ]] || fail "DECIDERO_BACKUP_KEEP must be a whole number of at least 1, got '$keep'"
[[ $backup_dir != *"'"* ]] || fail "DECIDERO_BACKUP_DIR must not contain a single quote"
umask 077 # copies hold password hashes and session ids
stamp=$(date -u +%Y%m%dT%H%M%S.%3NZ)

prune() { # $1: the file suffix; names sort by time, so everything after the newest $keep goes.
    mapfile -t copies < <(find "$backup_dir" -maxdepth 1 -type f -name "decidero-*.$1" -printf '%f\n' | sort -r)
    for old in "${copies[@]:keep}"; do
        rm -f -- "$backup_dir/$old"
        echo "backup.sh: pruned $backup_dir/$old"
    done
}

if [[ $url =~ ^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?(.*)$ ]]; then
    command -v pg_dump >/dev/null || fail "pg_dump is not installed (apt install postgresql-client)"
    # The password goes to pg_dump through its environment, not its command line (which every
    # user on the machine can read in ps); percent-escapes in the URL are decoded first.
    password=${BASH_REMATCH[5]}
    target="postgresql://${BASH_REMATCH[3]:+${BASH_REMATCH[3]}@}${BASH_REMATCH[6]}"
    if [[ -n $password ]]; then
        export PGPASSWORD
        PGPASSWORD=$(printf '%b' "${password//%/\\x}")
    fi
    mkdir -p "$backup_dir"
    final="$backup_dir/decidero-$stamp.dump"
    partial="$backup_dir/.decidero-$stamp.dump.partial"
    [[ ! -e $final ]] || fail "$final already exists"
    trap 'rm -f "$partial"' EXIT
    pg_dump --format=custom --no-owner --file="$partial" --dbname="$target" ||
        fail "pg_dump could not back up the database at ${target%%\?*}"
    if ! check=$(pg_restore --list "$partial" 2>&1 >/dev/null); then
        mv -f "$partial" "$final.corrupt"
        fail "the new dump is not readable by pg_restore; kept it as $final.corrupt: $check"
    fi
    mv -f "$partial" "$final"
    trap - EXIT
    echo "backup.sh: wrote $final"
    prune dump
    exit 0
fi

[[ -f $db ]] || fail "database $db does not exist"
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed (apt install sqlite3)"
mkdir -p "$backup_dir"
final="$backup_dir/decidero-$stamp.db"
partial="$backup_dir/.decidero-$stamp.db.partial"
[[ ! -e $final ]] || fail "$final already exists"
trap 'rm -f "$partial" "$partial-wal" "$partial-shm"' EXIT

# The read transaction pins one snapshot for the whole copy. Without it the backup
# restarts whenever Decidero commits, and a plain .backup of a database of a few MB never
# finishes under a steady trickle of writes. The snapshot holds every write committed
# before this line runs.
sqlite3 -bail "$db" ".timeout 30000" "BEGIN" "PRAGMA schema_version" \
    ".backup '$partial'" "COMMIT" >/dev/null ||
    fail "sqlite3 could not back up $db"

check=$(sqlite3 "$partial" "PRAGMA integrity_check" 2>&1 || true)
rm -f "$partial-wal" "$partial-shm" # left behind when the check hits a damaged file
if [[ $check != "ok" ]]; then
    mv -f "$partial" "$final.corrupt"
    fail "integrity check of the new copy failed; kept it as $final.corrupt: $check"
fi
mv -f "$partial" "$final"
trap - EXIT
echo "backup.sh: wrote $final"
prune db
