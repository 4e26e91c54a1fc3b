#!/bin/sh
# Times a whole-process raw dump of a large twoskip (and skiplist) file:
# ours (bench/formatsdump, the reader behind `mboxconv dump --raw`) against
# real Cyrus `cyr_dbtool FILE <format> show`, on the same file in one run.
# Prints wall time, the ratio, peak RSS (/usr/bin/time -v) and checks that
# both outputs are byte-identical.
#
# Usage: sh bench/formats.sh [RECORDS]   (default 2000000: ~416 MB twoskip,
#        the size of a real 1,000,000-mailbox 3.6 mailboxes.db)
# Env:   FORMATS="twoskip skiplist" to choose formats; DIR (default /dev/shm).
# Needs: root, Debian cyrus-imapd 3.6 (cyr_dbtool), Go.
set -eu
N=${1:-2000000}
FORMATS=${FORMATS:-twoskip}
DIR=${DIR:-/dev/shm}
tool=/usr/lib/cyrus/bin/cyr_dbtool
[ -x $tool ] || { echo "cyr_dbtool missing: apt-get install cyrus-imapd" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "$DIR/murderkit-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/conf/db" "$work/part"
printf 'configdirectory: %s/conf\npartition-default: %s/part\n' "$work" "$work" > "$work/imapd.conf"
(cd "$root" && go build -o "$work/formatsdump" ./bench/formatsdump)
chown -R cyrus:mail "$work"
run() { runuser -u cyrus -- $tool -C "$work/imapd.conf" "$@"; }

# One transaction of N sets shaped like 3.6 mailboxes.db records
# (N<dbname> / I<uniqueid> keys with dlist values of ~150 bytes).
gen() {
	awk -v n="$N" 'BEGIN {
		print "BEGIN\r"
		for (i = 0; i < n; i++) {
			if (i % 2 == 0) k = sprintf("Nuser.u%07d", i / 2); else k = sprintf("I%08x-4a5b-11ee-9c3d-%012x", i, i)
			v = sprintf("%%(A %%(u%07d lrswipkxtecdan admin lrswipkxtecda) I %08x-4a5b-11ee-9c3d-%012x P default T e V %d F 1 M 1700000000)", i, i, i, 1700000000 + i)
			printf "SET {%d+}\r\n%s {%d+}\r\n%s\r\n", length(k), k, length(v), v
		}
		print "COMMIT\r"
	}'
}

for fmt in $FORMATS; do
	db="$work/$fmt.db"
	echo "== $fmt: building $N records with cyr_dbtool batch (one transaction)"
	t0=$(date +%s)
	gen | run -n "$db" $fmt batch >/dev/null
	echo "built in $(( $(date +%s) - t0 )) s: $(stat -c %s "$db") bytes"
	if [ $fmt = skiplist ]; then
		# cyr_dbtool's open recovers+checkpoints a skiplist; do it once now
		# so both programs read the same bytes.
		run "$db" $fmt get x >/dev/null 2>&1 || true
	fi
	size=$(stat -c %s "$db")
	/usr/bin/time -v -o "$work/theirs.time" runuser -u cyrus -- $tool -C "$work/imapd.conf" "$db" $fmt show > "$work/theirs.out"
	/usr/bin/time -v -o "$work/ours.time" "$work/formatsdump" "$db" > "$work/ours.out"
	if cmp -s "$work/theirs.out" "$work/ours.out"; then same=identical; else same=DIFFERENT; fi
	wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }
	rss() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
	tw=$(wall "$work/theirs.time"); ow=$(wall "$work/ours.time")
	tr=$(rss "$work/theirs.time"); or=$(rss "$work/ours.time")
	echo "file:            $size bytes ($(( size / 1048576 )) MiB), $(wc -l < "$work/ours.out") lines, outputs $same"
	echo "cyr_dbtool show: ${tw} s, peak RSS ${tr} KiB"
	echo "ours:            ${ow} s, peak RSS ${or} KiB (limit: file + 64 MiB = $(( size / 1024 + 65536 )) KiB)"
	awk -v t="$tw" -v o="$ow" 'BEGIN { if (o > 0) printf "ratio:           %.1fx faster\n", t / o }'
	[ $same = identical ] || exit 1
	rm -f "$db" "$work/theirs.out" "$work/ours.out"
done
