package registry

import (
	"errors"
	"fmt"
)

// The typed errors every backend returns (wrapped in *Error); test them with
// errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrConflict    = errors.New("revision conflict")
	ErrUnavailable = errors.New("registry unavailable")
	ErrCompacted   = errors.New("revision compacted")
	ErrInvalid     = errors.New("invalid argument")
	// ErrUnauthorized: a remote store (a bridge's HTTP API) refused the
	// caller's credentials (its bearer token).
	ErrUnauthorized = errors.New("credentials refused")
	// ErrTombstoned refuses a create or put that would resurrect a mailbox
	// from a state older than its deletion. errors.Is(err, ErrConflict) is
	// true for it as well.
	ErrTombstoned error = tombstonedError{}
)

type tombstonedError struct{}

func (tombstonedError) Error() string        { return "deleted after the given revision (tombstone)" }
func (tombstonedError) Is(target error) bool { return target == ErrConflict }
func (tombstonedError) Unwrap() error        { return nil }
func (tombstonedError) String() string       { return "tombstoned" }

// Error is the error every Store method returns: the operation, the mailbox
// or slot name it was about, and one of the sentinels (or a backend error
// wrapped with ErrUnavailable).
type Error struct {
	Op   string // "create", "update", "list", ...
	Name string // mailbox or slot name; empty when not about one
	Err  error
}

func (e *Error) Error() string {
	if e.Name == "" {
		return "registry: " + e.Op + ": " + e.Err.Error()
	}
	return fmt.Sprintf("registry: %s %q: %v", e.Op, e.Name, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error; backends use it at their boundary.
func E(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return err
	}
	return &Error{Op: op, Name: name, Err: err}
}

// Unavailable wraps a backend error so that errors.Is(err, ErrUnavailable)
// holds and the cause is kept.
func Unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
