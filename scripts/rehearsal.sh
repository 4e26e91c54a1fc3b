#!/bin/sh
# rehearsal.sh — rehearse the whole migration on a real Cyrus murder built on
# loopback from the Debian packages (make deps): one mupdate master, two
# backends (two slots), one frontend, a few hundred users with shared
# folders and group ACLs; then
#   mboxconv import → murder-bridge serve --follow → murder-bridge shadow
#   (clean, recorded on slot s1) → murder-bridge slot cutover s1 → real
#   changes on both backends (create, rename with subfolders, setacl,
#   delete) → shadow old frontend vs registry and vs a new frontend fed by
#   the bridge (clean) → SIGKILL and restart of the bridge → slot rollback s1
#   → mboxconv verify of the old master's mailboxes.db against the registry
#   (every change made while cut over is there) → scripts/rollback-slot.sh,
#   its rebuilt mailboxes.db and legacy lines loaded into the real master.
# It is the Go test interop.TestRehearsal (the same binaries an operator
# runs: murder-bridge and mboxconv, built from this tree), and prints each
# step's timing. Exit status: 0 every step passed, non-zero on any
# difference or failure.
#
# usage: scripts/rehearsal.sh [USERS]   (default 200; env MURDERKIT_REHEARSAL_USERS)
# Needs root (the Cyrus servers run as user cyrus) and Go.
set -eu
cd "$(dirname "$0")/.."
MURDERKIT_REHEARSAL_USERS=${1:-${MURDERKIT_REHEARSAL_USERS:-200}}
export MURDERKIT_REHEARSAL_USERS
GO=${GO:-go}
exec "$GO" test ./interop -run '^TestRehearsal$' -count=1 -v -timeout 30m
