package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/server"
)

// BackendRemote runs the workloads through the API: the SDK's Client from
// troika.Dial, against Options.ServerURL or, when empty, a server started
// in this process on a loopback port over a fresh embedded store.
const BackendRemote = "remote"

// runRemote runs one workload over the API.
func runRemote(ctx context.Context, o Options, workload string) (res *Result, err error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	url := o.ServerURL
	if url == "" {
		srv, stop, err := startServer(ctx, o, workload, logger)
		if err != nil {
			return nil, err
		}
		defer func() {
			if serr := stop(); err == nil && serr != nil {
				err = serr
			}
		}()
		url = srv.URL()
	}
	c, err := troika.Dial(ctx, url, troika.WithToken(o.Token), troika.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	return runWith(ctx, o, c, logger, BackendRemote, workload)
}

// startServer starts an in-process server over a fresh data directory
// (temporary unless o.Dir is set) and returns it with its stop function.
func startServer(ctx context.Context, o Options, workload string, logger *slog.Logger) (*server.Server, func() error, error) {
	var dir string
	var err error
	cleanup := func() {}
	if o.Dir == "" {
		if dir, err = os.MkdirTemp("", "troika-bench-"+workload+"-"); err != nil {
			return nil, nil, err
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
	} else {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, nil, err
		}
		if dir, err = os.MkdirTemp(o.Dir, "bench-"+workload+"-"); err != nil {
			return nil, nil, err
		}
	}
	cfg := server.Defaults()
	cfg.Addr, cfg.Data = "127.0.0.1:0", dir
	b, err := server.OpenBackend(ctx, cfg, logger)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	srv, err := server.New(server.Options{Config: cfg, Store: b.Store, Client: b.Client, Logger: logger})
	if err == nil {
		err = srv.Start(ctx)
	}
	if err != nil {
		_ = b.Close()
		cleanup()
		return nil, nil, err
	}
	stop := func() error {
		defer cleanup()
		serr := srv.Stop(context.Background())
		if cerr := b.Close(); serr == nil {
			serr = cerr
		}
		return serr
	}
	return srv, stop, nil
}
