// Package stress holds what the negative-ACL stress tests share (docs/twins.md,
// "Differences found"): their size, read from MURDERKIT_ACLRACE_ROUNDS (set by
// `make acl-stress`), and goroutines that keep every core busy.
//
// Source of truth: the open -anyone question in docs/twins.md; the tests
// that use it say what each round asserts.
package stress
