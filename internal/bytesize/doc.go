// Package bytesize reads byte sizes written as Go's GOMEMLIMIT
// environment variable writes them: a whole number of bytes with an
// optional unit suffix B, KiB, MiB, GiB or TiB (powers of 1024), such as
// "600MiB" or "2GiB". The source of truth is the Go runtime's
// documentation of GOMEMLIMIT (package runtime); murder-bridge's
// --etcd-memory-limit and bench/registry's -restart-gomemlimit take the
// same syntax so an operator can copy a value between them and the
// environment (docs/operations.md, "Member memory").
package bytesize
