// Package backends links every registry backend, so that registry.Open
// understands every URL scheme: leveldb:// and etcd://.
//
// Source of truth: the registry package's Open and the backends' doc.go.
package backends
