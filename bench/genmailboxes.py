#!/usr/bin/env python3
"""The synthetic mailboxes of bench/dump.sh and bench/importscale.sh, as the
JSON ctl_mboxlist -u reads: users with INBOX, Sent, Drafts, Trash, Archive
(5 each); every 50th user shares Archive with a group (a reverse-ACL key
each); every 20th mailbox is on partition p2.

    genmailboxes.py FROM TO [--dbname-order | --shuffled]

prints mailboxes FROM..TO-1, in id order, or with --dbname-order in the
order of ctl_mboxlist -d (INBOX, then its folders by name), or with
--shuffled in a fixed permutation far from both (FROM + (a*j + b) mod n for
j = 0..n-1, a prime to n: no list of the ids is held)."""
import math
import sys

lo, hi = int(sys.argv[1]), int(sys.argv[2])
dbname_order = "--dbname-order" in sys.argv[3:]
shuffled = "--shuffled" in sys.argv[3:]
sub = ["", ".Sent", ".Drafts", ".Trash", ".Archive"]


def ids():
    if shuffled:
        n = hi - lo
        a = 2654435761 % n if n > 1 else 1  # Knuth's multiplicative constant
        while n > 1 and (a < 2 or math.gcd(a, n) != 1):
            a += 1
        for j in range(n):
            yield lo + (a * j + 12345) % n
        return
    if not dbname_order:
        yield from range(lo, hi)
        return
    order = sorted(range(len(sub)), key=lambda k: sub[k])
    for u in range(lo // len(sub), (hi + len(sub) - 1) // len(sub)):
        for k in order:
            if lo <= u * len(sub) + k < hi:
                yield u * len(sub) + k


out = sys.stdout
out.write("{\n")
first = True
for i in ids():
    u, k = divmod(i, len(sub))
    user = "user%07d" % u
    name = "user." + user + sub[k]
    acl = '"%s": "lrswipkxtecdan"' % user
    if k == 4 and u % 50 == 0:
        acl += ', "group:team%03d": "lrs"' % (u % 1000)
    part = "p2" if i % 20 == 19 else "default"
    e = ('"%s": {"mbtype": "e", "partition": "%s", "uniqueid": "%08x-bench-4e00-8000-%012x", '
         '"uidvalidity": "%d", "createdmodseq": "1", "foldermodseq": "%d", "acl": {%s}}') % (
        name, part, i, i, 1600000000 + i, 1 + i % 97, acl)
    out.write(("" if first else ",\n") + e)
    first = False
out.write("\n}\n")
