#!/bin/bash
# Whole-process benchmark of `mboxconv dump` against Cyrus 3.6.1's own tools,
# on the same N-mailbox 3.6 twoskip mailboxes.db, in one run:
#   mboxconv dump        vs  ctl_mboxlist -d      (JSON)
#   mboxconv dump --raw  vs  cyr_dbtool DB twoskip show
# Prints wall time, peak RSS (/usr/bin/time -f %M) and the ratios, and checks
# that both sides printed the same bytes.
#
# The file is built by the real tools on a RAM disk (ctl_mboxlist -u fsyncs
# once per mailbox): JSON of the N mailboxes is undumped into a scratch
# configuration with reverseacls: yes after `ctl_cyrusdb -r` wrote the
# reverse-ACL marker, so the file holds N-, I- and reverse-ACL keys like a real
# 3.6 server's. ctl_mboxlist -u parses its whole input in memory (~2.5 GB per
# million mailboxes), so the JSON goes in pieces of CHUNK mailboxes, each
# undumped into the same file (10M: ten runs, ~10 min on /dev/shm). The built
# file is kept in $WORK and reused (REBUILD=1 to redo).
#
# The outputs compared go to OUT (default /dev/shm, a RAM disk, so that the
# speed of a disk does not enter the ratio), one at a time: each is hashed
# (sha256, not timed) and removed before the next command runs, so a 10M run
# needs room for the file and one dump (~4 + 3 GB), not for four dumps.
#
#   N=1000000 bench/dump.sh          (make bench BENCH_N=...)
#   N=10000000 bench/dump.sh
#   NS="1000000 10000000" bench/dump.sh   each N in turn, then the growth
#                                         factor of every cost from the
#                                         first N to the last, next to the
#                                         mailbox factor
# Env: N (mailboxes, default 1000000), WORK (default /dev/shm/murderkit-bench),
#      OUT (default $WORK), CHUNK (mailboxes per ctl_mboxlist -u, default
#      1000000), MBOXCONV (default bin/mboxconv, built if missing), REBUILD=1,
#      RUNS (default 1), BUILD_ONLY=1 (build the file and stop), NS (several N:
#      above)
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=$PWD/bench/genmailboxes.py # the synthetic mailboxes
N=${N:-1000000}
WORK=${WORK:-/dev/shm/murderkit-bench}
if [ -n "${NS:-}" ]; then
	# each N of NS, then growth factors from the results each run kept
	set -- $NS
	for n in "$@"; do
		NS= N=$n bash "$0"
	done
	first=$1 last=${!#}
	[ "$first" != "$last" ] || exit 0
	read -r -a a <"$WORK/result.n$first"
	read -r -a b <"$WORK/result.n$last"
	f() { awk -v x="$1" -v y="$2" 'BEGIN{ if (x == 0) x = 0.001; printf "%.1fx", y / x }'; }
	printf 'growth from %d to %d mailboxes (mailbox factor %s):\n' "$first" "$last" "$(f "$first" "$last")"
	names=("mboxconv dump" "ctl_mboxlist -d" "mboxconv dump --raw" "cyr_dbtool show")
	for i in 0 1 2 3; do
		printf '%-22s wall %7s  cpu %7s  peak RSS %7s\n' "${names[$i]}" \
			"$(f "${a[$((3 * i))]}" "${b[$((3 * i))]}")" "$(f "${a[$((3 * i + 1))]}" "${b[$((3 * i + 1))]}")" "$(f "${a[$((3 * i + 2))]}" "${b[$((3 * i + 2))]}")"
	done
	exit 0
fi
RUNS=${RUNS:-1}
CHUNK=${CHUNK:-1000000}
OUT=${OUT:-$WORK}
bin=/usr/lib/cyrus/bin
MBOXCONV=${MBOXCONV:-$PWD/bin/mboxconv}
for t in ctl_mboxlist ctl_cyrusdb cyr_dbtool; do
	[ -x "$bin/$t" ] || { echo "bench: $bin/$t missing (make deps)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
if [ ! -x "$MBOXCONV" ]; then go build -o bin/ ./cmd/mboxconv; fi

asc=()
[ "$(id -u)" = 0 ] && asc=(runuser -u cyrus --)
as_cyrus() { "${asc[@]+"${asc[@]}"}" "$@"; }

cfg=$WORK/n$N
db=$cfg/conf/mailboxes.db
if [ "${REBUILD:-}" = 1 ] || [ ! -s "$cfg/built" ]; then
	rm -rf "$cfg"
	mkdir -p "$cfg/conf/db" "$cfg/part"
	cat >"$cfg/imapd.conf" <<C
configdirectory: $cfg/conf
partition-default: $cfg/part
admins: cyrus admin
virtdomains: userid
reverseacls: yes
C
	# N mailboxes: users with INBOX, Sent, Drafts, Trash, Archive (5 each);
	# every 50th user shares Archive with a group (a reverse-ACL key each),
	# every 20th mailbox is on partition p2 of a second backend.
	# gen FROM TO: the JSON of mailboxes FROM..TO-1
	gen() { python3 "$GEN" "$1" "$2"; }
	chown -R cyrus:mail "$cfg" 2>/dev/null || true
	echo "bench: building a $N-mailbox twoskip mailboxes.db with ctl_mboxlist -u on $WORK, $CHUNK mailboxes per run ..." >&2
	start=$(date +%s)
	as_cyrus "$bin/ctl_cyrusdb" -C "$cfg/imapd.conf" -r
	for ((lo = 0; lo < N; lo += CHUNK)); do
		hi=$((lo + CHUNK < N ? lo + CHUNK : N))
		gen "$lo" "$hi" >"$cfg/in.json"
		chown cyrus:mail "$cfg/in.json" 2>/dev/null || true
		as_cyrus "$bin/ctl_mboxlist" -C "$cfg/imapd.conf" -u <"$cfg/in.json"
		# ctl_mboxlist -u leaves one lock file per user (2M at 10M
		# mailboxes): an inode each, and a tmpfs has few (half its pages)
		find "$cfg/conf/lock" -type f -delete 2>/dev/null || true
		echo "bench: $hi of $N undumped ($(($(date +%s) - start)) s, load $(cut -d' ' -f1 /proc/loadavg))" >&2
	done
	echo "bench: built in $(($(date +%s) - start)) s" >&2
	rm -f "$cfg/in.json"
	date >"$cfg/built"
fi
[ "${BUILD_ONLY:-}" = 1 ] && exit 0
size=$(stat -c %s "$db")
records=$(as_cyrus "$bin/cyr_dbtool" -C "$cfg/imapd.conf" "$db" twoskip show | wc -l)

mkdir -p "$OUT"
chown cyrus:mail "$OUT" 2>/dev/null || true
# run NAME OUT CMD...: time CMD (stdout to OUT), print "wall_s peak_kB
# cpu_s sha256"; OUT is hashed and removed afterwards
run() {
	local name=$1 outf=$2
	shift 2
	local best_t="" best_m="" best_c=""
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -o "$WORK/time.$name" -f '%e %M %U %S' "$@" >"$outf" 2>"$WORK/err.$name" || {
			echo "bench: $name failed:" >&2; cat "$WORK/err.$name" >&2; exit 1; }
		read -r t m u s <"$WORK/time.$name"
		if [ -z "$best_t" ] || awk -v a="$t" -v b="$best_t" 'BEGIN{exit !(a<b)}'; then
			best_t=$t best_m=$m best_c=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
		fi
	done
	local sum
	sum=$(sha256sum <"$outf" | cut -c1-64)
	rm -f "$outf"
	echo "$best_t $best_m $best_c $sum"
}

read -r t_ours_json m_ours_json c_ours_json h_ours_json < <(run ours-json "$OUT/ours.json" "$MBOXCONV" dump "$db")
read -r t_cyr_json m_cyr_json c_cyr_json h_cyr_json < <(run cyr-json "$OUT/cyr.json" "${asc[@]+"${asc[@]}"}" "$bin/ctl_mboxlist" -C "$cfg/imapd.conf" -d -f "$db")
read -r t_ours_raw m_ours_raw c_ours_raw h_ours_raw < <(run ours-raw "$OUT/ours.show" "$MBOXCONV" dump --raw "$db")
read -r t_cyr_raw m_cyr_raw c_cyr_raw h_cyr_raw < <(run cyr-raw "$OUT/cyr.show" "${asc[@]+"${asc[@]}"}" "$bin/cyr_dbtool" -C "$cfg/imapd.conf" "$db" twoskip show)

# wall, cpu, peak of each command, for NS's growth factors
echo "$t_ours_json $c_ours_json $m_ours_json $t_cyr_json $c_cyr_json $m_cyr_json $t_ours_raw $c_ours_raw $m_ours_raw $t_cyr_raw $c_cyr_raw $m_cyr_raw" >"$WORK/result.n$N"
same_json=yes; [ "$h_ours_json" = "$h_cyr_json" ] || same_json=NO
same_raw=yes; [ "$h_ours_raw" = "$h_cyr_raw" ] || same_raw=NO

limit_kb=$(((size + 64 * 1024 * 1024) / 1024))
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) b = 0.001; printf "%.1f", a / b }'; }
printf 'bench: %d mailboxes, %d records, file %d bytes (%.1f MB), %s, best of %d\n' \
	"$N" "$records" "$size" "$(awk -v s="$size" 'BEGIN{print s/1048576}')" "$(date -u +%F)" "$RUNS"
printf '%-24s %9s %9s %12s\n' "command" "wall s" "cpu s" "peak RSS kB"
printf '%-24s %9s %9s %12s\n' "mboxconv dump" "$t_ours_json" "$c_ours_json" "$m_ours_json"
printf '%-24s %9s %9s %12s\n' "ctl_mboxlist -d" "$t_cyr_json" "$c_cyr_json" "$m_cyr_json"
printf '%-24s %9s %9s %12s\n' "mboxconv dump --raw" "$t_ours_raw" "$c_ours_raw" "$m_ours_raw"
printf '%-24s %9s %9s %12s\n' "cyr_dbtool show" "$t_cyr_raw" "$c_cyr_raw" "$m_cyr_raw"
printf 'speed-up (wall) json: %sx  raw: %sx   (target >= 5x)\n' "$(ratio "$t_cyr_json" "$t_ours_json")" "$(ratio "$t_cyr_raw" "$t_ours_raw")"
printf 'cpu ratio       json: %sx  raw: %sx\n' "$(ratio "$c_cyr_json" "$c_ours_json")" "$(ratio "$c_cyr_raw" "$c_ours_raw")"
printf 'outputs on %s (%s)\n' "$OUT" "$(df --output=fstype "$OUT" | tail -1)"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'peak RSS limit (file + 64 MB): %d kB; ours json %s, raw %s\n' "$limit_kb" "$m_ours_json" "$m_ours_raw"
printf 'same bytes as Cyrus: json %s, raw %s\n' "$same_json" "$same_raw"
fail=0
[ "$same_json" = yes ] && [ "$same_raw" = yes ] || fail=1
[ "$m_ours_json" -le "$limit_kb" ] && [ "$m_ours_raw" -le "$limit_kb" ] || { echo "bench: peak memory over the limit" >&2; fail=1; }
exit $fail
