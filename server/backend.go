package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/embedded"
	"github.com/troikahq/troika/store/postgres"
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

// OpenBackend opens the storage cfg names: PostgreSQL at cfg.Postgres when
// set (migrations applied as needed; one server of those sharing the
// database at a time runs maintenance), otherwise the embedded store in
// cfg.Data. Embedded leases are not expired on open: remote workers keep
// heartbeating across a server restart, and leases whose workers are gone
// expire on their own.
func OpenBackend(ctx context.Context, cfg Config, log *slog.Logger) (*Backend, error) {
	var st store.Store
	if cfg.Postgres != "" {
		pcfg, err := pgxpool.ParseConfig(cfg.Postgres)
		if err != nil {
			return nil, &store.InvalidArgumentError{Field: "postgres", Reason: err.Error()}
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, fmt.Errorf("troika: postgres pool: %w", err)
		}
		pst, err := postgres.Open(ctx, pool, postgres.Options{Logger: log, Schema: cfg.PostgresSchema})
		if err != nil {
			pool.Close()
			return nil, err
		}
		st = &ownedPool{pst}
	} else {
		est, err := embedded.Open(cfg.Data, embedded.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		st = est
	}
	c, err := troika.OpenStore(ctx, st, troika.Config{Logger: log, SweepInterval: cfg.SweepInterval})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &Backend{Store: st, Client: c}, nil
}

// ownedPool closes the pool a PostgreSQL store was opened with after the
// store.
type ownedPool struct{ *postgres.Store }

func (o *ownedPool) Close() error {
	err := o.Store.Close()
	o.Pool().Close()
	return err
}
