#!/bin/bash
# MUPDATE side by side (docs/benchmarks.md, "MUPDATE and bridge"): the real
# Cyrus 3.6.1 mupdate master (started with the shared lab's scripts) and
# murder-bridge on the same machine and the same N mailboxes, driven by the
# same client (bench/mupdateload, on mupdateclient):
#   - full UPDATE list to one client (entries/s)
#   - RESERVE+ACTIVATE pairs/s from CLIENTS concurrent clients: Cyrus's master
#     on /dev/shm and on disk, one bridge on leveldb on /dev/shm and on disk,
#     three bridges with embedded etcd members (on disk)
#   - one writer's p99 pair latency while a client takes the full list
#   - IDLE idle UPDATE clients: new connections' banner latency, memory per idle client
#   - a real Cyrus frontend's full resync after a bridge restart
#   - the bridge's RSS holding N entries on leveldb
# The master's mailboxes.db is built once with `ctl_mboxlist -u` on /dev/shm
# and copied to disk for the on-disk master; the bridges get it with
# `mboxconv import` of that file.
#
#   N=1000000 bench/mupdate.sh        (make bench-mupdate BENCH_N=...)
# Env: N (default 1000000), WORK (/dev/shm/murderkit-mupdate), DISK
#      (/var/tmp/murderkit-mupdate), CLIENTS (16), DURATION (10s), IDLE (1000),
#      LAB (/work/shared/lab or the lab scripts' directory), STEPS (default
#      "cyrus-shm cyrus-disk bridge-shm bridge-disk etcd3"), REBUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
WORK=${WORK:-/dev/shm/murderkit-mupdate}
DISK=${DISK:-/var/tmp/murderkit-mupdate}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-10s}
IDLE=${IDLE:-1000}
LAB=${LAB:-/work/shared/lab}
STEPS=${STEPS:-cyrus-shm cyrus-disk bridge-shm bridge-disk etcd3}
CPORT=${CPORT:-23905}
BPORT=${BPORT:-23915}
bin=/usr/lib/cyrus/bin
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the lab's cyrmaster drops to cyrus)" >&2; exit 1; }
[ -x "$LAB/lab-start.sh" ] || { echo "bench: no lab scripts in $LAB" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n 8192 || true
go build -o bin/ ./cmd/mboxconv ./cmd/murder-bridge ./bench/mupdateload
LOAD=$PWD/bin/mupdateload
want() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
say() { echo "# $*" >&2; }
rss() { awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "rss_kb=%s hwm_kb=%s\n", r, h}' "/proc/$1/status"; }
mkdir -p "$WORK" "$DISK"
echo "# $(date -u +%FT%TZ) N=$N $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

lab() { # DIR PORT start|stop [components]
	MURDERLAB_DIR=$1 MUPDATE_PORT=$2 LAB_COMPONENTS=${4:-master} LAB_SYSLOG=0 \
		FRONTEND_IMAP_PORT=$((CPORT + 50)) FRONTEND_MUPDATE_PORT=$((CPORT + 51)) \
		"$LAB/lab-$3.sh" ${5:-} >&2
}
masterpid() { pgrep -f "mupdate -C $1/master/imapd.conf -m" | head -1; }

# --- the master's mailboxes.db, N entries on server bench1 ---------------
C=$WORK/cyrus-n$N
if [ "${REBUILD:-}" = 1 ] || [ ! -s "$C/built" ]; then
	lab "$C" "$CPORT" stop >/dev/null 2>&1 || true
	rm -rf "$C"
	lab "$C" "$CPORT" start
	lab "$C" "$CPORT" stop master
	python3 - "$N" >"$C/in.json" <<'PY'
import sys
n = int(sys.argv[1])
w = sys.stdout.write
w("{\n")
sub = ["", ".Sent", ".Drafts", ".Trash", ".Archive"]
for i in range(n):
    u, k = divmod(i, len(sub))
    user = "user%07d" % u
    e = ('"user.%s%s": {"mbtype": "e", "partition": "default", "server": "bench%d", '
         '"uniqueid": "%08x-bench-4e00-8000-%012x", "uidvalidity": "%d", "createdmodseq": "1", '
         '"foldermodseq": "1", "acl": {"%s": "lrswipkxtecdan"}}') % (user, sub[k], 1 + u % 4, i, i, 1600000000 + i, user)
    w(("" if i == 0 else ",\n") + e)
w("\n}\n")
PY
	chown -R cyrus "$C/master" "$C/in.json"
	say "building the master's $N-entry mailboxes.db with ctl_mboxlist -u on $WORK ..."
	s=$(date +%s)
	runuser -u cyrus -- "$bin/ctl_mboxlist" -C "$C/master/imapd.conf" -u <"$C/in.json"
	say "built in $(($(date +%s) - s)) s"
	rm -f "$C/in.json"
	date >"$C/built"
fi
DB=$C/master/conf/mailboxes.db
echo "master_db_bytes=$(stat -c %s "$DB")"

measure() { # LABEL ADDR PID
	local l=$1 a=$2 p=$3
	$LOAD -label "$l." -addr "$a" -mode update
	$LOAD -label "$l." -addr "$a" -mode dumpwrite
	$LOAD -label "$l." -addr "$a" -mode write -clients "$CLIENTS" -duration "$DURATION"
	timeout 300 $LOAD -label "$l." -addr "$a" -mode idle -idle "$IDLE" -pid "$p" -timeout 4m || echo "$l.idle_failed=1"
	echo "$l.$(rss "$p")"
}

cyrus() { # LABEL DIR
	local l=$1 d=$2
	if [ "$d" != "$C" ]; then
		lab "$d" "$CPORT" stop >/dev/null 2>&1 || true
		rm -rf "$d"
		lab "$d" "$CPORT" start
		lab "$d" "$CPORT" stop master
		cp "$DB" "$d/master/conf/mailboxes.db"
		chown cyrus "$d/master/conf/mailboxes.db"
	fi
	cp -a "$DB" "$WORK/pristine.db" # the writes below add entries: restore after
	lab "$d" "$CPORT" start
	measure "$l" "127.0.0.1:$CPORT" "$(masterpid "$d")"
	lab "$d" "$CPORT" stop
	cp -a "$WORK/pristine.db" "$DB" && rm -f "$WORK/pristine.db"
}
want cyrus-shm && cyrus cyrus_shm "$C"
want cyrus-disk && cyrus cyrus_disk "$DISK/cyrus"

CREDS=$WORK/credentials
echo 'murder:murderpw' >"$CREDS"
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

bridge() { # LABEL DIR
	local l=$1 d=$2 s
	rm -rf "$d/registry" "$d/ckpt"
	mkdir -p "$d"
	s=$(date +%s.%N)
	bin/mboxconv import "$DB" --registry "leveldb://$d/registry" --progress none --checkpoint "$d/ckpt" >&2
	echo "$l.import_seconds=$(echo "$(date +%s.%N) - $s" | bc)"
	startbridge "$d/registry" "$d/bridge.log"
	echo "$l.start_$(rss "$BR")"
	measure "$l" "127.0.0.1:$BPORT" "$BR"
	stopbridge
}
want bridge-shm && bridge bridge_shm "$WORK/bridge"
if want bridge-disk; then
	bridge bridge_disk "$DISK/bridge"
	# a real Cyrus frontend (the lab's) on the bridge: initial sync, then a
	# full resync after a bridge restart. A marker written through the
	# bridge shows up in the frontend's own (read-only) mupdate service
	# only once the slave has applied the list.
	d=$DISK/bridge
	startbridge "$d/registry" "$d/bridge.log"
	F=$WORK/frontend
	lab "$F" "$BPORT" stop >/dev/null 2>&1 || true
	rm -rf "$F"
	$LOAD -addr "127.0.0.1:$BPORT" -mode write -clients 1 -duration 1ms -prefix zzzmark1 >/dev/null
	s=$(date +%s.%N)
	lab "$F" "$BPORT" start frontend
	$LOAD -addr "127.0.0.1:$((CPORT + 51))" -mode waitfind -name zzzmark1.c00.m0000000 -label frontend_initial_sync. -timeout 30m
	stopbridge
	s=$(date +%s.%N)
	startbridge "$d/registry" "$d/bridge.log"
	$LOAD -addr "127.0.0.1:$BPORT" -mode write -clients 1 -duration 1ms -prefix zzzmark2 >/dev/null
	$LOAD -addr "127.0.0.1:$((CPORT + 51))" -mode waitfind -name zzzmark2.c00.m0000000 -label frontend_resync_after_restart. -timeout 30m
	echo "frontend_resync_after_restart.from_restart_seconds=$(echo "$(date +%s.%N) - $s" | bc)"
	echo "frontend_retry_delay_s=$(awk '/^mupdate_retry_delay:/{print $2}' "$F/frontend/imapd.conf")"
	lab "$F" "$BPORT" stop
	stopbridge
fi

if want etcd3; then
	# three bridges, each an embedded etcd member on 127.0.0.81-83 (disk);
	# writes only, on an empty registry
	E=$DISK/etcd3
	rm -rf "$E"
	mkdir -p "$E"
	init="" addrs="" pids=()
	for i in 1 2 3; do init="$init${init:+,}e$i=http://127.0.0.8$i:$((BPORT + 10))"; done
	for i in 1 2 3; do
		bin/murder-bridge serve --etcd-member "e$i" --etcd-peer-url "http://127.0.0.8$i:$((BPORT + 10))" \
			--etcd-client-url "http://127.0.0.8$i:$((BPORT + 11))" --etcd-initial-cluster "$init" \
			--data-dir "$E/e$i" --listen "127.0.0.8$i:$BPORT" --credentials "$CREDS" --admins murder \
			--servername "e$i" 2>"$E/e$i.log" &
		pids+=($!)
		addrs="$addrs${addrs:+,}127.0.0.8$i:$BPORT"
	done
	for i in 1 2 3; do
		for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.8$i/$BPORT) 2>/dev/null && break; sleep 0.1; done
	done
	$LOAD -label etcd3. -addr "$addrs" -mode write -clients "$CLIENTS" -duration "$DURATION"
	for p in "${pids[@]}"; do kill -TERM "$p"; done
	for p in "${pids[@]}"; do wait "$p" || true; done
fi
