#!/bin/sh
# rollback-slot.sh — rebuild Cyrus-native artifacts for a slot from the
# murderkit registry and print the Cyrus commands of a rollback, safest
# first. It changes nothing on a Cyrus server: it writes files into OUTDIR
# and prints what to run. See docs/runbook.md, "6. Rollback".
#
# usage: scripts/rollback-slot.sh SLOT REGISTRY-URL OUTDIR [BACKEND...]
#   SLOT          the registry slot rolled back (murder-bridge slot list)
#   REGISTRY-URL  leveldb:///DIR or etcd://HOST:PORT/PREFIX, or a running
#                 bridge's HTTP API http://HOST:PORT (mboxconv --bridge; the
#                 way to read a leveldb registry the bridge owns)
#   OUTDIR        where the files go (created)
#   BACKEND       the slot's backends, only to address the printed commands
# environment: MBOXCONV (default: mboxconv on PATH), CYRUS_BIN (default
# /usr/lib/cyrus/bin), CYRUS_VERSION (default 3.6), TOKEN_FILE (required
# with an http:// REGISTRY-URL: the bridge's --http-token-file).
#
# The files are made in a temporary directory (under TMPDIR) and moved into
# OUTDIR only when every export and the verification succeeded: a registry
# that cannot be read (a mistyped path, a stopped bridge) leaves OUTDIR as
# it was.
#
# Files written, each verified against the registry with `mboxconv verify`:
#   OUTDIR/master-mailboxes.db   twoskip mailboxes.db of every registry entry:
#                                what the old master's mailboxes.db should be
#   OUTDIR/SLOT-mailboxes.db     twoskip mailboxes.db of the slot's entries
#   OUTDIR/SLOT.legacy           the slot's entries as `ctl_mboxlist -u -L`
#                                lines (3.6's JSON undump, -u without -L,
#                                skips entries without a uniqueid: entries
#                                that came over MUPDATE have none). An entry
#                                a 3.6+ master holds with an empty partition
#                                (a RENAME target, DELETED.*: location
#                                "host!") is the line's "host!", which -u -L
#                                reads back as such. Not written when some
#                                entry cannot be a line at all (a mailbox
#                                with no partition and no server, a name with
#                                a TAB), said on stderr with the entries
# Exit status: 0 done, 1 a written file differs from the registry, 2 usage,
# others: mboxconv's.
set -eu

if [ $# -lt 3 ]; then
	sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//;/^set -eu/d' >&2
	exit 2
fi
slot=$1 reg=$2 out=$3
shift 3
backends=${*:-BACKEND-OF-$slot}
MBOXCONV=${MBOXCONV:-mboxconv}
CYRUS_BIN=${CYRUS_BIN:-/usr/lib/cyrus/bin}
CYRUS_VERSION=${CYRUS_VERSION:-3.6}

step() { printf '%s\n' "rollback-slot: $*" >&2; }

# How mboxconv reaches the registry: its URL, or a bridge's HTTP API.
case $reg in
http://* | https://*)
	if [ -z "${TOKEN_FILE:-}" ]; then
		echo "rollback-slot: an http:// REGISTRY-URL needs TOKEN_FILE (the bridge's --http-token-file)" >&2
		exit 2
	fi
	from="--bridge $reg"
	if [ -n "${TOKEN_FILE:-}" ]; then from="$from --token-file $TOKEN_FILE"; fi
	verify_with="--bridge $reg"
	if [ -n "${TOKEN_FILE:-}" ]; then verify_with="$verify_with --token-file $TOKEN_FILE"; fi
	;;
*)
	from="--registry $reg"
	verify_with=$reg
	;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rollback-slot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

step "exporting the whole registry as a twoskip mailboxes.db"
# shellcheck disable=SC2086 # $from is two or four words
"$MBOXCONV" export $from "$tmp/master-mailboxes.db" --to twoskip --cyrus-version "$CYRUS_VERSION"
step "exporting slot $slot"
# shellcheck disable=SC2086
"$MBOXCONV" export $from "$tmp/$slot-mailboxes.db" --to twoskip --slot "$slot" --cyrus-version "$CYRUS_VERSION"
set +e
# shellcheck disable=SC2086
"$MBOXCONV" export $from "$tmp/$slot.legacy" --to legacy --slot "$slot" --cyrus-version "$CYRUS_VERSION" 2>"$tmp/$slot.legacy.err"
st=$?
set -e
legacy_note=""
if [ $st -eq 7 ]; then
	# some entry cannot be a legacy line (listed in the error file)
	cat "$tmp/$slot.legacy.err" >&2
	rm -f "$tmp/$slot.legacy"
	legacy_note="NOTE: no $slot.legacy: some entries cannot be legacy lines (listed in $out/$slot.legacy.err); use the twoskip files."
	step "$legacy_note"
elif [ $st -ne 0 ]; then
	cat "$tmp/$slot.legacy.err" >&2
	exit $st
else
	rm -f "$tmp/$slot.legacy.err"
fi
step "verifying the exported master-mailboxes.db against the registry"
set +e
# shellcheck disable=SC2086 # $verify_with is one, two or four words
"$MBOXCONV" verify "$tmp/master-mailboxes.db" $verify_with
st=$?
set -e
if [ $st -ne 0 ]; then
	step "the exported file differs from the registry (exit $st): nothing written to $out"
	exit $st
fi
mkdir -p "$out"
for f in "$tmp"/*; do
	[ -e "$f" ] || continue
	mv -f "$f" "$out/"
done
step "written to $out: $(cd "$out" && ls -1 master-mailboxes.db "$slot-mailboxes.db" "$slot.legacy" "$slot.legacy.err" 2>/dev/null | tr '\n' ' ')"

cat <<EOT

# ---- Rollback of slot $slot: the Cyrus commands, safest first ----
#
# 0. murder-bridge slot rollback $slot  (done?) and, on every backend of the
#    slot, mupdate_server back to the old master in imapd.conf, then restart.
#    While $slot was cut over the bridge wrote every change through to the
#    old master: check first that nothing is left to do.
#
# 1. Compare, changing nothing: the old master's mailboxes.db against the
#    registry (run where the master's file is; a live file is fine):
#      $MBOXCONV verify /var/lib/cyrus/mailboxes.db $reg
#    exit 0: the master already holds every change; stop here.
#
# 2. On each backend of the slot ($backends), see what a push would change:
#      sudo -u cyrus $CYRUS_BIN/ctl_mboxlist -m -w
#    then push:
#      sudo -u cyrus $CYRUS_BIN/ctl_mboxlist -m
#    WARNING: a plain push (-m) DELETES the backend's local mailboxes that
#    the master (FIND) places on another server; read the -w output first.
#
# 3. Only if the master lost entries (step 1 differs and 2 did not fix it),
#    rebuild its mailboxes.db, with the master stopped:
#      cp -p /var/lib/cyrus/mailboxes.db /var/lib/cyrus/mailboxes.db.before-rollback
#      install -o cyrus -g mail -m 600 $out/master-mailboxes.db /var/lib/cyrus/mailboxes.db
#    or load only this slot's entries into the existing file:
#      sudo -u cyrus $CYRUS_BIN/ctl_mboxlist -u -L < $out/$slot.legacy
#    (-L: legacy lines; 3.6's JSON undump skips entries without a uniqueid)
#    ${legacy_note}
#    then start the master and repeat step 1.
#
# NOTE: ctl_cyrusdb -r (the recovery cyrus.conf's START section runs at every
# start) DROPS reserved entries (mbtype z, RESERVE without ACTIVATE) from
# mailboxes.db: a create in flight during the rollback is lost there and
# must be retried by the user.
EOT
