#!/bin/bash
# MUPDATE side by side (docs/benchmarks.md, "MUPDATE and bridge"): the real
# Cyrus 3.6.1 mupdate master (started with the shared lab's scripts) and
# murder-bridge on the same machine and the same N mailboxes, driven by the
# same client (bench/mupdateload, on mupdateclient). Steps (STEPS=...):
#   cyrus-shm, cyrus-disk   the real master, mailboxes.db on /dev/shm / disk
#   bridge-shm, bridge-disk one bridge, leveldb registry on /dev/shm / disk
#   bridge-mem              mupdateserver on the in-memory backend (same list)
#       each: full UPDATE list to one client (entries/s); one writer's pair
#       p50/p99/max while a client takes the full list; RESERVE+ACTIVATE
#       pairs/s from CLIENTS concurrent clients (every bridge write synced
#       before its OK); the server's RSS before and after
#   idle-cyrus, idle-bridge IDLE UPDATE clients synced and idle on a list of
#       IDLE_N entries (written through MUPDATE first), then new
#       connections' banner latency and RSS per idle client. Not on the
#       N-entry list: IDLE full lists of N entries would take hours on
#       either server.
#   frontend                a real Cyrus frontend (the lab's) on the disk
#       bridge: initial sync of N entries, then full resync after a bridge
#       restart (a marker mailbox written through the bridge is waited for
#       on the frontend's own read-only mupdate service)
#   etcd3                   three bridges with embedded etcd members (disk),
#       writes only, on an empty registry, then the cluster's raw put
#       ceiling for as many clients (bench/etcdput), spread over the three
#       members and all on the leader
#
# The list: SRCDB, a real Cyrus 3.6 mailboxes.db (default: bench/dump.sh's
# file /dev/shm/murderkit-bench/n$N/conf/mailboxes.db when present, else one
# is built here with `ctl_mboxlist -u`, 3–7 min at 1M, in runs of CHUNK
# entries: ctl_mboxlist -u holds its whole input in memory, ~2.5 GB per
# million, so N=10000000 is ten runs into one file). SRCDB is only read:
# each master step gets its own copy; the bridges get it through one
# `mboxconv import` into a pristine leveldb registry on /dev/shm, copied
# for each bridge step (REBUILD=1 redoes both).
#
#   N=1000000 bench/mupdate.sh        (make bench-mupdate BENCH_N=...)
#   N=1000000 STEPS="cyrus-disk bridge-disk" bench/mupdate.sh
# Env: N (default 1000000), CHUNK (1000000), SRCDB, WORK (/dev/shm/murderkit-mupdate), DISK
#      (/var/tmp/murderkit-mupdate), CLIENTS (16), DURATION (10s), IDLE
#      (1000), IDLE_N (10000), LAB (/work/shared/lab), STEPS (default: all
#      but etcd3), REBUILD=1, TRIO_GOMAXPROCS (etcd3: GOMAXPROCS of each
#      of the three bridges, default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
CHUNK=${CHUNK:-1000000}
# waits that grow with N (a master's START recovery, a frontend's sync):
# 600 s plus 1 s per 5,000 entries; frontend syncs 30 min plus 1 per 200,000
WAITS=$((600 + N / 5000))
SYNCMIN=$((30 + N / 200000))
WORK=${WORK:-/dev/shm/murderkit-mupdate}
DISK=${DISK:-/var/tmp/murderkit-mupdate}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-10s}
IDLE=${IDLE:-1000}
IDLE_N=${IDLE_N:-10000}
LAB=${LAB:-/work/shared/lab}
STEPS=${STEPS:-cyrus-shm cyrus-disk bridge-shm bridge-disk bridge-mem idle-cyrus idle-bridge frontend}
TRIO_GOMAXPROCS=${TRIO_GOMAXPROCS:-1}
CPORT=${CPORT:-23905}
BPORT=${BPORT:-23915}
MPORT=${MPORT:-23925}
bin=/usr/lib/cyrus/bin
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the lab's cyrmaster drops to cyrus)" >&2; exit 1; }
[ -x "$LAB/lab-start.sh" ] || { echo "bench: no lab scripts in $LAB" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n 8192 || true
go build -o bin/ ./cmd/mboxconv ./cmd/murder-bridge ./bench/mupdateload ./bench/etcdput
LOAD=$PWD/bin/mupdateload
want() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
say() { echo "# $(date -u +%T) $*" >&2; }
rss() { awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "rss_kb=%s hwm_kb=%s\n", r, h}' "/proc/$1/status"; }
load() { echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) $*"; }
mkdir -p "$WORK" "$DISK"
load "N=$N $(nproc) cores, STEPS=$STEPS"

lab() { # DIR PORT start|stop [components]
	MURDERLAB_DIR=$1 MUPDATE_PORT=$2 LAB_COMPONENTS=${4:-master} LAB_SYSLOG=0 \
		FRONTEND_IMAP_PORT=$((CPORT + 50)) FRONTEND_MUPDATE_PORT=$((CPORT + 51)) \
		"$LAB/lab-$3.sh" ${5:-} >&2
}
# waitbanner PORT SECONDS: until something greets "* OK" (the lab's own
# wait gives up after 20-60 s; at 1M the master's START recovery and a
# frontend's initial sync take longer)
waitbanner() {
	local end=$((SECONDS + $2)) line
	while [ $SECONDS -lt $end ]; do
		if exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
			if IFS= read -r -t 5 line <&3 && [[ $line == "* "* ]]; then
				exec 3>&- 3<&-
				return 0
			fi
			exec 3>&- 3<&-
		fi
		sleep 0.5
	done
	echo "bench: nothing greeted on 127.0.0.1:$1 within $2 s" >&2
	return 1
}
masterpid() { pgrep -f "mupdate -C $1/master/imapd.conf -m" | head -1; }
# startmaster DIR [DB]: a fresh lab master in DIR on CPORT with a copy of DB
startmaster() {
	local d=$1
	lab "$d" "$CPORT" stop >/dev/null 2>&1 || true
	rm -rf "$d"
	lab "$d" "$CPORT" start
	lab "$d" "$CPORT" stop master
	if [ -n "${2:-}" ]; then
		cp "$2" "$d/master/conf/mailboxes.db"
		chown cyrus "$d/master/conf/mailboxes.db"
	fi
	local s=$SECONDS
	lab "$d" "$CPORT" start || true # cyrmaster's START recovery may outlast the lab's 20 s wait
	waitbanner "$CPORT" "$WAITS"
	echo "master_start_seconds=$((SECONDS - s))"
}

# --- the list -------------------------------------------------------------
if [ -z "${SRCDB:-}" ] && [ -s "/dev/shm/murderkit-bench/n$N/conf/mailboxes.db" ]; then
	SRCDB=/dev/shm/murderkit-bench/n$N/conf/mailboxes.db
fi
if [ -z "${SRCDB:-}" ]; then
	C=$WORK/src-n$N
	SRCDB=$C/master/conf/mailboxes.db
	if [ "${REBUILD:-}" = 1 ] || [ ! -s "$C/built" ]; then
		lab "$C" "$CPORT" stop >/dev/null 2>&1 || true
		rm -rf "$C"
		lab "$C" "$CPORT" start
		lab "$C" "$CPORT" stop master
		# gen FROM TO: the JSON of entries FROM..TO-1
		gen() {
		python3 - "$1" "$2" <<'PY'
import sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
w = sys.stdout.write
w("{\n")
sub = ["", ".Sent", ".Drafts", ".Trash", ".Archive"]
for i in range(lo, hi):
    u, k = divmod(i, len(sub))
    user = "user%07d" % u
    e = ('"user.%s%s": {"mbtype": "e", "partition": "default", "server": "bench%d", '
         '"uniqueid": "%08x-bench-4e00-8000-%012x", "uidvalidity": "%d", "createdmodseq": "1", '
         '"foldermodseq": "1", "acl": {"%s": "lrswipkxtecdan"}}') % (user, sub[k], 1 + u % 4, i, i, 1600000000 + i, user)
    w(("" if i == lo else ",\n") + e)
w("\n}\n")
PY
		}
		chown -R cyrus "$C/master"
		say "building the master's $N-entry mailboxes.db with ctl_mboxlist -u on $WORK, $CHUNK entries per run ..."
		s=$(date +%s)
		for ((lo = 0; lo < N; lo += CHUNK)); do
			hi=$((lo + CHUNK < N ? lo + CHUNK : N))
			gen "$lo" "$hi" >"$C/in.json"
			chown cyrus "$C/in.json"
			runuser -u cyrus -- "$bin/ctl_mboxlist" -C "$C/master/imapd.conf" -u <"$C/in.json"
			# one lock file per user is left: an inode each (tmpfs has few)
			find "$C/master/conf/lock" -type f -delete 2>/dev/null || true
			say "$hi of $N undumped ($(($(date +%s) - s)) s, load $(cut -d' ' -f1 /proc/loadavg))"
		done
		say "built in $(($(date +%s) - s)) s"
		rm -f "$C/in.json"
		date >"$C/built"
	fi
fi
echo "srcdb=$SRCDB"
echo "srcdb_bytes=$(stat -c %s "$SRCDB")"

measure() { # LABEL ADDR PID
	local l=$1 a=$2 p=$3
	echo "$l.start_$(rss "$p")"
	load "$l update"
	$LOAD -label "$l." -addr "$a" -mode update
	echo "$l.after_update_$(rss "$p")"
	load "$l dumpwrite"
	$LOAD -label "$l." -addr "$a" -mode dumpwrite
	load "$l write"
	$LOAD -label "$l." -addr "$a" -mode write -clients "$CLIENTS" -duration "$DURATION"
	echo "$l.end_$(rss "$p")"
}

cyrus() { # LABEL DIR
	local l=$1 d=$2
	say "$l: master on $d"
	startmaster "$d" "$SRCDB"
	measure "$l" "127.0.0.1:$CPORT" "$(masterpid "$d")"
	lab "$d" "$CPORT" stop
	rm -rf "$d"
}
want cyrus-shm && cyrus cyrus_shm "$WORK/cyrus"
want cyrus-disk && cyrus cyrus_disk "$DISK/cyrus"

CREDS=$WORK/credentials
echo 'murder:murderpw' >"$CREDS"
chmod 600 "$CREDS" # murder-bridge refuses a credentials file others can read
BR=""
startbridge() { # REGDIR LOG
	bin/murder-bridge serve --registry "leveldb://$1" --listen "127.0.0.1:$BPORT" \
		--credentials "$CREDS" --admins murder --servername bench-bridge 2>"$2" &
	BR=$!
	for _ in $(seq 600); do
		(exec 3<>/dev/tcp/127.0.0.1/$BPORT) 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: bridge did not start" >&2
	cat "$2" >&2
	return 1
}
stopbridge() { kill -TERM "$BR"; wait "$BR" || true; }

# the pristine registry: SRCDB imported once (on /dev/shm), copied per step
PR=$WORK/registry-pristine
pristine() {
	if [ "${REBUILD:-}" = 1 ] || [ ! -s "$PR.done" ] || [ "$(cat "$PR.done")" != "$SRCDB $(stat -c %s.%Y "$SRCDB")" ]; then
		rm -rf "$PR" "$PR.ckpt" "$PR.done"
		load "import"
		local s
		s=$(date +%s.%N)
		bin/mboxconv import "$SRCDB" --registry "leveldb://$PR" --progress none --checkpoint "$PR.ckpt" >&2
		echo "import_seconds=$(echo "$(date +%s.%N) - $s" | bc)"
		echo "$SRCDB $(stat -c %s.%Y "$SRCDB")" >"$PR.done"
	fi
}
need_pristine() { want bridge-shm || want bridge-disk || want bridge-mem || want frontend; }
need_pristine && pristine

bridge() { # LABEL DIR
	local l=$1 d=$2
	say "$l: bridge on $d"
	rm -rf "$d"
	mkdir -p "$d"
	cp -a "$PR" "$d/registry"
	sync
	startbridge "$d/registry" "$d/bridge.log"
	measure "$l" "127.0.0.1:$BPORT" "$BR"
	stopbridge
	rm -rf "$d"
}
want bridge-shm && bridge bridge_shm "$WORK/bridge"
want bridge-disk && bridge bridge_disk "$DISK/bridge"

if want bridge-mem; then
	say "bridge_mem: mupdateserver on the in-memory backend"
	$LOAD -mode serve-memory -listen "127.0.0.1:$MPORT" -from "leveldb://$PR" &
	MP=$!
	waitbanner "$MPORT" "$WAITS"
	measure bridge_mem "127.0.0.1:$MPORT" "$MP"
	kill -TERM "$MP"
	wait "$MP" || true
fi

# idle UPDATE clients on an IDLE_N-entry list written through MUPDATE
if want idle-cyrus; then
	say "idle_cyrus: $IDLE idle clients on $IDLE_N entries"
	d=$WORK/cyrus-idle
	startmaster "$d"
	$LOAD -label idle_cyrus_fill. -addr "127.0.0.1:$CPORT" -mode write -clients "$CLIENTS" -duration 1h -count "$IDLE_N" -prefix idle
	load "idle_cyrus"
	$LOAD -label idle_cyrus. -addr "127.0.0.1:$CPORT" -mode idle -idle "$IDLE" -pid "$(masterpid "$d")" -timeout 10m ||
		echo "idle_cyrus.failed=1"
	lab "$d" "$CPORT" stop
	rm -rf "$d"
fi
if want idle-bridge; then
	say "idle_bridge: $IDLE idle clients on $IDLE_N entries"
	d=$WORK/bridge-idle
	rm -rf "$d"
	mkdir -p "$d"
	startbridge "$d/registry" "$d/bridge.log"
	$LOAD -label idle_bridge_fill. -addr "127.0.0.1:$BPORT" -mode write -clients "$CLIENTS" -duration 1h -count "$IDLE_N" -prefix idle
	load "idle_bridge"
	$LOAD -label idle_bridge. -addr "127.0.0.1:$BPORT" -mode idle -idle "$IDLE" -pid "$BR" -timeout 10m ||
		echo "idle_bridge.failed=1"
	echo "idle_bridge.end_$(rss "$BR")"
	stopbridge
	rm -rf "$d"
fi

if want frontend; then
	# a real Cyrus frontend (the lab's) on the bridge (leveldb on disk):
	# initial sync, then a full resync after a bridge restart. A marker
	# written through the bridge shows up in the frontend's own (read-only)
	# mupdate service only once the slave has applied the list (asked as the
	# lab's admin: the slave lets only its admins log in).
	d=$DISK/bridge-frontend
	rm -rf "$d"
	mkdir -p "$d"
	cp -a "$PR" "$d/registry"
	sync
	startbridge "$d/registry" "$d/bridge.log"
	F=$WORK/frontend
	lab "$F" "$BPORT" stop >/dev/null 2>&1 || true
	rm -rf "$F"
	$LOAD -addr "127.0.0.1:$BPORT" -mode write -clients 1 -duration 1m -count 1 -prefix zzzmark1 >/dev/null
	load "frontend initial sync"
	s=$(date +%s.%N)
	lab "$F" "$BPORT" start frontend || true # the lab waits 60 s for the slave's greeting
	$LOAD -addr "127.0.0.1:$((CPORT + 51))" -user admin -pass adminpw -mode waitfind -name zzzmark1.c00.m0000000 -label frontend_initial_sync. -timeout "${SYNCMIN}m"
	echo "frontend_initial_sync.from_start_seconds=$(echo "$(date +%s.%N) - $s" | bc)"
	echo "frontend.bridge_$(rss "$BR")"
	stopbridge
	load "frontend resync"
	s=$(date +%s.%N)
	startbridge "$d/registry" "$d/bridge.log"
	$LOAD -addr "127.0.0.1:$BPORT" -mode write -clients 1 -duration 1m -count 1 -prefix zzzmark2 >/dev/null
	$LOAD -addr "127.0.0.1:$((CPORT + 51))" -user admin -pass adminpw -mode waitfind -name zzzmark2.c00.m0000000 -label frontend_resync_after_restart. -timeout "${SYNCMIN}m"
	echo "frontend_resync_after_restart.from_restart_seconds=$(echo "$(date +%s.%N) - $s" | bc)"
	echo "frontend_retry_delay_s=$(awk '/^mupdate_retry_delay:/{print $2}' "$F/frontend/imapd.conf")"
	echo "frontend.bridge_after_resync_$(rss "$BR")"
	lab "$F" "$BPORT" stop
	stopbridge
	rm -rf "$d" "$F"
fi

if want etcd3; then
	# three bridges, each an embedded etcd member on 127.0.0.81-83 (disk);
	# writes only, on an empty registry. The three stand for three servers
	# but share this machine's cores: each gets TRIO_GOMAXPROCS (default 1)
	# so that three Go schedulers do not each spin on every core.
	say "etcd3: GOMAXPROCS=$TRIO_GOMAXPROCS for each bridge"
	E=$DISK/etcd3
	rm -rf "$E"
	mkdir -p "$E"
	init="" addrs="" clienturls="" pids=()
	for i in 1 2 3; do
		init="$init${init:+,}e$i=http://127.0.0.8$i:$((BPORT + 10))"
		clienturls="$clienturls${clienturls:+,}http://127.0.0.8$i:$((BPORT + 11))"
	done
	for i in 1 2 3; do
		GOMAXPROCS=$TRIO_GOMAXPROCS bin/murder-bridge serve --etcd-member "e$i" --etcd-peer-url "http://127.0.0.8$i:$((BPORT + 10))" \
			--etcd-client-url "http://127.0.0.8$i:$((BPORT + 11))" --etcd-initial-cluster "$init" \
			--data-dir "$E/e$i" --listen "127.0.0.8$i:$BPORT" --credentials "$CREDS" --admins murder \
			--servername "e$i" 2>"$E/e$i.log" &
		pids+=($!)
		addrs="$addrs${addrs:+,}127.0.0.8$i:$BPORT"
	done
	for i in 1 2 3; do
		for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.8$i/$BPORT) 2>/dev/null && break; sleep 0.1; done
	done
	load "etcd3 write"
	$LOAD -label etcd3. -addr "$addrs" -mode write -clients "$CLIENTS" -duration "$DURATION"
	# the cluster's own ceiling for as many clients: one durable put each
	# at a time (a RESERVE+ACTIVATE pair is two such writes)
	load "etcd3 raw puts"
	bin/etcdput -label etcd3.raw_ -clients "$CLIENTS" -duration "$DURATION" -endpoints "$clienturls"
	# and with every client on the leader (no forwarded proposals: etcd's
	# best case for as many clients)
	load "etcd3 raw puts to the leader"
	bin/etcdput -leader -label etcd3.raw_leader_ -clients "$CLIENTS" -duration "$DURATION" -endpoints "$clienturls"
	for p in "${pids[@]}"; do kill -TERM "$p"; done
	for p in "${pids[@]}"; do wait "$p" || true; done
fi
load "end"
