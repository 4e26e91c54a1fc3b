#!/bin/sh
# Regenerates the fixture files in skiplist/testdata and twoskip/testdata
# with the real Cyrus 3.6.1 cyr_dbtool (Debian cyrus-imapd). Run as root
# from the repository root: sh cyrusdb/make-fixtures.sh
set -eu
tool=/usr/lib/cyrus/bin/cyr_dbtool
[ -x $tool ] || { echo "cyr_dbtool missing: apt-get install cyrus-imapd" >&2; exit 1; }
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/conf/db" "$tmp/part"
printf 'configdirectory: %s/conf\npartition-default: %s/part\n' "$tmp" "$tmp" > "$tmp/imapd.conf"
chown -R cyrus:mail "$tmp"
run() { runuser -u cyrus -- $tool -C "$tmp/imapd.conf" "$@"; }
batch() { # file format: stdin = batch lines
	run -n "$tmp/$1" "$2" batch >/dev/null
}
# Several transactions: sets, a replace, deletes, a multi-record txn,
# a binary key and a value with TAB/CR/LF/NUL.
ops() {
	printf 'SET alpha one\r\nSET beta two\r\nSET gamma three\r\n'
	printf 'BEGIN\r\nSET beta two2\r\nDELETE alpha\r\nSET delta four\r\nCOMMIT\r\n'
	printf 'SET {6+}\r\nu\303\251\001\377x {7+}\r\na\tb\r\n\000c\r\n'
	printf 'SET user.x "quoted value"\r\nDELETE gamma\r\n'
}
for f in twoskip skiplist; do
	ops | batch $f-log.db $f
	cp "$tmp/$f-log.db" "$root/$f/testdata/cyrus-log.db"
	ops | batch $f-crash.db $f
	run "$tmp/$f-crash.db" $f damage >/dev/null 2>&1 || true
	cp "$tmp/$f-crash.db" "$root/$f/testdata/cyrus-crash.db"
done
# A twoskip with BLANK padding: a record with a tall level lands near a
# 512-byte block boundary after enough appends.
i=0
while [ $i -lt 40 ]; do printf 'SET key%03d value-%03d\r\n' $i $i; i=$((i+1)); done | batch twoskip-blank.db twoskip
cp "$tmp/twoskip-blank.db" "$root/twoskip/testdata/cyrus-blank.db"
# The committed state as Cyrus shows it (on a copy: opening a skiplist
# recovers and checkpoints it).
for f in twoskip skiplist; do
	for d in "$root/$f/testdata"/cyrus-*.db; do
		cp "$d" "$tmp/show.db"; chown cyrus:mail "$tmp/show.db"
		run "$tmp/show.db" $f show > "${d%.db}.show"
	done
done
chmod 644 "$root"/*/testdata/cyrus-*
