package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/bridge"
	_ "github.com/murderkit/murderkit/registry/etcd"    // etcd:// registries
	_ "github.com/murderkit/murderkit/registry/leveldb" // leveldb:// registries
)

// serveOptions are the flags of `murder-bridge serve`.
type serveOptions struct {
	registry    string
	dataDir     string
	listen      string
	credentials string
	admins      string
	requireTLS  bool
	tlsCert     string
	tlsKey      string
	serverName  string
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve --credentials FILE [--registry URL] [--listen ADDR] [--admins A,B] [--require-tls] [--tls-cert F --tls-key F]",
		Short: "Serve MUPDATE (stand in for the Cyrus mupdate master) from the registry",
		Long: `serve answers Cyrus backends (RESERVE/ACTIVATE/DELETE from imapd and
ctl_mboxlist -m), frontends' mupdate slaves (UPDATE streams) and mupdatetest
exactly as a Cyrus 3.6 mupdate master does, with the registry as its list.

Clients authenticate with SASL PLAIN or SCRAM-SHA-1/256/512 against the
credentials file: one "name:secret" a line, the secret a plain password or
"{SCRAM-SHA-256}SALT$ITER$STOREDKEY$SERVERKEY". Identities in --admins may
write (as imapd.conf's admins on a Cyrus master); without --admins every
identity in the file may. PLAIN is accepted without TLS unless --require-tls.

SIGTERM or SIGINT stop it gracefully: commands in flight finish, every
client (UPDATE streams included) gets * BYE, then it exits 0.`,
		Example: `  # the lab's murder user, as Cyrus backends send it (mupdate_authname/mupdate_password)
  echo 'murder:murderpw' > /etc/murder-bridge/credentials
  murder-bridge serve --registry leveldb:///var/lib/murder-bridge/registry \
      --listen 127.0.0.1:3905 --credentials /etc/murder-bridge/credentials --admins murder

  # then, on a backend: mupdate_server: bridgehost:3905 and
  /usr/lib/cyrus/bin/ctl_mboxlist -m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return runServe(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.registry, "registry", "", "registry URL: leveldb:///DIR or etcd://HOST:PORT,.../PREFIX (default leveldb under --data-dir)")
	f.StringVar(&o.dataDir, "data-dir", bridge.DefaultDataDir, "directory of the default leveldb registry (DIR/registry)")
	f.StringVar(&o.listen, "listen", bridge.DefaultListen, "MUPDATE listen address")
	f.StringVar(&o.credentials, "credentials", "", "credentials file: name:secret a line (required)")
	f.StringVar(&o.admins, "admins", "", "comma-separated identities that may write (default: everyone in the credentials file)")
	f.BoolVar(&o.requireTLS, "require-tls", false, "accept PLAIN only after STARTTLS")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate for STARTTLS")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key for STARTTLS")
	f.StringVar(&o.serverName, "servername", "", "server name in the MUPDATE banner (default: the host name)")
	return cmd
}

func init() { rootCmd.AddCommand(newServeCmd()) }

// runServe is serve without cobra and signals: it runs until ctx ends.
func runServe(ctx context.Context, o serveOptions) error {
	return bridge.Run(ctx, o.config())
}

func (o serveOptions) config() bridge.Config {
	var admins []string
	for _, a := range strings.Split(o.admins, ",") {
		if a = strings.TrimSpace(a); a != "" {
			admins = append(admins, a)
		}
	}
	return bridge.Config{
		Registry:    o.registry,
		DataDir:     o.dataDir,
		Listen:      o.listen,
		Credentials: o.credentials,
		Admins:      admins,
		RequireTLS:  o.requireTLS,
		TLSCert:     o.tlsCert,
		TLSKey:      o.tlsKey,
		ServerName:  o.serverName,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
}
