#!/bin/bash
# Regenerates the mailboxes.db fixtures in this directory with the real Cyrus
# IMAP 3.6.1 tools (Debian cyrus-imapd). Every .db file here is written by
# Cyrus's own code (ctl_mboxlist -u, ctl_cyrusdb -r, cvt_cyrusdb, cyr_dbtool);
# every golden file is what a real tool printed for it. See README.md.
#
# Usage (as root, or as a user who may run `runuser -u cyrus`):
#   testdata/make-fixtures.sh [OUTDIR]      (default: the directory of this script)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
src=$here/src
bin=${CYRUS_BIN:-/usr/lib/cyrus/bin}
for t in ctl_mboxlist ctl_cyrusdb cyr_dbtool cvt_cyrusdb; do
	[ -x "$bin/$t" ] || { echo "make-fixtures: $bin/$t missing: apt-get install cyrus-imapd (make deps)" >&2; exit 1; }
done
mkdir -p "$out"
work=$(mktemp -d /tmp/murderkit-fixtures.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# as_cyrus TOOL ARGS...: run a Cyrus tool as the cyrus user.
as_cyrus() {
	local tool=$1
	shift
	if [ "$(id -u)" = 0 ]; then
		runuser -u cyrus -- "$bin/$tool" "$@"
	else
		"$bin/$tool" "$@"
	fi
}

# newconf NAME [imapd.conf lines...]: a scratch configuration $work/NAME.
newconf() {
	local d=$work/$1
	shift
	mkdir -p "$d/conf/db" "$d/part" "$d/p2" "$d/p3"
	{
		echo "configdirectory: $d/conf"
		echo "partition-default: $d/part"
		echo "partition-p2: $d/p2"
		echo "partition-p3: $d/p3"
		echo "admins: cyrus admin"
		echo "virtdomains: userid"
		echo "syslog_prefix: murderkit-fixtures"
		for l in "$@"; do echo "$l"; done
	} >"$d/imapd.conf"
	[ "$(id -u)" = 0 ] && chown -R cyrus:mail "$d"
	return 0
}

# golden DB FORMAT: write DB.show (cyr_dbtool show) and DB.json
# (ctl_mboxlist -d) next to $out/DB, each from a private copy, because opening
# a crashed file makes Cyrus recover (rewrite) it.
golden() {
	local name=$1 fmt=$2 d=$work/golden-$1
	newconf "golden-$1"
	cp "$out/$name" "$d/conf/copy.db"
	[ "$(id -u)" = 0 ] && chown cyrus:mail "$d/conf/copy.db"
	as_cyrus cyr_dbtool -C "$d/imapd.conf" "$d/conf/copy.db" "$fmt" show >"$out/$name.show"
	cp "$out/$name" "$d/conf/copy.db"
	[ "$(id -u)" = 0 ] && chown cyrus:mail "$d/conf/copy.db"
	as_cyrus ctl_mboxlist -C "$d/imapd.conf" -d -f "$d/conf/copy.db" >"$out/$name.json"
}

# upgraded DB: what Cyrus 3.6's own upgrade (ctl_cyrusdb -r) makes of an old
# file, dumped with ctl_mboxlist -d: DB.upgraded.json (shows the upgrade's
# losses that murderkit's conversion avoids).
upgraded() {
	local name=$1 d=$work/upgrade-$1
	newconf "upgrade-$1"
	cp "$out/$name" "$d/conf/mailboxes.db"
	[ "$(id -u)" = 0 ] && chown cyrus:mail "$d/conf/mailboxes.db"
	as_cyrus ctl_cyrusdb -C "$d/imapd.conf" -r
	as_cyrus ctl_mboxlist -C "$d/imapd.conf" -d >"$out/$name.upgraded.json"
}

# oldstamp CONF-NAME: set the configuration's skiplist recovery stamp to
# 1970, so no skiplist file made there is ever recovered (checkpointed) on
# open: the files keep their transaction log. (ctl_cyrusdb -r sets it to
# "now", and a file whose last_recovery is older is recovered on open.)
oldstamp() {
	printf '\000\000\000\001' >"$work/$1/conf/db/skipstamp"
	[ "$(id -u)" = 0 ] && chown cyrus:mail "$work/$1/conf/db/skipstamp"
	return 0
}

# take CONF-NAME DEST: copy a configuration's mailboxes.db to $out/DEST
take() {
	cp "$work/$1/conf/mailboxes.db" "$out/$2"
	chmod 0644 "$out/$2"
}

# --- sample: the README demo, a small unified-murder list, 3.6, reverse ACLs
newconf sample "reverseacls: yes"
S=$work/sample
# Remote entries the way an MUPDATE master stores them: no uniqueid, no I key.
as_cyrus cyr_dbtool -C "$S/imapd.conf" -n "$S/conf/mailboxes.db" twoskip set \
	$'Nuser\x1Fdave' '%(T er P default S backend2 M 1795300000 A %(dave lrswipkxtecdan group:staff lr))'
as_cyrus cyr_dbtool -C "$S/imapd.conf" "$S/conf/mailboxes.db" twoskip set \
	$'Nuser\x1Fdave\x1FSent' '%(T er P default S backend2 M 1795300000 A %(dave lrswipkxtecdan))'
as_cyrus ctl_mboxlist -C "$S/imapd.conf" -u <"$src/sample.json"
# recover: builds the reverse-ACL keys (marker AS\x1E) for every entry
as_cyrus ctl_cyrusdb -C "$S/imapd.conf" -r
# reserved entries after recovery (ctl_cyrusdb -r deletes RESERVE entries):
# one from an undump (RACLs by Cyrus), one as MUPDATE RESERVE stores it (no ACL)
as_cyrus ctl_mboxlist -C "$S/imapd.conf" -u <"$src/sample-late.json"
as_cyrus cyr_dbtool -C "$S/imapd.conf" "$S/conf/mailboxes.db" twoskip set \
	$'Nuser\x1Ffrank' '%(T erz P default S backend2 M 1795300000)'
take sample sample.twoskip.db
golden sample.twoskip.db twoskip

# the same records converted by Cyrus to skiplist (checkpoint form)
as_cyrus cvt_cyrusdb -C "$S/imapd.conf" "$S/conf/mailboxes.db" twoskip "$S/conf/sample.skiplist" skiplist
cp "$S/conf/sample.skiplist" "$out/sample.skiplist.db"
chmod 0644 "$out/sample.skiplist.db"
golden sample.skiplist.db skiplist

# --- types: every mailbox type and flag, history, odd ACLs, long and
# non-ASCII names, domains, DELETED names; no reverse ACLs
newconf types
as_cyrus ctl_mboxlist -C "$work/types/imapd.conf" -u <"$src/types.json"
take types types.twoskip.db
golden types.twoskip.db twoskip

# --- empty files
newconf empty
as_cyrus cyr_dbtool -C "$work/empty/imapd.conf" -n "$work/empty/conf/e.twoskip" twoskip set k v
as_cyrus cyr_dbtool -C "$work/empty/imapd.conf" "$work/empty/conf/e.twoskip" twoskip delete k
as_cyrus cyr_dbtool -C "$work/empty/imapd.conf" "$work/empty/conf/e.twoskip" twoskip repack
cp "$work/empty/conf/e.twoskip" "$out/empty.twoskip.db"
as_cyrus cvt_cyrusdb -C "$work/empty/imapd.conf" "$work/empty/conf/e.twoskip" twoskip "$work/empty/conf/e.skiplist" skiplist
cp "$work/empty/conf/e.skiplist" "$out/empty.skiplist.db"
chmod 0644 "$out"/empty.*.db
golden empty.twoskip.db twoskip
golden empty.skiplist.db skiplist

# --- log form: several committed transactions, replacements and deletes,
# never checkpointed (skiplist: ADD/DELETE/COMMIT log after INORDER)
newconf logform
L=$work/logform
as_cyrus ctl_cyrusdb -C "$L/imapd.conf" -r
oldstamp logform
for fmt in skiplist twoskip; do
	db=$L/conf/log.$fmt
	as_cyrus cyr_dbtool -C "$L/imapd.conf" -n "$db" "$fmt" set $'Nuser\x1Famy' '%(T e I log-amy P default V 1 C 1 F 1 M 1795300000 A %(amy lrswipkxtecdan))'
	as_cyrus cyr_dbtool -C "$L/imapd.conf" "$db" "$fmt" set $'Iuser\x1Fold' 'x'
	as_cyrus cyr_dbtool -C "$L/imapd.conf" "$db" "$fmt" batch <<'B'
BEGIN
SET Nshared.gone "%(T e P default M 1795300001)"
SET "Nuser amy" "%(T e P default M 1795300001)"
COMMIT
B
	as_cyrus cyr_dbtool -C "$L/imapd.conf" "$db" "$fmt" set $'Nuser\x1Famy' '%(T e I log-amy P default V 1 C 1 F 2 M 1795300002 A %(amy lrswipkxtecdan bob lr))'
	as_cyrus cyr_dbtool -C "$L/imapd.conf" "$db" "$fmt" delete $'Iuser\x1Fold'
	as_cyrus cyr_dbtool -C "$L/imapd.conf" "$db" "$fmt" delete 'Nshared.gone'
	as_cyrus cyr_dbtool -C "$L/imapd.conf" "$db" "$fmt" set $'Nuser\x1Fzed' '%(T e I log-zed P default V 3 C 1 F 1 M 1795300003 A %(zed lrswipkxtecdan))'
	cp "$db" "$out/logform.$fmt.db"
	chmod 0644 "$out/logform.$fmt.db"
	golden "logform.$fmt.db" "$fmt"
done

# --- crashed files: `cyr_dbtool damage` leaves an uncommitted record
# behind; the committed state is the file before it.
for fmt in twoskip skiplist; do
	newconf "crash-$fmt"
	K=$work/crash-$fmt
	as_cyrus ctl_cyrusdb -C "$K/imapd.conf" -r
	oldstamp "crash-$fmt"
	cp "$out/logform.$fmt.db" "$K/conf/crash.db"
	[ "$(id -u)" = 0 ] && chown cyrus:mail "$K/conf/crash.db"
	as_cyrus cyr_dbtool -C "$K/imapd.conf" "$K/conf/crash.db" "$fmt" damage || true
	cp "$K/conf/crash.db" "$out/crash.$fmt.db"
	chmod 0644 "$out/crash.$fmt.db"
	golden "crash.$fmt.db" "$fmt"
done

# --- old value formats written by Cyrus's own engine (cyr_dbtool set):
# 2.x `type partition acl` values (skiplist, the 2.4 default backend) and
# 2.5 dlist values (no reverse ACLs before 3.0) and 3.4 values with
# $RACL / $RUNQ keys (twoskip)
newconf old
O=$work/old
as_cyrus ctl_cyrusdb -C "$O/imapd.conf" -r
oldstamp old
db=$O/conf/v2x.skiplist
as_cyrus cyr_dbtool -C "$O/imapd.conf" -n "$db" skiplist set 'user.fred' $'0 default fred\tlrswipkxtecda\tanyone\tlrs\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.fred.Sent' $'0 default fred\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.rem' $'1 backend1!default rem\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.res' $'3 backend1!default res\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'shared.team' $'0 p2 group:staff\tlrswipcd\t-bob\tlr\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'example.com!user.jane' $'0 default jane@example.com\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.fred.&AOk-t&AOk-' $'0 default fred\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.old' $'16 default old\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.moving' $'8 backend2!p3 moving\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.ext' $'(uniqueid 4711abc specialuse \\Sent) 0 default ext\tlrswipkxtecda\t'
as_cyrus cyr_dbtool -C "$O/imapd.conf" "$db" skiplist set 'user.noacl' '0 default '
cp "$db" "$out/v2x.skiplist.db"
as_cyrus cvt_cyrusdb -C "$O/imapd.conf" "$db" skiplist "$O/conf/v2x.twoskip" twoskip
cp "$O/conf/v2x.twoskip" "$out/v2x.twoskip.db"

db=$O/conf/v25.twoskip
as_cyrus cyr_dbtool -C "$O/imapd.conf" -n "$db" twoskip batch <<'B'
BEGIN
SET user.fred "%(A %(fred lrswipkxtecda anyone lrs) I 0123456789abcdef P default V 1300000000 M 1400000000)"
SET user.fred.Sent "%(A %(fred lrswipkxtecda) I 0123456789abcdf0 P default V 1300000001 M 1400000000)"
SET user.rem "%(A %(rem lrswipkxtecda) P default S backend1 T r M 1400000000)"
SET user.res "%(A %(res lrswipkxtecda) P default S backend1 T rz M 1400000000)"
SET user.noid "%(A %(noid lrswipkxtecda) P default V 1300000002 M 1400000000)"
SET shared.team "%(A %(group:staff lrswipcd -bob lr) I 0123456789abcdf1 P p2 V 1300000003 M 1400000000)"
SET user.fred.#calendars "%(A %(fred lrswipkxtecda) I 0123456789abcdf2 P default T c V 1300000004 M 1400000000)"
SET user.gone "%(I 0123456789abcdf3 P default T d V 1300000005 M 1400000000)"
COMMIT
B
cp "$db" "$out/v25.twoskip.db"

db=$O/conf/v34.twoskip
as_cyrus cyr_dbtool -C "$O/imapd.conf" -n "$db" twoskip batch <<'B'
BEGIN
SET $RACL 2
SET $RACL$U$anyone$user.fred ""
SET $RACL$S$group:staff$shared.team ""
SET $RUNQ 1
SET $RUNQ$0123456789abcdef$user.fred ""
SET $RUNQ$0123456789abcdf1$shared.team ""
SET user.fred "%(A %(fred lrswipkxtecdan anyone lrs) I 0123456789abcdef P default V 1300000000 C 1 F 7 M 1600000000)"
SET user.fred.Parent "%(I 0123456789abcdf4 P default T i V 1300000006 C 2 F 2 M 1600000000)"
SET user.fred.Parent.Child "%(A %(fred lrswipkxtecdan) I 0123456789abcdf5 P default V 1300000007 C 3 F 3 M 1600000000)"
SET user.rem "%(A %(rem lrswipkxtecdan) P default S backend1 T r M 1600000000)"
SET shared.team "%(A %(group:staff lrswipcd -bob lr) I 0123456789abcdf1 P p2 V 1300000003 C 1 F 4 M 1600000000)"
SET user.fred.Outbox "%(A %(fred lrswipkxtecdan) I 0123456789abcdf6 P default T s V 1300000008 C 4 F 4 M 1600000000)"
SET DELETED.user.fred.Old.5F000000 "%(A %(fred lrswipkxtecdan) I 0123456789abcdf7 P default V 1300000009 C 5 F 6 M 1600000000)"
COMMIT
B
cp "$db" "$out/v34.twoskip.db"
chmod 0644 "$out"/v2x.*.db "$out"/v25.twoskip.db "$out"/v34.twoskip.db
for f in v2x.skiplist.db:skiplist v2x.twoskip.db:twoskip v25.twoskip.db:twoskip v34.twoskip.db:twoskip; do
	golden "${f%%:*}" "${f##*:}"
	upgraded "${f%%:*}"
done

echo "make-fixtures: wrote $(ls "$out"/*.db | wc -l) files to $out" >&2
