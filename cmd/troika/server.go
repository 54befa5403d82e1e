package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/troikahq/troika/internal/cli"
	"github.com/troikahq/troika/server"
)

// serverFlagHelp documents the server's settings (each also settable as
// TROIKA_<NAME> and in the YAML config file under its camelCase key).
var serverFlagHelp = map[string]string{
	"addr":                "listen address (non-loopback needs tokens)",
	"postgres":            "PostgreSQL connection URL: store jobs there instead of in --data",
	"postgres-schema":     "PostgreSQL schema of Troika's tables (default troika)",
	"tokens-file":         "YAML file of token hashes: tokens: [{name, scope, sha256, queues}]",
	"tls-cert":            "TLS certificate (PEM); with --tls-key the server speaks HTTPS",
	"tls-key":             "TLS private key (PEM)",
	"max-body-bytes":      "largest request body in bytes",
	"max-header-bytes":    "largest request header block in bytes",
	"read-header-timeout": "time to read request headers (slowloris guard)",
	"read-timeout":        "time to read a whole request",
	"idle-timeout":        "idle keep-alive connections are closed after this",
	"shutdown-timeout":    "drain deadline on SIGTERM",
	"max-claim":           "cap on Claim's max",
	"max-wait":            "cap on Claim's waitSeconds",
	"max-batch":           "most items of one batch call",
	"sweep-interval":      "maintenance interval (lease rescue, promotion, retention)",
}

func (a *app) serverCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Troika server (API, health) on one port",
		Long: `Run the Troika server: the troika.v1 API over Connect-RPC (gRPC, gRPC-Web and
JSON over HTTP/1.1), /livez, /readyz and grpc.health.v1 on one port, with the
embedded store in --data, or PostgreSQL with --postgres URL.

Settings: flags > TROIKA_* environment (e.g. TROIKA_ADDR, TROIKA_TLS_CERT) >
the strict YAML file of --config (unknown keys are errors) > defaults.
Without tokens the server listens on loopback only. Tokens: TROIKA_ADMIN_TOKEN,
TROIKA_PRODUCER_TOKEN, TROIKA_WORKER_TOKEN (comma-separated clear text, hashed
at start) or --tokens-file with SHA-256 hashes. SIGTERM drains and exits 0.`,
		Args: args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			flags := map[string]string{}
			for _, name := range server.FlagNames() {
				if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
					flags[name] = f.Value.String()
				}
			}
			if configFile == "" {
				configFile = os.Getenv("TROIKA_CONFIG")
			}
			cfg, err := server.LoadConfig(server.LoadOptions{File: configFile, Flags: flags})
			if err != nil {
				return cli.Usage(err)
			}
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return server.Run(cmd.Context(), cfg, log, func(s *server.Server) {
				fmt.Fprintf(a.stdout, "troika server listening on %s (data %s)\n", s.URL(), cfg.Data)
			})
		}),
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML config file (env TROIKA_CONFIG)")
	def := server.Defaults()
	defaults := map[string]string{
		"addr": def.Addr, "max-body-bytes": fmt.Sprint(def.MaxBodyBytes), "max-header-bytes": fmt.Sprint(def.MaxHeaderBytes),
		"read-header-timeout": def.ReadHeaderTimeout.String(), "read-timeout": def.ReadTimeout.String(),
		"idle-timeout": def.IdleTimeout.String(), "shutdown-timeout": def.ShutdownTimeout.String(),
		"max-claim": fmt.Sprint(def.MaxClaim), "max-wait": def.MaxWait.String(), "max-batch": fmt.Sprint(def.MaxBatch),
		"sweep-interval": def.SweepInterval.String(),
	}
	for _, name := range server.FlagNames() {
		if name == "data" {
			continue // the global --data flag
		}
		cmd.Flags().String(name, defaults[name], serverFlagHelp[name]+" (env "+server.EnvName(name)+")")
	}
	return cmd
}
