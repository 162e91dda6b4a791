#!/usr/bin/env bash
# Online backup of the Decidero database, safe while Decidero runs under load.
#
#   deploy/backup.sh                      # run it as the decidero user (see decidero.cron)
#
# Settings (environment):
#   DECIDERO_DB_PATH      database to copy      (default /opt/decidero/app/decidero.db)
#   DECIDERO_BACKUP_DIR   where copies go       (default /opt/decidero/app/backups)
#   DECIDERO_BACKUP_KEEP  newest copies to keep (default 14)
#
# Writes DECIDERO_BACKUP_DIR/decidero-<UTC timestamp>.db, checks it with
# PRAGMA integrity_check, then deletes all but the newest DECIDERO_BACKUP_KEEP copies.
# A copy that fails the check is renamed to *.corrupt, nothing is pruned, and the
# script exits non-zero, so cron mails the failure.
set -euo pipefail

db=${DECIDERO_DB_PATH:-/opt/decidero/app/decidero.db}
backup_dir=${DECIDERO_BACKUP_DIR:-/opt/decidero/app/backups}
keep=${DECIDERO_BACKUP_KEEP:-14}

fail() {
    echo "backup.sh: $*" >&2
    exit 1
}

[[ $keep =~ ^[1-9][0-9]*$ ]] || fail "DECIDERO_BACKUP_KEEP must be a whole number of at least 1, got '$keep'"
[[ -f $db ]] || fail "database $db does not exist"
[[ $backup_dir != *"'"* ]] || fail "DECIDERO_BACKUP_DIR must not contain a single quote"
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed (apt install sqlite3)"
umask 077 # copies hold password hashes and session ids
mkdir -p "$backup_dir"

stamp=$(date -u +%Y%m%dT%H%M%S.%3NZ)
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

# Names sort by time, so everything after the newest $keep goes.
mapfile -t copies < <(find "$backup_dir" -maxdepth 1 -type f -name 'decidero-*.db' -printf '%f\n' | sort -r)
for old in "${copies[@]:keep}"; do
    rm -f -- "$backup_dir/$old"
    echo "backup.sh: pruned $backup_dir/$old"
done
