package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

// queryStore is what the read-only commands (lookup, visible) use: the
// reads, and Close. A registry (registry.Store) is one, and so is a
// bridge's HTTP API (httpapi.Client, --bridge URL).
type queryStore interface {
	registry.Reader
	Close() error
}

// openQuery opens what the read-only commands query: a running bridge's
// HTTP API when bridgeURL is set (the bridge owns a leveldb registry; see
// docs/contracts.md, "Registry"), else the registry itself.
func openQuery(ctx context.Context, registryURL, bridgeURL, tokenFile string) (queryStore, error) {
	switch {
	case bridgeURL != "" && registryURL != "":
		return nil, exitcode.With(exitcode.Usage, errors.New("give --registry URL or --bridge URL, not both"))
	case tokenFile != "" && bridgeURL == "":
		return nil, exitcode.With(exitcode.Usage, errors.New("--token-file goes with --bridge URL"))
	case bridgeURL != "":
		if tokenFile == "" {
			return nil, exitcode.With(exitcode.Usage, errors.New("--bridge URL needs --token-file FILE: the bridge serves registry reads only with its bearer token (its --http-token-file)"))
		}
		token, err := readSecret("--token-file", tokenFile)
		if err != nil {
			return nil, err
		}
		c, err := httpapi.NewClient(bridgeURL, token)
		if err != nil {
			return nil, exitcode.With(exitcode.Usage, err)
		}
		return c, nil
	}
	return openQueryRegistry(ctx, registryURL)
}

const bridgeFlagHelp = "a running bridge's HTTP API (http://127.0.0.1:8405), instead of --registry, while it owns a leveldb registry"

const errNeedRegistryOrBridge = "--registry URL or --bridge URL is required"

// queryFlags are the --registry and --bridge flags of the read-only
// commands (lookup, visible).
type queryFlags struct {
	registry  string
	bridge    string
	tokenFile string
}

func (q *queryFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&q.registry, "registry", "", "registry URL: leveldb:///DIR or etcd://HOST:PORT,.../PREFIX")
	cmd.Flags().StringVar(&q.bridge, "bridge", "", bridgeFlagHelp)
	cmd.Flags().StringVar(&q.tokenFile, "token-file", "", tokenFileHelp)
}

const tokenFileHelp = "with --bridge: file holding the bridge's bearer token (its --http-token-file), which registry reads and writes need"

func (q *queryFlags) check(*cobra.Command, []string) error {
	if q.registry == "" && q.bridge == "" {
		return exitcode.With(exitcode.Usage, errors.New(errNeedRegistryOrBridge))
	}
	return nil
}

// run opens what the flags name, calls fn with it and closes it.
func (q *queryFlags) run(cmd *cobra.Command, fn func(ctx context.Context, s registry.Reader) error) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	s, err := openQuery(ctx, q.registry, q.bridge, q.tokenFile)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}
