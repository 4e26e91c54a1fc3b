package main

import (
	"context"
	"errors"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

// openQuery opens what the read-only commands query: a running bridge's
// HTTP API when bridgeURL is set (the bridge owns a leveldb registry; see
// design.md), else the registry itself.
func openQuery(ctx context.Context, registryURL, bridgeURL string) (registry.Store, error) {
	switch {
	case bridgeURL != "" && registryURL != "":
		return nil, exitcode.With(exitcode.Usage, errors.New("give --registry URL or --bridge URL, not both"))
	case bridgeURL != "":
		c, err := httpapi.NewClient(bridgeURL, "")
		if err != nil {
			return nil, exitcode.With(exitcode.Usage, err)
		}
		return c, nil
	}
	return openQueryRegistry(ctx, registryURL)
}

const bridgeFlagHelp = "a running bridge's HTTP API (http://127.0.0.1:8405), instead of --registry, while it owns a leveldb registry"

const errNeedRegistryOrBridge = "--registry URL or --bridge URL is required"
