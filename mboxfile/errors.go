package mboxfile

import (
	"errors"
	"fmt"
)

// Class is what failed, for a caller that maps failures to exit statuses.
type Class int

const (
	Input    Class = iota + 1 // a source could not be read or is damaged
	Output                    // a destination could not be written
	Loss                      // the target format or version cannot hold a value
	Internal                  // a bug (a record of our own temporary files that does not decode)
)

// Error is a failure of this package, with its class. Its message is that
// of Err.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ClassOf is the class of the outermost *Error in err's chain (0: none).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}

// inputErr classifies an error met while reading the source at path:
// damage and read failures are Input, named after path. An error already
// classified is returned as it is.
func inputErr(path string, err error) error {
	if err == nil || ClassOf(err) != 0 {
		return err
	}
	return &Error{Input, fmt.Errorf("%s: %w", path, err)}
}

// outputErr classifies an error met while writing a destination.
func outputErr(err error) error {
	if err == nil || ClassOf(err) != 0 {
		return err
	}
	return &Error{Output, err}
}

// lossErr is a value the target cannot hold.
func lossErr(err error) error { return &Error{Loss, err} }
