package server

import (
	"context"
	"log/slog"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/embedded"
)

// Backend is the storage the server serves: the store and a troika.Client
// over it that runs the maintenance services (lease rescue, promotion,
// retention). Close closes both.
type Backend struct {
	Store  store.Store
	Client *troika.Client
}

// Close stops maintenance and closes the store.
func (b *Backend) Close() error { return b.Client.Close() }

// OpenBackend opens the storage cfg names: today the embedded store in
// cfg.Data (a PostgreSQL URL slots in here). Leases are not expired on open:
// remote workers keep heartbeating across a server restart, and leases
// whose workers are gone expire on their own.
func OpenBackend(ctx context.Context, cfg Config, log *slog.Logger) (*Backend, error) {
	st, err := embedded.Open(cfg.Data, embedded.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	c, err := troika.OpenStore(ctx, st, troika.Config{Logger: log, SweepInterval: cfg.SweepInterval})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &Backend{Store: st, Client: c}, nil
}
