package mboxlist

import (
	"errors"
	"fmt"
)

// Sentinels wrapped by every decoding error.
var (
	// ErrSyntax: the bytes do not follow the grammar of the format.
	ErrSyntax = errors.New("mboxlist: syntax error")
	// ErrRange: a number is out of the range of its field.
	ErrRange = errors.New("mboxlist: number out of range")
	// ErrUnknown: a field, letter or key kind Cyrus does not define.
	ErrUnknown = errors.New("mboxlist: unknown")
	// ErrUnrepresentable: an entry cannot be written in the asked version
	// (a loss that the caller did not accept; see Losses).
	ErrUnrepresentable = errors.New("mboxlist: not representable")
)

// ValueError is an error in one mailboxes.db record. Pos is the byte
// position within the value (or within the key when InKey is set).
type ValueError struct {
	Key   string
	InKey bool
	Pos   int
	What  string
	Err   error
}

func (e *ValueError) Error() string {
	where := "value"
	if e.InKey {
		where = "key"
	}
	return fmt.Sprintf("mboxlist: record %q: %s byte %d: %s", e.Key, where, e.Pos, e.What)
}

func (e *ValueError) Unwrap() error { return e.Err }

// DumpError is an error in a text dump (JSON or legacy lines). Offset is the
// byte offset of the problem in the dump, Line its 1-based line number.
type DumpError struct {
	Line   int
	Offset int64
	What   string
	Err    error
}

func (e *DumpError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("mboxlist: dump line %d, offset %d (%#x): %s", e.Line, e.Offset, e.Offset, e.What)
	}
	return fmt.Sprintf("mboxlist: dump offset %d (%#x): %s", e.Offset, e.Offset, e.What)
}

func (e *DumpError) Unwrap() error { return e.Err }
