package backends

import (
	_ "github.com/murderkit/murderkit/registry/etcd"    // etcd://host:port,.../prefix
	_ "github.com/murderkit/murderkit/registry/leveldb" // leveldb:///path
)
