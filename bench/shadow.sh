#!/bin/bash
# Shadow benchmarks against a real Cyrus 3.6.1 imapd (started per run on a
# free 127.0.0.1 port, its files on /dev/shm):
#   BenchmarkShadowRate           users compared per second, USERS users (an
#                                 admin authorizing as each), 4 at a time:
#                                 imap-vs-imap and imap-vs-registry (goleveldb)
#   BenchmarkRegistryListVsCyrus  one user's answer when the data holds ENTRIES
#                                 mailboxes: Cyrus's LIST "" "*" vs the registry
#                                 side (reverse-ACL Visible + RegistryList)
#
#   bench/shadow.sh                          # USERS=1000 ENTRIES=100000
#   USERS=1000 ENTRIES=1000000 bench/shadow.sh
# Env: USERS (default 1000), ENTRIES (default 100000), COUNT (benchtime
# iterations, default 3). Figures go to docs/benchmarks.md, "Shadow".
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-1000}
ENTRIES=${ENTRIES:-100000}
COUNT=${COUNT:-3}
[ -x /usr/lib/cyrus/bin/imapd ] || { echo "bench: Cyrus imapd missing (make deps)" >&2; exit 1; }
echo "shadow bench: USERS=$USERS ENTRIES=$ENTRIES COUNT=$COUNT on $(nproc) cores"
SHADOW_BENCH_USERS=$USERS SHADOW_BENCH_ENTRIES=$ENTRIES \
	go test ./shadow/ -run '^$' -bench 'BenchmarkShadowRate|BenchmarkRegistryListVsCyrus' \
	-benchtime "${COUNT}x" -timeout 60m -v 2>&1 | grep -E 'Benchmark|bench_test.go|^ok|FAIL|users/s'
