// Package fileio holds (for use by this module's format packages only) the I/O helpers shared by the skiplist and twoskip
// packages: a block-cached positional reader (pread, no mmap, so a file
// truncated under the reader gives a short read, never SIGBUS), a buffered
// output file that can patch bytes it already wrote, and the temp file +
// fsync + rename finish of the writers.
//
// Source of truth: the POSIX semantics of pread(2), fsync(2) and rename(2)
// on Linux, on which the writers' crash safety rests (docs/reliability.md).
package fileio
