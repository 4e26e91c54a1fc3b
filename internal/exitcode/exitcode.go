package exitcode

import "errors"

const (
	OK         = 0 // success, equal, clean
	Difference = 1 // verify/check-backend/shadow found a difference
	Usage      = 2 // bad flags or arguments
	Input      = 3 // a source could not be read or is damaged (corruption with an offset)
	Output     = 4 // a destination could not be written
	Registry   = 5 // the registry is unreachable or refused the operation
	Network    = 6 // a network peer (MUPDATE, IMAP, HTTP) failed
	Lossy      = 7 // the conversion would lose information and --lossy was not given
	Auth       = 8 // a peer refused our credentials (bridge token, IMAP or MUPDATE login)
	Internal   = 9 // a bug: please report it
	// Refused: the operation is not safe in the current state (a slot not
	// shadow-clean, changes still queued for the old master, a slot that
	// already exists); the message says why and what overrides it.
	Refused = 10
	// Interrupted: SIGINT or SIGTERM stopped the command before it finished
	// (128 + SIGINT, as shells report it). Nothing partial was committed
	// beyond what the command documents as resumable.
	Interrupted = 130
)

// Help is the EXIT STATUS section every command's --help ends with.
const Help = `EXIT STATUS
  0  success (for verify, check-backend and shadow: the two sides are equal)
  1  a difference was found (verify, check-backend, shadow)
  2  usage error: bad flags or arguments
  3  input error: a source is unreadable or damaged (the message names the offset)
  4  output error: a destination could not be written
  5  registry error: unreachable, locked by another process, or refused
  6  network error: a MUPDATE, IMAP or HTTP peer failed
  7  the conversion would lose information; rerun with --lossy to accept it
  8  authentication failed: a peer refused the credentials (the bridge's token,
     an IMAP or MUPDATE login); check the token/password file named
  9  internal error
 10  refused: not safe in the current state (slot not shadow-clean, changes
     still queued for the old master, slot exists); the message says why
130  interrupted by SIGINT or SIGTERM before it finished`

// Error carries an exit status with an error.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With wraps err so that the program exits with code.
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Final is the exit status of a whole run: Of(err), except that an error
// while interrupted (ctx, the signal context, is done) is Interrupted.
func Final(interrupted bool, err error) int {
	if err != nil && interrupted {
		var e *Error
		if !errors.As(err, &e) || e.Code != Usage {
			return Interrupted
		}
	}
	return Of(err)
}

// Of returns the exit status for err: 0 for nil, the code of an *Error, or
// Internal for anything else that reached the top unclassified.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
