#!/bin/bash
# Whole-process benchmark of mboxconv import/export (docs/benchmarks.md,
# "mboxconv import/export") on the real N-mailbox Cyrus 3.6 twoskip
# mailboxes.db that bench/dump.sh builds with ctl_mboxlist -u (built first
# if missing), side by side with the nearest real Cyrus operations:
#   mboxconv import DB --registry leveldb://   vs  ctl_mboxlist -d -f DB
#   mboxconv import DB --registry etcd://      (3 Debian etcd members, data on
#                                             ETCD_DIR, default disk; ETCD=1,
#                                             ETCD=only skips the rest)
#   mboxconv export --registry leveldb:// --to twoskip
#                                             vs  cvt_cyrusdb skiplist -> twoskip
# Each command's wall time, CPU and peak RSS (/usr/bin/time); every import
# and export verifies its result (count and digest per slot) itself, and the
# export is also checked with real cyr_dbtool consistent.
#
#   N=1000000 bench/convert.sh           ETCD=1 N=100000 bench/convert.sh
# Env: N (default 1000000), WORK (default /dev/shm/murderkit-bench), ETCD=1
#      or only, ETCD_DIR (default /var/tmp/murderkit-bench-etcd), BATCH
#      (import batch, default 10000), ETCD_BATCH (default 100000),
#      MBOXCONV (default bin/mboxconv)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
WORK=${WORK:-/dev/shm/murderkit-bench}
BATCH=${BATCH:-10000}
bin=/usr/lib/cyrus/bin
MBOXCONV=${MBOXCONV:-$PWD/bin/mboxconv}
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
go build -o "$MBOXCONV" ./cmd/mboxconv
cfg=$WORK/n$N
db=$cfg/conf/mailboxes.db
if [ ! -s "$cfg/built" ]; then
	N=$N WORK=$WORK bench/dump.sh >/dev/null
fi
asc=()
[ "$(id -u)" = 0 ] && asc=(runuser -u cyrus --)
out=$WORK/convert-out
rm -rf "$out"; mkdir -p "$out"; chown cyrus:mail "$out" 2>/dev/null || true

# t NAME CMD...: run CMD, print "NAME wall cpu peakRSS"
t() {
	local name=$1; shift
	/usr/bin/time -o "$out/time" -f '%e %U %S %M' "$@" >"$out/stdout.$name" 2>"$out/stderr.$name" || {
		echo "bench: $name failed:" >&2; cat "$out/stderr.$name" >&2; exit 1; }
	read -r e u s m <"$out/time"
	printf '%-44s %8s %8.2f %12s\n' "$name" "$e" "$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" "$m"
}
echo "# $(date -u +%FT%TZ), $N mailboxes, file $(stat -c %s "$db") bytes, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %8s %8s %12s\n' "command" "wall s" "cpu s" "peak RSS kB"
if [ "${ETCD:-}" != only ]; then
reg=leveldb://$out/reg
t "mboxconv import -> leveldb" "$MBOXCONV" import "$db" --registry "$reg" --batch "$BATCH" --checkpoint "$out/cp" --progress none
t "ctl_mboxlist -d -f (3.6.1)" "${asc[@]+"${asc[@]}"}" "$bin/ctl_mboxlist" -C "$cfg/imapd.conf" -d -f "$db"
t "mboxconv import again (no-op re-run)" "$MBOXCONV" import "$db" --registry "$reg" --batch "$BATCH" --checkpoint "$out/cp" --progress none
t "mboxconv export leveldb -> twoskip" "$MBOXCONV" export --registry "$reg" "$out/export.db" --to twoskip --progress none
chown cyrus:mail "$out/export.db"
"${asc[@]+"${asc[@]}"}" "$bin/cvt_cyrusdb" -C "$cfg/imapd.conf" "$db" twoskip "$out/src.skiplist" skiplist >/dev/null 2>&1
t "cvt_cyrusdb skiplist -> twoskip (3.6.1)" "${asc[@]+"${asc[@]}"}" "$bin/cvt_cyrusdb" -C "$cfg/imapd.conf" "$out/src.skiplist" skiplist "$out/cvt.db" twoskip
consistent=$("${asc[@]+"${asc[@]}"}" "$bin/cyr_dbtool" -C "$cfg/imapd.conf" "$out/export.db" twoskip consistent 2>&1 | tail -1)
echo "cyr_dbtool consistent on the export: $consistent"
grep -h "imported\|exported" "$out"/stdout.mboxconv* | cut -c1-220
fi
if [ -n "${ETCD:-}" ]; then
	go build -o bin/convertetcd ./bench/convertetcd
	exec 3> >(WORK=$WORK ETCD_DIR=${ETCD_DIR:-/var/tmp/murderkit-bench-etcd} bin/convertetcd >"$out/etcd.url")
	for _ in $(seq 100); do [ -s "$out/etcd.url" ] && break; sleep 0.2; done
	url=$(cat "$out/etcd.url")
	echo "etcd registry: $url"
	t "mboxconv import -> 3-member etcd" "$MBOXCONV" import "$db" --registry "$url" --batch "${ETCD_BATCH:-100000}" --checkpoint "$out/cp-etcd" --progress none
	grep -h "imported" "$out/stdout.mboxconv import -> 3-member etcd" | cut -c1-220
	exec 3>&-
	sleep 2
fi
rm -rf "$out"
