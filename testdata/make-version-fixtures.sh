#!/bin/bash
# Makes the per-release fixtures in testdata/versions/VERSION/: one scripted
# IMAP history played against a real imapd of each Cyrus release (3.2 from
# Debian bullseye, 3.6 the host's bookworm, 3.10 trixie, 3.12 sid; the
# chroots come from scripts/build-chroots.sh), and what that release's own
# tools print for the file it wrote. See README.md, "Per-release fixtures".
#
# usage (as root): testdata/make-version-fixtures.sh [VERSION...]
#   VERSION  3.2, 3.6, 3.10, 3.12 (default: all)
# environment: MURDERKIT_CHROOTS (as scripts/build-chroots.sh), OUT (default
# the directory versions/ beside this script), PYTHON (default python3: the
# IMAP client that plays the history from the host over 127.0.0.1).
#
# Files written per release, into OUT/VERSION/:
#   mailboxes.db            the release's mailboxes.db after the history
#                           (twoskip, the default mboxlist_db of every release)
#   mailboxes.db.show       cyr_dbtool mailboxes.db twoskip show
#   mailboxes.db.dump       ctl_mboxlist -d -f mailboxes.db (3.2: dump lines,
#                           later: JSON)
#   mailboxes.skiplist.db   cvt_cyrusdb of mailboxes.db to skiplist, by the
#                           same release, with its .show and .dump
#   package                 the Debian package version of cyrus-imapd
#   history.log             the IMAP commands sent and the server's tagged
#                           answers
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/versions}
chroots=${MURDERKIT_CHROOTS:-/var/cache/murderkit/chroots}
python=${PYTHON:-python3}
[ "$(id -u)" = 0 ] || { echo "make-version-fixtures: needs root (chroot, cyrmaster)" >&2; exit 1; }
[ $# -gt 0 ] || set -- 3.2 3.6 3.10 3.12

suite_of() {
	case $1 in
	3.2) echo bullseye ;;
	3.6) echo bookworm ;;
	3.10) echo trixie ;;
	3.12) echo sid ;;
	*) echo "make-version-fixtures: unknown version $1 (3.2 3.6 3.10 3.12)" >&2; exit 2 ;;
	esac
}

# The history, played as the Cyrus admin over IMAP (Python's imaplib sends
# exactly these commands; each must answer OK unless marked "may fail").
history_py='
import imaplib, sys
port, log = int(sys.argv[1]), open(sys.argv[2], "w")
c = imaplib.IMAP4("127.0.0.1", port)
c.login("admin", "adminpw")
def do(cmd, *args, may_fail=False):
    typ, data = getattr(c, cmd)(*args)
    log.write("%s %s -> %s %r\n" % (cmd.upper(), " ".join(args), typ, data))
    if typ != "OK" and not may_fail:
        sys.exit("%s %s: %s %r" % (cmd, args, typ, data))
for m in ["user.alice", "user.alice.Work", "user.alice.Work.Projects", "user.alice.Work.Projects.Old",
          "user.alice.Trash", "user.alice.Caf&AOk-", "user.bob", "user.bob.Lists", "user.carol",
          "user.carol.Archive", "user.carol.Archive.2020", "user.carol.Archive.2021", "user.dave",
          "user.dave.Sent", "user.dave.Drafts", "user.jane@example.com", "user.jane.Sent@example.com",
          "user.jane.Old@example.com", "shared.team", "shared.team.Docs", "news@example.com", "news.events@example.com"]:
    do("create", m)
do("setacl", "shared.team", "group:staff", "lrswipcd")
do("setacl", "shared.team", "anyone", "lr")
do("setacl", "shared.team", "-bob", "lr")
do("setacl", "shared.team.Docs", "alice", "lrswipkxtecdan")
do("setacl", "news.events@example.com", "jane@example.com", "lrswipkxtecdan")
do("setacl", "news.events@example.com", "-anyone", "w")
do("setacl", "user.alice.Work", "bob", "lr")
do("setacl", "user.alice.Work", "carol", "lrs")
do("deleteacl", "user.alice.Work", "carol")
# a folder with subfolders renamed (its children follow)
do("rename", "user.alice.Work", "user.alice.Job")
# a folder renamed twice (two names in its history)
do("rename", "user.bob.Lists", "user.bob.Lists2")
do("rename", "user.bob.Lists2", "user.bob.Mail")
# the admin gives itself the delete right (x) first, as cyradm users do
for m in ["user.alice.Trash", "user.jane.Old@example.com", "user.carol.Archive", "user.dave"]:
    do("setacl", m, "admin", "lrswipkxtecda")
# delayed deletes (delete_mode: delayed): DELETED.* names
do("delete", "user.alice.Trash")
do("delete", "user.jane.Old@example.com")
# a parent deleted while it has children (3.6 and later answer NO
# [HASCHILDREN]; older releases may delete it)
do("delete", "user.carol.Archive", may_fail=True)
# a whole user deleted by the admin (all its folders)
do("delete", "user.dave")
# a user renamed (allowusermoves: yes)
do("rename", "user.bob", "user.robert")
# a deleted name used again
do("create", "user.alice.Trash")
c.logout()
'

# ns ROOT CMD...: run CMD in a private mount namespace in which ROOT has
# /proc and a /dev of a few device nodes (gone when CMD ends).
ns='set -e
root=$1; shift
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755,size=64k fx-dev "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
exec "$@"'

make_one() {
	local v=$1 suite root dest port work in pid
	suite=$(suite_of "$v")
	if [ "$v" = 3.6 ]; then
		root=""
	else
		root=$chroots/$suite
		[ -f "$root/.murderkit-cyrus-version" ] || {
			echo "make-version-fixtures: no $suite chroot in $root: run make chroots" >&2
			exit 1
		}
	fi
	dest=$out/$v
	mkdir -p "$dest"
	mkdir -p "$root/tmp"
	work=$(mktemp -d "$root/tmp/murderkit-fx.XXXXXX")
	in=${work#"$root"}
	chmod 755 "$work"
	port=$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

	# inr CMD...: run CMD in the release's root (as root)
	inr() { if [ -n "$root" ]; then chroot "$root" "$@"; else "$@"; fi; }
	# ascyrus CMD...: run a tool in the release's root as its cyrus user
	ascyrus() {
		if [ -n "$root" ]; then
			local ids
			ids=$(awk -F: '$1 == "cyrus" { print $3 ":" $4 }' "$root/etc/passwd")
			unshare -m --propagation private sh -c "$ns" sh "$root" \
				chroot --userspec="$ids" --groups="${ids#*:}" "$root" "$@"
		else
			runuser -u cyrus -- "$@"
		fi
	}

	for d in conf/db conf/socket conf/proc conf/lock conf/log conf/user conf/quota conf/sieve conf/msg conf/ptclient conf/sync part; do
		mkdir -p "$work/$d"
	done
	cat >"$work/imapd.conf" <<EOF
servername: fixtures.murderkit
configdirectory: $in/conf
partition-default: $in/part
admins: admin
virtdomains: userid
allowusermoves: yes
delete_mode: delayed
unixhierarchysep: no
altnamespace: no
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $in/sasldb2
sasl_mech_list: PLAIN
allowplaintext: yes
syslog_prefix: murderkit-fixtures
EOF
	cat >"$work/cyrus.conf" <<EOF
START {
  recover cmd="/usr/lib/cyrus/bin/ctl_cyrusdb -C $in/imapd.conf -r"
}
SERVICES {
  imap cmd="/usr/lib/cyrus/bin/imapd -C $in/imapd.conf" listen="127.0.0.1:$port" prefork=0
}
EVENTS {
}
EOF
	echo adminpw | inr saslpasswd2 -p -c -f "$in/sasldb2" -u fixtures.murderkit admin
	inr chown -R cyrus:mail "$in"

	# cyrmaster in the foreground (it drops to cyrus itself), in a private
	# mount namespace with /proc and /dev for it only
	if [ -n "$root" ]; then
		unshare -m --propagation private sh -c "$ns" sh "$root" chroot "$root" \
			/usr/sbin/cyrmaster -p "$in/master.pid" -C "$in/imapd.conf" -M "$in/cyrus.conf" \
			>"$work/cyrmaster.log" 2>&1 &
	else
		/usr/sbin/cyrmaster -p "$in/master.pid" -C "$in/imapd.conf" -M "$in/cyrus.conf" >"$work/cyrmaster.log" 2>&1 &
	fi
	pid=$!
	for _ in $(seq 1 100); do
		$python -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),1); sys.exit(0 if s.recv(100).startswith(b"* OK") else 1)' "$port" 2>/dev/null && break
		sleep 0.2
	done
	rc=0
	$python -c "$history_py" "$port" "$dest/history.log" || rc=$?
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [ $rc != 0 ]; then
		echo "make-version-fixtures: $v: the history failed; cyrmaster said:" >&2
		cat "$work/cyrmaster.log" >&2
		exit 1
	fi

	cp "$work/conf/mailboxes.db" "$dest/mailboxes.db"
	ascyrus /usr/lib/cyrus/bin/cvt_cyrusdb -C "$in/imapd.conf" "$in/conf/mailboxes.db" twoskip "$in/conf/mailboxes.skiplist" skiplist
	cp "$work/conf/mailboxes.skiplist" "$dest/mailboxes.skiplist.db"
	chmod 0644 "$dest"/*.db
	# goldens, each from a private copy (opening a file may recover it)
	for f in mailboxes.db:twoskip mailboxes.skiplist.db:skiplist; do
		local name=${f%%:*} fmt=${f##*:}
		cp "$dest/$name" "$work/conf/copy.db"
		inr chown cyrus:mail "$in/conf/copy.db"
		ascyrus /usr/lib/cyrus/bin/cyr_dbtool -C "$in/imapd.conf" "$in/conf/copy.db" "$fmt" show >"$dest/$name.show"
		cp "$dest/$name" "$work/conf/copy.db"
		inr chown cyrus:mail "$in/conf/copy.db"
		ascyrus /usr/lib/cyrus/bin/ctl_mboxlist -C "$in/imapd.conf" -d -f "$in/conf/copy.db" >"$dest/$name.dump"
	done
	inr dpkg-query -W -f='${Version}\n' cyrus-imapd >"$dest/package"
	rm -rf "$work"
	echo "make-version-fixtures: $v ($(cat "$dest/package")): $(wc -l <"$dest/mailboxes.db.show") records in $dest"
}

for v in "$@"; do make_one "$v"; done
