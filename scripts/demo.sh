#!/bin/bash
# demo.sh — the README's main job: a murder-bridge on the embedded default
# registry (leveldb under a data directory) holding testdata/sample.twoskip.db,
# in the foreground until Ctrl-C.
#
#   scripts/demo.sh            start, print how to talk to it, wait for Ctrl-C
#   scripts/demo.sh --check    start, query it the three ways printed, stop
#                              (non-interactive; exits non-zero on any failure)
#
# Environment: BIN (default bin), DEMO_DIR (default: a new temp dir, removed at
# exit), DEMO_PORT (MUPDATE, default 3905), DEMO_HTTP (default 8405).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
PORT=${DEMO_PORT:-3905}
HTTP=${DEMO_HTTP:-8405}
CHECK=0
[ "${1:-}" = --check ] && CHECK=1

if [ -n "${DEMO_DIR:-}" ]; then
	DIR=$DEMO_DIR
	mkdir -p "$DIR"
else
	DIR=$(mktemp -d /tmp/murderkit-demo.XXXXXX)
	trap 'rm -rf "$DIR"' EXIT
fi
# Cyrus's mupdatetest runs as the cyrus user: it must read the password file.
chmod 755 "$DIR"

(umask 077 && echo 'murder:murderpw' >"$DIR/credentials")
echo 'murderpw' >"$DIR/password"
chmod 644 "$DIR/password"
# the HTTP API serves the registry (entries, ACLs, visible lists) only with
# this bearer token
(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/http-token")

# import the sample (a real Cyrus 3.6.1 mailboxes.db) into the default registry
"$BIN/mboxconv" import testdata/sample.twoskip.db --registry "leveldb://$DIR/registry" \
	--checkpoint "$DIR/import.checkpoint" --progress none >&2

"$BIN/murder-bridge" serve --data-dir "$DIR" --credentials "$DIR/credentials" \
	--admins murder --listen "127.0.0.1:$PORT" --http "127.0.0.1:$HTTP" \
	--http-token-file "$DIR/http-token" --servername demo-bridge 2>"$DIR/bridge.log" &
PID=$!
stop() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap 'stop; [ -z "${DEMO_DIR:-}" ] && rm -rf "$DIR"' EXIT
trap 'echo; echo "demo: stopping the bridge"; exit 0' INT TERM

# wait (bounded) until it answers /healthz
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break
	kill -0 "$PID" 2>/dev/null || { cat "$DIR/bridge.log" >&2; echo "demo: the bridge exited" >&2; exit 1; }
	sleep 0.1
done
curl -fsS "http://127.0.0.1:$HTTP/healthz" >/dev/null || { cat "$DIR/bridge.log" >&2; exit 1; }

MT=/usr/lib/cyrus/bin/mupdatetest
cat <<MSG

murder-bridge is serving MUPDATE on 127.0.0.1:$PORT and HTTP on 127.0.0.1:$HTTP
registry: leveldb://$DIR/registry (testdata/sample.twoskip.db imported)
log: $DIR/bridge.log     credentials: murder / murderpw
HTTP bearer token: $DIR/http-token

Talk to it:
  # Cyrus's own MUPDATE client (runs as cyrus; type e.g.  A LIST  or  B FIND "user.alice")
  su -s /bin/sh cyrus -c '$MT -a murder -w murderpw -m PLAIN -p $PORT 127.0.0.1'
  # the operator commands, through the bridge's HTTP API
  $BIN/murder-bridge lookup user.alice --bridge http://127.0.0.1:$HTTP --token-file $DIR/http-token
  $BIN/murder-bridge visible alice --bridge http://127.0.0.1:$HTTP --token-file $DIR/http-token
  curl http://127.0.0.1:$HTTP/healthz
  curl -H "Authorization: Bearer \$(cat $DIR/http-token)" http://127.0.0.1:$HTTP/v1/mailboxes/user.alice
  # point a Cyrus backend or frontend at it: mupdate_server: 127.0.0.1 and mupdate_port: $PORT

MSG

if [ $CHECK = 1 ]; then
	:
	# without the token the registry is not served
	if "$BIN/murder-bridge" lookup user.alice --bridge "http://127.0.0.1:$HTTP" >/dev/null 2>&1; then
		echo "demo-check: lookup without --token-file succeeded" >&2
		exit 1
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/v1/mailboxes/user.alice")
	[ "$code" = 401 ] || { echo "demo-check: /v1/mailboxes without the token answered $code, want 401" >&2; exit 1; }
	"$BIN/murder-bridge" lookup user.alice --bridge "http://127.0.0.1:$HTTP" --token-file "$DIR/http-token" | tee "$DIR/lookup.json"
	grep -q '"name":"user.alice"\|"name": "user.alice"' "$DIR/lookup.json"
	"$BIN/murder-bridge" visible alice --bridge "http://127.0.0.1:$HTTP" --token-file "$DIR/http-token" | tee "$DIR/visible.txt"
	grep -q 'user.alice' "$DIR/visible.txt"
	curl -fsS "http://127.0.0.1:$HTTP/healthz"
	echo
	printf 'A FIND "user.alice"\r\n' >"$DIR/mt.script"
	chmod 644 "$DIR/mt.script"
	out=$(timeout 20 su -s /bin/sh cyrus -c "$MT -a murder -w murderpw -m PLAIN -p $PORT -f $DIR/mt.script 127.0.0.1" 2>&1 </dev/null || true)
	echo "$out"
	echo "$out" | grep -q '^A MAILBOX'
	echo "$out" | grep -q '^A OK'
	set +x
	echo "demo-check: OK"
	exit 0
fi

echo "Ctrl-C stops it."
wait "$PID"
