package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Service is a background part of a running server: Start returns once it
// runs (or fails to start); Stop stops it and waits. The run group starts
// services in order and stops them in reverse.
type Service interface {
	Name() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// RunGroup starts services in order, waits for ctx to end, then stops them
// in reverse order. If a service fails to start, the ones already started
// are stopped and the start error returned. Stop errors are joined.
func RunGroup(ctx context.Context, log *slog.Logger, services ...Service) error {
	var started []Service
	stopAll := func() error {
		var errs []error
		for i := len(started) - 1; i >= 0; i-- {
			s := started[i]
			if err := s.Stop(context.WithoutCancel(ctx)); err != nil {
				log.Error("troika: stopping failed", "service", s.Name(), "error", err)
				errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
			} else {
				log.Info("troika: stopped", "service", s.Name())
			}
		}
		return errors.Join(errs...)
	}
	for _, s := range services {
		if err := s.Start(ctx); err != nil {
			return errors.Join(fmt.Errorf("%s: %w", s.Name(), err), stopAll())
		}
		started = append(started, s)
	}
	<-ctx.Done()
	log.Info("troika: draining")
	return stopAll()
}

// backendService adapts a Backend to the run group: it is opened before
// the group starts and closed when the group stops.
type backendService struct{ b *Backend }

func (b backendService) Name() string                 { return "store" }
func (b backendService) Start(context.Context) error  { return nil }
func (b backendService) Stop(_ context.Context) error { return b.b.Close() }

// Run is `troika server`: it opens the backend cfg names, serves the API
// until ctx ends (SIGTERM, SIGINT), then drains: readiness turns off, long
// polls end, the listener closes, in-flight calls finish, maintenance stops
// and the store closes. It returns nil after a clean drain. ready, if not
// nil, is called with the bound server once it listens.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(*Server)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := OpenBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	srv, err := New(Options{Config: cfg, Store: b.Store, Client: b.Client, Logger: log})
	if err != nil {
		_ = b.Close()
		return err
	}
	return RunGroup(ctx, log, backendService{b}, &readyHook{srv, ready})
}

// readyHook starts the server and reports it ready.
type readyHook struct {
	*Server
	ready func(*Server)
}

func (r *readyHook) Start(ctx context.Context) error {
	if err := r.Server.Start(ctx); err != nil {
		return err
	}
	if r.ready != nil {
		r.ready(r.Server)
	}
	return nil
}
