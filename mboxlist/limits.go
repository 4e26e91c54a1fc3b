package mboxlist

import (
	"errors"
	"fmt"
	"strings"
)

// The limits of what a real Cyrus 3.6 can hold in a mailbox entry. Each is
// restated in docs/entry-model.md ("What Cyrus can hold") with the reason
// it exists; the boundary of the ones that break a frontend is tested
// against real Cyrus 3.6.1 (interop/limits_test.go).
const (
	// MaxNameLen is the longest internal name a backend creates: Cyrus's
	// MAX_MAILBOX_NAME, which mboxname_policycheck applies to the whole
	// internal name, domain included.
	MaxNameLen = 490
	// MaxDeletedNameLen is the longest DELETED.* name: Cyrus skips the
	// policy check for them but builds them in a MAX_MAILBOX_BUFFER (1024)
	// buffer, NUL included.
	MaxDeletedNameLen = 1023
	// MaxUserIDLen is the longest owner ("fred", "fred@example.com") of a
	// user.* name: every change of a user's mailbox locks the file
	// "*U*" + userid + ".lock", one path component that may not exceed
	// NAME_MAX (255). Past it the lock fails and Cyrus 3.6 asserts
	// (user_isnamespacelocked): a frontend's mupdate slave aborts on every
	// restart.
	MaxUserIDLen = 255 - len("*U*") - len(".lock")
	// MaxPartitionLen is Cyrus's MAX_PARTITION_LEN: mboxlist refuses to
	// create a mailbox on a longer partition.
	MaxPartitionLen = 64
	// MaxServerLen is Cyrus's HOSTNAME_SIZE: the buffer a backend formats
	// "server!partition" in holds that many bytes of server name.
	MaxServerLen = 512
	// MaxIdentifierLen is the longest ACL identifier any Cyrus auth module
	// canonicalizes (auth_pts's PTS_DB_KEYSIZE buffer, NUL included).
	MaxIdentifierLen = 511
	// MaxACLLen bounds the whole ACL string ("id\trights\t"...). Cyrus sets
	// no limit of its own; this is murderkit's, at Cyrus's default
	// maxword/maxquoted (128 KiB), far above any real ACL, so that one
	// entry cannot be an unbounded amount of memory on every frontend.
	MaxACLLen = 128 << 10
	// MaxUniqueIDLen bounds a uniqueid (Cyrus writes 36-byte UUIDs, older
	// versions 16 or 24 hex digits; it names a directory in 3.6).
	MaxUniqueIDLen = 64
)

// RightLetters are the rights letters Cyrus 3.6 knows (cyrus_acl_strtomask):
// the RFC 4314 rights, the legacy macros c and d, and the custom rights 0-9.
const RightLetters = "lrswipkxtecdan0123456789"

// ErrCyrusLimit is wrapped by every *CheckError.
var ErrCyrusLimit = errors.New("mboxlist: not a value Cyrus can hold")

// Cyrus's words for the refusals (imap/imap_err.et), used as MUPDATE and
// HTTP refusal texts.
const (
	TextBadName      = "Invalid mailbox name"
	TextBadPartition = "Unknown/invalid partition"
	TextBadServer    = "Invalid server"
	TextBadACL       = "Invalid identifier"
	TextBadRights    = "Invalid rights"
	TextBadValue     = "Invalid value"
)

// CheckError says which field of an entry real Cyrus cannot hold and why.
type CheckError struct {
	Field string // "name", "partition", "server", "acl", "type", "uniqueid", "history[2].name", ...
	Pos   int    // byte position within the field the problem starts at, -1 when none
	What  string // what is wrong ("is 491 bytes, more than 490")
	Text  string // Cyrus's refusal text (TextBadName, ...)
	Value string // the field's value, cut to 64 bytes
}

func (e *CheckError) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	if e.Pos >= 0 {
		return fmt.Sprintf("%s %q: byte %d: %s", e.Field, v, e.Pos, e.What)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, v, e.What)
}

func (e *CheckError) Unwrap() error { return ErrCyrusLimit }

func limitErr(field, value string, pos int, text, format string, args ...any) *CheckError {
	if len(value) > 64 {
		value = value[:64]
	}
	return &CheckError{Field: field, Pos: pos, What: fmt.Sprintf(format, args...), Text: text, Value: value}
}

// badByte returns the position of the first byte of s that is a control
// byte, DEL or (unless high) a byte ≥ 0x80; -1 when there is none.
func badByte(s string, space, high bool) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7F || (!high && c >= 0x80) || (!space && c == ' ') {
			return i
		}
	}
	return -1
}

// CheckName reports whether real Cyrus can hold the internal name: not
// empty, printable ASCII (internal names are modified UTF-7; control bytes
// are the separators of 3.6 keys), not starting with '$' (keys Cyrus
// reserves), at most one '!' after a non-empty domain, no empty hierarchy
// component, none of the names mboxname_policycheck always refuses (user,
// user.anyone, user.anonymous, user.%...), and within the length limits
// above. c gives the deleted prefix (nil: Cyrus's defaults).
func CheckName(name string, c *NameConfig) error {
	return checkName("name", name, c)
}

func checkName(field, name string, c *NameConfig) error {
	bad := func(pos int, format string, args ...any) error {
		return limitErr(field, name, pos, TextBadName, format, args...)
	}
	if name == "" {
		return bad(-1, "is empty")
	}
	if i := badByte(name, true, false); i >= 0 {
		return bad(i, "byte %#02x: a mailbox name is printable ASCII", name[i])
	}
	if name[0] == '$' {
		return bad(0, "starts with '$' (mailboxes.db keys Cyrus reserves)")
	}
	rest, off := name, 0
	if i := strings.IndexByte(name, '!'); i >= 0 {
		if i == 0 {
			return bad(0, "empty domain")
		}
		rest, off = name[i+1:], i+1
		if j := strings.IndexByte(rest, '!'); j >= 0 {
			return bad(off+j, "more than one '!'")
		}
	}
	pos := off
	for _, comp := range strings.Split(rest, ".") {
		if comp == "" {
			return bad(pos, "empty hierarchy component")
		}
		pos += len(comp) + 1
	}
	n := ParseIntName(name, c)
	if n.Deleted != 0 {
		if len(name) > MaxDeletedNameLen {
			return bad(-1, "is %d bytes, more than %d", len(name), MaxDeletedNameLen)
		}
	} else {
		if len(name) > MaxNameLen {
			return bad(-1, "is %d bytes, more than %d", len(name), MaxNameLen)
		}
		switch {
		case rest == "user", rest == "user.anyone", rest == "user.anonymous", strings.HasPrefix(rest, "user.%"):
			return bad(off, "a name Cyrus never creates (mboxname_policycheck)")
		}
	}
	if u := n.UserID(); len(u) > MaxUserIDLen {
		return bad(-1, "owner %q is %d bytes, more than %d: Cyrus cannot lock its namespace (frontends abort)", u[:16]+"...", len(u), MaxUserIDLen)
	}
	return nil
}

// CheckLocation reports whether real Cyrus can hold server and partition:
// printable ASCII without spaces, no '!' in either, the partition within
// MaxPartitionLen and the server within MaxServerLen. Both may be empty.
func CheckLocation(server, partition string) error {
	if i := badByte(server, false, false); i >= 0 {
		return limitErr("server", server, i, TextBadServer, "byte %#02x: a server name is printable ASCII without spaces", server[i])
	}
	if i := strings.IndexByte(server, '!'); i >= 0 {
		return limitErr("server", server, i, TextBadServer, "'!' in a server name")
	}
	if len(server) > MaxServerLen {
		return limitErr("server", server, -1, TextBadServer, "is %d bytes, more than %d", len(server), MaxServerLen)
	}
	if i := badByte(partition, false, false); i >= 0 {
		return limitErr("partition", partition, i, TextBadPartition, "byte %#02x: a partition name is printable ASCII without spaces", partition[i])
	}
	if i := strings.IndexByte(partition, '!'); i >= 0 {
		return limitErr("partition", partition, i, TextBadPartition, "'!' in a partition name")
	}
	if len(partition) > MaxPartitionLen {
		return limitErr("partition", partition, -1, TextBadPartition, "is %d bytes, more than %d", len(partition), MaxPartitionLen)
	}
	return nil
}

// CheckACL reports whether real Cyrus can hold acl: every identifier
// non-empty (after a negative entry's '-'), without control bytes (a TAB
// would split it) and within MaxIdentifierLen; every rights string made of
// RightLetters only (it may be empty: IMAP never leaves one, but Cyrus's
// ctl_mboxlist -u stores it and Cyrus reads it back); the whole string
// within MaxACLLen.
func CheckACL(acl ACL) error {
	total := 0
	for i, it := range acl {
		field := fmt.Sprintf("acl[%d]", i)
		id := it.Identifier()
		if id == "" {
			return limitErr(field, it.ID, -1, TextBadACL, "empty identifier")
		}
		if j := badByte(it.ID, true, true); j >= 0 {
			return limitErr(field, it.ID, j, TextBadACL, "byte %#02x in an identifier", it.ID[j])
		}
		if len(id) > MaxIdentifierLen {
			return limitErr(field, it.ID, -1, TextBadACL, "identifier of %d bytes, more than %d", len(id), MaxIdentifierLen)
		}
		for j := 0; j < len(it.Rights); j++ {
			if strings.IndexByte(RightLetters, it.Rights[j]) < 0 {
				return limitErr(field+".rights", it.Rights, j, TextBadRights, "%q is not a right Cyrus knows (%s)", it.Rights[j], RightLetters)
			}
		}
		total += len(it.ID) + len(it.Rights) + 2
		if total > MaxACLLen {
			return limitErr("acl", it.ID, -1, TextBadACL, "ACL longer than %d bytes (at item %d)", MaxACLLen, i)
		}
	}
	return nil
}

// CheckType reports whether t is a type Cyrus 3.6 defines: a known kind
// and known flags only.
func CheckType(t MBType) error {
	const flags = FlagRemote | FlagReserve | FlagMoving | FlagDeleted | FlagIntermediate | FlagLegacyDirs
	if _, ok := typeLetters36[t.Kind()]; !ok {
		return limitErr("type", fmt.Sprintf("%#x", uint32(t)), -1, TextBadValue, "undefined mailbox kind %#x", uint32(t.Kind()))
	}
	if extra := t &^ (TypeMask | flags); extra != 0 {
		return limitErr("type", fmt.Sprintf("%#x", uint32(t)), -1, TextBadValue, "undefined type flags %#x", uint32(extra))
	}
	return nil
}

// Check reports whether real Cyrus 3.6 can hold e: its name (CheckName),
// location (CheckLocation), ACL (CheckACL), type (CheckType), uniqueid
// (printable ASCII without spaces, at most MaxUniqueIDLen bytes), special
// use (no control bytes) and every former name and partition of its
// history. The error is a *CheckError wrapping ErrCyrusLimit. Every write
// path of murderkit (MUPDATE, HTTP, follow mode, mboxconv's file readers
// and import) calls it; see docs/entry-model.md.
func (e *Entry) Check(c *NameConfig) error {
	if err := CheckName(e.Name, c); err != nil {
		return err
	}
	if err := CheckType(e.Type); err != nil {
		return err
	}
	if err := CheckLocation(e.Server, e.Partition); err != nil {
		return err
	}
	if err := CheckACL(e.ACL); err != nil {
		return err
	}
	if i := badByte(e.UniqueID, false, false); i >= 0 {
		return limitErr("uniqueid", e.UniqueID, i, TextBadValue, "byte %#02x: a uniqueid is printable ASCII without spaces", e.UniqueID[i])
	}
	if len(e.UniqueID) > MaxUniqueIDLen {
		return limitErr("uniqueid", e.UniqueID, -1, TextBadValue, "is %d bytes, more than %d", len(e.UniqueID), MaxUniqueIDLen)
	}
	if i := badByte(e.LegacySpecialUse, true, false); i >= 0 {
		return limitErr("specialuse", e.LegacySpecialUse, i, TextBadValue, "byte %#02x in a special use", e.LegacySpecialUse[i])
	}
	if i := badByte(e.JMAPID, false, false); i >= 0 {
		return limitErr("jmapid", e.JMAPID, i, TextBadValue, "byte %#02x in a JMAP id", e.JMAPID[i])
	}
	for i, h := range e.History {
		if err := checkName(fmt.Sprintf("history[%d].name", i), h.Name, c); err != nil {
			return err
		}
		if err := CheckType(h.Type); err != nil {
			return err
		}
		if err := CheckLocation("", h.Partition); err != nil {
			return err
		}
	}
	return nil
}

// SafeForFrontends is the part of CheckName that decides whether a real
// Cyrus 3.6 frontend's mupdate slave survives name: printable ASCII only,
// and the owner of a user.* (or DELETED.user.*) name within MaxUserIDLen
// (deleted prefix "DELETED"). It allocates nothing, for the bridge to
// leave such entries out of what it streams to frontends: entries stored
// before the write paths checked them.
func SafeForFrontends(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7F {
			return false
		}
	}
	rest, dom := name, 0
	if i := strings.IndexByte(name, '!'); i >= 0 {
		rest, dom = name[i+1:], i+1 // owner@domain
	}
	if r, ok := strings.CutPrefix(rest, "DELETED."); ok && strings.IndexByte(r, '.') >= 0 {
		rest = r[:strings.LastIndexByte(r, '.')] // the last component is the hex time
	}
	owner, ok := strings.CutPrefix(rest, "user.")
	if !ok {
		return true
	}
	if i := strings.IndexByte(owner, '.'); i >= 0 {
		owner = owner[:i]
	}
	return len(owner)+dom <= MaxUserIDLen
}
