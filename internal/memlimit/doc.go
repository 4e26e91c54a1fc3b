// Package memlimit keeps the process's Go memory limit a fixed step above
// its live heap, so that a process holding an embedded etcd member (whose
// key index lives in the Go heap) uses about as much memory as under a
// well-sized fixed GOMEMLIMIT, without an operator having to size that
// limit and raise it as the registry grows.
//
// Sources of truth: Go's runtime/debug.SetMemoryLimit (a soft limit on all
// memory the Go runtime maps, not on file pages such as bbolt's mapped
// file; near or under the live heap the collector runs almost without
// pause, capped at about half the CPU) and the runtime/metrics sample
// /gc/heap/live:bytes (the heap marked live by the last completed GC);
// the figures the constants are chosen from are in docs/scaling.md ("Where
// a member's memory goes", "The single-cluster ceiling") and
// docs/benchmarks.md ("An embedded member under `murder-bridge serve
// --etcd-memory-limit`").
package memlimit
