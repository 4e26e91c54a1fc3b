#!/bin/bash
# How the costs of `mboxconv import` grow with the number of mailboxes
# (docs/scaling.md, "mboxconv import at 10M"): for each N of NS, on a RAM
# disk (WORK), one after the other:
#   json   mboxconv import of a JSON dump of N mailboxes -> empty leveldb
#          (the bulk path, the dump streamed)
#   json-shuf  the same mailboxes in a JSON dump out of dbname order
#          (genmailboxes.py --shuffled) -> empty leveldb: the bulk step
#          refuses the stream, the dump is read again and sorted by dbname
#          through temporary files (TMPDIR=WORK/nN), then bulk-imported;
#          the registry must hold what the json step's holds (SHUFFLED=0
#          skips this step)
#   export mboxconv export of that registry -> twoskip (a 3.6 mailboxes.db)
#   db     mboxconv import of a 3.6 twoskip file of N mailboxes -> empty
#          leveldb: bench/dump.sh's file built by real Cyrus (ctl_mboxlist -u)
#          when $CYRUS_WORK/n$N holds one, else the export above (the
#          output says which)
# each under /usr/bin/time (wall, CPU, peak RSS), with the load average.
# The JSON is bench/dump.sh's mailbox set (users with INBOX, Sent, Drafts,
# Trash, Archive; group grants; a second partition) in the order
# ctl_mboxlist -d prints it (dbname order: INBOX, Archive, Drafts, Sent,
# Trash), so that the import takes the bulk path. Every import verifies its result itself. At the
# end, the growth factor of each cost between the first and the last N,
# next to the mailbox factor: linear is a cost factor equal to it.
#
#   NS="1000000 10000000" bench/importscale.sh
# Env: NS (default "1000000 10000000"), WORK (default /dev/shm/murderkit-scale),
#      CYRUS_WORK (default /dev/shm/murderkit-bench), MBOXCONV (default
#      bin/mboxconv, built), OLD (a second mboxconv binary to time on the
#      same inputs, e.g. one built from an older commit; optional),
#      SHUFFLED (default 1: the json-shuf step)
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=$PWD/bench/genmailboxes.py # the synthetic mailboxes
NS=${NS:-1000000 10000000}
WORK=${WORK:-/dev/shm/murderkit-scale}
CYRUS_WORK=${CYRUS_WORK:-/dev/shm/murderkit-bench}
MBOXCONV=${MBOXCONV:-$PWD/bin/mboxconv}
OLD=${OLD:-}
SHUFFLED=${SHUFFLED:-1}
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
if [ "$MBOXCONV" = "$PWD/bin/mboxconv" ]; then go build -o bin/ ./cmd/mboxconv; fi
mkdir -p "$WORK"
res=$WORK/results
: >"$res"

gen() { # N: bench/dump.sh's JSON of N mailboxes, in dbname order
	python3 "$GEN" 0 "$1" --dbname-order
}

# t N STEP CMD...: run CMD under /usr/bin/time; record "N STEP wall cpu rss load"
t() {
	local n=$1 step=$2
	shift 2
	/usr/bin/time -o "$WORK/time" -f '%e %U %S %M' "$@" >"$WORK/out" 2>"$WORK/err" || {
		echo "bench: $step at $n failed:" >&2; cat "$WORK/err" >&2; exit 1; }
	read -r e u s m <"$WORK/time"
	local c l
	c=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
	l=$(cut -d' ' -f1 /proc/loadavg)
	echo "$n $step $e $c $m $l" >>"$res"
	printf '%-9s %-12s %8s s %8s s cpu %9s kB peak RSS   load %s   %s\n' "$n" "$step" "$e" "$c" "$m" "$l" "$(head -c 160 "$WORK/out" | tr '\n' ' ')"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), NS=$NS, WORK=$WORK ($(df --output=fstype "$WORK" | tail -1))"
for n in $NS; do
	d=$WORK/n$n
	rm -rf "$d"
	mkdir -p "$d"
	echo "# $(date -u +%T) generating the JSON of $n mailboxes" >&2
	gen "$n" >"$d/dump.json"
	echo "# $n mailboxes: JSON dump $(stat -c %s "$d/dump.json") bytes"
	t "$n" json "$MBOXCONV" import "$d/dump.json" --registry "leveldb://$d/reg-json" --checkpoint "$d/cp1" --progress none
	if [ -n "$OLD" ]; then
		t "$n" json-old "$OLD" import "$d/dump.json" --registry "leveldb://$d/reg-json-old" --checkpoint "$d/cp1o" --progress none
		rm -rf "$d/reg-json-old"
	fi
	rm -f "$d/dump.json"
	t "$n" export "$MBOXCONV" export --registry "leveldb://$d/reg-json" "$d/export.db" --to twoskip --progress none
	if [ "$SHUFFLED" = 1 ]; then
		python3 "$GEN" 0 "$n" --shuffled >"$d/shuf.json"
		echo "# $n mailboxes: shuffled JSON dump $(stat -c %s "$d/shuf.json") bytes"
		t "$n" json-shuf env TMPDIR="$d" "$MBOXCONV" import "$d/shuf.json" --registry "leveldb://$d/reg-shuf" --checkpoint "$d/cp1s" --progress none
		if [ -n "$OLD" ]; then
			t "$n" json-shuf-old env TMPDIR="$d" "$OLD" import "$d/shuf.json" --registry "leveldb://$d/reg-shuf-old" --checkpoint "$d/cp1so" --progress none
			rm -rf "$d/reg-shuf-old"
		fi
		rm -f "$d/shuf.json"
		# the same mailboxes as from the dump in dbname order: the export
		# of the registry is the same file, byte for byte
		"$MBOXCONV" export --registry "leveldb://$d/reg-shuf" "$d/export-shuf.db" --to twoskip --progress none >/dev/null
		if ! cmp "$d/export.db" "$d/export-shuf.db"; then
			echo "bench: the registry from the shuffled dump differs from the in-order one's" >&2
			exit 1
		fi
		echo "# json-shuf: its registry exports the same file as json's"
		rm -rf "$d/reg-shuf" "$d/export-shuf.db"
	fi
	src=$d/export.db
	if [ -s "$CYRUS_WORK/n$n/built" ]; then
		src=$CYRUS_WORK/n$n/conf/mailboxes.db
		echo "# db source: Cyrus-built $src ($(stat -c %s "$src") bytes)"
		rm -f "$d/export.db"
	else
		echo "# db source: the export (no Cyrus-built file in $CYRUS_WORK/n$n), $(stat -c %s "$src") bytes"
	fi
	rm -rf "$d/reg-json"
	t "$n" db "$MBOXCONV" import "$src" --registry "leveldb://$d/reg-db" --checkpoint "$d/cp2" --progress none
	echo "# registry on disk: $(du -sb "$d/reg-db" | cut -f1) bytes"
	rm -rf "$d/reg-db"
	if [ -n "$OLD" ]; then
		t "$n" db-old "$OLD" import "$src" --registry "leveldb://$d/reg-db-old" --checkpoint "$d/cp2o" --progress none
		rm -rf "$d/reg-db-old"
	fi
	rm -rf "$d"
done
first=$(awk 'NR==1{print $1}' "$res")
last=$(awk 'END{print $1}' "$res")
if [ "$first" != "$last" ]; then
	echo "# growth from $first to $last mailboxes (mailbox factor $(awk -v a="$last" -v b="$first" 'BEGIN{printf "%.1f", a/b}')x):"
	awk -v f="$first" -v l="$last" '
		$1 == f { w[$2] = $3; c[$2] = $4; m[$2] = $5 }
		$1 == l && ($2 in w) { printf "%-12s wall %6.1fx   cpu %6.1fx   peak RSS %5.2fx (%d -> %d kB)\n", $2, $3 / w[$2], $4 / c[$2], $5 / m[$2], m[$2], $5 }
	' "$res"
fi
