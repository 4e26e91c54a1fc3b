#!/bin/bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 10s).
# Targets are found with `go test -list 'Fuzz.*'`, so a new FuzzXxx is picked
# up without editing anything. Used by `make test` (brief) and `make fuzz` (long).
#
#   scripts/fuzz-all.sh [FUZZTIME]        e.g. scripts/fuzz-all.sh 5m
# Env: PKGS (default ./...), FUZZMINIMIZETIME (default 5s: Go's default of
# 60s per new input makes a brief run spend all its time minimizing).
set -euo pipefail
fuzztime=${1:-${FUZZTIME:-10s}}
go=${GO:-go}
cd "$(dirname "$0")/.."

# `go test -list` prints the matching names of a package, then "ok  <pkg> ...".
pkgs=${PKGS:-./...}
minimize=${FUZZMINIMIZETIME:-5s}
# shellcheck disable=SC2086
list=$($go test -run '^$' -list '^Fuzz' $pkgs 2>&1) || { echo "$list" >&2; exit 1; }
pending=()
targets=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) pending+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for f in "${pending[@]+"${pending[@]}"}"; do targets+=("$pkg $f"); done
		pending=()
		;;
	*) pending=() ;;
	esac
done <<<"$list"

echo "fuzz: ${#targets[@]} targets, $fuzztime each" >&2
failed=0
for t in "${targets[@]+"${targets[@]}"}"; do
	read -r pkg name <<<"$t"
	echo "fuzz: $name ($pkg)" >&2
	# Go's fuzz coordinator sometimes ends a run with "context deadline
	# exceeded" when a worker is slow to stop at -fuzztime, without any
	# failing input: that is not a finding, so such a run is tried once more.
	# A run that wrote a failing input always fails.
	try() {
		local out rc
		out=$($go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" 2>&1)
		rc=$?
		printf '%s\n' "$out" >&2
		if [ $rc -ne 0 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
			return 75
		fi
		return $rc
	}
	set +e
	try
	rc=$?
	if [ $rc -eq 75 ]; then
		echo "fuzz: $name: the fuzzing engine timed out stopping (no failing input); trying once more" >&2
		try
		rc=$?
	fi
	set -e
	if [ $rc -ne 0 ]; then
		echo "fuzz: $name FAILED; the crasher is under $pkg's testdata/fuzz/$name/ — commit it with the fix" >&2
		failed=1
	fi
done
exit $failed
