package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ServiceConfig describes a periodic Service.
type ServiceConfig struct {
	Name     string                          // for logs
	Interval time.Duration                   // between passes; > 0
	Pass     func(ctx context.Context) error // one pass; errors are logged
	// SkipFirst delays the first pass by one Interval instead of running it
	// at Start.
	SkipFirst bool
	Logger    *slog.Logger // default slog.Default()
}

// Service runs one pass of a maintenance task every Interval on its own
// goroutine.
//
// Lifecycle: a new Service is idle. Start launches its goroutine, which runs
// a pass at once (unless SkipFirst) and then one pass per Interval (real
// time; a pass that overruns delays the next). Stop cancels the context of
// the pass in progress, waits for the goroutine to return, and leaves the
// service stopped for good: Start after Stop returns an error, Stop before
// Start only marks it stopped. Start and Stop are safe to call from any
// goroutine; Stop is idempotent and blocks until the pass in progress has
// returned. A pass never runs concurrently with another pass of the same
// Service.
type Service struct {
	cfg ServiceConfig

	mu     sync.Mutex
	state  serviceState
	cancel context.CancelFunc
	done   chan struct{}
}

type serviceState int

const (
	serviceIdle serviceState = iota
	serviceRunning
	serviceStopped
)

// ErrServiceStarted is returned by Start on a Service that was already
// started or stopped.
var ErrServiceStarted = errors.New("troika: maintenance service already started or stopped")

// NewService returns an idle Service. It panics if cfg.Interval <= 0 or
// cfg.Pass is nil (programming errors).
func NewService(cfg ServiceConfig) *Service {
	if cfg.Interval <= 0 || cfg.Pass == nil {
		panic("engine.NewService: Interval must be > 0 and Pass non-nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg}
}

// Name returns the service's name.
func (s *Service) Name() string { return s.cfg.Name }

// Start launches the service's goroutine. Values of ctx reach the passes;
// its cancellation stops the service as Stop does (call Stop anyway to wait
// for the goroutine). It returns ErrServiceStarted if the service was
// started or stopped before.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != serviceIdle {
		return ErrServiceStarted
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	s.state = serviceRunning
	go s.loop(ctx, s.done)
	return nil
}

// Stop stops the service and waits for its goroutine to return.
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.state = serviceStopped
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (s *Service) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	if !s.cfg.SkipFirst {
		s.runPass(ctx)
	}
	t := time.NewTimer(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.runPass(ctx)
			t.Reset(s.cfg.Interval)
		}
	}
}

func (s *Service) runPass(ctx context.Context) {
	if err := s.cfg.Pass(ctx); err != nil && ctx.Err() == nil {
		s.cfg.Logger.Warn("troika: maintenance pass failed", "service", s.cfg.Name, "error", err)
	}
}
