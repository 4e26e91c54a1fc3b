#!/bin/bash
# Registry benchmarks (docs/benchmarks.md, "Registry"): import N synthetic
# entries into each backend (entries/s, disk, memory) and Visible p50/p99 for
# users seeing 10, 100 and 1,000 mailboxes at CHECK_AT and at N entries.
# etcd runs as 3 members of Debian's etcd-server on 127.0.0.51-53.
#
#   N=1000000 bench/registry.sh            # both backends
#   BACKENDS=leveldb N=1000000 bench/registry.sh
# Env: N (default 1000000), CHECK_AT (default 100000), BACKENDS (default
#      "leveldb etcd"), WORKERS, MAXTXNOPS (etcd), SAMPLES (Visible calls, 1000);
#      etcd members' memory (docs/scaling.md): SNAPSHOT_COUNT (default 1000),
#      MEMBER_GOGC (default 50), RESTART=1 (also report each member's memory
#      after restarting it), RESTART_GOMEMLIMIT (e.g. 600MiB per million
#      mailboxes: the members' Go memory limit after the restart), MEMBERS
#      (default 3), MEMDUMP=DIR (each member's smaps_rollup, Go memstats and
#      heap profile after the import and the restart)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
CHECK_AT=${CHECK_AT:-100000}
BACKENDS=${BACKENDS:-leveldb etcd}
SAMPLES=${SAMPLES:-1000}
go build -o bin/registry-bench ./bench/registry
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for b in $BACKENDS; do
	extra=()
	if [ "$b" = etcd ]; then
		extra=(-snapshot-count "${SNAPSHOT_COUNT:-1000}" -gogc "${MEMBER_GOGC:-50}")
		if [ -n "${RESTART:-}" ]; then extra+=(-restart); fi
		if [ -n "${RESTART_GOMEMLIMIT:-}" ]; then extra+=(-restart-gomemlimit "$RESTART_GOMEMLIMIT"); fi
		if [ -n "${MEMDUMP:-}" ]; then extra+=(-memdump "$MEMDUMP"); fi
		extra+=(-members "${MEMBERS:-3}")
	fi
	bin/registry-bench -backend "$b" -n "$N" -check-at "$CHECK_AT" -samples "$SAMPLES" \
		-workers "${WORKERS:-4}" -maxtxnops "${MAXTXNOPS:-1024}" "${extra[@]}"
done
