package bridge_test

import (
	"testing"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/backendtest"
)

// The adapter on a leveldb registry passes the mupdate.Backend conformance
// suite (the same one the in-memory backend passes).
func TestBackendConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) mupdate.Backend { return bridge.New(openStore(t)) })
}
