package troika

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/embedded"
)

// clientImpl is the Client's state. Every field is set by openStore and
// read-only afterwards, except what the mutex or sync.Once guard.
type clientImpl struct {
	st        store.Store
	now       func() time.Time
	log       *slog.Logger
	limits    engine.Limits
	retention engine.RetentionPolicy
	maint     *engine.Maintenance // nil with DisableMaintenance
	sched     *engine.Scheduler   // nil without maintenance or schedule support (schedule_impl.go)
	counters  *engine.Counters    // the maintenance's, or an idle one
	id        string              // this process's leader-lease holder id

	closeOnce sync.Once
	closeErr  error
}

func openEmbedded(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Dir == "" {
		return nil, &InvalidArgumentError{Field: "Dir", Reason: "empty: Open needs a data directory"}
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	st, err := embedded.Open(cfg.Dir, embedded.Options{Logger: cfg.Logger, Now: cfg.Now, ExpireLeasesOnOpen: true})
	if err != nil {
		return nil, err
	}
	c, err := openStore(ctx, st, cfg)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return c, nil
}

func checkConfig(cfg Config) error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"CompletedRetention", cfg.CompletedRetention}, {"DeadRetention", cfg.DeadRetention},
		{"CancelledRetention", cfg.CancelledRetention}, {"SweepInterval", cfg.SweepInterval},
	} {
		if f.d < 0 {
			return &InvalidArgumentError{Field: f.name, Reason: fmt.Sprintf("%s is negative", f.d)}
		}
	}
	if cfg.MaxPayloadBytes < 0 {
		return &InvalidArgumentError{Field: "MaxPayloadBytes", Reason: "negative"}
	}
	return nil
}

func openStore(ctx context.Context, st store.Store, cfg Config) (*Client, error) {
	if st == nil {
		return nil, &InvalidArgumentError{Field: "store", Reason: "nil"}
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	c := &clientImpl{
		st:     st,
		now:    cfg.Now,
		log:    cfg.Logger,
		limits: engine.Limits{MaxPayloadBytes: cfg.MaxPayloadBytes},
		retention: engine.RetentionPolicy{
			Completed: cfg.CompletedRetention, Dead: cfg.DeadRetention, Cancelled: cfg.CancelledRetention,
		},
		counters: &engine.Counters{},
		id:       processID(),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if !cfg.DisableMaintenance {
		c.maint = engine.NewMaintenance(engine.MaintenanceConfig{
			Store: st, Holder: c.id, Now: c.now, Interval: cfg.SweepInterval,
			Retention: c.retention, Logger: c.log, Backoff: rescueBackoff(cfg.RescueRetryPolicy),
		})
		c.counters = c.maint.Counters()
		if err := c.maint.Start(context.WithoutCancel(ctx)); err != nil {
			return nil, err
		}
		if err := c.startScheduler(context.WithoutCancel(ctx)); err != nil {
			c.maint.Stop()
			return nil, err
		}
	}
	return &Client{impl: c}, nil
}

// rescueBackoff adapts a RetryPolicy to the rescuer's back-off (nil: the
// engine's default, which is DefaultRetryPolicy's).
func rescueBackoff(p RetryPolicy) func(int) time.Duration {
	if p == nil {
		return nil
	}
	return func(attempt int) time.Duration { return max(p(attempt, ErrLeaseExpired), 0) }
}

// processID returns hostname-pid-random: unique per process and readable.
func processID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "troika"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

func (c *clientImpl) close() error {
	c.closeOnce.Do(func() {
		if c.sched != nil {
			c.sched.Stop()
		}
		if c.maint != nil {
			c.maint.Stop()
		}
		c.closeErr = c.st.Close()
	})
	return c.closeErr
}

func (c *clientImpl) stats() Stats {
	s := Stats{
		RetentionDeleted: c.counters.RetentionDeleted.Load(),
		LeasesRescued:    c.counters.LeasesRescued.Load(),
	}
	if p, ok := c.st.(store.StatsProvider); ok {
		s.Store = p.Stats()
	}
	return s
}

// notFound reports whether err is ErrNotFound.
func notFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
