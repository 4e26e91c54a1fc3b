// Package etcdtest starts real etcd clusters for tests: every member is a
// separate process of Debian's etcd-server binary (`etcd`, 3.4 here),
// listening on its own 127.0.0.x address, so that kill -9 of a member is a
// real crash. Tests that need it fail (never skip) when the binary is
// missing: `make deps` installs etcd-server.
//
// Source of truth: etcd's clustering flags (etcd --help, 3.4).
package etcdtest
