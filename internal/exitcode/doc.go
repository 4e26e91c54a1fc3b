// Package exitcode holds every exit status the murderkit programs use, in one
// place: 0 success (equal, clean), 1 a difference was found (verify,
// check-backend, shadow), 2 and up errors.
//
// Source of truth: docs/contracts.md ("Exit status"), which operators'
// scripts rely on.
package exitcode
