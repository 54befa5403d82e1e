package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/troikahq/troika/store"
)

// DefaultSweepInterval is how often maintenance runs by default.
const DefaultSweepInterval = time.Second

// MaintenanceConfig configures Maintenance. Zero fields take defaults.
type MaintenanceConfig struct {
	Store     store.Store
	Holder    string           // leader lease holder: unique per process; required
	Now       func() time.Time // default time.Now
	Interval  time.Duration    // between passes; default DefaultSweepInterval
	Retention RetentionPolicy
	Backoff   func(attempt int) time.Duration // rescued attempts; default DefaultBackoff
	Logger    *slog.Logger                    // default slog.Default()
}

// Maintenance runs the maintenance services of one process: an elector
// that holds the store's leader lease MaintenanceLeaderName, and the lease
// rescuer, the promoter and retention, each a Service whose passes do
// nothing unless this process is the leader. On the embedded store the
// process is always the leader; on a shared store (PostgreSQL) exactly one
// process is, and another takes over within the lease TTL (5 intervals,
// at least 5s) after it stops or dies.
//
// Lifecycle: NewMaintenance → Start (once) → Stop (idempotent, blocks until
// every service goroutine has returned, then releases the leader lease).
// Passes use the injected clock for every instant they give the store, and
// real time for the interval between passes.
type Maintenance struct {
	cfg      MaintenanceConfig
	counters *Counters
	elector  *Elector
	rescuer  *Rescuer
	promoter *Promoter
	retain   *Retention
	trim     *TopicRetention // topic events past retention (topic_retention.go)
	services []*Service
	started  atomic.Bool
}

// NewMaintenance returns stopped maintenance services over cfg.Store. It
// panics if cfg.Store is nil or cfg.Holder empty (programming errors).
func NewMaintenance(cfg MaintenanceConfig) *Maintenance {
	if cfg.Store == nil || cfg.Holder == "" {
		panic("engine.NewMaintenance: Store and Holder are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSweepInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Counters{}
	m := &Maintenance{
		cfg:      cfg,
		counters: c,
		elector:  NewElector(cfg.Store, MaintenanceLeaderName, cfg.Holder, max(5*cfg.Interval, 5*time.Second), cfg.Now),
		rescuer:  NewRescuer(cfg.Store, cfg.Now, cfg.Backoff, c, cfg.Logger),
		promoter: NewPromoter(cfg.Store, cfg.Now, c),
		retain:   NewRetention(cfg.Store, cfg.Now, cfg.Retention, c, cfg.Logger),
		trim:     NewTopicRetention(cfg.Store, cfg.Now, c, cfg.Logger),
	}
	m.services = []*Service{
		m.service("leader", m.elector.Pass, true),
		m.service("rescuer", m.leaderOnly(m.rescuer.Pass), false),
		m.service("promoter", m.leaderOnly(m.promoter.Pass), false),
		m.service("retention", m.leaderOnly(m.retain.Pass), false),
		m.service("topic-retention", m.leaderOnly(m.trim.Pass), false),
	}
	return m
}

func (m *Maintenance) service(name string, pass func(context.Context) error, skipFirst bool) *Service {
	return NewService(ServiceConfig{Name: name, Interval: m.cfg.Interval, Pass: pass, SkipFirst: skipFirst, Logger: m.cfg.Logger})
}

func (m *Maintenance) leaderOnly(pass func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if !m.elector.IsLeader() {
			return nil
		}
		return pass(ctx)
	}
}

// Counters returns the services' counters (never nil).
func (m *Maintenance) Counters() *Counters { return m.counters }

// Start tries to take the leader lease (synchronously, so that the first
// passes can run at once) and starts the services. It returns
// ErrServiceStarted when called twice.
func (m *Maintenance) Start(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return ErrServiceStarted
	}
	if err := m.elector.Pass(ctx); err != nil {
		m.cfg.Logger.Warn("troika: maintenance: leader lease", "error", err)
	}
	for _, s := range m.services {
		if err := s.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every service, waits for them, and releases the leader lease.
// Safe to call more than once and before Start.
func (m *Maintenance) Stop() {
	for i := len(m.services) - 1; i >= 0; i-- {
		m.services[i].Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.elector.Release(ctx); err != nil && !errors.Is(err, store.ErrClosed) {
		m.cfg.Logger.Warn("troika: maintenance: release leader lease", "error", err)
	}
}

// RunOnce runs one pass of every service synchronously, in order (leader,
// rescuer, promoter, retention, topic retention), and returns their errors joined. Tests and
// tools use it; it may run alongside the services.
func (m *Maintenance) RunOnce(ctx context.Context) error {
	return errors.Join(
		m.elector.Pass(ctx),
		m.leaderOnly(m.rescuer.Pass)(ctx),
		m.leaderOnly(m.promoter.Pass)(ctx),
		m.leaderOnly(m.retain.Pass)(ctx),
		m.leaderOnly(m.trim.Pass)(ctx),
	)
}

// IsLeader reports whether this process holds the maintenance leader lease
// now; the scheduler fires only while it does.
func (m *Maintenance) IsLeader() bool { return m.elector.IsLeader() }
