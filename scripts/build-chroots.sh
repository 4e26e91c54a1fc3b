#!/bin/sh
# build-chroots.sh — build the Debian chroots that hold the other Cyrus
# versions the tests run for real (see docs/cyrus-versions.md), each once:
# a chroot that is already complete is left as it is.
#
# usage: scripts/build-chroots.sh [SUITE...]
#   SUITE   bullseye (Cyrus 3.2), trixie (3.10), sid (3.12); default: all three
# environment:
#   MURDERKIT_CHROOTS  where the chroots live, one directory per suite
#                      (default /var/cache/murderkit/chroots); outside the work
#                      tree so a fresh clone reuses them
#   DEBIAN_MIRROR      the Debian archive (default http://deb.debian.org/debian)
#
# Each chroot is `debootstrap --variant=minbase` plus cyrus-imapd cyrus-murder
# cyrus-admin cyrus-clients sasl2-bin, no service started inside. It is built
# under SUITE.build and renamed to SUITE only when complete, so a build that
# was stopped halfway is never used; SUITE/.murderkit-cyrus-version holds the
# Cyrus package version installed. Needs root (CI runs as root).
# Exit status: 0 every chroot ready, 1 a build failed, 2 usage.
set -eu

ROOT=${MURDERKIT_CHROOTS:-/var/cache/murderkit/chroots}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKGS="cyrus-imapd cyrus-murder cyrus-admin cyrus-clients sasl2-bin"

[ $# -gt 0 ] || set -- bullseye trixie sid
for s in "$@"; do
	case $s in
	bullseye | trixie | sid) ;;
	*) echo "build-chroots: unknown suite $s (bullseye, trixie, sid)" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "build-chroots: needs root (debootstrap, chroot)" >&2
	exit 1
fi
command -v debootstrap >/dev/null || {
	echo "build-chroots: debootstrap missing: apt-get install debootstrap (make deps)" >&2
	exit 1
}
mkdir -p "$ROOT"

# umount_under DIR: undo every mount below DIR, deepest first.
umount_under() {
	awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do umount "$m" || umount -l "$m"; done
}

build() {
	suite=$1
	dst=$ROOT/$suite
	if [ -f "$dst/.murderkit-cyrus-version" ]; then
		echo "build-chroots: $suite ready ($(cat "$dst/.murderkit-cyrus-version")) in $dst"
		return 0
	fi
	tmp=$ROOT/$suite.build
	umount_under "$tmp" 2>/dev/null || true
	rm -rf "$tmp"
	echo "build-chroots: debootstrap $suite into $tmp"
	debootstrap --variant=minbase "$suite" "$tmp" "$MIRROR" >"$ROOT/$suite.log" 2>&1 || {
		echo "build-chroots: debootstrap $suite failed; see $ROOT/$suite.log" >&2
		return 1
	}
	# No daemon starts inside the chroot while packages install.
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod 755 "$tmp/usr/sbin/policy-rc.d"
	mount -t proc proc "$tmp/proc"
	rc=0
	chroot "$tmp" env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -c \
		"apt-get install -y -q --no-install-recommends $PKGS && apt-get clean" \
		>>"$ROOT/$suite.log" 2>&1 || rc=$?
	umount_under "$tmp"
	if [ $rc != 0 ]; then
		echo "build-chroots: installing Cyrus in $suite failed; see $ROOT/$suite.log" >&2
		return 1
	fi
	chroot "$tmp" dpkg-query -W -f='${Version}\n' cyrus-imapd >"$tmp/.murderkit-cyrus-version"
	rm -rf "$dst"
	mv "$tmp" "$dst"
	echo "build-chroots: $suite ready ($(cat "$dst/.murderkit-cyrus-version")) in $dst"
}

# One build of a suite at a time (two `make test` runs may start together);
# the suites build side by side (downloads dominate).
st=0
pids=""
for s in "$@"; do
	(
		exec 9>"$ROOT/.lock-$s"
		if command -v flock >/dev/null; then flock 9; fi
		build "$s"
	) &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || st=1; done
exit $st
