// Package member runs an etcd member inside the current process
// (go.etcd.io/etcd/server/v3/embed), so that each murder-bridge can be a
// member of the registry's cluster itself and losing any one server stops
// nothing. The registry then reaches the cluster through
// Member.RegistryURL with the ordinary etcd backend.
//
// Source of truth: etcd's embed package and clustering flags (v3.7).
package member
