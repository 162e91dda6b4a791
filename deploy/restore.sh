#!/usr/bin/env bash
# Put a backup back in place of the Decidero database.
#
#   sudo deploy/restore.sh /opt/decidero/app/backups/decidero-20250101T023000.123Z.db
#
# Settings (environment):
#   DECIDERO_SERVICE   systemd unit to stop and start (default decidero)
#   DECIDERO_DB_PATH   database to replace            (default /opt/decidero/app/decidero.db)
#   DECIDERO_DB_OWNER  owner:group for the restored file (default decidero:decidero)
#   DECIDERO_BACKUP_DIR where the replaced database is kept (default /opt/decidero/app/backups)
#
# The backup is copied next to the database and checked before the service stops, so a
# bad file never causes downtime. The replaced database (and any -wal/-shm left by an
# unclean stop) is kept as backups/before-restore-<UTC timestamp>.db, out of git's way
# and out of backup.sh's pruning, so the restore itself can be undone.
set -euo pipefail

service=${DECIDERO_SERVICE:-decidero}
db=${DECIDERO_DB_PATH:-/opt/decidero/app/decidero.db}
owner=${DECIDERO_DB_OWNER:-decidero:decidero}
backup_dir=${DECIDERO_BACKUP_DIR:-/opt/decidero/app/backups}

fail() {
    echo "restore.sh: $*" >&2
    exit 1
}

[[ $# -eq 1 ]] || fail "usage: restore.sh BACKUP_FILE"
backup=$1
[[ -f $backup ]] || fail "backup $backup does not exist"
[[ $(realpath -- "$backup") != $(realpath -m -- "$db") ]] || fail "the backup is the database itself"
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed (apt install sqlite3)"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
staged="$db-restoring"
aside="$backup_dir/before-restore-$stamp.db"
trap 'rm -f "$staged" "$staged-wal" "$staged-shm"' EXIT

cp -- "$backup" "$staged"
check=$(sqlite3 "$staged" "PRAGMA integrity_check" 2>&1 || true)
rm -f "$staged-wal" "$staged-shm"
[[ $check == "ok" ]] || fail "integrity check of $backup failed, nothing changed: $check"
chown "$owner" "$staged"
chmod 0640 "$staged"
if [[ ! -d $backup_dir ]]; then
    mkdir -p "$backup_dir"
    chown "$owner" "$backup_dir" # backup.sh runs as the owner and writes here
    chmod 0700 "$backup_dir"
fi

echo "restore.sh: stopping $service"
systemctl stop "$service"

# After a clean stop Decidero has checkpointed and removed the -wal and -shm files; if
# they are still there, they belong to the database being replaced and move with it.
if [[ -e $db ]]; then
    mv -- "$db" "$aside"
    echo "restore.sh: previous database kept as $aside"
fi
for suffix in -wal -shm; do
    if [[ -e $db$suffix ]]; then
        mv -- "$db$suffix" "$aside$suffix"
    fi
done
mv -- "$staged" "$db"
trap - EXIT

echo "restore.sh: starting $service"
systemctl start "$service"
echo "restore.sh: restored $db from $backup; check it with deploy/smoke.sh"
